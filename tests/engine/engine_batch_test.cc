// Goal: every engine (and the model) keeps the batch contract of batch.h:
// results one per operation in order; a non-atomic batch applies each
// operation on its own; an atomic batch applies all or nothing, naming the
// first failure and answering ABORTED for the rest; batch-size limits and
// shutdown refuse the whole batch. Under many threads, opposite atomic
// batches on the safe engines never deadlock and conserve money. The queue
// engine takes a batch as one message (one slot, one pass).
// Method: one value-parameterised suite over every engine driven from one
// thread (ExecuteBatchAndWait); a threaded suite over mutex and queue with
// named thread and batch counts and totals checked after join; queue-only
// tests park the consumer with the test hook (no sleeps).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/engine/queue_engine.h"
#include "tests/engine/engine_test_util.h"

namespace bank::testing {
namespace {

using ::testing::HasSubstr;

constexpr size_t kAccountsMaxForTest = 8;

Operation Op(OperationKind kind, std::string account_id, int64_t amount,
             std::string to_account_id = "") {
  return {kind, std::move(account_id), std::move(to_account_id), amount};
}

class EngineBatchTest : public ::testing::TestWithParam<EngineConfig> {
 protected:
  void SetUp() override {
    engine_ = MakeEngine(GetParam(), kAccountsMaxForTest);
  }

  absl::StatusOr<BatchResults> Run(std::vector<Operation> operations,
                                   bool atomic) {
    return ExecuteBatchAndWait(*engine_, std::move(operations), atomic);
  }

  std::unique_ptr<AccountEngine> engine_;
};

TEST_P(EngineBatchTest, AppliesInOrderAndLaterOperationsSeeEarlierOnes) {
  for (const bool atomic : {false, true}) {
    SCOPED_TRACE(atomic ? "atomic" : "not atomic");
    const std::string a = atomic ? "a1" : "a0";
    const std::string b = atomic ? "b1" : "b0";
    absl::StatusOr<BatchResults> results =
        Run({Op(OperationKind::kOpen, a, 100), Op(OperationKind::kOpen, b, 0),
             Op(OperationKind::kDeposit, a, 5),
             Op(OperationKind::kTransfer, a, 30, b),
             Op(OperationKind::kWithdraw, b, 10),
             Op(OperationKind::kGetBalance, a, 0)},
            atomic);
    ASSERT_TRUE(results.ok()) << results.status();
    ASSERT_EQ(results->size(), 6u);
    for (const auto& result : *results)
      ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ((*results)[2]->balance, 105);
    EXPECT_EQ((*results)[3]->balance, 75);
    EXPECT_EQ((*results)[3]->to_balance, 30);
    EXPECT_EQ((*results)[4]->balance, 20);
    EXPECT_EQ((*results)[5]->balance, 75);
    EXPECT_EQ(BalanceOf(*engine_, a), 75);
    EXPECT_EQ(BalanceOf(*engine_, b), 20);
  }
}

TEST_P(EngineBatchTest, NonAtomicFailureDoesNotStopTheOthers) {
  ASSERT_TRUE(Open(*engine_, "main", 50).ok());
  absl::StatusOr<BatchResults> results =
      Run({Op(OperationKind::kWithdraw, "main", 10),
           Op(OperationKind::kWithdraw, "main", 1000),  // Insufficient.
           Op(OperationKind::kDeposit, "", 1),          // Invalid.
           Op(OperationKind::kDeposit, "nobody", 1),    // Not found.
           Op(OperationKind::kDeposit, "main", 3)},
          /*atomic=*/false);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 5u);
  EXPECT_EQ((*results)[0]->balance, 40);
  EXPECT_EQ((*results)[1].status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*results)[2].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*results)[3].status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*results)[4]->balance, 43);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 43);
}

