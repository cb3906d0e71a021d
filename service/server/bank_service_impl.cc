#include "service/server/bank_service_impl.h"

#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/engine/operation.h"
#include "service/server/grpc_status.h"

namespace bank {
namespace {

// A log line holds at most two account ids, an actor, an int64 and a short
// tag; under PIPE_BUF, one write(2) to a pipe is atomic, so concurrent lines
// never interleave.
constexpr size_t kLogLineBytesMax =
    2 * kAccountIdBytesMax + kActorBytesMax + 64;
static_assert(kLogLineBytesMax <= PIPE_BUF);

// Submit runs `operation` on `engine` and finishes the RPC from its
// completion: on success `fill` writes the response (and the log line is
// written), then Finish carries the operation's status. `actor` lives in the
// request, which stays valid until Finish. `metrics` (nullable) sees the RPC
// start here and finish in FinishRpc.
template <typename Request, typename Fill>
grpc::ServerUnaryReactor* Submit(AccountEngine& engine, bool log_ops,
                                 MethodMetrics* metrics,
                                 grpc::CallbackServerContext* context,
                                 const Request& request,
                                 const std::string& actor, Operation operation,
                                 Fill fill) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const std::chrono::steady_clock::time_point started =
      metrics != nullptr ? metrics->Started()
                         : std::chrono::steady_clock::time_point();
  // The server's own cap is ApplyBatch's; a single operation keeps 4 KiB.
  const absl::Status size_status = CheckRequestSize(request.ByteSizeLong());
  if (!size_status.ok()) {
    FinishRpc(reactor, metrics, started, ToGrpcStatus(size_status));
    return reactor;
  }
  const absl::Status actor_status = ValidateActor(actor);
  if (!actor_status.ok()) {
    FinishRpc(reactor, metrics, started, ToGrpcStatus(actor_status));
    return reactor;
  }
  std::string log_line =
      log_ops ? FormatOperationLogLine(operation, actor) : std::string();
  engine.Execute(std::move(operation),
                 [reactor, metrics, started, fill = std::move(fill),
                  log_line = std::move(log_line)](
                     absl::StatusOr<OperationResult> result) mutable {
                   if (result.ok()) {
                     fill(*result);
                     // A replay of a remembered outcome applied nothing.
                     if (!result->replayed) WriteLogLine(log_line);
                   }
                   FinishRpc(reactor, metrics, started,
                             ToGrpcStatus(result.status()));
                 });
  return reactor;
}

const std::string& NoActor() {
  static const std::string* const empty = new std::string();
  return *empty;
}

}  // namespace

// FinishRpc records the RPC in `metrics` (if any) and finishes it.
void FinishRpc(grpc::ServerUnaryReactor* reactor, MethodMetrics* metrics,
               std::chrono::steady_clock::time_point started,
               const grpc::Status& status) {
  if (metrics != nullptr) metrics->Finished(started, status.error_code());
  reactor->Finish(status);
}

absl::Status ValidateActor(const std::string& actor) {
  if (actor.size() > kActorBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat("actor is ", actor.size(),
                                                   " bytes long; the limit is ",
                                                   kActorBytesMax));
  }
  return absl::OkStatus();
}

// WriteLogLine writes `line` to stdout in one write(2), bypassing stdio's
// buffer so the line is visible at once. A failed write is dropped: the log
// is a demonstration aid and must never fail or stall an RPC's answer more
// than the write itself does.
void WriteLogLine(const std::string& line) {
  if (line.empty()) return;
  ssize_t written;
  do {
    written = write(STDOUT_FILENO, line.data(), line.size());
  } while (written < 0 && errno == EINTR);
}

absl::Status CheckRequestSize(size_t request_bytes) {
  if (request_bytes > static_cast<size_t>(kRequestBytesMax)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request is ", request_bytes,
                     " bytes; this RPC takes at most ", kRequestBytesMax,
                     " (ApplyBatch takes up to ", kBatchRequestBytesMax, ")"));
  }
  return absl::OkStatus();
}

