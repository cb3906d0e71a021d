// Goal: the real bank_server binary keeps the API contract over the wire,
// for each safe engine: the article's scenario ends at 40, every error
// status reaches the client with its code, reflection and health answer,
// --log_ops prints the article's lines, and SIGTERM answers every RPC in
// flight and exits 0.
// Method: each test starts a fresh bank_server on 127.0.0.1 port 0
// (ServerProcess) and talks to it through the generated stubs. Tests wait
// only on RPC completions and on the server's output and exit, each bounded;
// none sleeps or measures time.

#include <signal.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bank/v1/bank.grpc.pb.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "gtest/gtest.h"
#include "service/engine/operation.h"
#include "service/server/server_runner.h"
#include "tests/server/rpc_helpers.h"
#include "tests/server/server_fixture.h"
#include "tests/testing/server_process.h"

namespace bank::testing {
namespace {

using ::bank::v1::BankService;
using ::grpc::StatusCode;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();

class ServerTest : public ServerFixture {
 protected:
  // Health answers the health status of `service` ("" = the server).
  Reply<HealthCheckResponse> Health(const std::string& service) {
    auto stub = grpc::health::v1::Health::NewStub(server_->channel());
    HealthCheckRequest request;
    request.set_service(service);
    grpc::ClientContext context;
    SetTestDeadline(context);
    Reply<HealthCheckResponse> reply;
    reply.status = stub->Check(&context, request, &reply.response);
    return reply;
  }

