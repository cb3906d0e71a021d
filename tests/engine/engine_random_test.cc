// Goal: on long random operation sequences, every engine answers exactly
// what a trivial single-threaded model answers (status code, message and
// balances), and ends with the same balances.
// Method: a seeded generator draws operations over a small pool of account
// ids (plus empty and over-long ids, unknown accounts, amounts at and around
// zero and INT64_MAX, and more opens than the account limit allows). Each
// operation goes to the engine under test and to ModelEngine. The engine is
// driven both one operation at a time and pipelined (a window of operations
// in flight, which makes the queue engine apply real batches; one thread's
// operations apply in submission order, so the answers must not change),
// and batched (random batches of 1 to kBatchOperationsMaxForTest operations,
// atomic or not, up to kBatchWindowMax batches in flight, against the
// model's ExecuteBatch).
// Replay: the seed is printed with every failure; set BANK_TEST_SEED to rerun
// it.

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace bank::testing {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int kOperationsPerRun = 20'000;
// Fewer than the id pool, so that opens also hit the account limit.
constexpr size_t kAccountsMaxForTest = 5;
// Operations in flight at once in the pipelined mode (capped by the queue
// depth, so that a full queue never answers instead of the engine).
constexpr size_t kPipelineWindowMax = 256;

// Batched mode: operations per batch, and batches in flight at once (capped
// by the queue depth too).
constexpr size_t kBatchOperationsMaxForTest = 24;
constexpr size_t kBatchWindowMax = 4;

enum class Mode { kSerial, kPipelined, kBatched };

const char* const kAccountIds[] = {"a", "b", "c", "d", "e", "f", "马伊琍"};

uint64_t TestSeed() {
  const char* text = std::getenv("BANK_TEST_SEED");
  uint64_t seed = 0;
  if (text != nullptr && absl::SimpleAtoi(text, &seed)) return seed;
  return absl::Uniform<uint64_t>(absl::BitGen());
}

std::string RandomAccountId(absl::BitGen& gen) {
  const int pick = absl::Uniform(gen, 0, 100);
  if (pick == 0) return "";
  if (pick == 1) return std::string(kAccountIdBytesMax + 1, 'x');
  return kAccountIds[absl::Uniform<size_t>(gen, 0, std::size(kAccountIds))];
}

int64_t RandomAmount(absl::BitGen& gen) {
  switch (absl::Uniform(gen, 0, 20)) {
    case 0:
      return 0;
    case 1:
      return -absl::Uniform<int64_t>(absl::IntervalClosed, gen, 1, 100);
    case 2:
      return kInt64Max - absl::Uniform<int64_t>(gen, 0, 3);
    case 3:
      return kInt64Max / 2 + absl::Uniform<int64_t>(gen, -3, 3);
    default:
      return absl::Uniform<int64_t>(absl::IntervalClosed, gen, 1, 1000);
  }
}

Operation RandomOperation(absl::BitGen& gen) {
  Operation operation;
  const int kind = absl::Uniform(gen, 0, 100);
  operation.kind = kind < 10   ? OperationKind::kOpen
                   : kind < 35 ? OperationKind::kDeposit
                   : kind < 60 ? OperationKind::kWithdraw
                   : kind < 85 ? OperationKind::kTransfer
                               : OperationKind::kGetBalance;
  operation.account_id = RandomAccountId(gen);
  if (operation.kind == OperationKind::kTransfer) {
    operation.to_account_id = RandomAccountId(gen);
  }
  operation.amount = RandomAmount(gen);
  if (operation.kind == OperationKind::kOpen && absl::Bernoulli(gen, 0.5)) {
    operation.amount = absl::Uniform<int64_t>(gen, -1, 1000);
  }
  return operation;
}

std::string Describe(const Operation& operation) {
  return absl::StrCat(OperationKindName(operation.kind), " '",
                      operation.account_id, "' -> '", operation.to_account_id,
                      "' amount ", operation.amount);
}

void ExpectSameAnswer(const absl::StatusOr<OperationResult>& expected,
                      const absl::StatusOr<OperationResult>& actual,
                      const Operation& operation, int index) {
  SCOPED_TRACE(absl::StrCat("operation #", index, ": ", Describe(operation)));
  ASSERT_EQ(actual.status(), expected.status());
  if (!expected.ok()) return;
  EXPECT_EQ(actual->balance, expected->balance);
  EXPECT_EQ(actual->to_balance, expected->to_balance);
}

// RunWindow executes `operations` on `engine` all at once and answers the
// results in order, after every completion ran.
std::vector<absl::StatusOr<OperationResult>> RunWindow(
    AccountEngine& engine, const std::vector<Operation>& operations) {
  std::vector<std::optional<absl::StatusOr<OperationResult>>> results(
      operations.size());
  absl::BlockingCounter pending(static_cast<int>(operations.size()));
  for (size_t i = 0; i < operations.size(); ++i) {
    engine.Execute(operations[i], [&results, &pending,
                                   i](absl::StatusOr<OperationResult> result) {
      results[i] = std::move(result);
      pending.DecrementCount();
    });
  }
  pending.Wait();  // Orders every completion's write before our reads.
  std::vector<absl::StatusOr<OperationResult>> answers;
  for (auto& result : results) answers.push_back(*std::move(result));
  return answers;
}

struct Batch {
  std::vector<Operation> operations;
  bool atomic = false;
};

// RunBatches executes `batches` on `engine` all at once and answers their
// outcomes in order, after every completion ran.
std::vector<absl::StatusOr<BatchResults>> RunBatches(
    AccountEngine& engine, const std::vector<Batch>& batches) {
  std::vector<std::optional<absl::StatusOr<BatchResults>>> results(
      batches.size());
  absl::BlockingCounter pending(static_cast<int>(batches.size()));
  for (size_t i = 0; i < batches.size(); ++i) {
    engine.ExecuteBatch(
        batches[i].operations, batches[i].atomic,
        [&results, &pending, i](absl::StatusOr<BatchResults> result) {
          results[i] = std::move(result);
          pending.DecrementCount();
        });
  }
  pending.Wait();
  std::vector<absl::StatusOr<BatchResults>> answers;
  for (auto& result : results) answers.push_back(*std::move(result));
  return answers;
}

// RunBatched drives `engine` and `model` with random batches; answers the
// number of operations sent and records every status code seen.
int RunBatched(AccountEngine& engine, AccountEngine& model, absl::BitGen& gen,
               size_t window_max,
               absl::flat_hash_set<absl::StatusCode>& codes) {
  int index = 0;
  while (index < kOperationsPerRun) {
    std::vector<Batch> window(window_max);
    for (Batch& batch : window) {
      batch.atomic = absl::Bernoulli(gen, 0.5);
      const size_t size = absl::Uniform<size_t>(absl::IntervalClosed, gen, 1,
                                                kBatchOperationsMaxForTest);
      for (size_t i = 0; i < size; ++i) {
        batch.operations.push_back(RandomOperation(gen));
      }
    }
    std::vector<absl::StatusOr<BatchResults>> answers =
        RunBatches(engine, window);
    for (size_t b = 0; b < window.size(); ++b) {
      const Batch& batch = window[b];
      absl::StatusOr<BatchResults> expected =
          ExecuteBatchAndWait(model, batch.operations, batch.atomic);
      EXPECT_TRUE(expected.ok()) << expected.status();
      EXPECT_TRUE(answers[b].ok()) << answers[b].status();
      if (!expected.ok() || !answers[b].ok()) return index;
      EXPECT_EQ(answers[b]->size(), batch.operations.size());
      if (::testing::Test::HasFailure()) return index;
      SCOPED_TRACE(batch.atomic ? "atomic batch" : "batch");
      for (size_t i = 0; i < batch.operations.size(); ++i, ++index) {
        codes.insert((*expected)[i].status().code());
        ExpectSameAnswer((*expected)[i], (*answers[b])[i], batch.operations[i],
                         index);
        if (::testing::Test::HasFailure()) return index;
      }
    }
  }
  return index;
}

class EngineRandomTest
    : public ::testing::TestWithParam<std::tuple<EngineConfig, Mode>> {};

TEST_P(EngineRandomTest, MatchesTheModel) {
  const auto& [config, mode] = GetParam();
  const bool pipelined = mode == Mode::kPipelined;
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(
      absl::StrCat("seed ", seed, " (rerun: BANK_TEST_SEED=", seed, ")"));
  absl::BitGen gen(std::seed_seq{seed});
  std::unique_ptr<AccountEngine> engine =
      MakeEngine(config, kAccountsMaxForTest);
  ModelEngine model(kAccountsMaxForTest);
  const size_t window_max =
      pipelined ? std::min(kPipelineWindowMax, config.queue_depth_max) : 1;
  absl::flat_hash_set<absl::StatusCode> codes_seen;
  int index = 0;
  if (mode == Mode::kBatched) {
    index = RunBatched(*engine, model, gen,
                       std::min(kBatchWindowMax, config.queue_depth_max),
                       codes_seen);
    if (::testing::Test::HasFailure()) return;
  }
  while (index < kOperationsPerRun) {
    std::vector<Operation> window;
    while (window.size() < window_max &&
           index + window.size() < static_cast<size_t>(kOperationsPerRun)) {
      window.push_back(RandomOperation(gen));
    }
    std::vector<absl::StatusOr<OperationResult>> answers =
        RunWindow(*engine, window);
    for (size_t i = 0; i < window.size(); ++i, ++index) {
      absl::StatusOr<OperationResult> expected =
          ExecuteAndWait(model, window[i]);
      codes_seen.insert(expected.status().code());
      ExpectSameAnswer(expected, answers[i], window[i], index);
      // Stop at the first divergence: later answers only repeat it.
      if (::testing::Test::HasFailure()) return;
    }
  }
  for (const char* id : kAccountIds) {
    const Operation final_balance{OperationKind::kGetBalance, id, "", 0};
    ExpectSameAnswer(ExecuteAndWait(model, final_balance),
                     ExecuteAndWait(*engine, final_balance), final_balance,
                     index++);
  }
  // The generator must keep reaching every answer, or the comparison above
  // proves little.
  for (absl::StatusCode code :
       {absl::StatusCode::kOk, absl::StatusCode::kInvalidArgument,
        absl::StatusCode::kNotFound, absl::StatusCode::kAlreadyExists,
        absl::StatusCode::kFailedPrecondition, absl::StatusCode::kOutOfRange,
        absl::StatusCode::kResourceExhausted}) {
    EXPECT_TRUE(codes_seen.contains(code))
        << "no operation answered " << absl::StatusCodeToString(code);
  }
  if (mode != Mode::kBatched) return;
  for (absl::StatusCode code : {absl::StatusCode::kAborted}) {
    EXPECT_TRUE(codes_seen.contains(code))
        << "no operation answered " << absl::StatusCodeToString(code);
  }
}

INSTANTIATE_TEST_SUITE_P(
    RealEngines, EngineRandomTest,
    ::testing::Combine(::testing::ValuesIn(RealEngineConfigs()),
                       ::testing::Values(Mode::kSerial, Mode::kPipelined,
                                         Mode::kBatched)),
    [](const ::testing::TestParamInfo<std::tuple<EngineConfig, Mode>>& info) {
      const Mode mode = std::get<1>(info.param);
      return absl::StrCat(std::get<0>(info.param).label,
                          mode == Mode::kSerial      ? "_serial"
                          : mode == Mode::kPipelined ? "_pipelined"
                                                     : "_batched");
    });

}  // namespace
}  // namespace bank::testing
