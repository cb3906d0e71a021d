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
// RESOURCE_EXHAUSTED, from the received message's length, before parsing.
//
// Metrics: every path that finishes an RPC goes through FinishRpc, so the
// refusals made before the engine (size, parse, actor, OpenAccount's
// per-address limit) are counted by method and code like any other answer.
//
// Thread safety: handlers run on many gRPC threads at once; the class has no
// mutable state of its own, and the engine is thread-safe by contract.

#ifndef BANK_SERVICE_SERVER_BANK_SERVICE_IMPL_H_
#define BANK_SERVICE_SERVER_BANK_SERVICE_IMPL_H_

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "bank/v1/bank.grpc.pb.h"
#include "service/engine/account_engine.h"
#include "service/engine/batch.h"
#include "service/engine/operation.h"
#include "service/server/metrics.h"
#include "service/server/peer_rate_limiter.h"

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

// RawMethods: every BankService method registered with a raw (ByteBuffer)
// callback handler, so that BankServiceImpl parses requests itself. gRPC
// 1.51's typed callback handler answers a request that does not parse with
// UNIMPLEMENTED and an empty message (server_callback_handlers.h: its
// UnimplementedUnaryReactor), which tells a client the method does not
// exist; parsing here lets it answer INVALID_ARGUMENT saying so instead.
using RawMethods = bank::v1::BankService::WithRawCallbackMethod_OpenAccount<
    bank::v1::BankService::WithRawCallbackMethod_Deposit<
        bank::v1::BankService::WithRawCallbackMethod_Withdraw<
            bank::v1::BankService::WithRawCallbackMethod_Transfer<
                bank::v1::BankService::WithRawCallbackMethod_GetBalance<
                    bank::v1::BankService::WithRawCallbackMethod_ApplyBatch<
                        bank::v1::BankService::Service>>>>>>;

// ResponseSink: run on success after the response is filled and before
// Finish (the raw methods serialize the response there); it also owns the
// request and response of a raw call, released when the RPC is answered.
using ResponseSink = std::function<void()>;

// RpcTiming: the method's instruments (nullptr without metrics) and when
// the RPC started, for FinishRpc.
struct RpcTiming {
  MethodMetrics* metrics = nullptr;
  std::chrono::steady_clock::time_point started;
};

class BankServiceImpl final : public RawMethods {
 public:
  struct Options {
    bool log_ops = false;  // One stdout line per applied operation.
    // Counts every RPC that reaches a handler (by method and code), its
    // latency and the RPCs in flight; nullptr: no metrics. Not owned; must
    // outlive the service.
    RpcMetrics* metrics = nullptr;
    // open_account_limiter, when set (not owned; outlives the service),
    // must grant each OpenAccount a token for the caller's address, else
    // the call answers RESOURCE_EXHAUSTED without reaching the engine.
    PeerRateLimiter* open_account_limiter = nullptr;
  };

  // `engine` is not owned and must outlive the service, and every RPC: shut
  // the gRPC server down before the engine.
  BankServiceImpl(AccountEngine& engine, Options options);

  grpc::ServerUnaryReactor* OpenAccount(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Deposit(grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Withdraw(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* Transfer(grpc::CallbackServerContext* context,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetBalance(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ApplyBatch(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;

 private:
  // Metrics answers `method`'s instruments, or nullptr without metrics.
  MethodMetrics* Metrics(RpcMethod method) const;

  // The handlers proper, on parsed requests; `timing` is the RPC's (the raw
  // method, through ServeRaw in bank_service_impl.cc, started it), `sink` as
  // ResponseSink says.
  grpc::ServerUnaryReactor* HandleOpenAccount(
      grpc::CallbackServerContext* context,
      const bank::v1::OpenAccountRequest* request,
      bank::v1::OpenAccountResponse* response, RpcTiming timing,
      ResponseSink sink);
  // HandleAmount serves Deposit (kKind = kDeposit) and Withdraw (kWithdraw),
  // whose requests and responses have the same fields.
  template <OperationKind kKind, typename Request, typename Response>
  grpc::ServerUnaryReactor* HandleAmount(grpc::CallbackServerContext* context,
                                         const Request* request,
                                         Response* response, RpcTiming timing,
                                         ResponseSink sink);
  grpc::ServerUnaryReactor* HandleTransfer(
      grpc::CallbackServerContext* context,
      const bank::v1::TransferRequest* request,
      bank::v1::TransferResponse* response, RpcTiming timing,
      ResponseSink sink);
  grpc::ServerUnaryReactor* HandleGetBalance(
      grpc::CallbackServerContext* context,
      const bank::v1::GetBalanceRequest* request,
      bank::v1::GetBalanceResponse* response, RpcTiming timing,
      ResponseSink sink);
  // HandleApplyBatch: batch_service.cc.
  grpc::ServerUnaryReactor* HandleApplyBatch(
      grpc::CallbackServerContext* context,
      const bank::v1::ApplyBatchRequest* request,
      bank::v1::ApplyBatchResponse* response, RpcTiming timing,
      ResponseSink sink);

  AccountEngine& engine_;
  const Options options_;
};

// ParseRequest parses `bytes` (a received gRPC message) as `request`;
// answers kInvalidArgument "request could not be parsed as bank.v1.X:
// ..." when it is not a valid X (truncated, bad wire type, invalid UTF-8
// in a string field, missing message).
absl::Status ParseRequest(const grpc::ByteBuffer* bytes,
                          google::protobuf::Message& request);

// ValidateActor answers kInvalidArgument when `actor` is over
// kActorBytesMax bytes, OK otherwise (empty is allowed: the actor is only
// logged).
absl::Status ValidateActor(const std::string& actor);

// CheckRequestSize answers kResourceExhausted when a single-operation
// request of `request_bytes` is over kRequestBytesMax, OK otherwise.
absl::Status CheckRequestSize(size_t request_bytes);

// FinishRpc records the RPC in `timing.metrics` (nullable) as finished with
// `status`, then finishes it: every handler's one way to Finish.
void FinishRpc(grpc::ServerUnaryReactor* reactor, const RpcTiming& timing,
               const grpc::Status& status);

// WriteLogLine writes `line` (under PIPE_BUF bytes) to stdout in one
// write(2); a failed write is dropped.
void WriteLogLine(const std::string& line);

// EscapeLogField answers `field` (untrusted client bytes) safe to print on
// one line of a terminal: backslash becomes "\\", newline "\n", carriage
// return "\r", tab "\t", every other C0 control and DEL "\xHH", and the
// UTF-8 encoding of a C1 control (U+0080..U+009F) "\xc2\xHH". Other bytes,
// including the rest of UTF-8, pass unchanged, so names stay readable.
// The result is at most 4 times as long as `field`.
std::string EscapeLogField(absl::string_view field);

// FormatOperationLogLine answers the --log_ops line for an applied
// operation, ending in '\n', or "" for operations that are not logged.
// Every client-supplied field (account ids, actor) goes through
// EscapeLogField, so one operation is always exactly one line.
std::string FormatOperationLogLine(const Operation& operation,
                                   const std::string& actor);

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_BANK_SERVICE_IMPL_H_
