#include "service/postgres/postgres_request_ids.h"

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/engine/request_id_table.h"

namespace bank {

#define BANK_INT64_MAX_SQL "9223372036854775807"

// Row cost: see docs/SERVER.md (measured with pg_column_size). The kind is a
// smallint: 1 open, 2 deposit, 3 withdraw, 4 transfer (KindCode). r1..r4
// are the outcome's raw values, as bank_change_once answers them in
// out1..out4: open (balance or NULL if it existed, account count),
// deposit/withdraw (new balance or NULL, balance before or NULL if the
// account is missing), transfer (from before, to before, from after, to
// after; NULL: missing or not applied).
const char kRequestIdSchemaSql[] =
    "CREATE TABLE IF NOT EXISTS bank_request_ids ("
    "  id text COLLATE \"C\" PRIMARY KEY,"
    "  created_us bigint NOT NULL,"
    "  kind smallint NOT NULL,"
    "  amount bigint NOT NULL,"
    "  account_id text NOT NULL,"
    "  to_account_id text NOT NULL,"
    "  r1 bigint, r2 bigint, r3 bigint, r4 bigint);"
    "CREATE INDEX IF NOT EXISTS bank_request_ids_by_age"
    "  ON bank_request_ids (created_us);"
    "CREATE OR REPLACE FUNCTION bank_change_once("
    "  p_id text, p_kind smallint, p_account text, p_to text,"
    "  p_amount bigint, p_accounts_max bigint, p_now_us bigint,"
    "  p_expired_before_us bigint,"
    "  OUT verdict text, OUT out1 bigint, OUT out2 bigint, OUT out3 bigint,"
    "  OUT out4 bigint, OUT first_kind smallint, OUT first_account text,"
    "  OUT first_to text, OUT first_amount bigint)"
    " LANGUAGE plpgsql AS $body$\n"
    "DECLARE\n"
    "  known bank_request_ids%ROWTYPE;\n"
    "  tries int := 0;\n"
    "BEGIN\n"
    // 1. Claim. A concurrent first use holds the new row's index entry: the
    // INSERT waits for it, then does nothing, and the SELECT (a new
    // statement, a new snapshot) sees its committed row. A row deleted by a
    // sweep meanwhile is claimed on the next turn (bounded).
    "  LOOP\n"
    "    INSERT INTO bank_request_ids"
    "      (id, created_us, kind, amount, account_id, to_account_id)"
    "      VALUES (p_id, p_now_us, p_kind, p_amount, p_account, p_to)"
    "      ON CONFLICT (id) DO NOTHING;\n"
    "    EXIT WHEN FOUND;\n"
    "    SELECT * INTO known FROM bank_request_ids WHERE id = p_id"
    "      FOR UPDATE;\n"
    "    IF FOUND THEN\n"
    // 2. Known and not expired: the remembered outcome, or a mismatch.
    "      IF known.created_us > p_expired_before_us THEN\n"
    "        IF (known.kind, known.amount, known.account_id,"
    "            known.to_account_id) IS DISTINCT FROM"
    "           (p_kind, p_amount, p_account, p_to) THEN\n"
    "          verdict := 'mismatch';\n"
    "          first_kind := known.kind; first_amount := known.amount;\n"
    "          first_account := known.account_id;"
    "          first_to := known.to_account_id;\n"
    "        ELSE\n"
    "          verdict := 'replayed';\n"
    "          out1 := known.r1; out2 := known.r2;"
    "          out3 := known.r3; out4 := known.r4;\n"
    "        END IF;\n"
    "        RETURN;\n"
    "      END IF;\n"
    // Expired: this use is a first use again.
    "      UPDATE bank_request_ids SET created_us = p_now_us, kind = p_kind,"
    "        amount = p_amount, account_id = p_account, to_account_id = p_to,"
    "        r1 = NULL, r2 = NULL, r3 = NULL, r4 = NULL WHERE id = p_id;\n"
    "      EXIT;\n"
    "    END IF;\n"
    "    tries := tries + 1;\n"
    "    IF tries >= 3 THEN\n"
    "      RAISE EXCEPTION 'request id % changed concurrently', p_id"
    "        USING ERRCODE = 'serialization_failure';\n"
    "    END IF;\n"
    "  END LOOP;\n"
    // 3. Apply, with the plain plans' statements, and remember.
    "  verdict := 'applied';\n"
    "  IF p_kind = 1 THEN\n"
    "    INSERT INTO bank_accounts (id, balance) VALUES (p_account, p_amount)"
    "      ON CONFLICT (id) DO NOTHING RETURNING balance INTO out1;\n"
    "    IF out1 IS NOT NULL THEN\n"
    "      UPDATE bank_meta SET value = value + 1"
    "        WHERE key = 'account_count' RETURNING value INTO out2;\n"
    "      IF out2 > p_accounts_max THEN\n"
    // Undecided (kResourceExhausted): roll back the claim too.
    "        RAISE EXCEPTION 'account limit' USING ERRCODE = "
    "'division_by_zero';\n"
    "      END IF;\n"
    "    END IF;\n"
    "  ELSIF p_kind = 2 THEN\n"
    "    WITH changed AS ("
    "      UPDATE bank_accounts SET balance = balance + p_amount"
    "      WHERE id = p_account AND balance <= " BANK_INT64_MAX_SQL
    " - p_amount RETURNING balance)"
    "    SELECT (SELECT balance FROM changed),"
    "      (SELECT balance FROM bank_accounts WHERE id = p_account)"
    "      INTO out1, out2;\n"
    "  ELSIF p_kind = 3 THEN\n"
    "    WITH changed AS ("
    "      UPDATE bank_accounts SET balance = balance - p_amount"
    "      WHERE id = p_account AND balance >= p_amount RETURNING balance)"
    "    SELECT (SELECT balance FROM changed),"
    "      (SELECT balance FROM bank_accounts WHERE id = p_account)"
    "      INTO out1, out2;\n"
    "  ELSE\n"
    "    PERFORM 1 FROM bank_accounts WHERE id IN (p_account, p_to)"
    "      ORDER BY id FOR UPDATE;\n"
    "    SELECT balance INTO out1 FROM bank_accounts WHERE id = p_account;\n"
    "    SELECT balance INTO out2 FROM bank_accounts WHERE id = p_to;\n"
    "    IF out1 >= p_amount AND out2 <= " BANK_INT64_MAX_SQL
    " - p_amount THEN\n"
    "      UPDATE bank_accounts SET balance = balance - p_amount"
    "        WHERE id = p_account RETURNING balance INTO out3;\n"
    "      UPDATE bank_accounts SET balance = balance + p_amount"
    "        WHERE id = p_to RETURNING balance INTO out4;\n"
    "    END IF;\n"
    "  END IF;\n"
    "  UPDATE bank_request_ids SET r1 = out1, r2 = out2, r3 = out3, r4 = out4"
    "    WHERE id = p_id;\n"
    "END\n"
    "$body$;";

namespace {

int KindCode(OperationKind kind) {
  switch (kind) {
    case OperationKind::kOpen:
      return 1;
    case OperationKind::kDeposit:
      return 2;
    case OperationKind::kWithdraw:
      return 3;
    case OperationKind::kTransfer:
      return 4;
    case OperationKind::kGetBalance:
      break;
  }
  return 0;
}

std::optional<OperationKind> KindFromCode(const std::string& code) {
  if (code == "1") return OperationKind::kOpen;
  if (code == "2") return OperationKind::kDeposit;
  if (code == "3") return OperationKind::kWithdraw;
  if (code == "4") return OperationKind::kTransfer;
  return std::nullopt;
}

using Row = std::vector<std::optional<std::string>>;

StatementResult Rows(std::vector<Row> rows) {
  StatementResult result;
  result.kind = StatementResult::Kind::kRows;
  result.rows = std::move(rows);
  return result;
}

absl::Status Unexpected(const Operation& operation) {
  return absl::InternalError(absl::StrCat(
      "unexpected database answer to ", OperationKindName(operation.kind),
      " of '", operation.account_id, "' with request_id '",
      operation.request_id, "'"));
}

// Replies: bank_change_once's raw values as the plain plan's results, so
// that InterpretResults words the outcome exactly as for a plain change.
std::vector<StatementResult> AsPlainResults(const Operation& operation,
                                            const Row& row) {
  const std::optional<std::string>& out1 = row[1];
  const std::optional<std::string>& out2 = row[2];
  const std::optional<std::string>& out3 = row[3];
  const std::optional<std::string>& out4 = row[4];
  switch (operation.kind) {
    case OperationKind::kOpen:
      // The limit check answered (a limit error never commits).
      return {Rows({{out1}}), Rows({{out2.value_or("0")}})};
    case OperationKind::kDeposit:
    case OperationKind::kWithdraw:
      return {Rows({{out1, out2}})};
    case OperationKind::kTransfer: {
      std::vector<Row> locked;
      if (out1.has_value()) locked.push_back({operation.account_id, out1});
      if (out2.has_value()) locked.push_back({operation.to_account_id, out2});
      std::vector<Row> applied;
      if (out3.has_value() && out4.has_value()) {
        applied.push_back({operation.account_id, out3});
        applied.push_back({operation.to_account_id, out4});
      }
      return {Rows(std::move(locked)), Rows(std::move(applied))};
    }
    case OperationKind::kGetBalance:
      break;
  }
  return {};
}

}  // namespace

bool UsesRequestId(const Operation& operation) {
  return !operation.request_id.empty() &&
         operation.kind != OperationKind::kGetBalance;
}

StatementCall PlanChangeOnce(const Operation& operation, size_t accounts_max,
                             absl::Time now, absl::Duration ttl) {
  const int64_t now_us = absl::ToUnixMicros(now);
  return {Statement::kChangeOnce,
          {operation.request_id, absl::StrCat(KindCode(operation.kind)),
           operation.account_id, operation.to_account_id,
           absl::StrCat(operation.amount), absl::StrCat(accounts_max),
           absl::StrCat(now_us),
           absl::StrCat(now_us - absl::ToInt64Microseconds(ttl))}};
}

Outcome InterpretChangeOnce(const Operation& operation, size_t accounts_max,
                            const std::vector<StatementResult>& results) {
  Outcome outcome;
  if (results.size() != 1) {
    outcome.result = Unexpected(operation);
    return outcome;
  }
  const StatementResult& answer = results[0];
  if (answer.kind == StatementResult::Kind::kError) {
    if (IsRetryable(answer.sqlstate)) {
      outcome.retry = true;
      outcome.result = absl::UnavailableError(
          absl::StrCat("database kept reporting conflicts (SQLSTATE ",
                       answer.sqlstate, "): ", answer.message));
    } else if (operation.kind == OperationKind::kOpen &&
               answer.sqlstate == "22012") {
      outcome.result = AccountLimitError(operation.account_id, accounts_max);
    } else {
      outcome.result = DatabaseError(answer);
    }
    return outcome;
  }
  if (answer.kind != StatementResult::Kind::kRows || answer.rows.size() != 1 ||
      answer.rows[0].size() != 9 || !answer.rows[0][0].has_value()) {
    outcome.result = DatabaseError(answer);
    if (answer.kind == StatementResult::Kind::kRows) {
      outcome.result = Unexpected(operation);
    }
    return outcome;
  }
  const Row& row = answer.rows[0];
  const std::string& verdict = *row[0];
  if (verdict == "mismatch") {
    Operation first;
    std::optional<OperationKind> kind =
        row[5].has_value() ? KindFromCode(*row[5]) : std::nullopt;
    if (!kind.has_value() || !row[6].has_value() || !row[7].has_value() ||
        !row[8].has_value() || !absl::SimpleAtoi(*row[8], &first.amount)) {
      outcome.result = Unexpected(operation);
      return outcome;
    }
    first.kind = *kind;
    first.account_id = *row[6];
    first.to_account_id = *row[7];
    first.request_id = operation.request_id;
    outcome.result = RequestIdReusedError(first, operation);
    return outcome;
  }
  if (verdict != "applied" && verdict != "replayed") {
    outcome.result = Unexpected(operation);
    return outcome;
  }
  outcome =
      InterpretResults(operation, accounts_max, AsPlainResults(operation, row));
  if (verdict == "replayed" && outcome.result.ok()) {
    outcome.result->replayed = true;
  }
  return outcome;
}

StatementCall PlanSweep(absl::Time now, absl::Duration ttl) {
  return {
      Statement::kSweepRequestIds,
      {absl::StrCat(absl::ToUnixMicros(now) - absl::ToInt64Microseconds(ttl))}};
}

absl::StatusOr<int64_t> ReadSweep(const std::vector<StatementResult>& results) {
  if (results.size() != 1) {
    return absl::InternalError("unexpected database answer to a sweep");
  }
  if (results[0].kind != StatementResult::Kind::kRows) {
    return DatabaseError(results[0]);
  }
  int64_t deleted = 0;
  if (results[0].rows.size() != 1 || results[0].rows[0].empty() ||
      !results[0].rows[0][0].has_value() ||
      !absl::SimpleAtoi(*results[0].rows[0][0], &deleted)) {
    return absl::InternalError("unexpected database answer to a sweep");
  }
  return deleted;
}

}  // namespace bank