TEST_P(EngineBatchTest, AtomicFailureInTheMiddleAppliesNothing) {
  ASSERT_TRUE(Open(*engine_, "a", 100).ok());
  ASSERT_TRUE(Open(*engine_, "b", 10).ok());
  absl::StatusOr<BatchResults> results =
      Run({Op(OperationKind::kOpen, "new", 7),
           Op(OperationKind::kTransfer, "a", 60, "b"),
           Op(OperationKind::kDeposit, "new", 1),
           Op(OperationKind::kWithdraw, "a", 50),  // 40 left: fails.
           Op(OperationKind::kDeposit, "b", 1)},
          /*atomic=*/true);
  ASSERT_TRUE(results.ok()) << results.status();
  ASSERT_EQ(results->size(), 5u);
  EXPECT_EQ((*results)[3].status().code(),
            absl::StatusCode::kFailedPrecondition);
  for (size_t i : {0, 1, 2, 4}) {
    SCOPED_TRACE(i);
    EXPECT_EQ((*results)[i].status().code(), absl::StatusCode::kAborted);
    EXPECT_THAT((*results)[i].status().message(),
                HasSubstr("failed at operation 3"));
    EXPECT_THAT((*results)[i].status().message(),
                HasSubstr("FAILED_PRECONDITION"));
  }
  EXPECT_EQ(BalanceOf(*engine_, "a"), 100);
  EXPECT_EQ(BalanceOf(*engine_, "b"), 10);
  EXPECT_EQ(GetBalance(*engine_, "new").status().code(),
            absl::StatusCode::kNotFound);
  // The batch's open left nothing behind: the id is still free.
  EXPECT_TRUE(Open(*engine_, "new", 1).ok());
}

