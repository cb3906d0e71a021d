// Goal: what the shared idempotency suite cannot show about the postgres
// engine's request ids, which live in the database: the same id sent to two
// replicas at once from many threads applies exactly once; a repeat after a
// replica is destroyed and recreated (a restart) answers the original
// outcome, byte for byte, errors included; expired ids are swept in chunks,
// by request and periodically; a version-1 schema is upgraded in place.
// Method: several PostgresEngines ("replicas") on one schema of a
// PostgreSQL started for this binary (PostgresEnvironment); an injected
// clock moves time, never a sleep (the periodic sweep is polled for, with a
// bounded wait).

#include <atomic>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/postgres/postgres_request_ids.h"
#include "service/postgres/postgres_sql.h"
#include "tests/engine/engine_test_util.h"
#include "tests/postgres/postgres_environment.h"

namespace bank::testing {
namespace {

using ::testing::HasSubstr;

const ::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

constexpr size_t kAccountsMax = 1000;
constexpr int kThreadsPerReplica = 8;
constexpr int kRaces = 20;
constexpr absl::Duration kWaitMax = absl::Seconds(60);

std::string NewSchema() {
  absl::StatusOr<std::string> schema =
      PostgresEnvironment::server().CreateSchema();
  EXPECT_TRUE(schema.ok()) << schema.status();
  return schema.ok() ? *schema : "";
}

std::unique_ptr<PostgresEngine> Replica(const std::string& schema,
                                        const ManualClock* clock = nullptr) {
  PostgresOptions options;
  options.accounts_max = kAccountsMax;
  options.connections = 3;
  if (clock != nullptr) {
    options.clock = [clock] { return clock->Now(); };
    options.request_id_sweep_interval = absl::ZeroDuration();
  }
  return PostgresEnvironment::NewEngineWith(schema, options);
}

int64_t CountRows(const std::string& schema) {
  absl::StatusOr<std::string> count = PostgresEnvironment::server().Exec(
      "SELECT count(*) FROM " + schema + ".bank_request_ids");
  int64_t rows = -1;
  EXPECT_TRUE(count.ok() && absl::SimpleAtoi(*count, &rows)) << count.status();
  return rows;
}

absl::StatusOr<int64_t> Sweep(PostgresEngine& engine) {
  absl::Notification done;
  absl::StatusOr<int64_t> deleted;
  engine.SweepExpiredRequestIds([&](absl::StatusOr<int64_t> answer) {
    deleted = std::move(answer);
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(kWaitMax));
  return deleted;
}

TEST(PostgresRequestIdTest, SameIdOnTwoReplicasAtOnceAppliesOnce) {
  const std::string schema = NewSchema();
  std::unique_ptr<PostgresEngine> replicas[2] = {Replica(schema),
                                                 Replica(schema)};
  ASSERT_NE(replicas[0], nullptr);
  ASSERT_NE(replicas[1], nullptr);
  ASSERT_TRUE(Open(*replicas[0], "hot", 0).ok());
  ASSERT_TRUE(Open(*replicas[1], "cold", 1000).ok());
  for (int race = 0; race < kRaces; ++race) {
    // Even races deposit into hot; odd ones transfer cold -> hot.
    const Operation change =
        race % 2 == 0 ? ChangeWithId(OperationKind::kDeposit, "hot", 1,
                                     "race-" + std::to_string(race))
                      : ChangeWithId(OperationKind::kTransfer, "cold", 1,
                                     "race-" + std::to_string(race), "hot");
    std::atomic<bool> go{false};
    std::vector<absl::StatusOr<OperationResult>> answers(2 *
                                                         kThreadsPerReplica);
    std::vector<std::thread> threads;
    for (size_t t = 0; t < answers.size(); ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        answers[t] = ExecuteAndWait(*replicas[t % 2], change);
      });
    }
    go.store(true);
    for (std::thread& thread : threads) thread.join();
    int applied = 0;
    for (const absl::StatusOr<OperationResult>& answer : answers) {
      ASSERT_TRUE(answer.ok()) << answer.status();
      EXPECT_EQ(answer->balance, answers[0]->balance);
      EXPECT_EQ(answer->to_balance, answers[0]->to_balance);
      if (!answer->replayed) ++applied;
    }
    EXPECT_EQ(applied, 1) << "race " << race;
    ASSERT_EQ(BalanceOf(*replicas[race % 2], "hot"), race + 1);
  }
  EXPECT_EQ(BalanceOf(*replicas[0], "cold"), 1000 - kRaces / 2);
  EXPECT_EQ(CountRows(schema), kRaces);
}

TEST(PostgresRequestIdTest, RepeatAfterARestartAnswersTheOriginalOutcome) {
  const std::string schema = NewSchema();
  const Operation open =
      ChangeWithId(OperationKind::kOpen, "main", 100, "open");
  const Operation withdraw =
      ChangeWithId(OperationKind::kWithdraw, "main", 30, "withdraw");
  const Operation too_much =
      ChangeWithId(OperationKind::kWithdraw, "main", 1000, "too-much");
  const Operation missing =
      ChangeWithId(OperationKind::kDeposit, "nobody", 5, "missing");
  const Operation transfer =
      ChangeWithId(OperationKind::kTransfer, "main", 10, "transfer", "other");
  absl::StatusOr<OperationResult> first_open, first_withdraw, first_transfer;
  absl::Status first_too_much, first_missing;
  {
    std::unique_ptr<PostgresEngine> before = Replica(schema);
    ASSERT_NE(before, nullptr);
    first_open = ExecuteAndWait(*before, open);
    ASSERT_TRUE(first_open.ok()) << first_open.status();
    ASSERT_TRUE(Open(*before, "other", 0).ok());
    first_withdraw = ExecuteAndWait(*before, withdraw);
    ASSERT_TRUE(first_withdraw.ok()) << first_withdraw.status();
    first_too_much = ExecuteAndWait(*before, too_much).status();
    EXPECT_EQ(first_too_much.code(), absl::StatusCode::kFailedPrecondition);
    first_missing = ExecuteAndWait(*before, missing).status();
    EXPECT_EQ(first_missing.code(), absl::StatusCode::kNotFound);
    first_transfer = ExecuteAndWait(*before, transfer);
    ASSERT_TRUE(first_transfer.ok()) << first_transfer.status();
  }  // The replica is gone: nothing of it remains in this process.
  std::unique_ptr<PostgresEngine> after = Replica(schema);
  ASSERT_NE(after, nullptr);
  // The world changes so that a second application would succeed...
  ASSERT_TRUE(Deposit(*after, "main", 5000).ok());
  ASSERT_TRUE(Open(*after, "nobody", 0).ok());
  // ...yet every repeat answers its first outcome and changes nothing.
  absl::StatusOr<OperationResult> again = ExecuteAndWait(*after, open);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->balance, first_open->balance);
  again = ExecuteAndWait(*after, withdraw);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(again->balance, first_withdraw->balance);
  again = ExecuteAndWait(*after, transfer);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->balance, first_transfer->balance);
  EXPECT_EQ(again->to_balance, first_transfer->to_balance);
  EXPECT_EQ(ExecuteAndWait(*after, too_much).status(), first_too_much);
  EXPECT_EQ(ExecuteAndWait(*after, missing).status(), first_missing);
  EXPECT_EQ(BalanceOf(*after, "main"), 100 - 30 - 10 + 5000);
  EXPECT_EQ(BalanceOf(*after, "other"), 10);
  EXPECT_EQ(BalanceOf(*after, "nobody"), 0);
  // The same id with other parameters, on the new replica.
  const absl::Status other =
      ExecuteAndWait(*after, ChangeWithId(OperationKind::kWithdraw, "main", 31,
                                          "withdraw"))
          .status();
  EXPECT_EQ(other.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(other.message(), HasSubstr("request_id 'withdraw'"));
  EXPECT_THAT(other.message(), HasSubstr("withdraw of 30 on 'main'"));
  EXPECT_EQ(BalanceOf(*after, "main"), 5060);
}

