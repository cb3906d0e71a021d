// Goal: the durable mutex and queue engines acknowledge only what their
// store holds, and a failed commit leaves no trace in memory.
//   - Every acknowledged change is in the store, and what the engine serves
//     equals what the store holds (what a restart would recover).
//   - Recovered balances are served as they were.
//   - While the store fails, changes (and opens) answer kUnavailable and
//     change nothing; once it writes again, the engine serves again.
//   - Under concurrent transfers with the store failing on and off, money
//     is conserved in the store, no balance is negative, and the served
//     state equals the stored one at the end.
// Method: each engine over a MemoryStore (no RocksDB, so this also runs
// under ThreadSanitizer); SetFailing plays a full disk.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "service/engine/mutex_engine.h"
#include "service/engine/queue_engine.h"
#include "service/storage/memory_store.h"
#include "tests/engine/engine_test_util.h"

namespace bank::testing {
namespace {

constexpr size_t kAccountsMax = 64;
constexpr int kAccounts = 8;
constexpr int64_t kInitialBalance = 1000;
constexpr int kThreads = 4;
constexpr int kTransfersPerThread = 400;
constexpr int kFailureToggles = 20;

class EngineDurableTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<AccountEngine> Make(
      absl::flat_hash_map<std::string, int64_t> recovered = {}) {
    EngineOptions options;
    options.engine = GetParam();
    options.accounts_max = kAccountsMax;
    options.store = &store_;
    options.recovered_balances = std::move(recovered);
    if (GetParam() == "mutex") return std::make_unique<MutexEngine>(options);
    return std::make_unique<QueueEngine>(options);
  }

  MemoryStore store_;  // Outlives every engine of the test.
};

TEST_P(EngineDurableTest, AcknowledgedChangesAreInTheStore) {
  auto engine = Make();
  ASSERT_TRUE(Open(*engine, "a", 100).ok());
  ASSERT_TRUE(Open(*engine, "b", 0).ok());
  ASSERT_TRUE(Transfer(*engine, "a", "b", 30).ok());
  ASSERT_TRUE(Withdraw(*engine, "b", 5).ok());
  RecoveredState durable = store_.Durable();
  EXPECT_EQ(durable.balances.at("a"), 70);
  EXPECT_EQ(durable.balances.at("b"), 25);
  EXPECT_EQ(durable.records_committed, 4u);
  EXPECT_GE(store_.stats().commits, 1u);
}

TEST_P(EngineDurableTest, ServesRecoveredBalances) {
  auto engine = Make({{"a", 70}, {"b", 25}});
  EXPECT_EQ(BalanceOf(*engine, "a"), 70);
  EXPECT_EQ(BalanceOf(*engine, "b"), 25);
  EXPECT_EQ(Open(*engine, "a", 1).status().code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_P(EngineDurableTest, FailedCommitAnswersUnavailableAndChangesNothing) {
  auto engine = Make();
  ASSERT_TRUE(Open(*engine, "a", 100).ok());
  ASSERT_TRUE(Open(*engine, "b", 0).ok());
  store_.SetFailing(true);
  EXPECT_EQ(Deposit(*engine, "a", 5).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(Transfer(*engine, "a", "b", 50).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(Open(*engine, "c", 7).status().code(),
            absl::StatusCode::kUnavailable);
  // Reads still answer, from the durable state.
  EXPECT_EQ(BalanceOf(*engine, "a"), 100);
  EXPECT_EQ(BalanceOf(*engine, "b"), 0);
  EXPECT_EQ(GetBalance(*engine, "c").status().code(),
            absl::StatusCode::kNotFound);

  store_.SetFailing(false);  // Space returns.
  ASSERT_TRUE(Transfer(*engine, "a", "b", 50).ok());
  ASSERT_TRUE(Open(*engine, "c", 7).ok());
  RecoveredState durable = store_.Durable();
  EXPECT_EQ(durable.balances.at("a"), 50);
  EXPECT_EQ(durable.balances.at("b"), 50);
  EXPECT_EQ(durable.balances.at("c"), 7);
}

TEST_P(EngineDurableTest, ConcurrentTransfersWithFailuresKeepMemoryAndDisk) {
  auto engine = Make();
  for (int i = 0; i < kAccounts; ++i) {
    ASSERT_TRUE(
        Open(*engine, "acct" + std::to_string(i), kInitialBalance).ok());
  }
  std::atomic<int> acknowledged{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kTransfersPerThread; ++i) {
        const int from = (t + i) % kAccounts;
        const int to = (t + 3 * i + 1) % kAccounts;
        if (from == to) continue;
        absl::StatusOr<OperationResult> result =
            Transfer(*engine, "acct" + std::to_string(from),
                     "acct" + std::to_string(to), 1 + i % 50);
        if (result.ok()) {
          acknowledged.fetch_add(1);
          EXPECT_GE(result->balance, 0);
        } else {
          EXPECT_TRUE(
              result.status().code() == absl::StatusCode::kUnavailable ||
              result.status().code() == absl::StatusCode::kFailedPrecondition)
              << result.status();
        }
      }
    });
  }
  for (int toggle = 0; toggle < kFailureToggles; ++toggle) {
    store_.SetFailing(toggle % 2 == 0);
    std::this_thread::yield();
  }
  store_.SetFailing(false);
  for (std::thread& thread : threads) thread.join();

  RecoveredState durable = store_.Durable();
  int64_t total = 0;
  for (int i = 0; i < kAccounts; ++i) {
    const std::string id = "acct" + std::to_string(i);
    const int64_t stored = durable.balances.at(id);
    EXPECT_GE(stored, 0);
    EXPECT_EQ(BalanceOf(*engine, id), stored) << id;
    total += stored;
  }
  EXPECT_EQ(total, kAccounts * kInitialBalance);
  EXPECT_GT(acknowledged.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(DurableEngines, EngineDurableTest,
                         ::testing::Values("mutex", "queue"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace bank::testing
