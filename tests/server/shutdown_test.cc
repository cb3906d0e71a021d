// Goal: shutdown is honest and bounded. After SIGTERM with a backlog far
// longer than --shutdown_grace, (1) no RPC answered UNAVAILABLE was applied
// (UNAVAILABLE means "not applied", as bank.proto says), every OK was
// applied, and nothing else is answered; (2) the server exits by itself, 0,
// long before the backlog could have drained.
// Method: the queue and mutex engines with 20 ms per operation and kCalls
// deposits of 1 in flight (kCalls * 20 ms = 40 s of backlog); --log_ops prints
// one line per applied deposit, each naming its call by a unique actor, so the
// applied set is read from the server's own log. Calls gRPC had not yet
// handed to a handler when shutdown began end CANCELLED: not applied either.
// SIGTERM goes out once the first deposit is logged. The exit is awaited with a
// generous bound that is still far below the backlog; nothing is timed or
// asserted about speed.

#include <signal.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bank/v1/bank.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/rpc_helpers.h"
#include "tests/testing/server_process.h"

namespace bank::testing {
namespace {

constexpr int kCalls = 2000;
// Far below the 40 s the backlog would take to drain, far above the 1 s
// grace plus the engine's 1.02 s stop bound, on any loaded machine.
constexpr absl::Duration kExitBound = absl::Seconds(25);

class ShutdownTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ShutdownTest, UnavailableNeverHidesAnAppliedChangeAndGraceBoundsExit) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> started = ServerProcess::Start(
      BANK_SERVER_PATH,
      {"--engine=" + GetParam(), "--apply_latency=20ms", "--shutdown_grace=1s",
       "--log_ops", "--accounts=main:0"});
  ASSERT_TRUE(started.ok()) << started.status();
  ServerProcess& server = **started;
  std::unique_ptr<bank::v1::BankService::Stub> stub = server.NewStub();
  std::vector<std::unique_ptr<AsyncCall<bank::v1::DepositResponse>>> calls;
  std::vector<bank::v1::DepositRequest> requests(kCalls);
  for (int i = 0; i < kCalls; ++i) {
    requests[i].set_account_id("main");
    requests[i].set_amount(1);
    requests[i].set_actor(absl::StrCat("c", i));
    calls.push_back(std::make_unique<AsyncCall<bank::v1::DepositResponse>>());
    stub->async()->Deposit(&calls.back()->context, &requests[i],
                           &calls.back()->response, calls.back()->Callback());
  }
  std::set<std::string> applied;  // Actors of the logged deposits.
  absl::StatusOr<std::string> line = server.process().ReadLine(kRpcTimeout);
  ASSERT_TRUE(line.ok()) << line.status();
  ASSERT_TRUE(absl::StartsWith(*line, "[+] 1 c")) << *line;
  applied.insert(line->substr(6));
  ASSERT_TRUE(server.process().Signal(SIGTERM).ok());
  while (true) {
    line = server.process().ReadLine(kExitBound);
    if (!line.ok()) break;  // kOutOfRange: stdout closed, the server exited.
    ASSERT_TRUE(absl::StartsWith(*line, "[+] 1 c")) << *line;
    applied.insert(line->substr(6));
  }
  ASSERT_EQ(line.status().code(), absl::StatusCode::kOutOfRange)
      << line.status() << " (the server did not exit within the bound)";
  absl::StatusOr<ExitStatus> exit = server.process().Wait(kExitBound);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->Succeeded()) << exit->ToString();

  int ok = 0;
  int unavailable = 0;
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(calls[i]->Wait());
    const std::string actor = absl::StrCat("c", i);
    const grpc::Status& status = calls[i]->status;
    if (status.ok()) {
      ++ok;
      EXPECT_EQ(applied.count(actor), 1u)
          << actor << " answered OK, not applied";
    } else {
      // gRPC ends calls it had not yet handed to a handler when shutdown
      // began with CANCELLED; those never reached the engine either.
      ASSERT_TRUE(status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                  status.error_code() == grpc::StatusCode::CANCELLED)
          << actor << ": " << status.error_code() << " "
          << status.error_message();
      ++unavailable;
      EXPECT_EQ(applied.count(actor), 0u)
          << actor << " answered " << status.error_code() << " ("
          << status.error_message() << ") but was applied";
    }
  }
  EXPECT_EQ(static_cast<size_t>(ok), applied.size());
  // The backlog cannot drain in the grace: most calls were turned away.
  EXPECT_GT(unavailable, 0);
}

// The queue engine holds its backlog in its queue; the mutex engine in
// threads waiting for the account's lock.
INSTANTIATE_TEST_SUITE_P(SafeEngines, ShutdownTest,
                         ::testing::Values("queue", "mutex"));

}  // namespace
}  // namespace bank::testing
