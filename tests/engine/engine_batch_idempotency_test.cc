// Goal: request ids inside batches keep the contract of idempotent_engine.h
// on every engine: in a non-atomic batch each change with an id answers what
// the single operation would (first use remembered, repeat replayed with
// nothing applied, other parameters INVALID_ARGUMENT naming the id, waiting
// for a first in flight elsewhere); an atomic batch claims all its ids or
// none, fails at a remembered error, answers ABORTED while an id is in
// flight elsewhere, replays remembered successes while the rest applies,
// and remembers each claimed id's own result; an id twice in one batch is
// INVALID_ARGUMENT; only ids this call claimed first reach the wrapped
// engine (the durable engines journal every id they see), and with a
// durable store a batch's remembered ids replay after a restart. Batches and
// single operations racing on the same ids from many threads apply each
// change exactly once.
// Method: a value-parameterised suite over every engine configuration, each
// wrapped in a recording engine (what reached it, with which ids) and an
// IdempotentEngine; parked-engine tests make "in flight" certain without
// sleeping; the race runs over the safe engines with named thread counts
// and checks balances after join.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/engine/engine_factory.h"
#include "service/engine/idempotent_engine.h"
#include "service/storage/memory_store.h"
#include "tests/engine/engine_test_util.h"

namespace bank::testing {
namespace {

using ::testing::HasSubstr;

constexpr size_t kAccountsMaxForTest = 8;

// RecordingEngine passes everything to the real engine and keeps the
// request ids of the operations that reached it.
class RecordingEngine final : public AccountEngine {
 public:
  explicit RecordingEngine(std::unique_ptr<AccountEngine> inner)
      : inner_(std::move(inner)) {}
  void Execute(Operation operation, OperationDone done) override {
    Note(operation);
    inner_->Execute(std::move(operation), std::move(done));
  }
  void ExecuteBatch(std::vector<Operation> operations, bool atomic,
                    BatchDone done) override {
    for (const Operation& operation : operations) Note(operation);
    inner_->ExecuteBatch(std::move(operations), atomic, std::move(done));
  }
  void Shutdown() override { inner_->Shutdown(); }
  const char* Name() const override { return inner_->Name(); }

  // TakeIds answers the ids seen since the last call ("" for none).
  std::vector<std::string> TakeIds() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> ids;
    ids.swap(ids_);
    return ids;
  }

