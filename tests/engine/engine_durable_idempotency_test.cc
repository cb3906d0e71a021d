// Goal: with a durable store, remembered request-id outcomes survive a
// restart exactly like the balances they describe (request_id_journal.h):
//   - after a restart every change kind and every decided error replays the
//     first outcome (same balances, same code and message) and changes
//     nothing;
//   - an outcome is journaled in the same commit as its change: a commit
//     that fails remembers nothing, so the retry applies once;
//   - the journal is bounded by request_ids_max (the oldest is overwritten)
//     and a restart keeps the ttl (an id older than it runs again);
//   - the same id from many threads applies once, also across a restart;
//   - a damaged journal entry refuses to start, naming its key; the value
//     codec round-trips and rejects what it cannot have written.
// Method: the mutex and queue engines built by CreateEngine (as bank_server
// does) over a MemoryStore; a "restart" builds a new engine from what the
// store holds (MemoryStore::Durable), as RocksDbStore::Open would recover it.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/engine/engine_factory.h"
#include "service/engine/request_id_journal.h"
#include "service/storage/memory_store.h"
#include "tests/engine/engine_test_util.h"

namespace bank::testing {
namespace {

using ::testing::HasSubstr;

constexpr int kThreads = 16;

size_t JournalKeys(const RecoveredState& state) {
  size_t keys = 0;
  for (const auto& entry : state.entries) {
    if (absl::StartsWith(entry.first, kRequestIdJournalKeyPrefix)) ++keys;
  }
  return keys;
}

class EngineDurableIdempotencyTest
    : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { ASSERT_TRUE(Restart().ok()); }

  // Restart drops the engine and builds a new one from the store's durable
  // state, as bank_server does after kill -9.
  absl::Status Restart(size_t entries_max = kRequestIdsMaxDefault,
                       absl::Duration ttl = absl::Hours(24)) {
    engine_.reset();
    RecoveredState durable = store_.Durable();
    EngineOptions options;
    options.engine = GetParam();
    options.accounts_max = 16;
    options.store = &store_;
    options.recovered_balances = std::move(durable.balances);
    options.recovered_entries = std::move(durable.entries);
    options.request_ids.entries_max = entries_max;
    options.request_ids.ttl = ttl;
    options.request_ids.clock = [this] { return clock_.Now(); };
    absl::StatusOr<std::unique_ptr<AccountEngine>> engine =
        CreateEngine(options);
    if (!engine.ok()) return engine.status();
    engine_ = *std::move(engine);
    return absl::OkStatus();
  }

  absl::StatusOr<OperationResult> Run(const Operation& operation) {
    return ExecuteAndWait(*engine_, operation);
  }

