#include "service/postgres/postgres_sql.h"

#include <libpq-fe.h>

#include <cstdint>
#include <map>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/postgres/postgres_request_ids.h"

namespace bank {
namespace {

// Deposits refuse to pass INT64_MAX in SQL, as CheckedDeposit does in memory:
// the bigint would raise an overflow error instead of a clean refusal.
#define BANK_INT64_MAX_SQL "9223372036854775807"
#define BANK_SWEEP_ROWS_MAX_SQL "1000"

struct StatementText {
  const char* name;
  const char* sql;
};

// Indexed by Statement.
constexpr StatementText kStatements[kStatementCount] = {
    // $1 id, $2 initial balance. Inserts unless the id exists and counts the
    // account; answers (balance or NULL if it existed, new count or NULL).
    {"bank_open_insert",
     "WITH inserted AS ("
     "  INSERT INTO bank_accounts (id, balance) VALUES ($1::text, $2::bigint)"
     "  ON CONFLICT (id) DO NOTHING RETURNING balance),"
     " counted AS ("
     "  UPDATE bank_meta SET value = value + 1"
     "  WHERE key = 'account_count' AND EXISTS (SELECT 1 FROM inserted)"
     "  RETURNING value)"
     " SELECT (SELECT balance FROM inserted), (SELECT value FROM counted)"},
    // $1 accounts_max. Past the limit it divides by zero on purpose: plain
    // SQL has no RAISE, and an error is what rolls the insert back within
    // the same implicit transaction. (value / 0, not 1 / 0: a constant
    // expression would be folded, and fail, at planning time.)
    {"bank_open_check_limit",
     "SELECT CASE WHEN value > $1::bigint THEN value / 0 ELSE value END"
     " FROM bank_meta WHERE key = 'account_count'"},
    // $1 id, $2 amount. Answers (new balance or NULL, balance before or NULL
    // when the account does not exist).
    {"bank_deposit",
     "WITH changed AS ("
     "  UPDATE bank_accounts SET balance = balance + $2::bigint"
     "  WHERE id = $1::text AND balance <= " BANK_INT64_MAX_SQL
     " - $2::bigint RETURNING balance)"
     " SELECT (SELECT balance FROM changed),"
     " (SELECT balance FROM bank_accounts WHERE id = $1::text)"},
    {"bank_withdraw",
     "WITH changed AS ("
     "  UPDATE bank_accounts SET balance = balance - $2::bigint"
     "  WHERE id = $1::text AND balance >= $2::bigint RETURNING balance)"
     " SELECT (SELECT balance FROM changed),"
     " (SELECT balance FROM bank_accounts WHERE id = $1::text)"},
    {"bank_get_balance",
     "SELECT balance FROM bank_accounts WHERE id = $1::text"},
    // $1 from, $2 to. ORDER BY applies before FOR UPDATE locks, so every
    // transfer locks its two rows in ascending id order.
    {"bank_transfer_lock",
     "SELECT id, balance FROM bank_accounts WHERE id IN ($1::text, $2::text)"
     " ORDER BY id FOR UPDATE"},
    // $1 from, $2 to, $3 amount. Both rows are locked by now; changes both or
    // neither.
    {"bank_transfer_apply",
     "UPDATE bank_accounts SET balance = CASE WHEN id = $1::text"
     " THEN balance - $3::bigint ELSE balance + $3::bigint END"
     " WHERE id IN ($1::text, $2::text) AND (SELECT count(*) FROM bank_accounts"
     "  WHERE (id = $1::text AND balance >= $3::bigint)"
     "  OR (id = $2::text AND balance <= " BANK_INT64_MAX_SQL
     " - $3::bigint)) = 2"
     " RETURNING id, balance"},
    {"bank_begin", "BEGIN"},
    {"bank_commit", "COMMIT"},
    {"bank_rollback", "ROLLBACK"},
    // $1 every id an atomic batch names, as a text[]; locked in ascending
    // order (ORDER BY applies before FOR UPDATE), like transfers.
    {"bank_batch_lock",
     "SELECT id, balance FROM bank_accounts WHERE id = ANY($1::text[])"
     " ORDER BY id FOR UPDATE"},
    {"bank_batch_lock_count",
     "SELECT value FROM bank_meta WHERE key = 'account_count' FOR UPDATE"},
    {"bank_batch_insert",
     "INSERT INTO bank_accounts (id, balance) VALUES ($1::text, $2::bigint)"},
    {"bank_batch_update",
     "UPDATE bank_accounts SET balance = $2::bigint WHERE id = $1::text"},
    {"bank_batch_count",
     "UPDATE bank_meta SET value = value + $1::bigint"
     " WHERE key = 'account_count'"},
    // See postgres_request_ids.h: claim, apply and remember in one call.
    {"bank_change_once",
     "SELECT verdict, out1, out2, out3, out4, first_kind, first_account,"
     " first_to, first_amount FROM bank_change_once($1::text, $2::smallint,"
     " $3::text, $4::text, $5::bigint, $6::bigint, $7::bigint, $8::bigint)"},
    // $1 expired before (microseconds since the epoch). Rows another
    // transaction holds are skipped, so replicas sweeping together never
    // wait on each other or on a claim.
    {"bank_sweep_request_ids",
     "WITH gone AS (DELETE FROM bank_request_ids WHERE id IN ("
     "  SELECT id FROM bank_request_ids WHERE created_us <= $1::bigint"
     "  ORDER BY created_us LIMIT " BANK_SWEEP_ROWS_MAX_SQL
     "  FOR UPDATE SKIP LOCKED) RETURNING 1)"
     " SELECT count(*) FROM gone"},
};
static_assert(kRequestIdSweepRowsMax == 1000,
              "BANK_SWEEP_ROWS_MAX_SQL must say kRequestIdSweepRowsMax");

const char kMetaSql[] =
    "CREATE TABLE IF NOT EXISTS bank_meta ("
    "  key text PRIMARY KEY, value bigint NOT NULL);";

const char kAccountsSql[] =
    "CREATE TABLE IF NOT EXISTS bank_accounts ("
    "  id text COLLATE \"C\" PRIMARY KEY,"
    "  balance bigint NOT NULL CHECK (balance >= 0));"
    "INSERT INTO bank_meta"
    "  SELECT 'account_count', count(*) FROM bank_accounts"
    "  ON CONFLICT (key) DO NOTHING;";

// An arbitrary constant naming the bank's schema lock among advisory locks.
constexpr int64_t kSchemaLockKey = 0x62616e6b;  // "bank"

std::optional<int64_t> Int64At(const StatementResult& result, size_t row,
                               size_t column) {
  if (result.rows.size() <= row || result.rows[row].size() <= column ||
      !result.rows[row][column].has_value()) {
    return std::nullopt;
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(*result.rows[row][column], &value)) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

bool IsRetryable(const std::string& sqlstate) {
  return sqlstate == "40001" || sqlstate == "40P01";
}

absl::Status DatabaseError(const StatementResult& result) {
  if (result.kind == StatementResult::Kind::kAborted) {
    return absl::InternalError("database statement skipped after an error");
  }
  const std::string& state = result.sqlstate;
  // Connection exceptions, operator intervention (shutdown, crash) and
  // insufficient resources: the database is not there for us right now.
  if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 ||
      state.rfind("53", 0) == 0) {
    return absl::UnavailableError(absl::StrCat(
        "database unavailable (SQLSTATE ", state, "): ", result.message));
  }
  return absl::InternalError(
      absl::StrCat("database error (SQLSTATE ", state, "): ", result.message));
}

namespace {

absl::Status UnexpectedResult(const Operation& operation) {
  return absl::InternalError(absl::StrCat("unexpected database answer to ",
                                          OperationKindName(operation.kind),
                                          " of '", operation.account_id, "'"));
}

absl::StatusOr<OperationResult> InterpretOpen(
    const Operation& operation, size_t accounts_max,
    const std::vector<StatementResult>& results) {
  const StatementResult& insert = results[0];
  if (insert.kind == StatementResult::Kind::kRows) {
    std::optional<int64_t> balance = Int64At(insert, 0, 0);
    if (!balance.has_value()) return AccountExistsError(operation.account_id);
    if (results[1].kind == StatementResult::Kind::kError &&
        results[1].sqlstate == "22012") {
      return AccountLimitError(operation.account_id, accounts_max);
    }
    if (results[1].kind != StatementResult::Kind::kRows) {
      return DatabaseError(results[1]);
    }
    return OperationResult{*balance, 0};
  }
  return DatabaseError(insert);
}

// InterpretChange reads a deposit's or withdrawal's (new, before) pair.
absl::StatusOr<OperationResult> InterpretChange(const Operation& operation,
                                                const StatementResult& result) {
  if (result.kind != StatementResult::Kind::kRows) return DatabaseError(result);
  std::optional<int64_t> changed = Int64At(result, 0, 0);
  if (changed.has_value()) return OperationResult{*changed, 0};
  std::optional<int64_t> before = Int64At(result, 0, 1);
  if (!before.has_value()) return AccountNotFoundError(operation.account_id);
  // Refused: word it as the other engines do. `before` is the statement's
  // snapshot; a concurrent change may have made the refusal, in which case
  // the shared helper would not fail and we say so ourselves.
  absl::StatusOr<int64_t> checked =
      operation.kind == OperationKind::kDeposit
          ? CheckedDeposit(operation.account_id, *before, operation.amount)
          : CheckedWithdraw(operation.account_id, *before, operation.amount);
  if (!checked.ok()) return checked.status();
  if (operation.kind == OperationKind::kDeposit) {
    return absl::OutOfRangeError(
        absl::StrCat("depositing ", operation.amount, " into account '",
                     operation.account_id, "' would push its balance past ",
                     "the maximum " BANK_INT64_MAX_SQL));
  }
  return absl::FailedPreconditionError(
      absl::StrCat("insufficient funds in account '", operation.account_id,
                   "': amount ", operation.amount));
}

absl::StatusOr<OperationResult> InterpretTransfer(
    const Operation& operation, const std::vector<StatementResult>& results) {
  const StatementResult& locked = results[0];
  if (locked.kind != StatementResult::Kind::kRows) return DatabaseError(locked);
  std::map<std::string, int64_t> balances;
  for (size_t row = 0; row < locked.rows.size(); ++row) {
    std::optional<int64_t> balance = Int64At(locked, row, 1);
    if (!balance.has_value() || !locked.rows[row][0].has_value()) {
      return UnexpectedResult(operation);
    }
    balances[*locked.rows[row][0]] = *balance;
  }
  auto from = balances.find(operation.account_id);
  if (from == balances.end()) return AccountNotFoundError(operation.account_id);
  auto to = balances.find(operation.to_account_id);
  if (to == balances.end()) {
    return AccountNotFoundError(operation.to_account_id);
  }
  // The rows are locked: these checks see what the update saw.
  absl::StatusOr<int64_t> from_after =
      CheckedWithdraw(operation.account_id, from->second, operation.amount);
  if (!from_after.ok()) return from_after.status();
  absl::StatusOr<int64_t> to_after =
      CheckedDeposit(operation.to_account_id, to->second, operation.amount);
  if (!to_after.ok()) return to_after.status();
  const StatementResult& applied = results[1];
  if (applied.kind != StatementResult::Kind::kRows) {
    return DatabaseError(applied);
  }
  if (applied.rows.size() != 2) return UnexpectedResult(operation);
  OperationResult answer;
  for (size_t row = 0; row < 2; ++row) {
    std::optional<int64_t> balance = Int64At(applied, row, 1);
    if (!balance.has_value()) return UnexpectedResult(operation);
    if (applied.rows[row][0] == operation.account_id) {
      answer.balance = *balance;
    } else {
      answer.to_balance = *balance;
    }
  }
  return answer;
}

}  // namespace

const char* StatementName(Statement statement) {
  return kStatements[static_cast<int>(statement)].name;
}

const char* StatementSql(Statement statement) {
  return kStatements[static_cast<int>(statement)].sql;
}

std::vector<StatementCall> PlanOperation(const Operation& operation,
                                         size_t accounts_max) {
  const std::string amount = absl::StrCat(operation.amount);
  switch (operation.kind) {
    case OperationKind::kOpen:
      return {{Statement::kOpenInsert, {operation.account_id, amount}},
              {Statement::kOpenCheckLimit, {absl::StrCat(accounts_max)}}};
    case OperationKind::kDeposit:
      return {{Statement::kDeposit, {operation.account_id, amount}}};
    case OperationKind::kWithdraw:
      return {{Statement::kWithdraw, {operation.account_id, amount}}};
    case OperationKind::kGetBalance:
      return {{Statement::kGetBalance, {operation.account_id}}};
    case OperationKind::kTransfer:
      return {{Statement::kTransferLock,
               {operation.account_id, operation.to_account_id}},
              {Statement::kTransferApply,
               {operation.account_id, operation.to_account_id, amount}}};
  }
  return {};
}

Outcome InterpretResults(const Operation& operation, size_t accounts_max,
                         const std::vector<StatementResult>& results) {
  Outcome outcome;
  const size_t expected = PlanOperation(operation, accounts_max).size();
  if (results.size() != expected) {
    outcome.result = UnexpectedResult(operation);
    return outcome;
  }
  for (const StatementResult& result : results) {
    if (result.kind == StatementResult::Kind::kError &&
        IsRetryable(result.sqlstate)) {
      outcome.retry = true;
      outcome.result = absl::UnavailableError(
          absl::StrCat("database kept reporting conflicts (SQLSTATE ",
                       result.sqlstate, "): ", result.message));
      return outcome;
    }
  }
  switch (operation.kind) {
    case OperationKind::kOpen:
      outcome.result = InterpretOpen(operation, accounts_max, results);
      break;
    case OperationKind::kDeposit:
    case OperationKind::kWithdraw:
      outcome.result = InterpretChange(operation, results[0]);
      break;
    case OperationKind::kGetBalance: {
      if (results[0].kind != StatementResult::Kind::kRows) {
        outcome.result = DatabaseError(results[0]);
        break;
      }
      std::optional<int64_t> balance = Int64At(results[0], 0, 0);
      outcome.result =
          balance.has_value()
              ? absl::StatusOr<OperationResult>(OperationResult{*balance, 0})
              : AccountNotFoundError(operation.account_id);
      break;
    }
    case OperationKind::kTransfer:
      outcome.result = InterpretTransfer(operation, results);
      break;
  }
  return outcome;
}

absl::Status EnsureSchema(PGconn* connection) {
  struct ResultDeleter {
    void operator()(PGresult* result) const { PQclear(result); }
  };
  using Result = std::unique_ptr<PGresult, ResultDeleter>;
  auto run = [connection](const std::string& sql) -> absl::StatusOr<Result> {
    Result result(PQexec(connection, sql.c_str()));
    const ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      return absl::UnavailableError(absl::StrCat(
          "creating the schema failed: ", PQresultErrorMessage(result.get())));
    }
    return result;
  };
  // One transaction: the lock is held until COMMIT or ROLLBACK. The version
  // is read before anything else is created, so that a newer schema's
  // tables and functions are never overwritten by this binary's.
  auto in_transaction = [&]() -> absl::Status {
    absl::StatusOr<Result> done =
        run(absl::StrCat("BEGIN; SET LOCAL client_min_messages = warning;"
                         " SELECT pg_advisory_xact_lock(",
                         kSchemaLockKey, ");", kMetaSql));
    if (!done.ok()) return done.status();
    absl::StatusOr<Result> version =
        run("SELECT value FROM bank_meta WHERE key = 'schema_version'");
    if (!version.ok()) return version.status();
    int64_t found = 0;
    if (PQntuples(version->get()) > 1 ||
        (PQntuples(version->get()) == 1 &&
         !absl::SimpleAtoi(PQgetvalue(version->get(), 0, 0), &found))) {
      return absl::FailedPreconditionError(
          "bank_meta has no readable schema_version row");
    }
    if (found > kSchemaVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat("the database's bank schema is version ", found,
                       ", newer than this bank_server knows (", kSchemaVersion,
                       "); refusing to start: run a newer bank_server"));
    }
    done = run(absl::StrCat(
        kAccountsSql, kRequestIdSchemaSql,
        "INSERT INTO bank_meta VALUES ('schema_version', ", kSchemaVersion,
        ") ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;"
        " COMMIT;"));
    return done.status();
  };
  absl::Status status = in_transaction();
  if (!status.ok()) PQclear(PQexec(connection, "ROLLBACK"));
  return status;
}

}  // namespace bank
