// Goal: bank_server processes on the postgres engine are stateless replicas:
// two of them sharing one database keep the exact invariant on a hot
// account; a database restarted under load loses nothing acknowledged and
// every failure is an honest UNAVAILABLE; a stopped database turns health
// NOT_SERVING and back to SERVING when it returns.
// Method: real bank_server processes (ServerProcess) against a PostgreSQL
// started for this binary, each test on its own schema. Waits are bounded
// and event-driven (health Watch streams, counters under a mutex).

#include <signal.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "bank/v1/bank.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "tests/postgres/postgres_environment.h"
#include "tests/server/rpc_helpers.h"
#include "tests/testing/server_process.h"

namespace bank::testing {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

const ::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

constexpr absl::Duration kWaitMax = absl::Seconds(60);

std::unique_ptr<ServerProcess> StartReplica(const std::string& schema) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(
      BANK_SERVER_PATH,
      {"--engine=postgres", "--postgres_connections=2",
       "--postgres_dsn=" + PostgresEnvironment::server().DsnForSchema(schema)});
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// Balance answers `account_id`'s balance, or the call's error.
absl::StatusOr<int64_t> Balance(BankClient& client,
                                const std::string& account_id) {
  Reply<bank::v1::GetBalanceResponse> reply = client.GetBalance(account_id);
  if (!reply.status.ok())
    return absl::UnknownError(reply.status.error_message());
  return reply.response.balance();
}

// WatchHealth follows the server's overall health ("") until it reports
// `wanted`; answers whether it did within kWaitMax.
bool WatchHealth(ServerProcess& server,
                 HealthCheckResponse::ServingStatus wanted) {
  auto stub = grpc::health::v1::Health::NewStub(server.channel());
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kWaitMax));
  HealthCheckRequest request;
  auto reader = stub->Watch(&context, request);
  HealthCheckResponse response;
  while (reader->Read(&response)) {
    if (response.status() == wanted) {
      context.TryCancel();
      reader->Finish().ok();
      return true;
    }
  }
  return false;
}

TEST(PostgresServerTest, NewerSchemaIsARefusalToStart) {
  TempPostgres& database = PostgresEnvironment::server();
  absl::StatusOr<std::string> schema = database.CreateSchema();
  ASSERT_TRUE(schema.ok()) << schema.status();
  ASSERT_NE(StartReplica(*schema), nullptr);  // Creates the schema, stops.
  ASSERT_TRUE(database
                  .Exec("UPDATE " + *schema +
                        ".bank_meta SET value = 99 WHERE key = "
                        "'schema_version'")
                  .ok());
  Subprocess::Options options;
  options.capture_stderr = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> server =
      Subprocess::Start(BANK_SERVER_PATH,
                        {"--listen=127.0.0.1:0", "--engine=postgres",
                         "--postgres_dsn=" + database.DsnForSchema(*schema)},
                        options);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<ExitStatus> exit = (*server)->Wait(kWaitMax);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->exited && exit->code == 1) << exit->ToString();
  EXPECT_THAT((*server)->stderr_text(), ::testing::HasSubstr("version 99"));
}

