// Request ids on the postgres engine: the contract of idempotent_engine.h,
// kept in the database so that it holds across replicas and restarts.
//
// Every change that carries a request id is one call of the server-side
// function bank_change_once (PL/pgSQL, created with the schema), one
// statement in its own implicit transaction, which
//   1. claims the id: INSERT INTO bank_request_ids ... ON CONFLICT DO
//      NOTHING. A concurrent first use of the same id (another connection,
//      another replica) holds that row's index entry until it commits, so
//      this waits for it and then finds its row: never a second
//      application;
//   2. if the id was already there (and has not expired): answers the
//      remembered outcome, or "mismatch" with the first use's parameters
//      when they differ; nothing else runs;
//   3. else applies the change with the same single conditional statements
//      as the plain plans (a withdrawal stays one conditional UPDATE; a
//      transfer locks both rows in ascending id order) and stores the raw
//      values the outcome is read from in the id's row, in the same
//      transaction.
// The outcome is stored as those raw values (balances before and after,
// NULL for a missing account), not as a status: the engine reads them with
// the same InterpretResults as a first answer, so a replay is the same
// result, or the same status code and message, byte for byte. An outcome
// that decided nothing is never stored: the account limit and every
// database error raise inside the function, which rolls the claim back with
// the change, and the caller's retry runs as a first use.
//
// Time: ids expire `ttl` after their first use, by the replica's clock
// (microseconds since the epoch are passed in; replicas' clocks are assumed
// to agree to well within the ttl). An expired id is claimed again by its
// next use; SweepExpired deletes expired rows in bounded chunks.

#ifndef BANK_SERVICE_POSTGRES_POSTGRES_REQUEST_IDS_H_
#define BANK_SERVICE_POSTGRES_POSTGRES_REQUEST_IDS_H_

#include <cstddef>
#include <vector>

#include "absl/time/time.h"
#include "service/engine/operation.h"
#include "service/postgres/postgres_sql.h"

namespace bank {

// kRequestIdSweepRowsMax: expired ids deleted by one sweep statement.
inline constexpr size_t kRequestIdSweepRowsMax = 1000;

// kRequestIdSchemaSql creates bank_request_ids, its age index and
// bank_change_once (idempotent: IF NOT EXISTS, OR REPLACE).
extern const char kRequestIdSchemaSql[];

// UsesRequestId: `operation` is a change that carries a request id.
bool UsesRequestId(const Operation& operation);

// PlanChangeOnce answers the one call of bank_change_once for a valid
// change with a request id, first used at `now`, remembered for `ttl`.
StatementCall PlanChangeOnce(const Operation& operation, size_t accounts_max,
                             absl::Time now, absl::Duration ttl);

// InterpretChangeOnce reads bank_change_once's answer (one result): the
// applied or replayed outcome (replayed set), kInvalidArgument naming the id
// when it was first used with other parameters, or `retry` as
// InterpretResults.
Outcome InterpretChangeOnce(const Operation& operation, size_t accounts_max,
                            const std::vector<StatementResult>& results);

// PlanSweep answers the statement that deletes up to kRequestIdSweepRowsMax
// ids expired at `now` (older than `ttl`), skipping rows another transaction
// holds; ReadSweep its count of deleted rows.
StatementCall PlanSweep(absl::Time now, absl::Duration ttl);
absl::StatusOr<int64_t> ReadSweep(const std::vector<StatementResult>& results);

}  // namespace bank

#endif  // BANK_SERVICE_POSTGRES_POSTGRES_REQUEST_IDS_H_