  ManualClock clock_;
  MemoryStore store_;  // Outlives every engine.
  std::unique_ptr<AccountEngine> engine_;
};

TEST_P(EngineDurableIdempotencyTest, EveryChangeKindReplaysAfterARestart) {
  const Operation changes[] = {
      ChangeWithId(OperationKind::kOpen, "main", 80, "open-main"),
      ChangeWithId(OperationKind::kOpen, "other", 0, "open-other"),
      ChangeWithId(OperationKind::kDeposit, "main", 20, "deposit-1"),
      ChangeWithId(OperationKind::kWithdraw, "main", 30, "withdraw-1"),
      ChangeWithId(OperationKind::kTransfer, "main", 10, "transfer-1",
                   "other")};
  std::vector<OperationResult> firsts;
  for (const Operation& change : changes) {
    absl::StatusOr<OperationResult> first = Run(change);
    ASSERT_TRUE(first.ok()) << first.status();
    firsts.push_back(*first);
  }
  ASSERT_TRUE(Restart().ok());
  EXPECT_EQ(BalanceOf(*engine_, "main"), 60);
  for (size_t i = 0; i < std::size(changes); ++i) {
    absl::StatusOr<OperationResult> repeat = Run(changes[i]);
    ASSERT_TRUE(repeat.ok()) << changes[i].request_id << repeat.status();
    EXPECT_TRUE(repeat->replayed) << changes[i].request_id;
    EXPECT_EQ(repeat->balance, firsts[i].balance) << changes[i].request_id;
    EXPECT_EQ(repeat->to_balance, firsts[i].to_balance);
  }
  EXPECT_EQ(BalanceOf(*engine_, "main"), 60);  // Nothing applied twice.
  EXPECT_EQ(BalanceOf(*engine_, "other"), 10);
}

TEST_P(EngineDurableIdempotencyTest, DecidedErrorsReplayAfterARestart) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  const Operation too_much =
      ChangeWithId(OperationKind::kWithdraw, "main", 100, "too-much");
  const Operation missing =
      ChangeWithId(OperationKind::kDeposit, "later", 5, "not-yet");
  const Operation reopen =
      ChangeWithId(OperationKind::kOpen, "main", 1, "reopen");
  const absl::Status first_too_much = Run(too_much).status();
  const absl::Status first_missing = Run(missing).status();
  const absl::Status first_reopen = Run(reopen).status();
  ASSERT_EQ(first_too_much.code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_EQ(first_missing.code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(first_reopen.code(), absl::StatusCode::kAlreadyExists);

  ASSERT_TRUE(Restart().ok());
  // What would now succeed must still answer as the first time did.
  ASSERT_TRUE(Deposit(*engine_, "main", 100).ok());
  ASSERT_TRUE(Open(*engine_, "later", 0).ok());
  EXPECT_EQ(Run(too_much).status(), first_too_much);
  EXPECT_EQ(Run(missing).status(), first_missing);
  EXPECT_EQ(Run(reopen).status(), first_reopen);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 180);
  EXPECT_EQ(BalanceOf(*engine_, "later"), 0);
}

TEST_P(EngineDurableIdempotencyTest, SameIdOtherParametersAfterARestart) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  ASSERT_TRUE(
      Run(ChangeWithId(OperationKind::kWithdraw, "main", 30, "w")).ok());
  ASSERT_TRUE(Restart().ok());
  const absl::Status other =
      Run(ChangeWithId(OperationKind::kWithdraw, "main", 31, "w")).status();
  EXPECT_EQ(other.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(other.message(), HasSubstr("'w'"));
  EXPECT_EQ(BalanceOf(*engine_, "main"), 50);
}

TEST_P(EngineDurableIdempotencyTest, FailedCommitRemembersNothing) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  const Operation withdraw =
      ChangeWithId(OperationKind::kWithdraw, "main", 30, "retried");
  store_.SetFailing(true);
  EXPECT_EQ(Run(withdraw).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(JournalKeys(store_.Durable()), 0u);
  store_.SetFailing(false);
  absl::StatusOr<OperationResult> retry = Run(withdraw);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_FALSE(retry->replayed);  // Applied now, once.
  EXPECT_EQ(retry->balance, 50);
  ASSERT_TRUE(Restart().ok());
  absl::StatusOr<OperationResult> after = Run(withdraw);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->replayed);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 50);
}

TEST_P(EngineDurableIdempotencyTest, JournalIsBoundedAndKeepsTheNewest) {
  constexpr size_t kLimit = 4;
  ASSERT_TRUE(Restart(kLimit).ok());
  ASSERT_TRUE(Open(*engine_, "main", 0).ok());
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(Run(ChangeWithId(OperationKind::kDeposit, "main", 1,
                                 "bounded-" + std::to_string(i)))
                    .ok());
    EXPECT_LE(JournalKeys(store_.Durable()), kLimit);
  }
  ASSERT_TRUE(Restart(kLimit).ok());
  for (int i = 6; i < 10; ++i) {  // The newest four replay...
    absl::StatusOr<OperationResult> repeat = Run(ChangeWithId(
        OperationKind::kDeposit, "main", 1, "bounded-" + std::to_string(i)));
    ASSERT_TRUE(repeat.ok());
    EXPECT_TRUE(repeat->replayed) << i;
    EXPECT_EQ(repeat->balance, i + 1);
  }
  EXPECT_EQ(BalanceOf(*engine_, "main"), 10);
  // ...an older one was overwritten on disk, so it runs again.
  absl::StatusOr<OperationResult> old =
      Run(ChangeWithId(OperationKind::kDeposit, "main", 1, "bounded-2"));
  ASSERT_TRUE(old.ok());
  EXPECT_FALSE(old->replayed);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 11);
}

TEST_P(EngineDurableIdempotencyTest, TtlSurvivesARestart) {
  ASSERT_TRUE(Restart(kRequestIdsMaxDefault, absl::Hours(1)).ok());
  ASSERT_TRUE(Open(*engine_, "main", 0).ok());
  const Operation deposit =
      ChangeWithId(OperationKind::kDeposit, "main", 1, "ttl");
  ASSERT_TRUE(Run(deposit).ok());
  clock_.Advance(absl::Minutes(59));
  ASSERT_TRUE(Restart(kRequestIdsMaxDefault, absl::Hours(1)).ok());
  absl::StatusOr<OperationResult> kept = Run(deposit);
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(kept->replayed);  // 59 minutes old: still remembered.
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(Restart(kRequestIdsMaxDefault, absl::Hours(1)).ok());
  absl::StatusOr<OperationResult> again = Run(deposit);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->replayed);  // An hour old: forgotten, runs again.
  EXPECT_EQ(BalanceOf(*engine_, "main"), 2);
}