TEST(PostgresRequestIdTest, RequestIdsOffAppliesEveryRepeat) {
  const std::string schema = NewSchema();
  PostgresOptions options;
  options.request_ids_enabled = false;
  std::unique_ptr<PostgresEngine> engine =
      PostgresEnvironment::NewEngineWith(schema, options);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(Open(*engine, "main", 0).ok());
  const Operation deposit =
      ChangeWithId(OperationKind::kDeposit, "main", 1, "d");
  ASSERT_TRUE(ExecuteAndWait(*engine, deposit).ok());
  ASSERT_TRUE(ExecuteAndWait(*engine, deposit).ok());
  EXPECT_EQ(BalanceOf(*engine, "main"), 2);
  EXPECT_EQ(CountRows(schema), 0);
}

TEST(PostgresRequestIdTest, ExpiredIdsAreSweptAndThenRunAgain) {
  const std::string schema = NewSchema();
  ManualClock clock;
  std::unique_ptr<PostgresEngine> engine = Replica(schema, &clock);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(Open(*engine, "main", 0).ok());
  const Operation old_a =
      ChangeWithId(OperationKind::kDeposit, "main", 1, "old-a");
  const Operation old_b =
      ChangeWithId(OperationKind::kDeposit, "main", 1, "old-b");
  const Operation young =
      ChangeWithId(OperationKind::kDeposit, "main", 1, "young");
  ASSERT_TRUE(ExecuteAndWait(*engine, old_a).ok());
  ASSERT_TRUE(ExecuteAndWait(*engine, old_b).ok());
  clock.Advance(absl::Hours(12));
  ASSERT_TRUE(ExecuteAndWait(*engine, young).ok());
  absl::StatusOr<int64_t> deleted = Sweep(*engine);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 0);  // Nothing is 24 h old yet.
  clock.Advance(absl::Hours(12));
  deleted = Sweep(*engine);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 2);
  EXPECT_EQ(CountRows(schema), 1);
  // A forgotten id runs as a first use; a remembered one still replays.
  absl::StatusOr<OperationResult> again = ExecuteAndWait(*engine, old_a);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->replayed);
  again = ExecuteAndWait(*engine, young);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->replayed);
  EXPECT_EQ(BalanceOf(*engine, "main"), 4);
}

