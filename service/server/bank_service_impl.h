// BankServiceImpl: the gRPC face of an AccountEngine.
//
// Each handler checks what only the service knows (the actor's length: the
// engine never sees the actor), turns the request into an Operation and
// hands it to the engine with a completion. The completion fills the
// response and finishes the RPC, on whichever thread the engine runs it; so
// no handler ever blocks, and Finish is called exactly once on every path.
// Errors keep the engine's code and message (see grpc_status.h).
//
// With log_ops, each applied operation prints one line on stdout in the
// article's form:
//   [+] 50 姚笛            deposit of 50 by 姚笛
//   [-] 30 马伊琍          withdrawal of 30 by 马伊琍
//   [→] 20 a->b 马伊琍     transfer of 20 from a to b by 马伊琍
//   [open] 80 main         account main opened with 80
// (the actor is omitted when empty; balance reads are not logged). The line
// is written from the completion, so with the queue engine the log shows
// the order in which operations applied. Each line is one write(2) of less
// than PIPE_BUF bytes, so lines from different threads never interleave.
//
// Thread safety: handlers run on many gRPC threads at once; the class has no
// mutable state of its own, and the engine is thread-safe by contract.

#ifndef BANK_SERVICE_SERVER_BANK_SERVICE_IMPL_H_
#define BANK_SERVICE_SERVER_BANK_SERVICE_IMPL_H_

#include "absl/status/status.h"
#include "bank/v1/bank.grpc.pb.h"
#include "service/engine/account_engine.h"
#include "service/server/metrics.h"

namespace bank {

class BankServiceImpl final : public bank::v1::BankService::CallbackService {
 public:
  struct Options {
    bool log_ops = false;  // One stdout line per applied operation.
    // Counts every RPC that reaches a handler (by method and code), its
    // latency and the RPCs in flight; nullptr: no metrics. Not owned; must
    // outlive the service.
    RpcMetrics* metrics = nullptr;
  };

  // `engine` is not owned and must outlive the service, and every RPC: shut
  // the gRPC server down before the engine.
  BankServiceImpl(AccountEngine& engine, Options options);

  grpc::ServerUnaryReactor* OpenAccount(
      grpc::CallbackServerContext* context,
      const bank::v1::OpenAccountRequest* request,
      bank::v1::OpenAccountResponse* response) override;
  grpc::ServerUnaryReactor* Deposit(
      grpc::CallbackServerContext* context,
      const bank::v1::DepositRequest* request,
      bank::v1::DepositResponse* response) override;
  grpc::ServerUnaryReactor* Withdraw(
      grpc::CallbackServerContext* context,
      const bank::v1::WithdrawRequest* request,
      bank::v1::WithdrawResponse* response) override;
  grpc::ServerUnaryReactor* Transfer(
      grpc::CallbackServerContext* context,
      const bank::v1::TransferRequest* request,
      bank::v1::TransferResponse* response) override;
  grpc::ServerUnaryReactor* GetBalance(
      grpc::CallbackServerContext* context,
      const bank::v1::GetBalanceRequest* request,
      bank::v1::GetBalanceResponse* response) override;

 private:
  // Metrics answers `method`'s instruments, or nullptr without metrics.
  MethodMetrics* Metrics(RpcMethod method) const;

  AccountEngine& engine_;
  const Options options_;
};

// ValidateActor answers kInvalidArgument when `actor` is over
// kActorBytesMax bytes, OK otherwise (empty is allowed: the actor is only
// logged).
absl::Status ValidateActor(const std::string& actor);

// FormatOperationLogLine answers the --log_ops line for an applied
// operation, ending in '\n', or "" for operations that are not logged.
std::string FormatOperationLogLine(const Operation& operation,
                                   const std::string& actor);

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_BANK_SERVICE_IMPL_H_