TEST_P(EngineBatchTest, AtomicBatchChecksTheAccountLimitAndValidation) {
  std::vector<Operation> opens;
  for (size_t i = 0; i <= kAccountsMaxForTest; ++i) {
    opens.push_back(Op(OperationKind::kOpen, absl::StrCat("x", i), 1));
  }
  absl::StatusOr<BatchResults> results = Run(opens, /*atomic=*/true);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ(results->back().status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(GetBalance(*engine_, "x0").status().code(),
            absl::StatusCode::kNotFound);
  results = Run({Op(OperationKind::kOpen, "y", 1),
                 Op(OperationKind::kTransfer, "y", 1, "y")},
                /*atomic=*/true);
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ((*results)[1].status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*results)[0].status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(GetBalance(*engine_, "y").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(EngineBatchTest, SizeLimitsRefuseTheWholeBatch) {
  ASSERT_TRUE(Open(*engine_, "main", 0).ok());
  for (const bool atomic : {false, true}) {
    absl::StatusOr<BatchResults> empty = Run({}, atomic);
    EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
    std::vector<Operation> too_many(kBatchOperationsMax + 1,
                                    Op(OperationKind::kDeposit, "main", 1));
    absl::StatusOr<BatchResults> refused = Run(std::move(too_many), atomic);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(refused.status().message(), HasSubstr("8190"));
    EXPECT_EQ(BalanceOf(*engine_, "main"), atomic ? kBatchOperationsMax : 0);
    // The largest batch applies whole.
    std::vector<Operation> largest(kBatchOperationsMax,
                                   Op(OperationKind::kDeposit, "main", 1));
    absl::StatusOr<BatchResults> applied = Run(std::move(largest), atomic);
    ASSERT_TRUE(applied.ok()) << applied.status();
    ASSERT_EQ(applied->size(), kBatchOperationsMax);
    EXPECT_EQ(applied->back()->balance,
              static_cast<int64_t>(kBatchOperationsMax) * (atomic ? 2 : 1));
  }
}

TEST_P(EngineBatchTest, AfterShutdownBatchesAreUnavailable) {
  ASSERT_TRUE(Open(*engine_, "main", 1).ok());
  engine_->Shutdown();
  for (const bool atomic : {false, true}) {
    EXPECT_EQ(Run({Op(OperationKind::kGetBalance, "main", 0)}, atomic)
                  .status()
                  .code(),
              absl::StatusCode::kUnavailable);
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllEngines, EngineBatchTest, ::testing::ValuesIn(ContractEngineConfigs()),
    [](const ::testing::TestParamInfo<EngineConfig>& info) {
      return info.param.label;
    });

// ---------------------------------------------------------------------------
// Safe engines under many threads.

constexpr int kThreadCount = 8;
constexpr int kBatchesPerThread = 300;
constexpr int kRingSize = 6;  // Accounts in the ring the batches move along.
constexpr int64_t kInitialBalance = 1'000;

class SafeEngineBatchTest : public ::testing::TestWithParam<EngineConfig> {};

// Even threads send atomic batches moving money clockwise round a ring of
// accounts, odd threads counter-clockwise, plus single transfers and
// non-atomic batches in between: the account sets overlap in opposite
// orders, which deadlocks any engine that locks in batch order. Some
// batches end with an impossible withdrawal, so they must abort whole.
TEST_P(SafeEngineBatchTest, OppositeAtomicBatchesConserveMoney) {
  std::unique_ptr<AccountEngine> engine = MakeEngine(GetParam(), 64);
  std::vector<std::string> ids;
  for (int i = 0; i < kRingSize; ++i) {
    ids.push_back(absl::StrCat("r", i));
    ASSERT_TRUE(Open(*engine, ids.back(), kInitialBalance).ok());
  }
  std::atomic<int> applied{0};
  std::atomic<int> aborted{0};
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreadCount; ++t) {
    threads.emplace_back([&, t] {
      const int step = t % 2 == 0 ? 1 : kRingSize - 1;
      for (int n = 0; n < kBatchesPerThread; ++n) {
        std::vector<Operation> batch;
        for (int i = 0; i < kRingSize; ++i) {
          const int from = (t + i * step) % kRingSize;
          const int to = (from + step) % kRingSize;
          batch.push_back(
              Op(OperationKind::kTransfer, ids[from], 1 + n % 5, ids[to]));
        }
        const bool doomed = n % 7 == 3;
        if (doomed) {
          batch.push_back(Op(OperationKind::kWithdraw, ids[t % kRingSize],
                             kInitialBalance * kRingSize + 1));
        }
        absl::StatusOr<BatchResults> results =
            ExecuteBatchAndWait(*engine, std::move(batch), /*atomic=*/true);
        if (!results.ok()) {
          unexpected.fetch_add(1);
          continue;
        }
        const bool ok = (*results)[0].ok();
        if (ok == doomed) unexpected.fetch_add(1);
        (ok ? applied : aborted).fetch_add(1);
        // And single transfers against the batches' lock order.
        if (!Transfer(*engine, ids[(t + 1) % kRingSize], ids[t % kRingSize], 1)
                 .ok()) {
          unexpected.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_EQ(applied.load() + aborted.load(), kThreadCount * kBatchesPerThread);
  EXPECT_GT(aborted.load(), 0);
  int64_t total = 0;
  for (const std::string& id : ids) {
    const int64_t balance = BalanceOf(*engine, id);
    EXPECT_GE(balance, 0);
    total += balance;
  }
  EXPECT_EQ(total, kInitialBalance * kRingSize);
}

INSTANTIATE_TEST_SUITE_P(
    SafeEngines, SafeEngineBatchTest,
    ::testing::ValuesIn(SafeContractEngineConfigs()),
    [](const ::testing::TestParamInfo<EngineConfig>& info) {
      return info.param.label;
    });

// ---------------------------------------------------------------------------
// Queue engine: a batch is one message.

// ParkedQueueEngine: a queue engine whose consumer Park() leaves parked
// inside a first deposit of 1 to "main" (opened with 0), so that whatever
// the test sends next waits in the ring; Release() lets the consumer go and
// waits for that deposit's answer.
struct ParkedQueueEngine {
  explicit ParkedQueueEngine(const EngineOptions& options)
      : engine(options, parked.Hook()) {}

  void Park() {
    ASSERT_TRUE(Open(engine, "main", 0).ok());
    engine.Execute(
        Op(OperationKind::kDeposit, "main", 1),
        [this](absl::StatusOr<OperationResult>) { first_done.Notify(); });
    parked.entered.WaitForNotification();
  }

  // ExpectNextBatchRefused: a one-deposit batch sent now is answered at
  // once with RESOURCE_EXHAUSTED (the engine holds all it may).
  void ExpectNextBatchRefused() {
    engine.ExecuteBatch({Op(OperationKind::kDeposit, "main", 1)}, false,
                        [this](absl::StatusOr<BatchResults> result) {
                          refused = result.status();
                        });
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(refused->code(), absl::StatusCode::kResourceExhausted);
  }

  void Release() {
    parked.release.Notify();
    first_done.WaitForNotification();
  }

  BlockFirstDeposit parked;  // Before engine, which holds its hook.
  QueueEngine engine;
  absl::Notification first_done;
  std::optional<absl::Status> refused;  // ExpectNextBatchRefused's answer.
};

TEST(QueueEngineBatchTest, ABatchTakesOneSlotAndOnePass) {
  EngineOptions options;
  options.queue_depth_max = 1;
  ParkedQueueEngine parked(options);
  ASSERT_NO_FATAL_FAILURE(parked.Park());
  QueueEngine& engine = parked.engine;
  const QueueEngineStats before = engine.stats();
  // The consumer is parked: the whole largest batch fits the one slot...
  std::vector<Operation> batch(kBatchOperationsMax,
                               Op(OperationKind::kDeposit, "main", 1));
  absl::Notification batch_done;
  absl::StatusOr<BatchResults> outcome;
  engine.ExecuteBatch(std::move(batch), /*atomic=*/false,
                      [&](absl::StatusOr<BatchResults> result) {
                        outcome = std::move(result);
                        batch_done.Notify();
                      });
  // ...and then the queue is full, for batches and single operations alike.
  ASSERT_NO_FATAL_FAILURE(parked.ExpectNextBatchRefused());
  parked.Release();
  batch_done.WaitForNotification();
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->back()->balance, 1 + kBatchOperationsMax);
  const QueueEngineStats after = engine.stats();
  // One pass took the whole batch, unsplit, though it exceeds kBatchSizeMax.
  EXPECT_EQ(after.batches - before.batches, 1u);
  EXPECT_EQ(after.operations - before.operations, kBatchOperationsMax);
}

TEST(QueueEngineBatchTest, WaitingBatchesAreBoundedInOperations) {
  // Goal: batches take one ring slot each whatever their size, so the
  // operations they hold are bounded on their own. Method: park the
  // consumer, fill the budget with the largest batches, and check the next
  // batch is refused at once while a single operation still fits the ring.
  ParkedQueueEngine parked{EngineOptions()};
  ASSERT_NO_FATAL_FAILURE(parked.Park());
  QueueEngine& engine = parked.engine;
  constexpr size_t kFullBatches =
      QueueEngine::kBatchedOperationsWaitingMax / kBatchOperationsMax;
  std::atomic<size_t> applied{0};
  std::atomic<size_t> answered{0};
  absl::Notification all_answered;
  for (size_t i = 0; i < kFullBatches; ++i) {
    engine.ExecuteBatch(
        std::vector<Operation>(kBatchOperationsMax,
                               Op(OperationKind::kDeposit, "main", 1)),
        /*atomic=*/false, [&](absl::StatusOr<BatchResults> result) {
          if (result.ok()) applied.fetch_add(1);
          if (answered.fetch_add(1) + 1 == kFullBatches) all_answered.Notify();
        });
  }
  ASSERT_NO_FATAL_FAILURE(parked.ExpectNextBatchRefused());
  parked.Release();
  // The single operation's answer does not mean the consumer has taken the
  // batches yet: wait for theirs (generously bounded).
  ASSERT_TRUE(all_answered.WaitForNotificationWithTimeout(absl::Seconds(120)));
  // Once the consumer took them, batches are accepted again.
  absl::StatusOr<BatchResults> later = ExecuteBatchAndWait(
      engine, {Op(OperationKind::kDeposit, "main", 1)}, false);
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(applied.load(), kFullBatches);
  EXPECT_EQ(later->back()->balance,
            static_cast<int64_t>(2 + kFullBatches * kBatchOperationsMax));
}

}  // namespace
}  // namespace bank::testing