TEST(PostgresRequestIdTest, ASweepDeletesAtMostOneChunk) {
  const std::string schema = NewSchema();
  ManualClock clock;
  std::unique_ptr<PostgresEngine> engine = Replica(schema, &clock);
  ASSERT_NE(engine, nullptr);
  const int64_t rows = kRequestIdSweepRowsMax + 5;
  // Old ids written straight into the table: the chunk size is what counts.
  ASSERT_TRUE(PostgresEnvironment::server()
                  .Exec("INSERT INTO " + schema +
                        ".bank_request_ids (id, created_us, kind, amount,"
                        " account_id, to_account_id) SELECT 'id-' || i, 0, 2,"
                        " 1, 'main', '' FROM generate_series(1, " +
                        std::to_string(rows) + ") AS i")
                  .ok());
  clock.Advance(absl::Hours(25));  // Past the ttl of ids stamped at 0.
  absl::StatusOr<int64_t> deleted = Sweep(*engine);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, static_cast<int64_t>(kRequestIdSweepRowsMax));
  deleted = Sweep(*engine);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 5);
  EXPECT_EQ(CountRows(schema), 0);
}

TEST(PostgresRequestIdTest, TheEngineSweepsExpiredIdsByItself) {
  const std::string schema = NewSchema();
  ManualClock clock;
  PostgresOptions options;
  options.clock = [&clock] { return clock.Now(); };
  options.request_id_ttl = absl::Hours(1);
  options.request_id_sweep_interval = absl::Milliseconds(10);
  std::unique_ptr<PostgresEngine> engine =
      PostgresEnvironment::NewEngineWith(schema, options);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(Open(*engine, "main", 0).ok());
  ASSERT_TRUE(ExecuteAndWait(*engine, ChangeWithId(OperationKind::kDeposit,
                                                   "main", 1, "x"))
                  .ok());
  EXPECT_EQ(CountRows(schema), 1);
  clock.Advance(absl::Hours(2));
  // Polling, not synchronising: the I/O thread sweeps on its own schedule.
  const absl::Time deadline = absl::Now() + kWaitMax;
  while (CountRows(schema) != 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(CountRows(schema), 0);
}

TEST(PostgresRequestIdTest, AVersionOneSchemaIsUpgradedInPlace) {
  const std::string schema = NewSchema();
  // The schema as a version-1 bank_server left it, with one account.
  ASSERT_TRUE(
      PostgresEnvironment::server()
          .Exec("CREATE TABLE " + schema +
                ".bank_meta (key text PRIMARY KEY, value bigint NOT NULL);"
                "CREATE TABLE " +
                schema +
                ".bank_accounts (id text COLLATE \"C\" PRIMARY KEY,"
                " balance bigint NOT NULL CHECK (balance >= 0));"
                "INSERT INTO " +
                schema +
                ".bank_accounts VALUES ('old', 7);"
                "INSERT INTO " +
                schema +
                ".bank_meta VALUES ('account_count', 1),"
                " ('schema_version', 1)")
          .ok());
  std::unique_ptr<PostgresEngine> engine = Replica(schema);
  ASSERT_NE(engine, nullptr);
  absl::StatusOr<std::string> version = PostgresEnvironment::server().Exec(
      "SELECT value FROM " + schema +
      ".bank_meta WHERE key = 'schema_version'");
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, std::to_string(kSchemaVersion));
  EXPECT_EQ(BalanceOf(*engine, "old"), 7);
  const Operation deposit =
      ChangeWithId(OperationKind::kDeposit, "old", 3, "up");
  ASSERT_TRUE(ExecuteAndWait(*engine, deposit).ok());
  ASSERT_TRUE(ExecuteAndWait(*engine, deposit).ok());
  EXPECT_EQ(BalanceOf(*engine, "old"), 10);
}