TEST(PostgresServerTest, TwoReplicasKeepTheHotAccountExact) {
  absl::StatusOr<std::string> schema =
      PostgresEnvironment::server().CreateSchema();
  ASSERT_TRUE(schema.ok()) << schema.status();
  std::unique_ptr<ServerProcess> replicas[2] = {StartReplica(*schema),
                                                StartReplica(*schema)};
  ASSERT_NE(replicas[0], nullptr);
  ASSERT_NE(replicas[1], nullptr);
  constexpr int64_t kHotInitial = 1000;
  constexpr int64_t kOtherInitial = 1000;
  BankClient clients[2] = {BankClient(replicas[0]->NewStub()),
                           BankClient(replicas[1]->NewStub())};
  ASSERT_TRUE(clients[0].Open("hot", kHotInitial).status.ok());
  ASSERT_TRUE(clients[1].Open("other", kOtherInitial).status.ok());
  // Opened through one replica, seen by the other.
  EXPECT_EQ(clients[1].Open("hot", 1).status.error_code(),
            grpc::StatusCode::ALREADY_EXISTS);

  constexpr int kThreads = 8;
  constexpr int kOperationsPerThread = 150;
  absl::Mutex mu;
  int64_t hot_delta = 0;
  int64_t deposited = 0;
  int64_t withdrawn = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      BankClient client(replicas[t % 2]->NewStub());
      for (int i = 0; i < kOperationsPerThread; ++i) {
        const int64_t amount = 1 + (i * 7 + t) % 11;
        grpc::Status status;
        int64_t delta = 0;
        switch ((i + t) % 4) {
          case 0:
            status = client.Withdraw("hot", amount).status;
            delta = -amount;
            break;
          case 1:
            status = client.Deposit("hot", amount).status;
            delta = amount;
            break;
          case 2:
            status = client.Transfer("hot", "other", amount).status;
            delta = -amount;
            break;
          default:
            status = client.Transfer("other", "hot", amount).status;
            delta = amount;
            break;
        }
        if (status.ok()) {
          absl::MutexLock lock(&mu);
          hot_delta += delta;
          if ((i + t) % 4 == 0) withdrawn += amount;
          if ((i + t) % 4 == 1) deposited += amount;
        } else {
          EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
              << status.error_message();
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  absl::StatusOr<int64_t> hot = Balance(clients[1], "hot");
  absl::StatusOr<int64_t> other = Balance(clients[0], "other");
  ASSERT_TRUE(hot.ok() && other.ok());
  absl::MutexLock lock(&mu);
  EXPECT_EQ(*hot, kHotInitial + hot_delta);
  // Deposits enter the bank, withdrawals leave it, transfers only move
  // money: nothing else may change the total.
  EXPECT_EQ(*hot + *other, kHotInitial + kOtherInitial + deposited - withdrawn);
  EXPECT_GE(*hot, 0);
  EXPECT_GE(*other, 0);
}

TEST(PostgresServerTest, StoppedDatabaseTurnsHealthNotServingAndBack) {
  TempPostgres& database = PostgresEnvironment::server();
  absl::StatusOr<std::string> schema = database.CreateSchema();
  ASSERT_TRUE(schema.ok()) << schema.status();
  std::unique_ptr<ServerProcess> server = StartReplica(*schema);
  ASSERT_NE(server, nullptr);
  BankClient client(server->NewStub());
  ASSERT_TRUE(client.Open("main", 80).status.ok());
  ASSERT_TRUE(WatchHealth(*server, HealthCheckResponse::SERVING));

  ASSERT_TRUE(database.Stop().ok());
  grpc::Status status = client.Deposit("main", 1).status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_TRUE(WatchHealth(*server, HealthCheckResponse::NOT_SERVING));
  EXPECT_EQ(client.Withdraw("main", 1).status.error_code(),
            grpc::StatusCode::UNAVAILABLE);

  ASSERT_TRUE(database.Resume().ok());
  EXPECT_TRUE(WatchHealth(*server, HealthCheckResponse::SERVING));
  EXPECT_TRUE(client.Deposit("main", 5).status.ok());
  absl::StatusOr<int64_t> balance = Balance(client, "main");
  ASSERT_TRUE(balance.ok());
  EXPECT_EQ(*balance, 85);
}

TEST(PostgresServerTest, DatabaseRestartUnderLoadLosesNothingAcknowledged) {
  TempPostgres& database = PostgresEnvironment::server();
  absl::StatusOr<std::string> schema = database.CreateSchema();
  ASSERT_TRUE(schema.ok()) << schema.status();
  std::unique_ptr<ServerProcess> server = StartReplica(*schema);
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(BankClient(server->NewStub()).Open("acc", 0).status.ok());

  // Each thread deposits 1 until told to stop; OK counts as applied,
  // UNAVAILABLE as unknown; no other status is honest here.
  absl::Mutex mu;
  int64_t acknowledged = 0;
  int64_t unknown = 0;
  bool stop = false;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      BankClient client(server->NewStub());
      while (true) {
        {
          absl::MutexLock lock(&mu);
          if (stop) return;
        }
        grpc::Status status = client.Deposit("acc", 1).status;
        absl::MutexLock lock(&mu);
        if (status.ok()) {
          ++acknowledged;
        } else {
          EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
              << status.error_message();
          ++unknown;
        }
      }
    });
  }
  auto acknowledged_at_least = [&](int64_t count) {
    absl::MutexLock lock(&mu);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return acknowledged >= count;
    };
    return mu.AwaitWithTimeout(absl::Condition(&reached), kWaitMax);
  };
  EXPECT_TRUE(acknowledged_at_least(200));
  ASSERT_TRUE(database.Stop().ok());
  ASSERT_TRUE(database.Resume().ok());
  int64_t after_restart = 0;
  {
    absl::MutexLock lock(&mu);
    after_restart = acknowledged;
  }
  // The server reconnects by itself and goes on acknowledging.
  EXPECT_TRUE(acknowledged_at_least(after_restart + 200));
  {
    absl::MutexLock lock(&mu);
    stop = true;
  }
  for (std::thread& thread : threads) thread.join();
  BankClient client(server->NewStub());
  absl::StatusOr<int64_t> balance = Balance(client, "acc");
  ASSERT_TRUE(balance.ok());
  absl::MutexLock lock(&mu);
  EXPECT_GE(*balance, acknowledged);
  EXPECT_LE(*balance, acknowledged + unknown);
  EXPECT_GT(unknown, 0) << "the restart should have cost some RPCs";
}

