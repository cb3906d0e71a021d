#include "service/server/bank_service_impl.h"

#include <errno.h>
#include <limits.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/arena.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "service/engine/operation.h"
#include "service/server/grpc_status.h"

namespace bank {
namespace {

// A log line holds at most two account ids, an actor (each escaped, so at
// most kLogEscapeExpansionMax times longer), an int64 and a short tag; under
// PIPE_BUF, one write(2) to a pipe is atomic, so concurrent lines never
// interleave.
constexpr size_t kLogEscapeExpansionMax = 4;  // One byte -> "\xHH".
constexpr size_t kLogLineBytesMax =
    kLogEscapeExpansionMax * (2 * kAccountIdBytesMax + kActorBytesMax) + 64;
static_assert(kLogLineBytesMax <= PIPE_BUF);

// Refuse finishes the RPC at once with `status` (an error found before the
// engine) and answers its reactor.
grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context,
                                 const RpcTiming& timing,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishRpc(reactor, timing, ToGrpcStatus(status));
  return reactor;
}

// Submit runs `operation` on `engine` and finishes the RPC from its
// completion: on success `fill` writes the response, `sink` runs (and the
// log line is written), then Finish carries the operation's status.
// `actor` lives in the request, which stays valid until Finish.
template <typename Fill>
grpc::ServerUnaryReactor* Submit(AccountEngine& engine, bool log_ops,
                                 RpcTiming timing,
                                 grpc::CallbackServerContext* context,
                                 const std::string& actor, Operation operation,
                                 Fill fill, ResponseSink sink) {
  const absl::Status actor_status = ValidateActor(actor);
  if (!actor_status.ok()) return Refuse(context, timing, actor_status);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::string log_line =
      log_ops ? FormatOperationLogLine(operation, actor) : std::string();
  engine.Execute(
      std::move(operation),
      [reactor, timing, fill = std::move(fill), log_line = std::move(log_line),
       sink = std::move(sink)](absl::StatusOr<OperationResult> result) mutable {
        if (result.ok()) {
          fill(*result);
          if (sink) sink();
          // A replay of a remembered outcome applied nothing.
          if (!result->replayed) WriteLogLine(log_line);
        }
        FinishRpc(reactor, timing, ToGrpcStatus(result.status()));
      });
  return reactor;
}

const std::string& NoActor() {
  static const std::string* const empty = new std::string();
  return *empty;
}

// Arena block sizes for a call's messages. An ApplyBatch of 8,190
// operations parses into about 1.5 MB of messages; allocating them from a
// few large arena blocks, freed at once when the call ends, replaces some
// 50,000 malloc/free pairs per batch (the allocator was 45% of the server's
// CPU at that size: BENCHMARKS.md). A single-operation call needs under
// 1 KiB.
constexpr size_t kArenaStartBlockBytes = 1024;
constexpr size_t kBatchArenaStartBlockBytes = 64 * 1024;
constexpr size_t kBatchArenaMaxBlockBytes = 1024 * 1024;

google::protobuf::ArenaOptions CallArenaOptions(bool batch) {
  google::protobuf::ArenaOptions options;
  options.start_block_size =
      batch ? kBatchArenaStartBlockBytes : kArenaStartBlockBytes;
  if (batch) options.max_block_size = kBatchArenaMaxBlockBytes;
  return options;
}

// RawCall holds a raw call's parsed request and typed response, both on the
// call's own arena, until the RPC is answered.
template <typename Request, typename Response>
struct RawCall {
  explicit RawCall(bool batch)
      : arena(CallArenaOptions(batch)),
        request(google::protobuf::Arena::CreateMessage<Request>(&arena)),
        response(google::protobuf::Arena::CreateMessage<Response>(&arena)) {}
  google::protobuf::Arena arena;
  Request* const request;
  Response* const response;
};

// Handler is a BankServiceImpl::Handle* method: the handler proper of one
// RPC, on its parsed request.
template <typename Request, typename Response>
using Handler = grpc::ServerUnaryReactor* (
    BankServiceImpl::*)(grpc::CallbackServerContext*, const Request*, Response*,
                        RpcTiming, ResponseSink);

// ServeRaw is every raw method: it starts the RPC's metrics, refuses a
// single-operation request over kRequestBytesMax (the server's own cap is
// ApplyBatch's, kBatchRequestBytesMax) before parsing it, parses
// `request_bytes` and hands the typed request to `service`'s `handle`,
// whose sink serializes the typed response into `response_bytes` before
// Finish.
template <typename Request, typename Response>
grpc::ServerUnaryReactor* ServeRaw(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request_bytes,
                                   grpc::ByteBuffer* response_bytes,
                                   MethodMetrics* metrics,
                                   BankServiceImpl* service,
                                   Handler<Request, Response> handle) {
  constexpr bool kBatch = std::is_same_v<Request, bank::v1::ApplyBatchRequest>;
  RpcTiming timing;
  timing.metrics = metrics;
  if (metrics != nullptr) timing.started = metrics->Started();
  if (!kBatch && request_bytes != nullptr && request_bytes->Valid()) {
    const absl::Status size_status = CheckRequestSize(request_bytes->Length());
    if (!size_status.ok()) return Refuse(context, timing, size_status);
  }
  auto call = std::make_shared<RawCall<Request, Response>>(kBatch);
  const absl::Status parsed = ParseRequest(request_bytes, *call->request);
  if (!parsed.ok()) return Refuse(context, timing, parsed);
  Request* request = call->request;
  Response* response = call->response;
  return (service->*handle)(
      context, request, response, timing,
      [call = std::move(call), response_bytes] {
        bool own_buffer = false;
        grpc::GenericSerialize<grpc::ProtoBufferWriter, Response>(
            *call->response, response_bytes, &own_buffer);
      });
}

}  // namespace

