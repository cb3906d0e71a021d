// Goal: ApplyBatch end to end on the real bank_server: results one per
// operation in order with the single RPCs' responses; a non-atomic batch
// applies around its failures; an atomic batch applies all or nothing,
// naming the first failure and answering ABORTED for the rest; the
// service's own refusals (no operation set, actor too long) keep their place
// in the order; the batch limits (8,190 operations, kBatchRequestBytesMax)
// refuse the whole RPC before anything applies, while a single-operation
// RPC keeps its 4 KiB cap.
// Method: one suite over the safe engines, each test starting its own
// server on 127.0.0.1 port 0 and checking balances with GetBalance.

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bank/v1/bank.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/engine/batch.h"
#include "service/engine/operation.h"
#include "service/server/bank_service_impl.h"
#include "tests/server/rpc_helpers.h"
#include "tests/testing/server_process.h"

namespace bank::testing {
namespace {

using ::bank::v1::ApplyBatchRequest;
using ::bank::v1::ApplyBatchResponse;
using ::bank::v1::BatchOperation;
using ::grpc::StatusCode;
using ::testing::HasSubstr;

BatchOperation DepositOp(const std::string& id, int64_t amount,
                         const std::string& actor = "") {
  BatchOperation operation;
  operation.mutable_deposit()->set_account_id(id);
  operation.mutable_deposit()->set_amount(amount);
  operation.mutable_deposit()->set_actor(actor);
  return operation;
}

BatchOperation WithdrawOp(const std::string& id, int64_t amount) {
  BatchOperation operation;
  operation.mutable_withdraw()->set_account_id(id);
  operation.mutable_withdraw()->set_amount(amount);
  return operation;
}

BatchOperation TransferOp(const std::string& from, const std::string& to,
                          int64_t amount) {
  BatchOperation operation;
  operation.mutable_transfer()->set_from_account_id(from);
  operation.mutable_transfer()->set_to_account_id(to);
  operation.mutable_transfer()->set_amount(amount);
  return operation;
}

BatchOperation OpenOp(const std::string& id, int64_t balance) {
  BatchOperation operation;
  operation.mutable_open_account()->set_account_id(id);
  operation.mutable_open_account()->set_initial_balance(balance);
  return operation;
}

BatchOperation GetOp(const std::string& id) {
  BatchOperation operation;
  operation.mutable_get_balance()->set_account_id(id);
  return operation;
}

class BatchServerTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(BANK_SERVER_PATH, {"--engine=" + GetParam(),
                                                "--accounts=a:100,b:5"});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = std::make_unique<BankClient>(server_->NewStub());
  }

  void TearDown() override {
    if (server_ == nullptr) return;
    absl::StatusOr<ExitStatus> exit = server_->Stop();
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_TRUE(exit->Succeeded()) << exit->ToString();
  }

  Reply<ApplyBatchResponse> Apply(std::vector<BatchOperation> operations,
                                  bool atomic) {
    ApplyBatchRequest request;
    for (BatchOperation& operation : operations) {
      *request.add_operations() = std::move(operation);
    }
    request.set_atomic(atomic);
    return Send(request);
  }

  Reply<ApplyBatchResponse> Send(const ApplyBatchRequest& request) {
    grpc::ClientContext context;
    SetTestDeadline(context);
    Reply<ApplyBatchResponse> reply;
    reply.status =
        client_->stub().ApplyBatch(&context, request, &reply.response);
    return reply;
  }