// bank_loadgen spread over two replicas with gRPC's round_robin; one replica
// is killed (SIGKILL) once the load is running; the other carries on and the
// invariant must hold exactly: the dead replica's in-flight RPCs are retried
// with their request ids on the survivor, which finds in the database
// whether they applied, so none stays indeterminate.
TEST(PostgresServerTest, LoadgenOverTwoReplicasSurvivesKillingOne) {
  TempPostgres& database = PostgresEnvironment::server();
  absl::StatusOr<std::string> schema = database.CreateSchema();
  ASSERT_TRUE(schema.ok()) << schema.status();
  std::unique_ptr<ServerProcess> replicas[2] = {StartReplica(*schema),
                                                StartReplica(*schema)};
  ASSERT_NE(replicas[0], nullptr);
  ASSERT_NE(replicas[1], nullptr);
  constexpr int kAccounts = 20;
  constexpr int64_t kInitialBalance = 100000;
  absl::StatusOr<std::unique_ptr<Subprocess>> loadgen = Subprocess::Start(
      BANK_LOADGEN_PATH,
      {"--target=" + replicas[0]->address() + "," + replicas[1]->address(),
       "--accounts=" + std::to_string(kAccounts),
       "--initial_balance=" + std::to_string(kInitialBalance),
       "--concurrency=16", "--duration=6s", "--connections=2"});
  ASSERT_TRUE(loadgen.ok()) << loadgen.status();
  // The load is running once a balance has moved from the initial one
  // (bank_loadgen only starts the load after every open was answered): each
  // query below is a round trip to the database, bounded by the deadline.
  const absl::Time deadline = absl::Now() + kWaitMax;
  bool opened = false;
  while (!opened && absl::Now() < deadline) {
    absl::StatusOr<std::string> moved = database.Exec(
        "SELECT count(*) FROM " + *schema + ".bank_accounts WHERE balance <> " +
        std::to_string(kInitialBalance));
    opened = moved.ok() && !moved->empty() && *moved != "0";
  }
  ASSERT_TRUE(opened);
  ASSERT_TRUE(replicas[1]->process().Signal(SIGKILL).ok());
  absl::StatusOr<ExitStatus> exit = (*loadgen)->Wait(kWaitMax);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->Succeeded()) << exit->ToString() << "\n"
                                 << (*loadgen)->stdout_text();
  EXPECT_THAT((*loadgen)->stdout_text(),
              ::testing::HasSubstr("Invariant: PASS"));
  EXPECT_THAT((*loadgen)->stdout_text(),
              ::testing::HasSubstr(" 0 indeterminate)"));
}

}  // namespace
}  // namespace bank::testing
