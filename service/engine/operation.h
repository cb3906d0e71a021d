// Operation: one request to an AccountEngine, its result, and the input
// limits every engine enforces the same way.
//
// Money is an int64 count of minor units (cents). All types here are plain
// values: they carry no locks and may be copied between threads.

#ifndef BANK_SERVICE_ENGINE_OPERATION_H_
#define BANK_SERVICE_ENGINE_OPERATION_H_

#include <cstdint>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace bank {

// Input limits, in the units their names end with.
inline constexpr size_t kAccountIdBytesMax = 128;
inline constexpr size_t kActorBytesMax = 256;
// A request id is 1 to kRequestIdBytesMax bytes of printable ASCII (a UUID's
// 36 fit); empty means the operation is not idempotent.
inline constexpr size_t kRequestIdBytesMax = 64;

enum class OperationKind {
  kOpen,        // account_id, amount = initial balance (>= 0)
  kDeposit,     // account_id, amount (> 0)
  kWithdraw,    // account_id, amount (> 0)
  kTransfer,    // account_id = from, to_account_id, amount (> 0)
  kGetBalance,  // account_id
};

// OperationKindName is a stable lower-case name ("open", "deposit", ...).
const char* OperationKindName(OperationKind kind);

struct Operation {
  OperationKind kind = OperationKind::kGetBalance;
  std::string account_id;     // The account acted on; the source of a transfer.
  std::string to_account_id;  // Only for kTransfer: the target.
  int64_t amount = 0;         // Minor units; see OperationKind for its meaning.
  // The client's idempotency key (see idempotent_engine.h); "" = none. Only
  // changes use it; kGetBalance ignores it.
  std::string request_id = {};
};

// OperationResult: balances right after the operation applied.
struct OperationResult {
  int64_t balance = 0;     // account_id's balance (the source, for transfers).
  int64_t to_balance = 0;  // Only for kTransfer: the target's balance.
  // replayed: this is a remembered outcome answered again for a repeated
  // request id (idempotent_engine.h); nothing was applied this time. Not
  // part of any response, so a replay answers the same bytes.
  bool replayed = false;
};

// OperationDone receives an operation's outcome. It is called exactly once.
using OperationDone =
    absl::AnyInvocable<void(absl::StatusOr<OperationResult>) &&>;

// ValidateOperation checks the operation's own fields, independent of any
// balance: an account id of 1 to kAccountIdBytesMax bytes (both ids, for a
// transfer), an amount > 0 (>= 0 for kOpen), and a transfer between two
// different accounts, and a request id that is empty or 1 to
// kRequestIdBytesMax bytes of printable ASCII. Answers OK or kInvalidArgument
// with a message a person understands. Every engine calls it before touching
// any state.
absl::Status ValidateOperation(const Operation& operation);
// ValidateRequestId: OK for "" and for 1 to kRequestIdBytesMax bytes of
// printable ASCII (0x20-0x7e); kInvalidArgument otherwise.
absl::Status ValidateRequestId(const std::string& request_id);

// Balance arithmetic shared by the engines, so that every engine words its
// errors identically. Each answers the new balance, or the error status,
// without side effects.
//
// CheckedDeposit: kOutOfRange when balance + amount would pass INT64_MAX.
absl::StatusOr<int64_t> CheckedDeposit(const std::string& account_id,
                                       int64_t balance, int64_t amount);
// CheckedWithdraw: kFailedPrecondition (naming balance and amount) when
// amount > balance.
absl::StatusOr<int64_t> CheckedWithdraw(const std::string& account_id,
                                        int64_t balance, int64_t amount);

// Errors every engine words the same way.
absl::Status AccountNotFoundError(const std::string& account_id);
absl::Status AccountExistsError(const std::string& account_id);
// AccountLimitError: kResourceExhausted, opening `account_id` would pass the
// engine's limit of `accounts_max` accounts.
absl::Status AccountLimitError(const std::string& account_id,
                               size_t accounts_max);
absl::Status EngineShutDownError();

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_OPERATION_H_
