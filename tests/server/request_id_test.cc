// Goal: request ids keep their promise over the wire, with the real
// bank_server: a repeated change answers the same bytes (response or status)
// and moves money once; a reused id with other parameters is
// INVALID_ARGUMENT naming it; the same id sent kConcurrentCalls times at once
// applies exactly once; a malformed id is INVALID_ARGUMENT.
// Method: a fresh bank_server per test on 127.0.0.1 port 0 (mutex and queue
// engines), generated stubs; waits are bounded RPC completions only.

#include <memory>
#include <string>
#include <vector>

#include "bank/v1/bank.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/server/rpc_helpers.h"
#include "tests/server/server_fixture.h"
#include "tests/testing/server_process.h"

namespace bank::testing {
namespace {

using ::bank::v1::BankService;

constexpr int kConcurrentCalls = 16;

class RequestIdTest : public ServerFixture {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartServer({"--accounts=main:80"}));
  }

  Reply<bank::v1::WithdrawResponse> Withdraw(const std::string& account_id,
                                             int64_t amount,
                                             const std::string& request_id) {
    bank::v1::WithdrawRequest request;
    request.set_account_id(account_id);
    request.set_amount(amount);
    request.set_request_id(request_id);
    return client_->Invoke(&BankService::Stub::Withdraw, request);
  }

  int64_t Balance(const std::string& account_id) {
    Reply<bank::v1::GetBalanceResponse> reply = client_->GetBalance(account_id);
    EXPECT_TRUE(reply.status.ok()) << reply.status.error_message();
    return reply.response.balance();
  }
};

TEST_P(RequestIdTest, RepeatedWithdrawAnswersTheSameBytesAndMovesMoneyOnce) {
  const Reply<bank::v1::WithdrawResponse> first = Withdraw("main", 30, "w-1");
  ASSERT_TRUE(first.status.ok()) << first.status.error_message();
  const Reply<bank::v1::WithdrawResponse> repeat = Withdraw("main", 30, "w-1");
  ASSERT_TRUE(repeat.status.ok()) << repeat.status.error_message();
  EXPECT_EQ(first.response.balance(), 50);
  EXPECT_EQ(repeat.response.SerializeAsString(),
            first.response.SerializeAsString());
  EXPECT_EQ(Balance("main"), 50);
}

TEST_P(RequestIdTest, RepeatedDecidedErrorAnswersTheSameStatus) {
  const Reply<bank::v1::WithdrawResponse> first = Withdraw("main", 500, "w-2");
  ASSERT_EQ(first.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(client_->Deposit("main", 1000).status.ok());
  const Reply<bank::v1::WithdrawResponse> repeat = Withdraw("main", 500, "w-2");
  EXPECT_EQ(repeat.status.error_code(), first.status.error_code());
  EXPECT_EQ(repeat.status.error_message(), first.status.error_message());
  EXPECT_EQ(Balance("main"), 1080);
}

TEST_P(RequestIdTest, ReusedIdWithOtherParametersIsInvalidArgument) {
  ASSERT_TRUE(Withdraw("main", 30, "w-3").status.ok());
  const Reply<bank::v1::WithdrawResponse> other = Withdraw("main", 31, "w-3");
  EXPECT_EQ(other.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(other.status.error_message().find("'w-3'"), std::string::npos)
      << other.status.error_message();
  bank::v1::DepositRequest deposit;
  deposit.set_account_id("main");
  deposit.set_amount(30);
  deposit.set_request_id("w-3");
  EXPECT_EQ(
      client_->Invoke(&BankService::Stub::Deposit, deposit).status.error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Balance("main"), 50);
}

TEST_P(RequestIdTest, MalformedRequestIdIsInvalidArgument) {
  EXPECT_EQ(Withdraw("main", 1, std::string(65, 'x')).status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Withdraw("main", 1, "new\nline").status.error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Balance("main"), 80);
}

TEST_P(RequestIdTest, SameIdSentManyTimesAtOnceAppliesExactlyOnce) {
  bank::v1::TransferRequest request;
  request.set_from_account_id("main");
  request.set_to_account_id("second");
  request.set_amount(10);
  request.set_request_id("t-1");
  ASSERT_TRUE(client_->Open("second", 0).status.ok());
  std::vector<std::unique_ptr<AsyncCall<bank::v1::TransferResponse>>> calls;
  for (int i = 0; i < kConcurrentCalls; ++i) {
    calls.push_back(std::make_unique<AsyncCall<bank::v1::TransferResponse>>());
    client_->stub().async()->Transfer(&calls.back()->context, &request,
                                      &calls.back()->response,
                                      calls.back()->Callback());
  }
  for (auto& call : calls) {
    ASSERT_TRUE(call->Wait());
    ASSERT_TRUE(call->status.ok()) << call->status.error_message();
    EXPECT_EQ(call->response.from_balance(), 70);
    EXPECT_EQ(call->response.to_balance(), 10);
  }
  EXPECT_EQ(Balance("main"), 70);
  EXPECT_EQ(Balance("second"), 10);
}

INSTANTIATE_TEST_SUITE_P(SafeEngines, RequestIdTest,
                         ::testing::Values("mutex", "queue"));

}  // namespace
}  // namespace bank::testing