 private:
  void Note(const Operation& operation) {
    absl::MutexLock lock(&mu_);
    ids_.push_back(operation.request_id);
  }
  const std::unique_ptr<AccountEngine> inner_;
  absl::Mutex mu_;
  std::vector<std::string> ids_ ABSL_GUARDED_BY(mu_);
};

class EngineBatchIdempotencyTest
    : public ::testing::TestWithParam<EngineConfig> {
 protected:
  void SetUp() override { Rebuild(kRequestIdsMaxDefault); }

  void Rebuild(size_t entries_max) {
    RequestIdOptions options;
    options.entries_max = entries_max;
    engine_.reset();
    auto recording = std::make_unique<RecordingEngine>(
        MakeEngine(GetParam(), kAccountsMaxForTest));
    recording_ = recording.get();
    auto engine =
        std::make_unique<IdempotentEngine>(std::move(recording), options);
    idempotent_ = engine.get();
    engine_ = std::move(engine);
    ASSERT_TRUE(Open(*engine_, "main", 80).ok());
    ASSERT_TRUE(Open(*engine_, "other", 0).ok());
    recording_->TakeIds();
  }

  absl::StatusOr<BatchResults> Run(std::vector<Operation> operations,
                                   bool atomic) {
    return ExecuteBatchAndWait(*engine_, std::move(operations), atomic);
  }

  std::unique_ptr<AccountEngine> engine_;
  IdempotentEngine* idempotent_ = nullptr;
  RecordingEngine* recording_ = nullptr;
};

TEST_P(EngineBatchIdempotencyTest, RepeatedBatchReplaysAndAppliesNothing) {
  for (const bool atomic : {false, true}) {
    SCOPED_TRACE(atomic ? "atomic" : "not atomic");
    const std::string tag = atomic ? "a-" : "n-";
    const std::vector<Operation> batch = {
        ChangeWithId(OperationKind::kOpen, tag + "new", 7, tag + "open"),
        ChangeWithId(OperationKind::kDeposit, "main", 20, tag + "deposit"),
        ChangeWithId(OperationKind::kTransfer, "main", 10, tag + "transfer",
                     "other"),
        ChangeWithId(OperationKind::kWithdraw, "main", 5, tag + "withdraw")};
    const int64_t main_before = BalanceOf(*engine_, "main");
    recording_->TakeIds();
    absl::StatusOr<BatchResults> first = Run(batch, atomic);
    ASSERT_TRUE(first.ok()) << first.status();
    EXPECT_EQ(recording_->TakeIds(),
              (std::vector<std::string>{tag + "open", tag + "deposit",
                                        tag + "transfer", tag + "withdraw"}));
    absl::StatusOr<BatchResults> repeat = Run(batch, atomic);
    ASSERT_TRUE(repeat.ok()) << repeat.status();
    EXPECT_TRUE(recording_->TakeIds().empty());  // Nothing reached it.
    ASSERT_EQ(repeat->size(), first->size());
    for (size_t i = 0; i < first->size(); ++i) {
      SCOPED_TRACE(i);
      ASSERT_TRUE((*first)[i].ok()) << (*first)[i].status();
      ASSERT_TRUE((*repeat)[i].ok()) << (*repeat)[i].status();
      EXPECT_FALSE((*first)[i]->replayed);
      EXPECT_TRUE((*repeat)[i]->replayed);
      EXPECT_EQ((*repeat)[i]->balance, (*first)[i]->balance);
      EXPECT_EQ((*repeat)[i]->to_balance, (*first)[i]->to_balance);
    }
    EXPECT_EQ(BalanceOf(*engine_, "main"), main_before + 20 - 10 - 5);
    EXPECT_EQ(BalanceOf(*engine_, tag + "new"), 7);
  }
  EXPECT_EQ(BalanceOf(*engine_, "other"), 20);
}

TEST_P(EngineBatchIdempotencyTest, BatchAndSingleOperationsShareTheIds) {
  const Operation single =
      ChangeWithId(OperationKind::kDeposit, "main", 5, "s-1");
  ASSERT_TRUE(ExecuteAndWait(*engine_, single).ok());
  for (const bool atomic : {false, true}) {
    absl::StatusOr<BatchResults> results = Run({single}, atomic);
    ASSERT_TRUE(results.ok()) << results.status();
    ASSERT_TRUE((*results)[0].ok()) << (*results)[0].status();
    EXPECT_EQ((*results)[0]->balance, 85);
    EXPECT_TRUE((*results)[0]->replayed);
  }
  const Operation batched =
      ChangeWithId(OperationKind::kDeposit, "main", 3, "b-1");
  ASSERT_TRUE(Run({batched}, /*atomic=*/false).ok());
  absl::StatusOr<OperationResult> repeat = ExecuteAndWait(*engine_, batched);
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_TRUE(repeat->replayed);
  EXPECT_EQ(repeat->balance, 88);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 88);
}

TEST_P(EngineBatchIdempotencyTest, NonAtomicOtherParametersFailAlone) {
  ASSERT_TRUE(ExecuteAndWait(*engine_, ChangeWithId(OperationKind::kDeposit,
                                                    "main", 5, "x"))
                  .ok());
  absl::StatusOr<BatchResults> results = Run(
      {ChangeWithId(OperationKind::kDeposit, "main", 1, "fresh"),
       ChangeWithId(OperationKind::kDeposit, "main", 6, "x"),  // Other amount.
       ChangeWithId(OperationKind::kDeposit, "main", 2)},
      /*atomic=*/false);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ((*results)[0]->balance, 86);
  EXPECT_EQ((*results)[1].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT((*results)[1].status().message(), HasSubstr("'x'"));
  EXPECT_EQ((*results)[2]->balance, 88);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 88);
}

TEST_P(EngineBatchIdempotencyTest, NonAtomicRemembersDecidedNotUndecided) {
  const Operation too_much =
      ChangeWithId(OperationKind::kWithdraw, "main", 500, "too-much");
  const Operation invalid =
      ChangeWithId(OperationKind::kDeposit, "main", 0, "fix");
  absl::StatusOr<BatchResults> first = Run({too_much, invalid}, false);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)[0].status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*first)[1].status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(Deposit(*engine_, "main", 1000).ok());
  // The decided error replays although the withdrawal would now succeed;
  // the invalid one took no id, so the corrected change may use it.
  absl::StatusOr<BatchResults> again =
      Run({too_much, ChangeWithId(OperationKind::kDeposit, "main", 4, "fix")},
          false);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0].status(), (*first)[0].status());
  ASSERT_TRUE((*again)[1].ok()) << (*again)[1].status();
  EXPECT_EQ(BalanceOf(*engine_, "main"), 1084);
}

