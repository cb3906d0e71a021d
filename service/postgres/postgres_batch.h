// Batches on the postgres engine (semantics in service/engine/batch.h).
//
// Non-atomic: one job on one connection, one Sync group per operation, so
// every operation is its own transaction and they apply in the batch's
// order (one pipeline is FIFO). An operation that fails validation gets no
// statements at all.
//
// Atomic: two jobs on a connection reserved in between, inside one explicit
// transaction. Job 1 (flush, not Sync): BEGIN, lock every named account row
// in ascending id order (and the account counter when the batch opens
// accounts). The engine then plans the batch on those locked balances with
// the shared PlanAtomicBatch, exactly as the in-memory engines do, and job 2
// writes the planned balances and COMMITs, or ROLLBACKs when the plan
// failed; job 2 always ends with a ROLLBACK group, a no-op after COMMIT, so
// the connection never stays inside a transaction after an error.

#ifndef BANK_SERVICE_POSTGRES_POSTGRES_BATCH_H_
#define BANK_SERVICE_POSTGRES_POSTGRES_BATCH_H_

#include <cstddef>
#include <string>
#include <vector>

#include "service/engine/batch.h"
#include "service/postgres/pipelined_connection.h"

namespace bank {

using StatementGroup = PipelinedConnection::StatementGroup;

struct NonAtomicPlan {
  std::vector<StatementGroup> groups;
  // Per operation: its validation error, or OK when it has a group (in
  // order).
  std::vector<absl::Status> invalid;
};

NonAtomicPlan PlanNonAtomicBatch(const std::vector<Operation>& operations,
                                 size_t accounts_max);

// InterpretNonAtomicBatch reads the flat results of the plan's groups (only
// the first groups' when the connection was lost: the rest get `lost`).
// Serialization failures are not retried inside a batch: kUnavailable.
BatchResults InterpretNonAtomicBatch(
    const std::vector<Operation>& operations, size_t accounts_max,
    const NonAtomicPlan& plan, const std::vector<StatementResult>& results,
    const absl::Status& lost);

// AtomicLockGroups: job 1 of an atomic batch.
std::vector<StatementGroup> AtomicLockGroups(
    const std::vector<Operation>& operations);

// AtomicStep: what job 1's results lead to.
struct AtomicStep {
  // Job 1 failed: batch-level error (nothing applied) or retry.
  absl::Status error;
  bool retry = false;
  // Otherwise the plan: its results, whether it applies, and job 2.
  BatchResults results;
  bool applies = false;
  std::vector<StatementGroup> groups;  // Job 2, in every case.
};

AtomicStep PlanAtomicWrites(const std::vector<Operation>& operations,
                            size_t accounts_max,
                            const std::vector<StatementResult>& locked);

// CommitOutcome reads job 2's results for a batch that applies: OK, retry
// (a conflict: nothing applied), or a batch-level error (nothing applied).
struct CommitOutcome {
  absl::Status error;
  bool retry = false;
};
CommitOutcome ReadCommit(const std::vector<StatementResult>& results);

}  // namespace bank

#endif  // BANK_SERVICE_POSTGRES_POSTGRES_BATCH_H_
