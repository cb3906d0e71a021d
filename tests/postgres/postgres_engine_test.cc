// Goal: what the shared contract suite cannot show about the postgres
// engine: replicas sharing one database keep the exact invariant on a hot
// account, the schema is versioned, passwords stay out of DSNs and messages,
// a full pipeline answers RESOURCE_EXHAUSTED at once, and a stopped database
// answers UNAVAILABLE and comes back.
// Method: engines in this process against a PostgreSQL started for the
// binary (PostgresEnvironment); every wait is bounded and event-driven.

#include <libpq-fe.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/postgres/postgres_sql.h"
#include "tests/engine/engine_test_util.h"
#include "tests/postgres/postgres_environment.h"

namespace bank::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const ::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

constexpr size_t kAccountsMax = 1000;
constexpr absl::Duration kWaitMax = absl::Seconds(60);

TEST(PostgresDsnTest, RedactDsnHidesThePassword) {
  EXPECT_EQ(RedactDsn("host=db user=bank password=s3cret dbname=bank"),
            "user=bank password=*** dbname=bank host=db");
  EXPECT_THAT(RedactDsn("postgresql://bank:s3cret@db:5432/bank"),
              Not(HasSubstr("s3cret")));
  EXPECT_EQ(RedactDsn("host='unterminated"), "(unparsable DSN)");
}

TEST(PostgresDsnTest, PasswordInDsnIsRefused) {
  EXPECT_TRUE(CheckDsnHasNoPassword("host=db user=bank dbname=bank").ok());
  for (const char* dsn :
       {"host=db password=s3cret", "postgresql://bank:s3cret@db/bank"}) {
    absl::Status status = CheckDsnHasNoPassword(dsn);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << dsn;
    EXPECT_THAT(status.message(), HasSubstr("PGPASSWORD"));
    EXPECT_THAT(status.message(), Not(HasSubstr("s3cret")));
  }
}

TEST(PostgresEngineTest, SchemaNewerThanTheBinaryIsRefused) {
  TempPostgres& server = PostgresEnvironment::server();
  absl::StatusOr<std::string> schema = server.CreateSchema();
  ASSERT_TRUE(schema.ok()) << schema.status();
  ASSERT_NE(PostgresEnvironment::NewEngineOn(*schema, kAccountsMax), nullptr);
  ASSERT_TRUE(server
                  .Exec("UPDATE " + *schema +
                        ".bank_meta SET value = value + 1 WHERE key = "
                        "'schema_version'")
                  .ok());
  PostgresOptions options;
  options.dsn = server.DsnForSchema(*schema);
  absl::StatusOr<std::unique_ptr<PostgresEngine>> engine =
      PostgresEngine::Create(options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(engine.status().message(),
              HasSubstr("version " + std::to_string(kSchemaVersion + 1)));
}

TEST(PostgresEngineTest, UnreachableDatabaseFailsCreateWithRedactedDsn) {
  PostgresOptions options;
  // Port 1 on loopback: nothing listens there.
  options.dsn = "host=127.0.0.1 port=1 user=bank connect_timeout=5";
  absl::StatusOr<std::unique_ptr<PostgresEngine>> engine =
      PostgresEngine::Create(options);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(engine.status().message(), HasSubstr("port=1"));
}

TEST(PostgresEngineTest, FullPipelineIsResourceExhaustedAtOnce) {
  TempPostgres& server = PostgresEnvironment::server();
  absl::StatusOr<std::string> schema = server.CreateSchema();
  ASSERT_TRUE(schema.ok()) << schema.status();
  std::unique_ptr<PostgresEngine> engine = PostgresEnvironment::NewEngineOn(
      *schema, kAccountsMax, /*connections=*/1, /*pipeline_depth_max=*/1);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(Open(*engine, "held", 10).ok());

  // Another session holds the row, so the withdrawal below stays in flight
  // for as long as this test wants.
  PGconn* holder = PQconnectdb(server.DsnForSchema(*schema).c_str());
  ASSERT_EQ(PQstatus(holder), CONNECTION_OK) << PQerrorMessage(holder);
  PQclear(PQexec(holder, "BEGIN"));
  PGresult* locked =
      PQexec(holder,
             "SELECT balance FROM bank_accounts WHERE id = 'held' "
             "FOR UPDATE");
  ASSERT_EQ(PQresultStatus(locked), PGRES_TUPLES_OK);
  PQclear(locked);

  absl::Notification first_done;
  absl::StatusOr<OperationResult> first;
  engine->Execute({OperationKind::kWithdraw, "held", "", 3},
                  [&](absl::StatusOr<OperationResult> result) {
                    first = std::move(result);
                    first_done.Notify();
                  });
  absl::StatusOr<OperationResult> second =
      GetBalance(*engine, "held");  // No room: answered at once.
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(first_done.HasBeenNotified());

  PQclear(PQexec(holder, "COMMIT"));
  PQfinish(holder);
  ASSERT_TRUE(first_done.WaitForNotificationWithTimeout(kWaitMax));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->balance, 7);
}