std::string FormatOperationLogLine(const Operation& operation,
                                   const std::string& actor) {
  const std::string by = actor.empty() ? "" : absl::StrCat(" ", actor);
  switch (operation.kind) {
    case OperationKind::kOpen:
      return absl::StrCat("[open] ", operation.amount, " ",
                          operation.account_id, "\n");
    case OperationKind::kDeposit:
      return absl::StrCat("[+] ", operation.amount, by, "\n");
    case OperationKind::kWithdraw:
      return absl::StrCat("[-] ", operation.amount, by, "\n");
    case OperationKind::kTransfer:
      return absl::StrCat("[→] ", operation.amount, " ", operation.account_id,
                          "->", operation.to_account_id, by, "\n");
    case OperationKind::kGetBalance:
      return "";
  }
  return "";
}

BankServiceImpl::BankServiceImpl(AccountEngine& engine, Options options)
    : engine_(engine), options_(options) {}

MethodMetrics* BankServiceImpl::Metrics(RpcMethod method) const {
  return options_.metrics == nullptr ? nullptr
                                     : &options_.metrics->method(method);
}

grpc::ServerUnaryReactor* BankServiceImpl::OpenAccount(
    grpc::CallbackServerContext* context,
    const bank::v1::OpenAccountRequest* request,
    bank::v1::OpenAccountResponse* response) {
  Operation operation{OperationKind::kOpen, request->account_id(), "",
                      request->initial_balance(), request->request_id()};
  return Submit(
      engine_, options_.log_ops, Metrics(RpcMethod::kOpenAccount), context,
      *request, NoActor(), std::move(operation),
      [request, response](const OperationResult& result) {
        response->mutable_account()->set_account_id(request->account_id());
        response->mutable_account()->set_balance(result.balance);
      });
}

grpc::ServerUnaryReactor* BankServiceImpl::Deposit(
    grpc::CallbackServerContext* context,
    const bank::v1::DepositRequest* request,
    bank::v1::DepositResponse* response) {
  Operation operation{OperationKind::kDeposit, request->account_id(), "",
                      request->amount(), request->request_id()};
  return Submit(engine_, options_.log_ops, Metrics(RpcMethod::kDeposit),
                context, *request, request->actor(), std::move(operation),
                [response](const OperationResult& result) {
                  response->set_balance(result.balance);
                });
}

grpc::ServerUnaryReactor* BankServiceImpl::Withdraw(
    grpc::CallbackServerContext* context,
    const bank::v1::WithdrawRequest* request,
    bank::v1::WithdrawResponse* response) {
  Operation operation{OperationKind::kWithdraw, request->account_id(), "",
                      request->amount(), request->request_id()};
  return Submit(engine_, options_.log_ops, Metrics(RpcMethod::kWithdraw),
                context, *request, request->actor(), std::move(operation),
                [response](const OperationResult& result) {
                  response->set_balance(result.balance);
                });
}

grpc::ServerUnaryReactor* BankServiceImpl::Transfer(
    grpc::CallbackServerContext* context,
    const bank::v1::TransferRequest* request,
    bank::v1::TransferResponse* response) {
  Operation operation{OperationKind::kTransfer, request->from_account_id(),
                      request->to_account_id(), request->amount(),
                      request->request_id()};
  return Submit(engine_, options_.log_ops, Metrics(RpcMethod::kTransfer),
                context, *request, request->actor(), std::move(operation),
                [response](const OperationResult& result) {
                  response->set_from_balance(result.balance);
                  response->set_to_balance(result.to_balance);
                });
}

grpc::ServerUnaryReactor* BankServiceImpl::GetBalance(
    grpc::CallbackServerContext* context,
    const bank::v1::GetBalanceRequest* request,
    bank::v1::GetBalanceResponse* response) {
  Operation operation{OperationKind::kGetBalance, request->account_id(), "", 0};
  return Submit(engine_, options_.log_ops, Metrics(RpcMethod::kGetBalance),
                context, *request, NoActor(), std::move(operation),
                [response](const OperationResult& result) {
                  response->set_balance(result.balance);
                });
}

}  // namespace bank
