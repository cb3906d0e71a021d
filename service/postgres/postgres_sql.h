// The SQL of the postgres engine: its schema, one plan of prepared
// statements per operation, and the reading of their results back into the
// AccountEngine contract's answers.
//
// Every operation's statements are sent together, followed by one pipeline
// Sync, so they run as one implicit transaction: an error in any of them
// rolls all of them back. No plan needs a client round trip in the middle.
//
// SQL used (plain PostgreSQL; see docs/SCALING.md for other databases):
// CREATE TABLE IF NOT EXISTS, INSERT ... ON CONFLICT DO NOTHING RETURNING,
// UPDATE ... RETURNING, data-modifying CTEs, SELECT ... ORDER BY ... FOR
// UPDATE, pg_advisory_xact_lock (schema creation only), and for request ids
// one PL/pgSQL function and DELETE ... FOR UPDATE SKIP LOCKED.

#ifndef BANK_SERVICE_POSTGRES_POSTGRES_SQL_H_
#define BANK_SERVICE_POSTGRES_POSTGRES_SQL_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "service/engine/operation.h"

typedef struct pg_conn PGconn;

namespace bank {

// kSchemaVersion: the schema this binary creates and understands. A database
// whose bank_meta says more is refused (written by a newer binary); an older
// one is brought up to this version. History: 1 accounts and meta; 2 adds
// bank_request_ids and bank_change_once (postgres_request_ids.h).
inline constexpr int kSchemaVersion = 2;

enum class Statement {
  kOpenInsert,
  kOpenCheckLimit,
  kDeposit,
  kWithdraw,
  kGetBalance,
  kTransferLock,
  kTransferApply,
  // Atomic batches (postgres_batch.h): an explicit transaction over two jobs.
  kBegin,
  kCommit,
  kRollback,
  kBatchLock,
  kBatchLockCount,
  kBatchInsert,
  kBatchUpdate,
  kBatchCount,
  // Request ids (postgres_request_ids.h).
  kChangeOnce,
  kSweepRequestIds,
};
inline constexpr int kStatementCount = 17;

// StatementName is the prepared statement's name; StatementSql its text.
const char* StatementName(Statement statement);
const char* StatementSql(Statement statement);

struct StatementCall {
  Statement statement;
  std::vector<std::string> params;  // Text format.
};

// PlanOperation answers the statements that carry out a valid `operation`.
std::vector<StatementCall> PlanOperation(const Operation& operation,
                                         size_t accounts_max);

// StatementResult: what one statement of a plan answered.
struct StatementResult {
  enum class Kind { kRows, kError, kAborted };
  Kind kind = Kind::kAborted;
  std::string sqlstate;                                       // kError only.
  std::string message;                                        // kError only.
  std::vector<std::vector<std::optional<std::string>>> rows;  // NULL: nullopt.
};

// DatabaseError maps a statement error that the plan did not expect:
// kUnavailable for connection, shutdown and resource errors, else kInternal.
absl::Status DatabaseError(const StatementResult& result);

// IsRetryable: a serialization failure or deadlock (nothing applied).
bool IsRetryable(const std::string& sqlstate);

// Outcome: the operation's answer, or `retry` after a serialization failure
// or deadlock (nothing applied; run the plan again).
struct Outcome {
  absl::StatusOr<OperationResult> result = OperationResult{};
  bool retry = false;
};

// InterpretResults reads a plan's results (one per statement, in order).
Outcome InterpretResults(const Operation& operation, size_t accounts_max,
                         const std::vector<StatementResult>& results);

// EnsureSchema checks the schema version and then creates or upgrades the
// tables and functions, on a blocking connection, in one transaction under
// an advisory lock so that replicas starting together do not race.
// kFailedPrecondition for a newer schema (nothing is changed then).
absl::Status EnsureSchema(PGconn* connection);

}  // namespace bank

#endif  // BANK_SERVICE_POSTGRES_POSTGRES_SQL_H_
