// Goal: bank_server as a process: bad flags exit 2 with a message naming
// the flag, a taken port is an error rather than a silently shared port,
// --engine=unsafe warns loudly, and the unsafe engine loses an update over
// the wire exactly as the article's account does.
// Method: run the real binary (Subprocess / ServerProcess) and check its
// exit status, stderr and RPC replies. No sleeps; every wait is bounded.

#include "tests/testing/server_process.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server/rpc_helpers.h"
#include "tests/testing/subprocess.h"

namespace bank::testing {
namespace {

constexpr int kExitUsage = 2;    // server_main.cc: a bad flag value.
constexpr int kExitFailure = 1;  // server_main.cc: cannot start serving.

// RunServerExpectingExit runs bank_server with `flags` and answers how it
// ended; it must end by itself (it never gets to serve).
ExitStatus RunServerExpectingExit(const std::vector<std::string>& flags,
                                  std::string* stderr_text) {
  Subprocess::Options options;
  options.capture_stderr = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> server =
      Subprocess::Start(BANK_SERVER_PATH, flags, options);
  EXPECT_TRUE(server.ok()) << server.status();
  if (!server.ok()) return ExitStatus();
  absl::StatusOr<ExitStatus> exit = (*server)->Wait(kServerStopTimeout);
  EXPECT_TRUE(exit.ok()) << exit.status();
  *stderr_text = (*server)->stderr_text();
  return exit.value_or(ExitStatus());
}

TEST(ServerFlagsTest, BadValuesExitTwoNamingTheFlag) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--accounts=main", "--accounts"},
      {"--accounts=main:eighty", "--accounts"},
      {"--accounts=main:80,main:1", "main"},  // Opened twice.
      {"--accounts=main:-1", "main"},
      {"--engine=optimistic", "optimistic"},
      {"--apply_latency=soon", "--apply_latency"},
      {"--shutdown_grace=-1s", "--shutdown_grace"},
      {"--metrics_listen=localhost", "--metrics_listen"},
      {"--metrics_listen=127.0.0.1:http", "--metrics_listen"},
      // Issue 13 (5): every numeric flag has a range, checked before use.
      {"--listen=127.0.0.1:70000", "--listen"},       // Used to wrap to 4464.
      {"--listen=127.0.0.1:4294967297", "--listen"},  // Used to bind 1.
      {"--listen=127.0.0.1:-1", "--listen"},
      {"--listen=127.0.0.1", "--listen"},
      {"--listen=:50051", "--listen"},
      {"--queue_depth_max=1000000000000", "--queue_depth_max"},  // Was 134.
      {"--queue_depth_max=0", "--queue_depth_max"},
      {"--accounts_max=0", "--accounts_max"},
      {"--accounts_max=18446744073709551615", "--accounts_max"},
      {"--shutdown_grace=2h", "--shutdown_grace"},
      {"--max_concurrent_streams=0", "--max_concurrent_streams"},
      {"--max_concurrent_streams=10001", "--max_concurrent_streams"},
      {"--max_connection_idle=0s", "--max_connection_idle"},
      {"--max_connection_idle=9000h", "--max_connection_idle"},
      {"--max_connection_age=-1s", "--max_connection_age"},
      {"--max_connection_age_grace=0s", "--max_connection_age_grace"},
      {"--min_ping_interval=100ms", "--min_ping_interval"},
      {"--handshake_timeout=0s", "--handshake_timeout"},
      {"--grpc_memory_max_bytes=1024", "--grpc_memory_max_bytes"},
      {"--grpc_memory_max_bytes=-1", "--grpc_memory_max_bytes"},
      {"--max_connections=-1", "--max_connections"},
      {"--max_connections=1000001", "--max_connections"},
      {"--open_account_rps_per_peer=-1", "--open_account_rps_per_peer"},
      {"--open_account_rps_per_peer=nan", "--open_account_rps_per_peer"},
      {"--open_account_rps_per_peer=1e7", "--open_account_rps_per_peer"},
      {"--open_account_burst_per_peer=0", "--open_account_burst_per_peer"},
      {"--heap_trim_interval=1ms", "--heap_trim_interval"},
      {"--heap_trim_interval=-1s", "--heap_trim_interval"},
      {"--postgres_connections=0", "--postgres_connections"},
      {"--postgres_connections=257", "--postgres_connections"},
      {"--postgres_pipeline_depth=0", "--postgres_pipeline_depth"},
      {"--postgres_pipeline_depth=65537", "--postgres_pipeline_depth"},
      {"--reload_interval=0s", "--reload_interval"},
      {"--request_id_ttl=0s", "--request_id_ttl"},
      {"--request_id_ttl=721h", "--request_id_ttl"},
      {"--request_ids_max=0", "--request_ids_max"},
      {"--request_ids_max=100000001", "--request_ids_max"},
  };
  for (const auto& [flag, named] : cases) {
    std::string stderr_text;
    const ExitStatus exit =
        RunServerExpectingExit({"--listen=127.0.0.1:0", flag}, &stderr_text);
    EXPECT_TRUE(exit.exited && exit.code == kExitUsage)
        << flag << ": " << exit.ToString();
    EXPECT_NE(stderr_text.find(named), std::string::npos)
        << flag << ": " << stderr_text;
  }
}

