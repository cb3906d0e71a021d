#include "service/engine/operation.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace bank {

const char* OperationKindName(OperationKind kind) {
  switch (kind) {
    case OperationKind::kOpen:
      return "open";
    case OperationKind::kDeposit:
      return "deposit";
    case OperationKind::kWithdraw:
      return "withdraw";
    case OperationKind::kTransfer:
      return "transfer";
    case OperationKind::kGetBalance:
      return "get_balance";
  }
  return "unknown";
}

namespace {

absl::Status ValidateAccountId(const std::string& account_id,
                               const char* field) {
  if (account_id.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must not be empty"));
  }
  if (account_id.size() > kAccountIdBytesMax) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is ", account_id.size(),
                     " bytes long; the limit is ", kAccountIdBytesMax));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRequestId(const std::string& request_id) {
  if (request_id.size() > kRequestIdBytesMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("request_id is ", request_id.size(),
                     " bytes long; the limit is ", kRequestIdBytesMax));
  }
  for (const char c : request_id) {
    if (c < 0x20 || c > 0x7e) {
      return absl::InvalidArgumentError(
          "request_id must be printable ASCII (a UUID is recommended)");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateOperation(const Operation& operation) {
  if (absl::Status id_status = ValidateRequestId(operation.request_id);
      !id_status.ok()) {
    return id_status;
  }
  const bool is_transfer = operation.kind == OperationKind::kTransfer;
  absl::Status status = ValidateAccountId(
      operation.account_id, is_transfer ? "from_account_id" : "account_id");
  if (!status.ok()) return status;
  if (is_transfer) {
    status = ValidateAccountId(operation.to_account_id, "to_account_id");
    if (!status.ok()) return status;
    if (operation.account_id == operation.to_account_id) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot transfer from account '", operation.account_id,
                       "' to itself"));
    }
  }
  switch (operation.kind) {
    case OperationKind::kOpen:
      if (operation.amount < 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "initial_balance must be >= 0, got ", operation.amount));
      }
      break;
    case OperationKind::kDeposit:
    case OperationKind::kWithdraw:
    case OperationKind::kTransfer:
      if (operation.amount <= 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("amount must be > 0, got ", operation.amount));
      }
      break;
    case OperationKind::kGetBalance:
      break;
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> CheckedDeposit(const std::string& account_id,
                                       int64_t balance, int64_t amount) {
  if (balance > std::numeric_limits<int64_t>::max() - amount) {
    return absl::OutOfRangeError(
        absl::StrCat("depositing ", amount, " into account '", account_id,
                     "' would push its balance ", balance, " past the maximum ",
                     std::numeric_limits<int64_t>::max()));
  }
  return balance + amount;
}

absl::StatusOr<int64_t> CheckedWithdraw(const std::string& account_id,
                                        int64_t balance, int64_t amount) {
  if (amount > balance) {
    return absl::FailedPreconditionError(
        absl::StrCat("insufficient funds in account '", account_id,
                     "': balance ", balance, ", amount ", amount));
  }
  return balance - amount;
}

absl::Status AccountNotFoundError(const std::string& account_id) {
  return absl::NotFoundError(
      absl::StrCat("account '", account_id, "' does not exist"));
}

absl::Status AccountExistsError(const std::string& account_id) {
  return absl::AlreadyExistsError(
      absl::StrCat("account '", account_id, "' already exists"));
}

absl::Status AccountLimitError(const std::string& account_id,
                               size_t accounts_max) {
  return absl::ResourceExhaustedError(
      absl::StrCat("cannot open account '", account_id,
                   "': the engine already holds the maximum of ", accounts_max,
                   " accounts"));
}

absl::Status EngineShutDownError() {
  return absl::UnavailableError("the server is shutting down");
}

}  // namespace bank
