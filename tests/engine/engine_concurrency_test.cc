// Goal: under many threads, the safe engines (mutex, queue) never lose an
// update, never go negative, conserve money across concurrent transfers in
// both directions without deadlock, and answer every accepted operation even
// across Shutdown(); the queue engine answers RESOURCE_EXHAUSTED when full;
// the unsafe engine loses the article's update.
// Method: named thread and operation counts, each thread keeping its own
// totals, compared after join with the engine's final balances. Every
// interleaving a test depends on is forced with the engines' test hook and
// absl::Notification / absl::Barrier rendezvous, never with sleeps; the only
// latency used (the article's scenario on the safe engines) can change how
// long a test takes, never its outcome.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/barrier.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/engine/queue_engine.h"
#include "service/engine/unsafe_engine.h"
#include "tests/engine/engine_test_util.h"

namespace bank::testing {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

// Sized so that the whole file runs in seconds under ThreadSanitizer on two
// cores, while still far more threads than cores.
constexpr int kThreadCount = 8;
constexpr int kOperationsPerThread = 2'000;
constexpr int kWindowSizeMax = 32;  // Async operations in flight per thread.
constexpr int64_t kInitialBalance = 1'000;
constexpr int kAccountCount = 16;
constexpr size_t kAccountsMaxForTest = 64;

// RunThreads runs body(thread_index) on `count` threads and joins them.
void RunThreads(int count, const std::function<void(int)>& body) {
  std::vector<std::thread> threads;
  for (int i = 0; i < count; ++i) threads.emplace_back(body, i);
  for (std::thread& thread : threads) thread.join();
}

// RunWindow executes `operations` asynchronously and calls on_result(index,
// result) for each; returns once every completion ran.
void RunWindow(
    AccountEngine& engine, const std::vector<Operation>& operations,
    const std::function<void(size_t, const absl::StatusOr<OperationResult>&)>&
        on_result) {
  absl::BlockingCounter pending(static_cast<int>(operations.size()));
  for (size_t i = 0; i < operations.size(); ++i) {
    engine.Execute(operations[i], [&on_result, &pending,
                                   i](absl::StatusOr<OperationResult> result) {
      on_result(i, result);
      pending.DecrementCount();
    });
  }
  pending.Wait();
}

// ---------------------------------------------------------------------------
// Safe engines: mutex and queue.

class SafeEngineTest : public ::testing::TestWithParam<EngineConfig> {
 protected:
  void SetUp() override {
    engine_ = MakeEngine(GetParam(), kAccountsMaxForTest);
  }