// The storage cost stated in docs/SERVER.md: one remembered id (a 36-byte
// UUID, a deposit on an 8-byte account id, as bank_change_once writes it)
// measured as pg_column_size of the row and as the table's total size with
// its two indexes, per row, over kMeasuredRows rows.
TEST(PostgresRequestIdTest, ARememberedIdCostsAFewHundredBytes) {
  constexpr int kMeasuredRows = 10000;
  const std::string schema = NewSchema();
  ASSERT_NE(Replica(schema), nullptr);  // Creates the table.
  TempPostgres& server = PostgresEnvironment::server();
  ASSERT_TRUE(server
                  .Exec("INSERT INTO " + schema +
                        ".bank_request_ids SELECT gen_random_uuid()::text,"
                        " 1700000000000000 + i, 2, 100,"
                        " 'acct' || lpad((i % 10000)::text, 4, '0'), '',"
                        " 1000 + i, 900 + i, NULL, NULL"
                        " FROM generate_series(1, " +
                        std::to_string(kMeasuredRows) + ") AS i")
                  .ok());
  ASSERT_TRUE(
      server.Exec("VACUUM ANALYZE " + schema + ".bank_request_ids").ok());
  absl::StatusOr<std::string> row =
      server.Exec("SELECT round(avg(pg_column_size(t.*))) FROM " + schema +
                  ".bank_request_ids AS t");
  absl::StatusOr<std::string> total =
      server.Exec("SELECT pg_total_relation_size('" + schema +
                  ".bank_request_ids') / " + std::to_string(kMeasuredRows));
  ASSERT_TRUE(row.ok()) << row.status();
  ASSERT_TRUE(total.ok()) << total.status();
  int64_t row_bytes = 0;
  int64_t total_bytes = 0;
  ASSERT_TRUE(absl::SimpleAtoi(*row, &row_bytes));
  ASSERT_TRUE(absl::SimpleAtoi(*total, &total_bytes));
  std::cout << "bank_request_ids: " << row_bytes << " bytes per row "
            << "(pg_column_size), " << total_bytes
            << " bytes per row with indexes and page overhead\n";
  EXPECT_LE(row_bytes, 150);
  EXPECT_LE(total_bytes, 400);
}

}  // namespace
}  // namespace bank::testing