TEST_P(EngineDurableIdempotencyTest, SameIdFromManyThreadsAppliesOnce) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  const Operation withdraw =
      ChangeWithId(OperationKind::kWithdraw, "main", 30, "raced");
  std::atomic<bool> go{false};
  std::vector<absl::StatusOr<OperationResult>> answers(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      answers[t] = Run(withdraw);
    });
  }
  go.store(true);
  for (std::thread& thread : threads) thread.join();
  for (const absl::StatusOr<OperationResult>& answer : answers) {
    ASSERT_TRUE(answer.ok()) << answer.status();
    EXPECT_EQ(answer->balance, 50);
  }
  ASSERT_TRUE(Restart().ok());
  ASSERT_TRUE(Run(withdraw).ok());
  EXPECT_EQ(BalanceOf(*engine_, "main"), 50);
  EXPECT_EQ(JournalKeys(store_.Durable()), 1u);
}

TEST_P(EngineDurableIdempotencyTest, DamagedEntryRefusesToStartNamingIt) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  engine_.reset();
  StoreRecord damaged;
  damaged.entries.emplace_back("request_id/7", "\x01garbage");
  ASSERT_TRUE(store_.Commit({damaged}).ok());
  const absl::Status refused = Restart();
  EXPECT_EQ(refused.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(refused.message(), HasSubstr("'request_id/7'"));
}

INSTANTIATE_TEST_SUITE_P(DurableEngines, EngineDurableIdempotencyTest,
                         ::testing::Values("mutex", "queue"));

TEST(JournalCodecTest, RoundTripsEveryField) {
  JournalEntry entry;
  entry.sequence = 123456789012345ull;
  entry.remembered_at = absl::FromUnixMicros(1'700'000'000'123'456);
  entry.operation =
      ChangeWithId(OperationKind::kTransfer, "from", 42, "id-1", "to");
  entry.outcome = OperationResult{-1, INT64_MAX};
  absl::StatusOr<JournalEntry> decoded =
      DecodeJournalEntry(EncodeJournalEntry(entry));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->sequence, entry.sequence);
  EXPECT_EQ(decoded->remembered_at, entry.remembered_at);
  EXPECT_EQ(decoded->operation.kind, OperationKind::kTransfer);
  EXPECT_EQ(decoded->operation.account_id, "from");
  EXPECT_EQ(decoded->operation.to_account_id, "to");
  EXPECT_EQ(decoded->operation.amount, 42);
  EXPECT_EQ(decoded->operation.request_id, "id-1");
  ASSERT_TRUE(decoded->outcome.ok());
  EXPECT_EQ(decoded->outcome->balance, -1);
  EXPECT_EQ(decoded->outcome->to_balance, INT64_MAX);

  entry.outcome = absl::FailedPreconditionError("insufficient funds");
  decoded = DecodeJournalEntry(EncodeJournalEntry(entry));
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->outcome.status(), entry.outcome.status());
}

TEST(JournalCodecTest, RejectsWhatItCannotHaveWritten) {
  JournalEntry entry;
  entry.operation = ChangeWithId(OperationKind::kDeposit, "a", 5, "id");
  const std::string good = EncodeJournalEntry(entry);
  ASSERT_TRUE(DecodeJournalEntry(good).ok());
  for (size_t size = 0; size < good.size(); ++size) {
    EXPECT_EQ(DecodeJournalEntry(good.substr(0, size)).status().code(),
              absl::StatusCode::kDataLoss)
        << "truncated to " << size;
  }
  EXPECT_FALSE(DecodeJournalEntry(good + "x").ok());  // Trailing bytes.
  std::string version = good;
  version[0] = 2;
  EXPECT_FALSE(DecodeJournalEntry(version).ok());
  // An undecided outcome (kUnavailable) is never journaled.
  entry.outcome = absl::UnavailableError("down");
  EXPECT_FALSE(DecodeJournalEntry(EncodeJournalEntry(entry)).ok());
  // No request id: not a journal entry.
  entry.outcome = OperationResult{};
  entry.operation.request_id.clear();
  EXPECT_FALSE(DecodeJournalEntry(EncodeJournalEntry(entry)).ok());
}

}  // namespace
}  // namespace bank::testing
