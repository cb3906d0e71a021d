// Goal: on long random operation sequences, every engine answers exactly
// what a trivial single-threaded model answers (status code, message and
// balances), and ends with the same balances.
// Method: a seeded generator draws operations over a small pool of account
// ids (plus empty and over-long ids, unknown accounts, amounts at and around
// zero and INT64_MAX, and more opens than the account limit allows). Each
// operation goes to the engine under test and to ModelEngine. The engine is
// driven both one operation at a time and pipelined (a window of operations
// in flight, which makes the queue engine apply real batches; one thread's
// operations apply in submission order, so the answers must not change).
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

class EngineRandomTest
    : public ::testing::TestWithParam<std::tuple<EngineConfig, bool>> {};

TEST_P(EngineRandomTest, MatchesTheModel) {
  const auto& [config, pipelined] = GetParam();
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
}

INSTANTIATE_TEST_SUITE_P(
    RealEngines, EngineRandomTest,
    ::testing::Combine(::testing::ValuesIn(RealEngineConfigs()),
                       ::testing::Bool()),
    [](const ::testing::TestParamInfo<std::tuple<EngineConfig, bool>>& info) {
      return absl::StrCat(std::get<0>(info.param).label,
                          std::get<1>(info.param) ? "_pipelined" : "_serial");
    });

}  // namespace
}  // namespace bank::testing
