// BankServiceImpl::ApplyBatch: a batch of the single RPCs' requests in one
// RPC (see bank_service_impl.h and docs/SERVER.md).

#include <limits.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "service/engine/batch.h"
#include "service/engine/operation.h"
#include "service/server/bank_service_impl.h"
#include "service/server/grpc_status.h"

namespace bank {
namespace {

using bank::v1::BatchOperation;

// ToOperation turns one BatchOperation into an Operation, or answers why it
// cannot be one (no operation set, actor too long): checks only the service
// can make, exactly as the single RPC would. Request ids pass through: the
// engine (idempotent_engine.h) gives each the single RPC's contract.
absl::StatusOr<Operation> ToOperation(const BatchOperation& batch_operation) {
  switch (batch_operation.operation_case()) {
    case BatchOperation::kOpenAccount: {
      const auto& request = batch_operation.open_account();
      return Operation{OperationKind::kOpen, request.account_id(), "",
                       request.initial_balance(), request.request_id()};
    }
    case BatchOperation::kDeposit: {
      const auto& request = batch_operation.deposit();
      if (absl::Status actor = ValidateActor(request.actor()); !actor.ok()) {
        return actor;
      }
      return Operation{OperationKind::kDeposit, request.account_id(), "",
                       request.amount(), request.request_id()};
    }
    case BatchOperation::kWithdraw: {
      const auto& request = batch_operation.withdraw();
      if (absl::Status actor = ValidateActor(request.actor()); !actor.ok()) {
        return actor;
      }
      return Operation{OperationKind::kWithdraw, request.account_id(), "",
                       request.amount(), request.request_id()};
    }
    case BatchOperation::kTransfer: {
      const auto& request = batch_operation.transfer();
      if (absl::Status actor = ValidateActor(request.actor()); !actor.ok()) {
        return actor;
      }
      return Operation{OperationKind::kTransfer, request.from_account_id(),
                       request.to_account_id(), request.amount(),
                       request.request_id()};
    }
    case BatchOperation::kGetBalance:
      return Operation{OperationKind::kGetBalance,
                       batch_operation.get_balance().account_id(), "", 0};
    case BatchOperation::OPERATION_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError(
      "a batch operation must set one of open_account, deposit, withdraw, "
      "transfer or get_balance");
}

// An operation the service refused stands in the engine's batch as one the
// engine refuses too (an empty account id), so it keeps its place in the
// order and, in an atomic batch, stops the batch exactly there; its result
// is then replaced by the service's own error.
Operation Placeholder() {
  return Operation{OperationKind::kGetBalance, "", "", 0};
}

const std::string& ActorOf(const BatchOperation& operation) {
  switch (operation.operation_case()) {
    case BatchOperation::kDeposit:
      return operation.deposit().actor();
    case BatchOperation::kWithdraw:
      return operation.withdraw().actor();
    case BatchOperation::kTransfer:
      return operation.transfer().actor();
    default: {
      static const std::string* const empty = new std::string();
      return *empty;
    }
  }
}

// FillResult writes one operation's outcome into `out`.
void FillResult(const BatchOperation& request,
                const absl::StatusOr<OperationResult>& result,
                bank::v1::BatchResult& out) {
  if (!result.ok()) {
    // Left unset on success: an absent status reads as code 0, OK.
    const grpc::Status status = ToGrpcStatus(result.status());
    out.mutable_status()->set_code(static_cast<int>(status.error_code()));
    out.mutable_status()->set_message(status.error_message());
    return;
  }
  switch (request.operation_case()) {
    case BatchOperation::kOpenAccount: {
      auto* account = out.mutable_open_account()->mutable_account();
      account->set_account_id(request.open_account().account_id());
      account->set_balance(result->balance);
      break;
    }
    case BatchOperation::kDeposit:
      out.mutable_deposit()->set_balance(result->balance);
      break;
    case BatchOperation::kWithdraw:
      out.mutable_withdraw()->set_balance(result->balance);
      break;
    case BatchOperation::kTransfer:
      out.mutable_transfer()->set_from_balance(result->balance);
      out.mutable_transfer()->set_to_balance(result->to_balance);
      break;
    case BatchOperation::kGetBalance:
      out.mutable_get_balance()->set_balance(result->balance);
      break;
    case BatchOperation::OPERATION_NOT_SET:
      break;
  }
}

// LogBatch writes the --log_ops lines of a batch's applied operations (not
// replays of a request id: nothing applied), in
// order, in as few write(2)s as keep each under PIPE_BUF (so that they
// never interleave with other threads' lines).
void LogBatch(const std::vector<Operation>& operations,
              const bank::v1::ApplyBatchRequest& request,
              const BatchResults& results) {
  std::string chunk;
  for (size_t i = 0; i < operations.size(); ++i) {
    if (!results[i].ok() || results[i]->replayed) continue;
    const std::string line =
        FormatOperationLogLine(operations[i], ActorOf(request.operations(i)));
    if (chunk.size() + line.size() > PIPE_BUF) {
      WriteLogLine(chunk);
      chunk.clear();
    }
    chunk += line;
  }
  WriteLogLine(chunk);
}

}  // namespace

grpc::ServerUnaryReactor* BankServiceImpl::HandleApplyBatch(
    grpc::CallbackServerContext* context,
    const bank::v1::ApplyBatchRequest* request,
    bank::v1::ApplyBatchResponse* response, RpcTiming timing,
    ResponseSink sink) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const size_t count = static_cast<size_t>(request->operations_size());
  if (absl::Status size = ValidateBatchSize(count); !size.ok()) {
    FinishRpc(reactor, timing, ToGrpcStatus(size));
    return reactor;
  }
  std::vector<Operation> operations;
  operations.reserve(count);
  // The service's own refusals, by index (rare: kept sparse).
  std::vector<std::pair<size_t, absl::Status>> refused;
  for (size_t i = 0; i < count; ++i) {
    absl::StatusOr<Operation> operation = ToOperation(request->operations(i));
    if (operation.ok()) {
      operations.push_back(*std::move(operation));
    } else {
      refused.emplace_back(i, operation.status());
      operations.push_back(Placeholder());
    }
  }
  const bool atomic = request->atomic();
  const bool log_ops = options_.log_ops;
  // The engine's copy goes to the engine; the log needs the operations
  // after it answers, so keep them only when logging.
  std::shared_ptr<std::vector<Operation>> logged;
  if (log_ops) logged = std::make_shared<std::vector<Operation>>(operations);
  engine_.ExecuteBatch(
      std::move(operations), atomic,
      [reactor, timing, request, response, atomic, refused = std::move(refused),
       logged = std::move(logged),
       sink = std::move(sink)](absl::StatusOr<BatchResults> outcome) mutable {
        if (!outcome.ok()) {
          FinishRpc(reactor, timing, ToGrpcStatus(outcome.status()));
          return;
        }
        BatchResults& results = *outcome;
        for (auto& [index, status] : refused) {
          if (!atomic) {
            results[index] = status;
          } else if (results[index].status().code() !=
                     absl::StatusCode::kAborted) {
            // The batch stopped at this operation: name the real reason.
            results = AbortedBatchResults(results.size(), index, status);
            break;
          }
        }
        auto* out = response->mutable_results();
        out->Reserve(static_cast<int>(results.size()));
        for (size_t i = 0; i < results.size(); ++i) {
          FillResult(request->operations(static_cast<int>(i)), results[i],
                     *out->Add());
        }
        if (sink) sink();
        if (logged != nullptr) LogBatch(*logged, *request, results);
        FinishRpc(reactor, timing, grpc::Status::OK);
      });
  return reactor;
}

}  // namespace bank