// --max_connections must leave descriptors for the rest of the process
// under the (raised) descriptor limit: 600 cannot fit under 512.
TEST(ServerFlagsTest, ConnectionLimitMustFitTheDescriptorLimit) {
  Subprocess::Options options;
  options.capture_stderr = true;
  options.descriptor_limit = 512;
  absl::StatusOr<std::unique_ptr<Subprocess>> server = Subprocess::Start(
      BANK_SERVER_PATH, {"--listen=127.0.0.1:0", "--max_connections=600"},
      options);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<ExitStatus> exit = (*server)->Wait(kServerStopTimeout);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->exited && exit->code == kExitUsage) << exit->ToString();
  EXPECT_NE((*server)->stderr_text().find("--max_connections"),
            std::string::npos)
      << (*server)->stderr_text();
}

// Issue 13 (6): the default listen address is loopback.
TEST(ServerFlagsTest, DefaultListenAddressIsLoopback) {
  Subprocess::Options options;
  options.capture_stderr = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> help =
      Subprocess::Start(BANK_SERVER_PATH, {"--helpfull"}, options);
  ASSERT_TRUE(help.ok()) << help.status();
  ASSERT_TRUE((*help)->Wait(kServerStopTimeout).ok());
  const std::string text = (*help)->stdout_text() + (*help)->stderr_text();
  EXPECT_NE(text.find("default: \"127.0.0.1:50051\""), std::string::npos)
      << text;
}

// Issue 13 (6): one client address cannot fill the account table; once its
// burst is spent, OpenAccount answers RESOURCE_EXHAUSTED, and the other
// methods are not limited.
TEST(ServerFlagsTest, OpenAccountIsRateLimitedPerClientAddress) {
  constexpr int kBurst = 5;
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(
      BANK_SERVER_PATH,
      {"--open_account_rps_per_peer=0.001",  // One token per 1000 s.
       absl::StrCat("--open_account_burst_per_peer=", kBurst)});
  ASSERT_TRUE(server.ok()) << server.status();
  BankClient client((*server)->NewStub());
  for (int i = 0; i < kBurst; ++i) {
    auto opened = client.Open(absl::StrCat("a", i), 1);
    EXPECT_TRUE(opened.status.ok())
        << i << ": " << opened.status.error_message();
  }
  for (int i = kBurst; i < 3 * kBurst; ++i) {
    auto refused = client.Open(absl::StrCat("a", i), 1);
    EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << i;
    EXPECT_NE(refused.status.error_message().find("OpenAccount"),
              std::string::npos)
        << refused.status.error_message();
  }
  auto balance = client.GetBalance("a0");
  EXPECT_TRUE(balance.status.ok()) << balance.status.error_message();
  auto deposit = client.Deposit("a0", 5);
  EXPECT_TRUE(deposit.status.ok()) << deposit.status.error_message();
}

TEST(ServerFlagsTest, UnknownFlagOrStrayArgumentFails) {
  std::string stderr_text;
  // absl's parser rejects an unknown flag itself, with exit code 1.
  ExitStatus exit =
      RunServerExpectingExit({"--listen=127.0.0.1:0", "--nope"}, &stderr_text);
  EXPECT_FALSE(exit.Succeeded()) << exit.ToString();
  EXPECT_NE(stderr_text.find("nope"), std::string::npos) << stderr_text;
  exit =
      RunServerExpectingExit({"--listen=127.0.0.1:0", "stray"}, &stderr_text);
  EXPECT_TRUE(exit.exited && exit.code == kExitUsage) << exit.ToString();
  EXPECT_NE(stderr_text.find("stray"), std::string::npos) << stderr_text;
}