// Two engines on one schema are two replicas: threads hammer one hot
// account through both with withdrawals, deposits and transfers in both
// directions; every acknowledged change must be in the final balances.
// Request ids inside a batch are not kept by the postgres engine: the
// batch is refused whole (nothing applied) rather than applied without the
// promise; without ids the same batch applies.
TEST(PostgresEngineTest, BatchWithRequestIdsIsRefusedWhole) {
  TempPostgres& server = PostgresEnvironment::server();
  absl::StatusOr<std::string> schema = server.CreateSchema();
  ASSERT_TRUE(schema.ok()) << schema.status();
  std::unique_ptr<PostgresEngine> engine =
      PostgresEnvironment::NewEngineOn(*schema, kAccountsMax);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(Open(*engine, "main", 10).ok());
  Operation with_id{OperationKind::kDeposit, "main", "", 5};
  with_id.request_id = "batched-id";
  const Operation plain{OperationKind::kDeposit, "main", "", 1};
  for (const bool atomic : {false, true}) {
    absl::StatusOr<BatchResults> refused =
        ExecuteBatchAndWait(*engine, {plain, with_id}, atomic);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(refused.status().message(), HasSubstr("'batched-id'"));
  }
  EXPECT_EQ(BalanceOf(*engine, "main"), 10);
  ASSERT_TRUE(ExecuteBatchAndWait(*engine, {plain, plain}, false).ok());
  EXPECT_EQ(BalanceOf(*engine, "main"), 12);
}

TEST(PostgresEngineTest, HotAccountThroughTwoReplicasKeepsExactInvariant) {
  TempPostgres& server = PostgresEnvironment::server();
  absl::StatusOr<std::string> schema = server.CreateSchema();
  ASSERT_TRUE(schema.ok()) << schema.status();
  std::unique_ptr<PostgresEngine> replicas[2] = {
      PostgresEnvironment::NewEngineOn(*schema, kAccountsMax, 3),
      PostgresEnvironment::NewEngineOn(*schema, kAccountsMax, 3)};
  ASSERT_NE(replicas[0], nullptr);
  ASSERT_NE(replicas[1], nullptr);
  constexpr int64_t kHotInitial = 500;
  constexpr int64_t kOtherInitial = 500;
  ASSERT_TRUE(Open(*replicas[0], "hot", kHotInitial).ok());
  ASSERT_TRUE(Open(*replicas[1], "other", kOtherInitial).ok());

  constexpr int kThreads = 6;
  constexpr int kOperationsPerThread = 150;
  std::atomic<int64_t> hot_delta{0};
  std::atomic<int> refused{0};
  std::atomic<int> unexpected{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      AccountEngine& engine = *replicas[t % 2];
      for (int i = 0; i < kOperationsPerThread; ++i) {
        const int64_t amount = 1 + (i + t) % 7;
        absl::StatusOr<OperationResult> result;
        int64_t delta = 0;
        switch ((i + t) % 4) {
          case 0:
            result = Withdraw(engine, "hot", amount);
            delta = -amount;
            break;
          case 1:
            result = Deposit(engine, "hot", amount);
            delta = amount;
            break;
          case 2:
            result = Transfer(engine, "hot", "other", amount);
            delta = -amount;
            break;
          default:
            result = Transfer(engine, "other", "hot", amount);
            delta = amount;
            break;
        }
        if (result.ok()) {
          hot_delta += delta;
        } else if (result.status().code() ==
                   absl::StatusCode::kFailedPrecondition) {
          ++refused;
        } else {
          ++unexpected;
          ADD_FAILURE() << result.status();
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(unexpected.load(), 0);
  const int64_t hot = BalanceOf(*replicas[0], "hot");
  const int64_t other = BalanceOf(*replicas[1], "other");
  EXPECT_EQ(hot, kHotInitial + hot_delta.load());
  // Deposits add money; everything else only moves or removes it, so the
  // total follows from the hot account's own history and the deposits.
  absl::StatusOr<std::string> total =
      server.Exec("SELECT sum(balance) FROM " + *schema + ".bank_accounts");
  ASSERT_TRUE(total.ok()) << total.status();
  EXPECT_EQ(std::stoll(*total), hot + other);
  EXPECT_GE(hot, 0);
  EXPECT_GE(other, 0);
}

TEST(PostgresEngineTest, StoppedDatabaseIsUnavailableThenRecovers) {
  TempPostgres& server = PostgresEnvironment::server();
  std::unique_ptr<PostgresEngine> engine =
      PostgresEnvironment::NewEngine(kAccountsMax, 2);
  ASSERT_NE(engine, nullptr);
  ASSERT_TRUE(Open(*engine, "main", 80).ok());
  ASSERT_TRUE(engine->Healthy());

  ASSERT_TRUE(server.Stop().ok());
  // Every operation now fails honestly; each one is a trip through the
  // engine's loop, which meanwhile sees every connection close.
  const absl::Time deadline = absl::Now() + kWaitMax;
  while (engine->Healthy() && absl::Now() < deadline) {
    EXPECT_EQ(Deposit(*engine, "main", 1).status().code(),
              absl::StatusCode::kUnavailable);
  }
  EXPECT_FALSE(engine->Healthy());
  absl::Status status = Withdraw(*engine, "main", 1).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("unreachable"));

  ASSERT_TRUE(server.Resume().ok());
  ASSERT_TRUE(engine->WaitForHealth(true, kWaitMax));
  EXPECT_EQ(BalanceOf(*engine, "main"), 80);
  EXPECT_TRUE(Deposit(*engine, "main", 5).ok());
  EXPECT_EQ(BalanceOf(*engine, "main"), 85);
}

}  // namespace
}  // namespace bank::testing