// FinishRpc records the RPC in `timing.metrics` (if any) and finishes it.
void FinishRpc(grpc::ServerUnaryReactor* reactor, const RpcTiming& timing,
               const grpc::Status& status) {
  if (timing.metrics != nullptr) {
    timing.metrics->Finished(timing.started, status.error_code());
  }
  reactor->Finish(status);
}

absl::Status ParseRequest(const grpc::ByteBuffer* bytes,
                          google::protobuf::Message& request) {
  const std::string& name = request.GetDescriptor()->full_name();
  if (bytes == nullptr || !bytes->Valid()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request could not be parsed as ", name, ": no message received"));
  }
  // GenericDeserialize consumes the buffer; copying one only takes a
  // reference to its slices.
  grpc::ByteBuffer copy(*bytes);
  const grpc::Status status =
      grpc::GenericDeserialize<grpc::ProtoBufferReader,
                               google::protobuf::Message>(&copy, &request);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request could not be parsed as ", name,
        ": the bytes are not a valid protobuf encoding of it",
        status.error_message().empty() ? "" : " (", status.error_message(),
        status.error_message().empty() ? "" : ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateActor(const std::string& actor) {
  if (actor.size() > kActorBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat("actor is ", actor.size(),
                                                   " bytes long; the limit is ",
                                                   kActorBytesMax));
  }
  return absl::OkStatus();
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

std::string EscapeLogField(absl::string_view field) {
  std::string escaped;
  escaped.reserve(field.size());
  for (size_t i = 0; i < field.size(); ++i) {
    const unsigned char byte = static_cast<unsigned char>(field[i]);
    // U+0080..U+009F (UTF-8 C2 80..C2 9F) are the C1 controls: a terminal
    // reads U+009B as CSI, the start of an escape sequence.
    const bool c1_control = byte == 0xC2 && i + 1 < field.size() &&
                            static_cast<unsigned char>(field[i + 1]) >= 0x80 &&
                            static_cast<unsigned char>(field[i + 1]) <= 0x9F;
    if (byte == '\\') {
      escaped += "\\\\";
    } else if (byte == '\n') {
      escaped += "\\n";
    } else if (byte == '\r') {
      escaped += "\\r";
    } else if (byte == '\t') {
      escaped += "\\t";
    } else if (byte < 0x20 || byte == 0x7F) {
      escaped += absl::StrCat("\\x", absl::Hex(byte, absl::kZeroPad2));
    } else if (c1_control) {
      ++i;
      escaped += absl::StrCat(
          "\\xc2\\x",
          absl::Hex(static_cast<unsigned char>(field[i]), absl::kZeroPad2));
    } else {
      escaped += static_cast<char>(byte);
    }
  }
  return escaped;
}

std::string FormatOperationLogLine(const Operation& operation,
                                   const std::string& actor) {
  const std::string by =
      actor.empty() ? "" : absl::StrCat(" ", EscapeLogField(actor));
  switch (operation.kind) {
    case OperationKind::kOpen:
      return absl::StrCat("[open] ", operation.amount, " ",
                          EscapeLogField(operation.account_id), "\n");
    case OperationKind::kDeposit:
      return absl::StrCat("[+] ", operation.amount, by, "\n");
    case OperationKind::kWithdraw:
      return absl::StrCat("[-] ", operation.amount, by, "\n");
    case OperationKind::kTransfer:
      return absl::StrCat("[→] ", operation.amount, " ",
                          EscapeLogField(operation.account_id), "->",
                          EscapeLogField(operation.to_account_id), by, "\n");
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
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRaw(context, request, response, Metrics(RpcMethod::kOpenAccount),
                  this, &BankServiceImpl::HandleOpenAccount);
}

grpc::ServerUnaryReactor* BankServiceImpl::Deposit(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRaw(context, request, response, Metrics(RpcMethod::kDeposit),
                  this,
                  &BankServiceImpl::HandleAmount<OperationKind::kDeposit,
                                                 bank::v1::DepositRequest,
                                                 bank::v1::DepositResponse>);
}

grpc::ServerUnaryReactor* BankServiceImpl::Withdraw(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRaw(context, request, response, Metrics(RpcMethod::kWithdraw),
                  this,
                  &BankServiceImpl::HandleAmount<OperationKind::kWithdraw,
                                                 bank::v1::WithdrawRequest,
                                                 bank::v1::WithdrawResponse>);
}

grpc::ServerUnaryReactor* BankServiceImpl::Transfer(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRaw(context, request, response, Metrics(RpcMethod::kTransfer),
                  this, &BankServiceImpl::HandleTransfer);
}

grpc::ServerUnaryReactor* BankServiceImpl::GetBalance(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRaw(context, request, response, Metrics(RpcMethod::kGetBalance),
                  this, &BankServiceImpl::HandleGetBalance);
}

grpc::ServerUnaryReactor* BankServiceImpl::ApplyBatch(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeRaw(context, request, response, Metrics(RpcMethod::kApplyBatch),
                  this, &BankServiceImpl::HandleApplyBatch);
}

grpc::ServerUnaryReactor* BankServiceImpl::HandleOpenAccount(
    grpc::CallbackServerContext* context,
    const bank::v1::OpenAccountRequest* request,
    bank::v1::OpenAccountResponse* response, RpcTiming timing,
    ResponseSink sink) {
  if (options_.open_account_limiter != nullptr &&
      !options_.open_account_limiter->TryAcquire(context->peer(),
                                                 absl::Now())) {
    return Refuse(
        context, timing,
        absl::ResourceExhaustedError(absl::StrCat(
            "too many OpenAccount calls from this address (limit ",
            options_.open_account_limiter->rate().rps, "/s, bursts of ",
            options_.open_account_limiter->rate().burst, "); retry later")));
  }
  Operation operation{OperationKind::kOpen, request->account_id(), "",
                      request->initial_balance(), request->request_id()};
  return Submit(
      engine_, options_.log_ops, timing, context, NoActor(),
      std::move(operation),
      [request, response](const OperationResult& result) {
        response->mutable_account()->set_account_id(request->account_id());
        response->mutable_account()->set_balance(result.balance);
      },
      std::move(sink));
}

template <OperationKind kKind, typename Request, typename Response>
grpc::ServerUnaryReactor* BankServiceImpl::HandleAmount(
    grpc::CallbackServerContext* context, const Request* request,
    Response* response, RpcTiming timing, ResponseSink sink) {
  Operation operation{kKind, request->account_id(), "", request->amount(),
                      request->request_id()};
  return Submit(
      engine_, options_.log_ops, timing, context, request->actor(),
      std::move(operation),
      [response](const OperationResult& result) {
        response->set_balance(result.balance);
      },
      std::move(sink));
}

grpc::ServerUnaryReactor* BankServiceImpl::HandleTransfer(
    grpc::CallbackServerContext* context,
    const bank::v1::TransferRequest* request,
    bank::v1::TransferResponse* response, RpcTiming timing, ResponseSink sink) {
  Operation operation{OperationKind::kTransfer, request->from_account_id(),
                      request->to_account_id(), request->amount(),
                      request->request_id()};
  return Submit(
      engine_, options_.log_ops, timing, context, request->actor(),
      std::move(operation),
      [response](const OperationResult& result) {
        response->set_from_balance(result.balance);
        response->set_to_balance(result.to_balance);
      },
      std::move(sink));
}

grpc::ServerUnaryReactor* BankServiceImpl::HandleGetBalance(
    grpc::CallbackServerContext* context,
    const bank::v1::GetBalanceRequest* request,
    bank::v1::GetBalanceResponse* response, RpcTiming timing,
    ResponseSink sink) {
  Operation operation{OperationKind::kGetBalance, request->account_id(), "", 0};
  return Submit(
      engine_, options_.log_ops, timing, context, NoActor(),
      std::move(operation),
      [response](const OperationResult& result) {
        response->set_balance(result.balance);
      },
      std::move(sink));
}

}  // namespace bank