// Two servers on one port would each hold their own balances and split the
// clients between them; the second must refuse to start instead.
TEST(ServerFlagsTest, TakenPortIsAnError) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> first =
      ServerProcess::Start(BANK_SERVER_PATH, {});
  ASSERT_TRUE(first.ok()) << first.status();
  std::string stderr_text;
  const ExitStatus exit =
      RunServerExpectingExit({"--listen=" + (*first)->address()}, &stderr_text);
  EXPECT_TRUE(exit.exited && exit.code == kExitFailure) << exit.ToString();
  EXPECT_NE(stderr_text.find("cannot listen"), std::string::npos)
      << stderr_text;
}

TEST(UnsafeServerTest, WarnsLoudlyOnStderr) {
  Subprocess::Options options;
  options.capture_stderr = true;
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(BANK_SERVER_PATH, {"--engine=unsafe"}, options);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<ExitStatus> exit = (*server)->Stop();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->Succeeded()) << exit->ToString();
  EXPECT_NE((*server)->process().stderr_text().find("WARNING"),
            std::string::npos);
  EXPECT_NE((*server)->process().stderr_text().find("LOSES UPDATES"),
            std::string::npos);
}

// The article's lost update, over the wire: two withdrawals (30 and 10)
// from 80 in flight at once on the unsafe engine, which reads the balance,
// spends 200ms, then writes its own result. Both read 80 and the later
// write wins, so 50 or 70 is left instead of 40.
//
// Why this is not a flaky timing assertion: the two requests leave on one
// connection back to back, microseconds apart, and the server dispatches
// each to the engine as soon as it arrives. The update survives only if
// the second withdrawal reads the balance after the first one wrote it,
// i.e. if the server started them more than 200ms apart: thousands of
// times the usual gap, and it would have to happen kAttemptsMax times in a
// row (each attempt on a fresh account) for this test to fail. Nothing is
// measured and nothing sleeps: the 200ms is only the width of the window.
TEST(UnsafeServerTest, ConcurrentWithdrawalsLoseAnUpdate) {
  constexpr int kAttemptsMax = 5;
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(
      BANK_SERVER_PATH, {"--engine=unsafe", "--apply_latency=200ms"});
  ASSERT_TRUE(server.ok()) << server.status();
  BankClient client((*server)->NewStub());
  int lost_updates = 0;
  for (int attempt = 0; attempt < kAttemptsMax && lost_updates == 0;
       ++attempt) {
    const std::string account_id = absl::StrCat("race", attempt);
    ASSERT_TRUE(client.Open(account_id, 80).status.ok());
    bank::v1::WithdrawRequest first_request;
    first_request.set_account_id(account_id);
    first_request.set_amount(30);
    first_request.set_actor("马伊琍");
    bank::v1::WithdrawRequest second_request = first_request;
    second_request.set_amount(10);
    second_request.set_actor("姚笛");
    AsyncCall<bank::v1::WithdrawResponse> first;
    AsyncCall<bank::v1::WithdrawResponse> second;
    client.stub().async()->Withdraw(&first.context, &first_request,
                                    &first.response, first.Callback());
    client.stub().async()->Withdraw(&second.context, &second_request,
                                    &second.response, second.Callback());
    ASSERT_TRUE(first.Wait());
    ASSERT_TRUE(second.Wait());
    // The unsafe engine is wrong, not broken: both calls still succeed.
    ASSERT_TRUE(first.status.ok()) << first.status.error_message();
    ASSERT_TRUE(second.status.ok()) << second.status.error_message();
    Reply<bank::v1::GetBalanceResponse> balance = client.GetBalance(account_id);
    ASSERT_TRUE(balance.status.ok());
    if (balance.response.balance() != 40) {
      // A lost update leaves exactly one withdrawal's result.
      EXPECT_TRUE(balance.response.balance() == 50 ||
                  balance.response.balance() == 70)
          << balance.response.balance();
      ++lost_updates;
    }
  }
  EXPECT_GE(lost_updates, 1)
      << "no lost update in " << kAttemptsMax << " attempts";
}

}  // namespace
}  // namespace bank::testing