TEST_P(EngineBatchIdempotencyTest, SameIdTwiceInOneBatchIsInvalid) {
  absl::StatusOr<BatchResults> results =
      Run({ChangeWithId(OperationKind::kDeposit, "main", 1, "twice"),
           ChangeWithId(OperationKind::kDeposit, "main", 1, "twice")},
          /*atomic=*/false);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_TRUE((*results)[0].ok()) << (*results)[0].status();
  EXPECT_EQ((*results)[1].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT((*results)[1].status().message(),
              HasSubstr("used by operations 0 and 1"));
  EXPECT_EQ(BalanceOf(*engine_, "main"), 81);
  results = Run({ChangeWithId(OperationKind::kDeposit, "main", 1, "t2"),
                 ChangeWithId(OperationKind::kDeposit, "other", 1),
                 ChangeWithId(OperationKind::kWithdraw, "main", 1, "t2")},
                /*atomic=*/true);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ((*results)[2].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*results)[0].status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT((*results)[0].status().message(),
              HasSubstr("failed at operation 2"));
  EXPECT_EQ(BalanceOf(*engine_, "main"), 81);
  EXPECT_EQ(BalanceOf(*engine_, "other"), 0);
  EXPECT_EQ(idempotent_->RememberedIds(), 1u);  // "twice" only.
}

TEST_P(EngineBatchIdempotencyTest, AtomicReplaysSuccessesAndAppliesTheRest) {
  ASSERT_TRUE(ExecuteAndWait(*engine_, ChangeWithId(OperationKind::kDeposit,
                                                    "main", 5, "r"))
                  .ok());
  recording_->TakeIds();
  absl::StatusOr<BatchResults> results =
      Run({ChangeWithId(OperationKind::kDeposit, "main", 5, "r"),
           ChangeWithId(OperationKind::kTransfer, "main", 30, "t", "other"),
           ChangeWithId(OperationKind::kDeposit, "other", 1)},
          /*atomic=*/true);
  ASSERT_TRUE(results.ok()) << results.status();
  for (const auto& result : *results) ASSERT_TRUE(result.ok());
  EXPECT_TRUE((*results)[0]->replayed);
  EXPECT_EQ((*results)[0]->balance, 85);
  EXPECT_EQ((*results)[1]->balance, 55);
  EXPECT_EQ((*results)[2]->balance, 31);
  EXPECT_EQ(recording_->TakeIds(), (std::vector<std::string>{"t", ""}));
  EXPECT_EQ(BalanceOf(*engine_, "main"), 55);
}

TEST_P(EngineBatchIdempotencyTest, AtomicFailsAtARememberedError) {
  const Operation too_much =
      ChangeWithId(OperationKind::kWithdraw, "main", 500, "w");
  ASSERT_EQ(ExecuteAndWait(*engine_, too_much).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(Deposit(*engine_, "main", 1000).ok());
  recording_->TakeIds();
  absl::StatusOr<BatchResults> results =
      Run({ChangeWithId(OperationKind::kDeposit, "main", 1, "d"), too_much},
          /*atomic=*/true);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ((*results)[1].status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*results)[0].status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT((*results)[0].status().message(),
              HasSubstr("failed at operation 1"));
  EXPECT_TRUE(recording_->TakeIds().empty());  // Nothing ran.
  EXPECT_EQ(BalanceOf(*engine_, "main"), 1080);
  // "d" was not claimed: it runs as a first use.
  absl::StatusOr<OperationResult> d = ExecuteAndWait(
      *engine_, ChangeWithId(OperationKind::kDeposit, "main", 1, "d"));
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->replayed);
}

TEST_P(EngineBatchIdempotencyTest, AtomicRemembersEachClaimedIdsOwnResult) {
  const std::vector<Operation> batch = {
      ChangeWithId(OperationKind::kDeposit, "main", 1, "ok-part"),
      ChangeWithId(OperationKind::kWithdraw, "main", 500, "failing")};
  absl::StatusOr<BatchResults> first = Run(batch, /*atomic=*/true);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ((*first)[0].status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ((*first)[1].status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(idempotent_->RememberedIds(), 1u);  // ABORTED is not remembered.
  ASSERT_TRUE(Deposit(*engine_, "main", 1000).ok());
  recording_->TakeIds();
  // The retry answers the same: the failure is remembered.
  absl::StatusOr<BatchResults> retry = Run(batch, /*atomic=*/true);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ((*retry)[1].status(), (*first)[1].status());
  EXPECT_EQ((*retry)[0].status(), (*first)[0].status());
  EXPECT_TRUE(recording_->TakeIds().empty());
  EXPECT_EQ(BalanceOf(*engine_, "main"), 1080);
}

TEST_P(EngineBatchIdempotencyTest, FullTableRefusesWhatDoesNotFit) {
  Rebuild(2);
  std::vector<Operation> batch;
  for (int i = 0; i < 3; ++i) {
    batch.push_back(
        ChangeWithId(OperationKind::kDeposit, "main", 1, absl::StrCat("f", i)));
  }
  absl::StatusOr<BatchResults> atomic = Run(batch, /*atomic=*/true);
  EXPECT_EQ(atomic.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(atomic.status().message(), HasSubstr("request_ids_max"));
  EXPECT_EQ(BalanceOf(*engine_, "main"), 80);
  // Not atomic: the first two hold the table while in flight.
  absl::StatusOr<BatchResults> single = Run(batch, /*atomic=*/false);
  ASSERT_TRUE(single.ok()) << single.status();
  EXPECT_TRUE((*single)[0].ok());
  EXPECT_TRUE((*single)[1].ok());
  EXPECT_EQ((*single)[2].status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 82);
}

TEST_P(EngineBatchIdempotencyTest, ReadsDropTheirIds) {
  Operation read{OperationKind::kGetBalance, "main", "", 0};
  read.request_id = "read";
  for (const bool atomic : {false, true}) {
    absl::StatusOr<BatchResults> results =
        Run({read, ChangeWithId(OperationKind::kDeposit, "main", 1)}, atomic);
    ASSERT_TRUE(results.ok()) << results.status();
  }
  EXPECT_EQ(recording_->TakeIds(), (std::vector<std::string>{"", "", "", ""}));
  EXPECT_EQ(idempotent_->RememberedIds(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    AllEngines, EngineBatchIdempotencyTest,
    ::testing::ValuesIn(AllEngineConfigs()),
    [](const ::testing::TestParamInfo<EngineConfig>& info) {
      return info.param.label;
    });

// Many threads send the same ids at once, as single operations, non-atomic
// batches and atomic batches (retried while they answer ABORTED for an id
// in flight elsewhere): every change applies exactly once.
class BatchIdRaceTest : public ::testing::TestWithParam<EngineConfig> {};

constexpr int kRaceThreads = 12;
constexpr int kRaceRounds = 10;
constexpr int kIdsPerRound = 6;
constexpr int kAbortedRetriesMax = 1'000'000;

TEST_P(BatchIdRaceTest, SameIdsFromBatchesAndSinglesApplyOnce) {
  IdempotentEngine engine(MakeEngine(GetParam(), kAccountsMaxForTest),
                          RequestIdOptions{});
  ASSERT_TRUE(Open(engine, "main", 0).ok());
  for (int round = 0; round < kRaceRounds; ++round) {
    std::vector<Operation> batch;
    for (int i = 0; i < kIdsPerRound; ++i) {
      batch.push_back(ChangeWithId(OperationKind::kDeposit, "main", 1,
                                   absl::StrCat("race-", round, "-", i)));
    }
    std::atomic<bool> go{false};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kRaceThreads; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        if (t % 3 == 0) {
          for (const Operation& operation : batch) {
            if (!ExecuteAndWait(engine, operation).ok()) ++failures;
          }
          return;
        }
        const bool atomic = t % 3 == 2;
        for (int attempt = 0; attempt < kAbortedRetriesMax; ++attempt) {
          absl::StatusOr<BatchResults> results =
              ExecuteBatchAndWait(engine, batch, atomic);
          if (!results.ok()) {
            ++failures;
            return;
          }
          bool aborted = false;
          for (const auto& result : *results) {
            if (result.status().code() == absl::StatusCode::kAborted) {
              aborted = true;
            } else if (!result.ok()) {
              ++failures;
            }
          }
          if (!aborted) return;
          std::this_thread::yield();
        }
        ++failures;
      });
    }
    go.store(true);
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0);
    ASSERT_EQ(BalanceOf(engine, "main"), (round + 1) * kIdsPerRound);
  }
}

INSTANTIATE_TEST_SUITE_P(
    SafeEngines, BatchIdRaceTest, ::testing::ValuesIn(SafeEngineConfigs()),
    [](const ::testing::TestParamInfo<EngineConfig>& info) {
      return info.param.label;
    });

// ParkedEngine holds every operation and batch until the test releases
// them, so that "in flight" is certain.
class ParkedEngine final : public AccountEngine {
 public:
  void Execute(Operation, OperationDone done) override {
    absl::MutexLock lock(&mu_);
    ++executed_;
    parked_.push_back(std::move(done));
  }
  void ExecuteBatch(std::vector<Operation> operations, bool,
                    BatchDone done) override {
    absl::MutexLock lock(&mu_);
    executed_ += static_cast<int>(operations.size());
    batches_.push_back({operations.size(), std::move(done)});
  }
  void Shutdown() override {}
  const char* Name() const override { return "parked"; }
  int Executed() {
    absl::MutexLock lock(&mu_);
    return executed_;
  }
  // Release answers every parked operation with `outcome` and every parked
  // batch with it per operation (or with `batch_error` if not OK).
  void Release(absl::StatusOr<OperationResult> outcome,
               absl::Status batch_error = absl::OkStatus()) {
    std::vector<OperationDone> parked;
    std::vector<std::pair<size_t, BatchDone>> batches;
    {
      absl::MutexLock lock(&mu_);
      parked.swap(parked_);
      batches.swap(batches_);
    }
    for (OperationDone& done : parked) std::move(done)(outcome);
    for (auto& [count, done] : batches) {
      if (!batch_error.ok()) {
        std::move(done)(batch_error);
      } else {
        std::move(done)(BatchResults(count, outcome));
      }
    }
  }

 private:
  absl::Mutex mu_;
  int executed_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<OperationDone> parked_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<size_t, BatchDone>> batches_ ABSL_GUARDED_BY(mu_);
};

struct Parked {
  Parked() {
    auto owned = std::make_unique<ParkedEngine>();
    parked = owned.get();
    engine = std::make_unique<IdempotentEngine>(std::move(owned),
                                                RequestIdOptions{});
  }
  ParkedEngine* parked;
  std::unique_ptr<IdempotentEngine> engine;
};

TEST(IdempotentBatchTest, NonAtomicWaitsForAFirstInFlightElsewhere) {
  Parked p;
  const Operation deposit =
      ChangeWithId(OperationKind::kDeposit, "main", 1, "slow");
  p.engine->Execute(deposit, [](absl::StatusOr<OperationResult>) {});
  std::optional<absl::StatusOr<BatchResults>> answer;
  p.engine->ExecuteBatch(
      {deposit, ChangeWithId(OperationKind::kDeposit, "main", 2)}, false,
      [&answer](absl::StatusOr<BatchResults> r) { answer = std::move(r); });
  EXPECT_EQ(p.parked->Executed(), 2);  // The first and the id-less deposit.
  EXPECT_FALSE(answer.has_value());
  p.parked->Release(OperationResult{42, 0});
  ASSERT_TRUE(answer.has_value());
  ASSERT_TRUE(answer->ok()) << answer->status();
  ASSERT_TRUE((**answer)[0].ok());
  EXPECT_EQ((**answer)[0]->balance, 42);
  EXPECT_TRUE((**answer)[0]->replayed);
}

TEST(IdempotentBatchTest, AtomicAnswersAbortedForAnIdInFlightElsewhere) {
  Parked p;
  const Operation deposit =
      ChangeWithId(OperationKind::kDeposit, "main", 1, "busy");
  p.engine->Execute(deposit, [](absl::StatusOr<OperationResult>) {});
  absl::StatusOr<BatchResults> answer;
  bool answered = false;
  p.engine->ExecuteBatch(
      {ChangeWithId(OperationKind::kDeposit, "main", 2, "other-id"), deposit},
      true, [&](absl::StatusOr<BatchResults> r) {
        answer = std::move(r);
        answered = true;
      });
  ASSERT_TRUE(answered);  // At once: an atomic batch never waits.
  ASSERT_TRUE(answer.ok()) << answer.status();
  for (const auto& result : *answer) {
    EXPECT_EQ(result.status().code(), absl::StatusCode::kAborted);
    EXPECT_THAT(result.status().message(), HasSubstr("'busy'"));
  }
  EXPECT_EQ(p.parked->Executed(), 1);
  EXPECT_EQ(p.engine->RememberedIds(), 1u);  // "other-id" was not claimed.
  p.parked->Release(OperationResult{1, 0});
}

TEST(IdempotentBatchTest, BatchLevelErrorsAreNotRemembered) {
  for (const bool atomic : {false, true}) {
    Parked p;
    std::vector<absl::Status> answers;
    const Operation deposit =
        ChangeWithId(OperationKind::kDeposit, "main", 1, "q");
    p.engine->ExecuteBatch(
        {deposit}, atomic,
        [&](absl::StatusOr<BatchResults> r) { answers.push_back(r.status()); });
    // A single repeat attaches to the batch's claim.
    p.engine->Execute(deposit, [&](absl::StatusOr<OperationResult> r) {
      answers.push_back(r.status());
    });
    p.parked->Release(OperationResult{}, absl::ResourceExhaustedError("full"));
    ASSERT_EQ(answers.size(), 2u);
    EXPECT_EQ(answers[0].code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(answers[1].code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(p.engine->RememberedIds(), 0u);
  }
}

// With a durable store (CreateEngine over a MemoryStore, restarted from
// what the store holds, as bank_server after kill -9), the ids of batches
// replay after a restart: successes, decided errors, and an atomic batch's
// remembered failure; nothing applies twice.
class DurableBatchIdTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { Restart(); }

  void Restart() {
    engine_.reset();
    RecoveredState durable = store_.Durable();
    EngineOptions options;
    options.engine = GetParam();
    options.accounts_max = kAccountsMaxForTest;
    options.store = &store_;
    options.recovered_balances = std::move(durable.balances);
    options.recovered_entries = std::move(durable.entries);
    absl::StatusOr<std::unique_ptr<AccountEngine>> engine =
        CreateEngine(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  MemoryStore store_;  // Outlives every engine.
  std::unique_ptr<AccountEngine> engine_;
};

TEST_P(DurableBatchIdTest, BatchIdsReplayAfterARestart) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  ASSERT_TRUE(Open(*engine_, "other", 0).ok());
  const std::vector<std::pair<std::vector<Operation>, bool>> batches = {
      {{ChangeWithId(OperationKind::kDeposit, "main", 20, "d1"),
        ChangeWithId(OperationKind::kWithdraw, "main", 1000,
                     "w1"),  // Too much.
        ChangeWithId(OperationKind::kTransfer, "main", 10, "t1", "other")},
       false},
      {{ChangeWithId(OperationKind::kDeposit, "main", 5, "a1"),
        ChangeWithId(OperationKind::kTransfer, "main", 5, "a2", "other")},
       true},
      {{ChangeWithId(OperationKind::kDeposit, "main", 1, "f1"),
        ChangeWithId(OperationKind::kWithdraw, "main", 1000, "f2")},  // Fails.
       true}};
  std::vector<BatchResults> firsts;
  for (const auto& [batch, atomic] : batches) {
    absl::StatusOr<BatchResults> first =
        ExecuteBatchAndWait(*engine_, batch, atomic);
    ASSERT_TRUE(first.ok()) << first.status();
    firsts.push_back(*std::move(first));
  }
  ASSERT_EQ(BalanceOf(*engine_, "main"), 90);
  Restart();
  ASSERT_TRUE(Deposit(*engine_, "main", 2000).ok());  // Would now succeed.
  for (size_t b = 0; b < batches.size(); ++b) {
    SCOPED_TRACE(b);
    absl::StatusOr<BatchResults> repeat =
        ExecuteBatchAndWait(*engine_, batches[b].first, batches[b].second);
    ASSERT_TRUE(repeat.ok()) << repeat.status();
    ASSERT_EQ(repeat->size(), firsts[b].size());
    for (size_t i = 0; i < repeat->size(); ++i) {
      SCOPED_TRACE(i);
      EXPECT_EQ((*repeat)[i].status(), firsts[b][i].status());
      if (!firsts[b][i].ok()) continue;
      EXPECT_TRUE((*repeat)[i]->replayed);
      EXPECT_EQ((*repeat)[i]->balance, firsts[b][i]->balance);
      EXPECT_EQ((*repeat)[i]->to_balance, firsts[b][i]->to_balance);
    }
  }
  EXPECT_EQ(BalanceOf(*engine_, "main"), 2090);  // Nothing applied twice.
  EXPECT_EQ(BalanceOf(*engine_, "other"), 15);
}

INSTANTIATE_TEST_SUITE_P(DurableEngines, DurableBatchIdTest,
                         ::testing::Values("mutex", "queue"));

}  // namespace
}  // namespace bank::testing