  void ExpectBalance(const std::string& account_id, int64_t balance) {
    Reply<bank::v1::GetBalanceResponse> reply = client_->GetBalance(account_id);
    ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
    EXPECT_EQ(reply.response.balance(), balance) << account_id;
  }
};

TEST_P(ServerTest, PrintsBoundAddressAndEngine) {
  StartServer();
  EXPECT_EQ(server_->listening_line(),
            absl::StrCat(kListeningLinePrefix, server_->address(),
                         " engine=", GetParam()));
  EXPECT_NE(server_->address(), "127.0.0.1:0");
}

// The article: an account of 80; 马伊琍 withdraws 30 while 姚笛 withdraws 10,
// concurrently (both in flight at once, each spending up to 50ms in the
// critical section). A safe engine serialises them: 40 is left.
TEST_P(ServerTest, ArticleScenarioLeavesForty) {
  StartServer({"--accounts=main:80", "--apply_latency=0-50ms"});
  AsyncCall<bank::v1::WithdrawResponse> first;
  AsyncCall<bank::v1::WithdrawResponse> second;
  bank::v1::WithdrawRequest first_request;
  first_request.set_account_id("main");
  first_request.set_amount(30);
  first_request.set_actor("马伊琍");
  bank::v1::WithdrawRequest second_request = first_request;
  second_request.set_amount(10);
  second_request.set_actor("姚笛");
  client_->stub().async()->Withdraw(&first.context, &first_request,
                                    &first.response, first.Callback());
  client_->stub().async()->Withdraw(&second.context, &second_request,
                                    &second.response, second.Callback());
  ASSERT_TRUE(first.Wait());
  ASSERT_TRUE(second.Wait());
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  ASSERT_TRUE(second.status.ok()) << second.status.error_message();
  // One order or the other; whichever applied second saw the first's result.
  const int64_t first_balance = first.response.balance();
  const int64_t second_balance = second.response.balance();
  EXPECT_TRUE((first_balance == 50 && second_balance == 40) ||
              (second_balance == 70 && first_balance == 40))
      << first_balance << " " << second_balance;
  ExpectBalance("main", 40);
}

TEST_P(ServerTest, EveryRpcAnswersBalances) {
  StartServer();
  Reply<bank::v1::OpenAccountResponse> opened = client_->Open("a", 100);
  ASSERT_TRUE(opened.status.ok()) << opened.status.error_message();
  EXPECT_EQ(opened.response.account().account_id(), "a");
  EXPECT_EQ(opened.response.account().balance(), 100);
  ASSERT_TRUE(client_->Open("b", 0).status.ok());
  EXPECT_EQ(client_->Deposit("a", 50, "姚笛").response.balance(), 150);
  EXPECT_EQ(client_->Withdraw("a", 30, "马伊琍").response.balance(), 120);
  Reply<bank::v1::TransferResponse> moved = client_->Transfer("a", "b", 20);
  ASSERT_TRUE(moved.status.ok()) << moved.status.error_message();
  EXPECT_EQ(moved.response.from_balance(), 100);
  EXPECT_EQ(moved.response.to_balance(), 20);
  ExpectBalance("a", 100);
  ExpectBalance("b", 20);
}

TEST_P(ServerTest, InvalidArgumentForEachBadField) {
  StartServer({"--accounts=main:80"});
  const std::string id_too_long(kAccountIdBytesMax + 1, 'x');
  const std::string actor_too_long(kActorBytesMax + 1, 'y');
  const std::vector<std::pair<std::string, grpc::Status>> cases = {
      {"open empty id", client_->Open("", 1).status},
      {"open id too long", client_->Open(id_too_long, 1).status},
      {"open negative balance", client_->Open("n", -1).status},
      {"deposit zero", client_->Deposit("main", 0).status},
      {"deposit negative", client_->Deposit("main", -5).status},
      {"withdraw zero", client_->Withdraw("main", 0).status},
      {"withdraw empty id", client_->Withdraw("", 1).status},
      {"transfer to self", client_->Transfer("main", "main", 1).status},
      {"transfer empty target", client_->Transfer("main", "", 1).status},
      {"transfer zero", client_->Transfer("main", "b", 0).status},
      {"balance empty id", client_->GetBalance("").status},
      {"deposit actor too long",
       client_->Deposit("main", 1, actor_too_long).status},
      {"withdraw actor too long",
       client_->Withdraw("main", 1, actor_too_long).status},
      {"transfer actor too long",
       client_->Transfer("main", "b", 1, actor_too_long).status},
  };
  for (const auto& [name, status] : cases) {
    EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT) << name;
    EXPECT_FALSE(status.error_message().empty()) << name;
  }
  ExpectBalance("main", 80);  // Nothing applied.
}

TEST_P(ServerTest, NotFoundAndAlreadyExists) {
  StartServer({"--accounts=main:80"});
  EXPECT_EQ(client_->Withdraw("nobody", 1).status.error_code(),
            StatusCode::NOT_FOUND);
  EXPECT_EQ(client_->GetBalance("nobody").status.error_code(),
            StatusCode::NOT_FOUND);
  EXPECT_EQ(client_->Transfer("main", "nobody", 1).status.error_code(),
            StatusCode::NOT_FOUND);
  Reply<bank::v1::OpenAccountResponse> again = client_->Open("main", 5);
  EXPECT_EQ(again.status.error_code(), StatusCode::ALREADY_EXISTS);
  EXPECT_NE(again.status.error_message().find("main"), std::string::npos);
  ExpectBalance("main", 80);
}

TEST_P(ServerTest, InsufficientFundsIsFailedPreconditionAndChangesNothing) {
  StartServer({"--accounts=main:80,b:0"});
  Reply<bank::v1::WithdrawResponse> reply = client_->Withdraw("main", 81);
  EXPECT_EQ(reply.status.error_code(), StatusCode::FAILED_PRECONDITION);
  // The message names the balance and the amount.
  EXPECT_NE(reply.status.error_message().find("80"), std::string::npos)
      << reply.status.error_message();
  EXPECT_NE(reply.status.error_message().find("81"), std::string::npos)
      << reply.status.error_message();
  EXPECT_EQ(client_->Transfer("main", "b", 81).status.error_code(),
            StatusCode::FAILED_PRECONDITION);
  ExpectBalance("main", 80);
  ExpectBalance("b", 0);
}

TEST_P(ServerTest, OverflowIsOutOfRangeAndChangesNothing) {
  StartServer({absl::StrCat("--accounts=main:80,big:", kInt64Max)});
  EXPECT_EQ(client_->Deposit("big", 1).status.error_code(),
            StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(client_->Transfer("main", "big", 1).status.error_code(),
            StatusCode::OUT_OF_RANGE);
  ExpectBalance("main", 80);
  ExpectBalance("big", kInt64Max);
}

TEST_P(ServerTest, AccountLimitIsResourceExhausted) {
  StartServer({"--accounts_max=1"});
  ASSERT_TRUE(client_->Open("a", 1).status.ok());
  EXPECT_EQ(client_->Open("b", 1).status.error_code(),
            StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(client_->GetBalance("b").status.error_code(),
            StatusCode::NOT_FOUND);
}

TEST_P(ServerTest, RequestOverSizeCapIsResourceExhausted) {
  StartServer({"--accounts=main:80"});
  // Over kRequestBytesMax, so the handler refuses it before the engine (an
  // actor just over kActorBytesMax is INVALID_ARGUMENT instead, above).
  const std::string huge_actor(kRequestBytesMax + 1, 'z');
  EXPECT_EQ(client_->Deposit("main", 1, huge_actor).status.error_code(),
            StatusCode::RESOURCE_EXHAUSTED);
  ExpectBalance("main", 80);
}

TEST_P(ServerTest, StoppedServerIsUnavailable) {
  StartServer({"--accounts=main:80"});
  ExpectBalance("main", 80);
  absl::StatusOr<ExitStatus> exit = server_->Stop();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->Succeeded()) << exit->ToString();
  // The process has exited, so its port refuses connections: a call that
  // does not wait for readiness fails at once with UNAVAILABLE.
  EXPECT_EQ(client_->GetBalance("main").status.error_code(),
            StatusCode::UNAVAILABLE);
}

TEST_P(ServerTest, HealthAnswersServing) {
  StartServer();
  for (const std::string service : {"", "bank.v1.BankService"}) {
    Reply<HealthCheckResponse> reply = Health(service);
    ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
    EXPECT_EQ(reply.response.status(), HealthCheckResponse::SERVING) << service;
  }
  EXPECT_EQ(Health("no.such.Service").status.error_code(),
            StatusCode::NOT_FOUND);
}

TEST_P(ServerTest, ReflectionListsAndDescribesBankService) {
  StartServer();
  namespace reflection = ::grpc::reflection::v1alpha;
  auto stub = reflection::ServerReflection::NewStub(server_->channel());
  grpc::ClientContext context;
  SetTestDeadline(context);
  auto stream = stub->ServerReflectionInfo(&context);
  reflection::ServerReflectionRequest list;
  list.set_list_services("");
  reflection::ServerReflectionResponse listed;
  ASSERT_TRUE(stream->Write(list));
  ASSERT_TRUE(stream->Read(&listed));
  std::vector<std::string> names;
  for (const auto& service : listed.list_services_response().service()) {
    names.push_back(service.name());
  }
  EXPECT_NE(std::find(names.begin(), names.end(), "bank.v1.BankService"),
            names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "grpc.health.v1.Health"),
            names.end());
  EXPECT_NE(std::find(names.begin(), names.end(),
                      "grpc.reflection.v1alpha.ServerReflection"),
            names.end());

  // What `grpcurl describe` asks: the file that defines the service.
  reflection::ServerReflectionRequest describe;
  describe.set_file_containing_symbol("bank.v1.BankService");
  reflection::ServerReflectionResponse described;
  ASSERT_TRUE(stream->Write(describe));
  ASSERT_TRUE(stream->Read(&described));
  ASSERT_GT(described.file_descriptor_response().file_descriptor_proto_size(),
            0);
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(
      described.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(file.name(), "bank/v1/bank.proto");
  ASSERT_EQ(file.service_size(), 1);
  EXPECT_EQ(file.service(0).method_size(), 6);  // Five single RPCs, ApplyBatch.
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_P(ServerTest, LogOpsPrintsOneLinePerAppliedOperation) {
  StartServer({"--accounts=main:80", "--log_ops"});
  ServerProcess& server = *server_;
  // Each line is written before the RPC is answered, so once the reply is
  // here the line is already in the pipe.
  ASSERT_TRUE(client_->Withdraw("main", 30, "马伊琍").status.ok());
  EXPECT_EQ(server.process().ReadLine(kRpcTimeout).value_or("?"),
            "[-] 30 马伊琍");
  ASSERT_TRUE(client_->Deposit("main", 50, "姚笛").status.ok());
  EXPECT_EQ(server.process().ReadLine(kRpcTimeout).value_or("?"),
            "[+] 50 姚笛");
  ASSERT_TRUE(client_->Open("b", 0).status.ok());
  EXPECT_EQ(server.process().ReadLine(kRpcTimeout).value_or("?"), "[open] 0 b");
  // Failed operations and reads print nothing, so the next line is the
  // transfer's.
  ASSERT_FALSE(client_->Withdraw("main", 1000, "马伊琍").status.ok());
  ASSERT_TRUE(client_->GetBalance("main").status.ok());
  ASSERT_TRUE(client_->Transfer("main", "b", 20, "马伊琍").status.ok());
  EXPECT_EQ(server.process().ReadLine(kRpcTimeout).value_or("?"),
            "[→] 20 main->b 马伊琍");
}

// SIGTERM while RPCs are in flight: every one is answered OK and the server
// exits 0. Each deposit spends 200ms in the engine and all four go to one
// account, so they apply one after another for about 800ms: SIGTERM surely
// lands while they run. The grace period is far longer than that, so it
// never decides the outcome.
TEST_P(ServerTest, SigtermAnswersEveryRpcInFlightAndExitsZero) {
  constexpr int kInFlightRpcs = 4;
  StartServer(
      {"--accounts=main:0", "--apply_latency=200ms", "--shutdown_grace=60s"});
  // Connect first, so the deposits below go out on a ready connection in
  // the order they are started.
  ASSERT_TRUE(Health("").status.ok());
  std::array<AsyncCall<bank::v1::DepositResponse>, kInFlightRpcs> calls;
  bank::v1::DepositRequest request;
  request.set_account_id("main");
  request.set_amount(1);
  for (auto& call : calls) {
    client_->stub().async()->Deposit(&call.context, &request, &call.response,
                                     call.Callback());
  }
  // Ordering marker, not a delay: the health call follows the deposits on
  // the same HTTP/2 connection, which the server reads in order, so once it
  // is answered the server has accepted every deposit.
  ASSERT_TRUE(Health("").status.ok());
  ASSERT_TRUE(server_->process().Signal(SIGTERM).ok());

  std::vector<int64_t> balances;
  for (auto& call : calls) {
    ASSERT_TRUE(call.Wait());
    EXPECT_TRUE(call.status.ok()) << call.status.error_message();
    balances.push_back(call.response.balance());
  }
  // All four applied, one at a time: the balances after them are 1..4.
  std::sort(balances.begin(), balances.end());
  EXPECT_EQ(balances, (std::vector<int64_t>{1, 2, 3, 4}));
  absl::StatusOr<ExitStatus> exit = server_->process().Wait(kServerStopTimeout);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->Succeeded()) << exit->ToString();
}

INSTANTIATE_TEST_SUITE_P(SafeEngines, ServerTest,
                         ::testing::Values("mutex", "queue"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace bank::testing
