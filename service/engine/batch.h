// Batches: many operations handed to an AccountEngine as one unit.
//
// A batch is 1 to kBatchOperationsMax operations applied in order. Its
// answer is either a batch-level error (the whole batch was refused and
// NOTHING applied: too many or no operations, queue full, shut down) or one
// result per operation, in order.
//
//   atomic = false  every operation is atomic on its own, exactly as if it
//                   had been executed alone; one failing does not stop the
//                   ones after it.
//   atomic = true   all apply or none does. On the first failure, nothing of
//                   the batch remains applied; that operation's result is its
//                   own error and every other result is kAborted, naming the
//                   failed operation (AbortedBatchResults below).
//
// Later operations see earlier ones: a batch may open an account and then
// deposit into it. Each engine states how it isolates a batch from
// concurrent operations (see its header).
//
// All types here are plain values; they carry no locks.

#ifndef BANK_SERVICE_ENGINE_BATCH_H_
#define BANK_SERVICE_ENGINE_BATCH_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "service/engine/operation.h"

namespace bank {

// The most operations one batch may hold (TigerBeetle's batch size).
inline constexpr size_t kBatchOperationsMax = 8190;

// BatchResults: one result per operation, in the batch's order.
using BatchResults = std::vector<absl::StatusOr<OperationResult>>;

// BatchDone receives a batch's outcome; it is called exactly once.
using BatchDone = absl::AnyInvocable<void(absl::StatusOr<BatchResults>) &&>;

// ValidateBatchSize answers kInvalidArgument for an empty batch or one of
// more than kBatchOperationsMax operations, OK otherwise. The operations'
// own fields are checked one by one as they apply, never here, so that an
// invalid operation fails alone in a non-atomic batch.
absl::Status ValidateBatchSize(size_t operation_count);

// AbortedBatchResults is the answer of an atomic batch of `count` operations
// whose operation `failed_index` failed with `failure`: that result is
// `failure`, every other one kAborted naming the failed operation.
BatchResults AbortedBatchResults(size_t count, size_t failed_index,
                                 const absl::Status& failure);

// AtomicBatchPlan: how the engines apply an atomic batch. It applies the
// operations in order to scratch copies of the balances they touch, with
// the same checks and error messages as single operations, and either
// reports every result with the balances to write back, or the first
// failure (with nothing to write back). The caller makes sure that nothing
// else changes the accounts involved while it plans and writes back.
struct AccountWrite {
  std::string account_id;
  int64_t balance = 0;
  bool opened = false;  // The batch opens this account.
};

struct AtomicBatchOutcome {
  BatchResults results;
  bool applied = false;
  std::vector<AccountWrite> writes;  // Only when applied.
};

// BalanceLookup answers an existing account's committed balance, or nullopt.
using BalanceLookup =
    absl::FunctionRef<std::optional<int64_t>(const std::string&)>;
// SpendLatency is called for each operation that reached its account(s),
// where the single operation would spend its latency (latency_injector.h).
using SpendLatency = absl::FunctionRef<void(const Operation&)>;

// PlanAtomicBatch plans `operations`; `accounts_count` is how many accounts
// exist now, against `accounts_max` for the batch's opens.
AtomicBatchOutcome PlanAtomicBatch(const std::vector<Operation>& operations,
                                   size_t accounts_count, size_t accounts_max,
                                   BalanceLookup lookup, SpendLatency spend);

// AccountIdsOf answers every account id the operations name, sorted
// ascending and without duplicates: the lock order of atomic batches.
std::vector<std::string> AccountIdsOf(const std::vector<Operation>& operations);

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_BATCH_H_