  std::unique_ptr<AccountEngine> engine_;
};

// What one thread did to the hot account, and anything it saw go wrong.
struct HotTotals {
  int64_t deposited = 0;
  int64_t withdrawn = 0;
  int insufficient_funds = 0;
  int negative_balances = 0;
  int unexpected_errors = 0;
};

// HotOperation is thread `t`'s i-th operation: two withdrawals for each
// deposit, so the balance keeps hitting zero and the insufficient-funds
// path runs under contention too.
Operation HotOperation(int t, int i) {
  const int64_t amount = 1 + (i * 7 + t * 13) % 100;
  return {i % 3 == 0 ? OperationKind::kDeposit : OperationKind::kWithdraw,
          "hot", "", amount};
}

TEST_P(SafeEngineTest, HotAccountEndsAtInitialPlusDepositsMinusWithdrawals) {
  ASSERT_TRUE(Open(*engine_, "hot", kInitialBalance).ok());
  std::vector<HotTotals> totals(kThreadCount);
  RunThreads(kThreadCount, [&](int t) {
    for (int first = 0; first < kOperationsPerThread; first += kWindowSizeMax) {
      std::vector<Operation> window;
      for (int i = first; i < first + kWindowSizeMax; ++i) {
        window.push_back(HotOperation(t, i));
      }
      RunWindow(*engine_, window, [&](size_t i, const auto& result) {
        HotTotals& mine = totals[t];
        const Operation& operation = window[i];
        if (result.ok()) {
          if (result->balance < 0) ++mine.negative_balances;
          (operation.kind == OperationKind::kDeposit ? mine.deposited
                                                     : mine.withdrawn) +=
              operation.amount;
        } else if (result.status().code() ==
                   absl::StatusCode::kFailedPrecondition) {
          ++mine.insufficient_funds;
        } else {
          ++mine.unexpected_errors;
        }
      });
    }
  });
  int64_t expected = kInitialBalance;
  int insufficient_funds = 0;
  for (const HotTotals& mine : totals) {
    expected += mine.deposited - mine.withdrawn;
    insufficient_funds += mine.insufficient_funds;
    EXPECT_EQ(mine.negative_balances, 0);
    EXPECT_EQ(mine.unexpected_errors, 0);
  }
  EXPECT_EQ(BalanceOf(*engine_, "hot"), expected);
  EXPECT_GE(expected, 0);
  // Withdrawals ask for about twice what deposits bring in, whatever the
  // interleaving: funds must have run short.
  EXPECT_GT(insufficient_funds, 0);
}

// TransferTotals: per-thread tally of a transfer test.
struct TransferTotals {
  int succeeded = 0;
  int negative_balances = 0;
  int unexpected_errors = 0;
};

void Tally(const absl::StatusOr<OperationResult>& result,
           TransferTotals& mine) {
  if (result.ok()) {
    ++mine.succeeded;
    if (result->balance < 0 || result->to_balance < 0) {
      ++mine.negative_balances;
    }
  } else if (result.status().code() != absl::StatusCode::kFailedPrecondition) {
    ++mine.unexpected_errors;
  }
}

TEST_P(SafeEngineTest, OppositeTransfersConserveMoneyWithoutDeadlock) {
  ASSERT_TRUE(Open(*engine_, "mayili", kInitialBalance).ok());
  ASSERT_TRUE(Open(*engine_, "yaodi", kInitialBalance).ok());
  std::vector<TransferTotals> totals(kThreadCount);
  RunThreads(kThreadCount, [&](int t) {
    // Half the threads send one way, half the other: with locks taken in
    // argument order instead of a global order, this deadlocks.
    const bool forward = t % 2 == 0;
    for (int i = 0; i < kOperationsPerThread; ++i) {
      Tally(Transfer(*engine_, forward ? "mayili" : "yaodi",
                     forward ? "yaodi" : "mayili", 1 + i % 50),
            totals[t]);
    }
  });
  int succeeded = 0;
  for (const TransferTotals& mine : totals) {
    succeeded += mine.succeeded;
    EXPECT_EQ(mine.negative_balances, 0);
    EXPECT_EQ(mine.unexpected_errors, 0);
  }
  // Whichever transfer ran first had the money. (A thread may see none
  // succeed: the scheduler can drain its source before it starts.)
  EXPECT_GT(succeeded, 0);
  EXPECT_EQ(BalanceOf(*engine_, "mayili") + BalanceOf(*engine_, "yaodi"),
            2 * kInitialBalance);
}

std::string AccountName(int index) { return absl::StrCat("account", index); }

TEST_P(SafeEngineTest, TransfersAcrossManyAccountsConserveMoney) {
  for (int a = 0; a < kAccountCount; ++a) {
    ASSERT_TRUE(Open(*engine_, AccountName(a), kInitialBalance).ok());
  }
  std::vector<TransferTotals> totals(kThreadCount);
  RunThreads(kThreadCount, [&](int t) {
    absl::BitGen gen;
    for (int i = 0; i < kOperationsPerThread; ++i) {
      const int from = absl::Uniform(gen, 0, kAccountCount);
      const int to =
          (from + absl::Uniform(gen, 1, kAccountCount)) % kAccountCount;
      Tally(Transfer(*engine_, AccountName(from), AccountName(to),
                     absl::Uniform(gen, 1, 200)),
            totals[t]);
    }
  });
  int64_t total = 0;
  for (int a = 0; a < kAccountCount; ++a) {
    const int64_t balance = BalanceOf(*engine_, AccountName(a));
    EXPECT_GE(balance, 0);
    total += balance;
  }
  EXPECT_EQ(total, kAccountCount * kInitialBalance);
  for (const TransferTotals& mine : totals) {
    EXPECT_EQ(mine.negative_balances, 0);
    EXPECT_EQ(mine.unexpected_errors, 0);
  }
}

// The article: 80 in the account, 30 and 10 withdrawn at once, each with
// latency inside the critical section. A safe engine leaves 40.
constexpr int64_t kArticleBalance = 80;
constexpr int64_t kArticleWithdrawals[] = {30, 10};
constexpr absl::Duration kArticleLatency = absl::Milliseconds(2);

TEST_P(SafeEngineTest, ArticleScenarioLeavesForty) {
  engine_ = MakeEngine(GetParam(), kAccountsMaxForTest,
                       {kArticleLatency, kArticleLatency});
  ASSERT_TRUE(Open(*engine_, "main", kArticleBalance).ok());
  int64_t replies[2] = {-1, -1};
  RunThreads(2, [&](int t) {
    absl::StatusOr<OperationResult> result =
        Withdraw(*engine_, "main", kArticleWithdrawals[t]);
    if (result.ok()) replies[t] = result->balance;
  });
  EXPECT_EQ(BalanceOf(*engine_, "main"), 40);
  // Whichever went second saw the first one's withdrawal.
  EXPECT_THAT(replies, AnyOf(UnorderedElementsAre(50, 40),
                             UnorderedElementsAre(70, 40)));
}

INSTANTIATE_TEST_SUITE_P(
    SafeEngines, SafeEngineTest, ::testing::ValuesIn(SafeEngineConfigs()),
    [](const ::testing::TestParamInfo<EngineConfig>& info) {
      return info.param.label;
    });

// ---------------------------------------------------------------------------
// Shutdown, on every real engine.

// ExecuteUntilUnavailable submits harmless operations until one is answered
// UNAVAILABLE before Execute() returns, which proves Shutdown() has closed
// the engine. Earlier ones may be answered later (the queue engine queues
// them); `completions` counts every answer. Answers how many it submitted.
int ExecuteUntilUnavailable(AccountEngine& engine,
                            std::atomic<int>& completions) {
  for (int submitted = 1;; ++submitted) {
    // Shared, because a queued probe's completion may outlive this loop.
    auto unavailable = std::make_shared<std::atomic<bool>>(false);
    engine.Execute(
        {OperationKind::kGetBalance, "nobody", "", 0},
        [&completions, unavailable](absl::StatusOr<OperationResult> result) {
          unavailable->store(result.status().code() ==
                             absl::StatusCode::kUnavailable);
          completions.fetch_add(1);
        });
    if (unavailable->load()) return submitted;
    std::this_thread::yield();
  }
}

class ShutdownTest : public ::testing::TestWithParam<EngineConfig> {};

TEST_P(ShutdownTest, WaitsForTheOperationInFlight) {
  BlockFirstDeposit blocker;
  std::unique_ptr<AccountEngine> engine =
      MakeEngine(GetParam(), kAccountsMaxForTest, {}, blocker.Hook());
  ASSERT_TRUE(Open(*engine, "main", kInitialBalance).ok());
  std::atomic<bool> deposited{false};
  std::thread depositor([&] {
    engine->Execute({OperationKind::kDeposit, "main", "", 1},
                    [&deposited](absl::StatusOr<OperationResult> result) {
                      EXPECT_TRUE(result.ok()) << result.status();
                      deposited.store(true);
                    });
  });
  blocker.entered.WaitForNotification();
  bool deposited_when_shutdown_returned = false;
  std::thread stopper([&] {
    engine->Shutdown();
    deposited_when_shutdown_returned = deposited.load();
  });
  std::atomic<int> probe_completions{0};
  const int probes = ExecuteUntilUnavailable(*engine, probe_completions);
  // Shutdown() has begun and the deposit is still parked; let it finish.
  blocker.release.Notify();
  stopper.join();
  depositor.join();
  EXPECT_TRUE(deposited_when_shutdown_returned);
  EXPECT_EQ(probe_completions.load(), probes);
}

TEST_P(ShutdownTest, UnderLoadEveryOperationIsAnsweredOnce) {
  std::unique_ptr<AccountEngine> engine =
      MakeEngine(GetParam(), kAccountsMaxForTest);
  ASSERT_TRUE(Open(*engine, "main", kInitialBalance).ok());
  std::atomic<int> completions{0};
  std::atomic<int> unexpected{0};
  absl::Notification halfway;
  std::thread stopper([&] {
    halfway.WaitForNotification();
    engine->Shutdown();
  });
  RunThreads(kThreadCount, [&](int t) {
    for (int i = 0; i < kOperationsPerThread; ++i) {
      if (t == 0 && i == kOperationsPerThread / 2) halfway.Notify();
      engine->Execute({OperationKind::kDeposit, "main", "", 1},
                      [&](absl::StatusOr<OperationResult> result) {
                        const absl::StatusCode code = result.status().code();
                        if (code != absl::StatusCode::kOk &&
                            code != absl::StatusCode::kUnavailable &&
                            code != absl::StatusCode::kResourceExhausted) {
                          unexpected.fetch_add(1);
                        }
                        completions.fetch_add(1);
                      });
    }
  });
  stopper.join();  // Shutdown() returned: every accepted operation answered.
  EXPECT_EQ(completions.load(), kThreadCount * kOperationsPerThread);
  EXPECT_EQ(unexpected.load(), 0);
  EXPECT_EQ(GetBalance(*engine, "main").status().code(),
            absl::StatusCode::kUnavailable);
}

INSTANTIATE_TEST_SUITE_P(
    RealEngines, ShutdownTest, ::testing::ValuesIn(RealEngineConfigs()),
    [](const ::testing::TestParamInfo<EngineConfig>& info) {
      return info.param.label;
    });

// ---------------------------------------------------------------------------
// Queue engine: the bounded queue and its batches.

TEST(QueueEngineTest, FullQueueAnswersResourceExhaustedAtOnce) {
  BlockFirstDeposit blocker;
  EngineOptions options;
  options.queue_depth_max = 1;
  QueueEngine engine(options, blocker.Hook());
  ASSERT_TRUE(Open(engine, "main", kInitialBalance).ok());
  std::vector<absl::StatusOr<OperationResult>> answers;  // Consumer-written.
  absl::BlockingCounter accepted_done(2);
  auto record = [&](absl::StatusOr<OperationResult> result) {
    answers.push_back(std::move(result));
    accepted_done.DecrementCount();
  };
  // The first deposit leaves the queue and parks the consumer; the second
  // then fills the one slot.
  engine.Execute({OperationKind::kDeposit, "main", "", 1}, record);
  blocker.entered.WaitForNotification();
  engine.Execute({OperationKind::kDeposit, "main", "", 2}, record);
  std::optional<absl::Status> rejected;
  engine.Execute({OperationKind::kDeposit, "main", "", 4},
                 [&rejected](absl::StatusOr<OperationResult> result) {
                   rejected = result.status();
                 });
  // Answered before Execute() returned, on this thread.
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(rejected->message(), HasSubstr("queue_depth_max"));
  blocker.release.Notify();
  accepted_done.Wait();
  ASSERT_EQ(answers.size(), 2u);
  ASSERT_TRUE(answers[0].ok() && answers[1].ok());
  EXPECT_EQ(answers[0]->balance, kInitialBalance + 1);
  EXPECT_EQ(answers[1]->balance, kInitialBalance + 3);
  EXPECT_EQ(BalanceOf(engine, "main"), kInitialBalance + 3);
}

TEST(QueueEngineTest, BacklogIsAppliedInCappedBatches) {
  constexpr int kBacklog = 3 * QueueEngine::kBatchSizeMax + 1;
  BlockFirstDeposit blocker;
  QueueEngine engine(EngineOptions{}, blocker.Hook());
  ASSERT_TRUE(Open(engine, "main", 0).ok());
  const QueueEngineStats before = engine.stats();
  std::atomic<int> ok{0};
  auto count_ok = [&ok](absl::StatusOr<OperationResult> result) {
    if (result.ok()) ok.fetch_add(1);
  };
  engine.Execute({OperationKind::kDeposit, "main", "", 1}, count_ok);
  blocker.entered.WaitForNotification();
  for (int i = 0; i < kBacklog; ++i) {
    engine.Execute({OperationKind::kDeposit, "main", "", 1}, count_ok);
  }
  // The consumer is parked in the hook, so the whole backlog is waiting,
  // and Stats() (what /metrics shows) says so.
  const EngineStats parked = engine.Stats();
  ASSERT_TRUE(parked.queue.has_value());
  EXPECT_EQ(parked.queue->depth, static_cast<uint64_t>(kBacklog));
  EXPECT_EQ(parked.queue->depth_max, kQueueDepthMaxDefault);
  blocker.release.Notify();
  EXPECT_EQ(BalanceOf(engine, "main"), 1 + kBacklog);
  EXPECT_EQ(ok.load(), 1 + kBacklog);
  const QueueEngineStats after = engine.stats();
  // The parked deposit, the backlog, and the GetBalance above.
  EXPECT_EQ(after.operations - before.operations, 1u + kBacklog + 1u);
  // The backlog was all pending at once, yet no batch took more than
  // kBatchSizeMax of it.
  EXPECT_GE(after.batches - before.batches, 1u + 4u);
  EXPECT_LE(after.mean_batch_size(),
            static_cast<double>(QueueEngine::kBatchSizeMax));
  // The batch-size histogram agrees with the counters: one observation per
  // batch, summing to the operations; nothing above kBatchSizeMax, and the
  // backlog filled at least one full batch.
  const EngineStats stats = engine.Stats();
  ASSERT_TRUE(stats.queue.has_value());
  const HistogramSnapshot& sizes = stats.queue->batch_sizes;
  EXPECT_EQ(sizes.Count(), after.batches);
  EXPECT_EQ(sizes.sum, static_cast<double>(after.operations));
  ASSERT_EQ(sizes.upper_bounds.back(),
            static_cast<double>(QueueEngine::kBatchSizeMax));
  EXPECT_EQ(sizes.bucket_counts.back(), 0u);
  EXPECT_GE(sizes.bucket_counts[sizes.upper_bounds.size() - 1], 1u);
  EXPECT_EQ(stats.queue->depth, 0u);
  EXPECT_EQ(stats.accounts_open, 1u);
}

// ---------------------------------------------------------------------------
// Unsafe engine: the article's lost update, forced.

TEST(UnsafeEngineTest, ArticleScenarioLosesAnUpdate) {
  // Both withdrawals must read the balance before either writes: the hook
  // runs between the read and the write, and the barrier holds each
  // withdrawal there until the other has read too.
  absl::Barrier* both_read = new absl::Barrier(2);
  UnsafeEngine engine(EngineOptions{}, [&both_read](const Operation& op) {
    if (op.kind != OperationKind::kWithdraw) return;
    if (both_read->Block()) delete both_read;
  });
  ASSERT_TRUE(Open(engine, "main", kArticleBalance).ok());
  int64_t replies[2] = {-1, -1};
  RunThreads(2, [&](int t) {
    absl::StatusOr<OperationResult> result =
        Withdraw(engine, "main", kArticleWithdrawals[t]);
    if (result.ok()) replies[t] = result->balance;
  });
  // Each withdrawal computed from 80 and believes it succeeded.
  EXPECT_THAT(replies, UnorderedElementsAre(50, 70));
  const int64_t left = BalanceOf(engine, "main");
  EXPECT_THAT(left, AnyOf(50, 70));
  EXPECT_NE(left, 40) << "no update was lost";
}

}  // namespace
}  // namespace bank::testing
