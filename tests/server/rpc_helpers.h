// Small client-side helpers for the server tests: blocking calls that
// answer (status, response) with a bounded deadline, AsyncCall for RPCs
// that must be in flight at the same time, and CallRaw for requests that
// are not valid messages.

#ifndef BANK_TESTS_SERVER_RPC_HELPERS_H_
#define BANK_TESTS_SERVER_RPC_HELPERS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bank/v1/bank.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"

namespace bank::testing {

// kRpcTimeout bounds every test RPC, so a hung server fails a test instead
// of hanging it. Generous (sanitizer builds, 2 loaded cores); never asserted.
inline constexpr absl::Duration kRpcTimeout = absl::Seconds(30);

inline void SetTestDeadline(grpc::ClientContext& context) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + kRpcTimeout));
}

// Reply: a finished RPC's status and response.
template <typename Response>
struct Reply {
  grpc::Status status;
  Response response;
};

// AsyncCall: one asynchronous call's state; Start it through the stub's
// async() interface with Callback(), then Wait() for it.
template <typename Response>
struct AsyncCall {
  grpc::ClientContext context;
  Response response;
  grpc::Status status;
  absl::Notification done;

  AsyncCall() { SetTestDeadline(context); }
  auto Callback() {
    return [this](grpc::Status result) {
      status = std::move(result);
      done.Notify();
    };
  }
  // Wait answers false if the call did not finish within kRpcTimeout (its
  // deadline makes that a bug in gRPC, not a slow server).
  bool Wait() {
    return done.WaitForNotificationWithTimeout(kRpcTimeout + absl::Seconds(5));
  }
};

// BankClient: blocking calls through a BankService stub.
class BankClient {
 public:
  explicit BankClient(std::unique_ptr<bank::v1::BankService::Stub> stub)
      : stub_(std::move(stub)) {}

  bank::v1::BankService::Stub& stub() { return *stub_; }

  Reply<bank::v1::OpenAccountResponse> Open(const std::string& account_id,
                                            int64_t initial_balance) {
    bank::v1::OpenAccountRequest request;
    request.set_account_id(account_id);
    request.set_initial_balance(initial_balance);
    return Invoke(&bank::v1::BankService::Stub::OpenAccount, request);
  }
  Reply<bank::v1::DepositResponse> Deposit(const std::string& account_id,
                                           int64_t amount,
                                           const std::string& actor = "") {
    bank::v1::DepositRequest request;
    request.set_account_id(account_id);
    request.set_amount(amount);
    request.set_actor(actor);
    return Invoke(&bank::v1::BankService::Stub::Deposit, request);
  }
  Reply<bank::v1::WithdrawResponse> Withdraw(const std::string& account_id,
                                             int64_t amount,
                                             const std::string& actor = "") {
    bank::v1::WithdrawRequest request;
    request.set_account_id(account_id);
    request.set_amount(amount);
    request.set_actor(actor);
    return Invoke(&bank::v1::BankService::Stub::Withdraw, request);
  }
  Reply<bank::v1::TransferResponse> Transfer(const std::string& from_account_id,
                                             const std::string& to_account_id,
                                             int64_t amount,
                                             const std::string& actor = "") {
    bank::v1::TransferRequest request;
    request.set_from_account_id(from_account_id);
    request.set_to_account_id(to_account_id);
    request.set_amount(amount);
    request.set_actor(actor);
    return Invoke(&bank::v1::BankService::Stub::Transfer, request);
  }
  Reply<bank::v1::GetBalanceResponse> GetBalance(
      const std::string& account_id) {
    bank::v1::GetBalanceRequest request;
    request.set_account_id(account_id);
    return Invoke(&bank::v1::BankService::Stub::GetBalance, request);
  }

  // Invoke makes any blocking call of the stub with a test deadline.
  template <typename Request, typename Response>
  Reply<Response> Invoke(grpc::Status (bank::v1::BankService::Stub::*method)(
                             grpc::ClientContext*, const Request&, Response*),
                         const Request& request) {
    grpc::ClientContext context;
    SetTestDeadline(context);
    Reply<Response> reply;
    reply.status = (stub_.get()->*method)(&context, request, &reply.response);
    return reply;
  }

 private:
  std::unique_ptr<bank::v1::BankService::Stub> stub_;
};

// CallRaw sends `bytes` as the request of `method` (a full method name,
// "/bank.v1.BankService/Deposit") through a generic stub: how a test sends
// a request that does not parse. A call that does not finish within
// kRpcTimeout fails the test.
inline grpc::Status CallRaw(const std::shared_ptr<grpc::Channel>& channel,
                            const std::string& method,
                            const std::string& bytes) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  SetTestDeadline(context);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status result) {
                   status = std::move(result);
                   done.Notify();
                 });
  EXPECT_TRUE(
      done.WaitForNotificationWithTimeout(kRpcTimeout + absl::Seconds(5)));
  return status;
}

}  // namespace bank::testing

#endif  // BANK_TESTS_SERVER_RPC_HELPERS_H_