  int64_t Balance(const std::string& id) {
    Reply<bank::v1::GetBalanceResponse> reply = client_->GetBalance(id);
    EXPECT_TRUE(reply.status.ok()) << reply.status.error_message();
    return reply.response.balance();
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<BankClient> client_;
};

// ApplyBatch remembers no request ids, so it refuses one rather than
// pretend to be idempotent; the operation changes nothing.
TEST_P(BatchServerTest, RequestIdInsideABatchIsRefused) {
  BatchOperation deposit = DepositOp("a", 5);
  deposit.mutable_deposit()->set_request_id("batch-id-1");
  Reply<ApplyBatchResponse> reply = Apply({deposit}, /*atomic=*/false);
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  ASSERT_EQ(reply.response.results_size(), 1);
  EXPECT_EQ(reply.response.results(0).status().code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(reply.response.results(0).status().message(),
              HasSubstr("request_id"));
  EXPECT_EQ(Balance("a"), 100);
}

TEST_P(BatchServerTest, NonAtomicBatchAnswersEachOperationInOrder) {
  BatchOperation unset;  // No operation at all.
  Reply<ApplyBatchResponse> reply = Apply(
      {OpenOp("c", 7), DepositOp("a", 5, "姚笛"), TransferOp("a", "b", 30),
       WithdrawOp("b", 1000), unset,
       DepositOp("a", 1, std::string(kActorBytesMax + 1, 'x')), GetOp("a")},
      /*atomic=*/false);
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  const auto& results = reply.response.results();
  ASSERT_EQ(results.size(), 7);
  EXPECT_EQ(results[0].status().code(), 0);
  EXPECT_EQ(results[0].open_account().account().account_id(), "c");
  EXPECT_EQ(results[0].open_account().account().balance(), 7);
  EXPECT_EQ(results[1].deposit().balance(), 105);
  EXPECT_EQ(results[2].transfer().from_balance(), 75);
  EXPECT_EQ(results[2].transfer().to_balance(), 35);
  EXPECT_EQ(results[3].status().code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(results[3].status().message(), HasSubstr("insufficient funds"));
  EXPECT_FALSE(results[3].has_withdraw());
  EXPECT_EQ(results[4].status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(results[4].status().message(), HasSubstr("must set one of"));
  EXPECT_EQ(results[5].status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(results[5].status().message(), HasSubstr("actor"));
  EXPECT_EQ(results[6].get_balance().balance(), 75);
  EXPECT_EQ(Balance("a"), 75);
  EXPECT_EQ(Balance("b"), 35);
  EXPECT_EQ(Balance("c"), 7);
}

TEST_P(BatchServerTest, AtomicBatchAppliesAllOrNothing) {
  Reply<ApplyBatchResponse> reply =
      Apply({OpenOp("c", 7), TransferOp("a", "b", 30), WithdrawOp("b", 1000),
             DepositOp("a", 1)},
            /*atomic=*/true);
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  const auto& results = reply.response.results();
  ASSERT_EQ(results.size(), 4);
  EXPECT_EQ(results[2].status().code(), StatusCode::FAILED_PRECONDITION);
  for (int i : {0, 1, 3}) {
    EXPECT_EQ(results[i].status().code(), StatusCode::ABORTED) << i;
    EXPECT_THAT(results[i].status().message(),
                HasSubstr("failed at operation 2"));
  }
  EXPECT_EQ(Balance("a"), 100);
  EXPECT_EQ(Balance("b"), 5);
  EXPECT_EQ(client_->GetBalance("c").status.error_code(),
            StatusCode::NOT_FOUND);

  // The service's own refusal stops an atomic batch at its place too.
  reply = Apply({DepositOp("a", 1),
                 DepositOp("a", 1, std::string(kActorBytesMax + 1, 'x')),
                 DepositOp("a", 1)},
                /*atomic=*/true);
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  ASSERT_EQ(reply.response.results_size(), 3);
  EXPECT_EQ(reply.response.results(1).status().code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(reply.response.results(1).status().message(), HasSubstr("actor"));
  EXPECT_EQ(reply.response.results(0).status().code(), StatusCode::ABORTED);
  EXPECT_EQ(Balance("a"), 100);

  reply = Apply({TransferOp("a", "b", 30), WithdrawOp("b", 35)}, true);
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  EXPECT_EQ(reply.response.results(1).withdraw().balance(), 0);
  EXPECT_EQ(Balance("a"), 70);
  EXPECT_EQ(Balance("b"), 0);
}

TEST_P(BatchServerTest, BatchLimitsRefuseTheWholeRpc) {
  EXPECT_EQ(Apply({}, false).status.error_code(), StatusCode::INVALID_ARGUMENT);
  std::vector<BatchOperation> too_many(kBatchOperationsMax + 1,
                                       DepositOp("a", 1));
  Reply<ApplyBatchResponse> reply = Apply(too_many, false);
  EXPECT_EQ(reply.status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(reply.status.error_message(), HasSubstr("8190"));
  EXPECT_EQ(Balance("a"), 100);

  // Over the batch size cap: refused by gRPC before any handler.
  ApplyBatchRequest huge;
  const std::string actor(kActorBytesMax, 'x');
  while (huge.ByteSizeLong() <= static_cast<size_t>(kBatchRequestBytesMax)) {
    for (int i = 0; i < 1000; ++i) {
      *huge.add_operations() = DepositOp(std::string(kAccountIdBytesMax, 'y'),
                                         1, std::string(4000, 'z'));
    }
  }
  EXPECT_EQ(Send(huge).status.error_code(), StatusCode::RESOURCE_EXHAUSTED);

  // The largest batch of the largest valid operations fits the cap, and
  // is answered (each fails alone: a negative amount).
  ApplyBatchRequest largest;
  const std::string id(kAccountIdBytesMax, 'y');
  for (size_t i = 0; i < kBatchOperationsMax; ++i) {
    BatchOperation operation =
        TransferOp(id, id + "z", std::numeric_limits<int64_t>::min());
    operation.mutable_transfer()->set_actor(actor);
    *largest.add_operations() = std::move(operation);
  }
  ASSERT_LE(largest.ByteSizeLong(), static_cast<size_t>(kBatchRequestBytesMax));
  reply = Send(largest);
  ASSERT_TRUE(reply.status.ok()) << reply.status.error_message();
  EXPECT_EQ(reply.response.results_size(),
            static_cast<int>(kBatchOperationsMax));

  // A single-operation RPC keeps its 4 KiB cap.
  EXPECT_EQ(client_->Deposit("a", 1, std::string(kRequestBytesMax + 1, 'z'))
                .status.error_code(),
            StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Balance("a"), 100);
}

INSTANTIATE_TEST_SUITE_P(SafeEngines, BatchServerTest,
                         ::testing::Values("mutex", "queue"));

}  // namespace
}  // namespace bank::testing
