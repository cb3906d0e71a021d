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
// ApplyBatch (batch_service.cc) turns each BatchOperation into an Operation
// with the same checks as its single RPC and hands the whole batch to
// AccountEngine::ExecuteBatch; the completion fills one BatchResult per
// operation, in order, and finishes the RPC with OK. Only a batch-level
// refusal (no or too many operations, queue full, shutting down) finishes it
// with an error, and then nothing applied. With log_ops, each applied
// operation of a batch logs its line as above, in order.
//
// Message size caps: the server accepts messages up to
// kBatchRequestBytesMax (sized for kBatchOperationsMax operations of
// kBatchOperationBytesMax each), which only ApplyBatch needs; every single-
// operation handler refuses a request over kRequestBytesMax itself, with
// RESOURCE_EXHAUSTED, before anything applies.
//
// Thread safety: handlers run on many gRPC threads at once; the class has no
// mutable state of its own, and the engine is thread-safe by contract.

#ifndef BANK_SERVICE_SERVER_BANK_SERVICE_IMPL_H_
#define BANK_SERVICE_SERVER_BANK_SERVICE_IMPL_H_

#include <chrono>
#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "bank/v1/bank.grpc.pb.h"
#include "service/engine/account_engine.h"
#include "service/engine/batch.h"
#include "service/server/metrics.h"

namespace bank {

// kRequestBytesMax caps a single-operation request. Our requests are a few
// ids, an amount and an actor of at most 256 bytes, so 4 KiB is ample;
// larger requests answer RESOURCE_EXHAUSTED.
inline constexpr int kRequestBytesMax = 4 * 1024;
// kBatchOperationBytesMax bounds one BatchOperation with every field at its
// limit (two 128-byte ids, a 256-byte actor, an amount, and room for the
// fields other issues add); tests check the largest one fits.
inline constexpr int kBatchOperationBytesMax = 1024;
// kBatchRequestBytesMax caps an ApplyBatch request, and so every message the
// server receives: kBatchOperationsMax operations at their largest, plus the
// request's own framing.
inline constexpr int kBatchRequestBytesMax =
    static_cast<int>(kBatchOperationsMax) * kBatchOperationBytesMax + 1024;

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
  grpc::ServerUnaryReactor* ApplyBatch(
      grpc::CallbackServerContext* context,
      const bank::v1::ApplyBatchRequest* request,
      bank::v1::ApplyBatchResponse* response) override;

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

// CheckRequestSize answers kResourceExhausted when a single-operation
// request of `request_bytes` is over kRequestBytesMax, OK otherwise.
absl::Status CheckRequestSize(size_t request_bytes);

// FinishRpc records the RPC in `metrics` (nullable) as finished with
// `status`, then finishes it: every handler's one way to Finish.
void FinishRpc(grpc::ServerUnaryReactor* reactor, MethodMetrics* metrics,
               std::chrono::steady_clock::time_point started,
               const grpc::Status& status);

// WriteLogLine writes `line` (under PIPE_BUF bytes) to stdout in one
// write(2); a failed write is dropped.
void WriteLogLine(const std::string& line);

// FormatOperationLogLine answers the --log_ops line for an applied
// operation, ending in '\n', or "" for operations that are not logged.
std::string FormatOperationLogLine(const Operation& operation,
                                   const std::string& actor);

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_BANK_SERVICE_IMPL_H_
