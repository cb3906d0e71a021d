#include "service/postgres/postgres_batch.h"

#include <cstdint>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace bank {
namespace {

// TextArray renders ids as a PostgreSQL text[] literal: {"a","b\"c"}.
std::string TextArray(const std::vector<std::string>& ids) {
  std::string out = "{";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ',';
    out += '"';
    for (char c : ids[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

bool Opens(const std::vector<Operation>& operations) {
  for (const Operation& operation : operations) {
    if (operation.kind == OperationKind::kOpen) return true;
  }
  return false;
}

const StatementResult* FirstFailure(
    const std::vector<StatementResult>& results) {
  for (const StatementResult& result : results) {
    if (result.kind != StatementResult::Kind::kRows) return &result;
  }
  return nullptr;
}

StatementGroup Rollback() {
  return StatementGroup{{{Statement::kRollback, {}}}, true};
}

}  // namespace

NonAtomicPlan PlanNonAtomicBatch(const std::vector<Operation>& operations,
                                 size_t accounts_max) {
  NonAtomicPlan plan;
  for (const Operation& operation : operations) {
    absl::Status valid = ValidateOperation(operation);
    plan.invalid.push_back(valid);
    if (!valid.ok()) continue;
    plan.groups.push_back(
        StatementGroup{PlanOperation(operation, accounts_max), true});
  }
  return plan;
}

BatchResults InterpretNonAtomicBatch(
    const std::vector<Operation>& operations, size_t accounts_max,
    const NonAtomicPlan& plan, const std::vector<StatementResult>& results,
    const absl::Status& lost) {
  BatchResults answers;
  size_t group = 0;
  size_t next = 0;  // Index into results.
  for (size_t i = 0; i < operations.size(); ++i) {
    if (!plan.invalid[i].ok()) {
      answers.push_back(plan.invalid[i]);
      continue;
    }
    const size_t size = plan.groups[group++].calls.size();
    if (next + size > results.size()) {
      answers.push_back(lost);
      next = results.size();
      continue;
    }
    std::vector<StatementResult> own(results.begin() + next,
                                     results.begin() + next + size);
    next += size;
    Outcome outcome = InterpretResults(operations[i], accounts_max, own);
    answers.push_back(std::move(outcome.result));
  }
  return answers;
}

std::vector<StatementGroup> AtomicLockGroups(
    const std::vector<Operation>& operations) {
  StatementGroup lock;
  lock.sync = false;
  lock.calls.push_back({Statement::kBegin, {}});
  lock.calls.push_back(
      {Statement::kBatchLock, {TextArray(AccountIdsOf(operations))}});
  if (Opens(operations)) lock.calls.push_back({Statement::kBatchLockCount, {}});
  return {lock};
}

AtomicStep PlanAtomicWrites(const std::vector<Operation>& operations,
                            size_t accounts_max,
                            const std::vector<StatementResult>& locked) {
  AtomicStep step;
  if (const StatementResult* failure = FirstFailure(locked)) {
    // The transaction is aborted and the pipeline skips to the next Sync:
    // give it one, then leave the failed transaction block.
    step.retry = failure->kind == StatementResult::Kind::kError &&
                 IsRetryable(failure->sqlstate);
    step.error = DatabaseError(*failure);
    step.groups = {StatementGroup{{}, true}, Rollback()};
    return step;
  }
  std::map<std::string, int64_t> balances;
  for (const auto& row : locked[1].rows) {
    int64_t balance = 0;
    if (row.size() == 2 && row[0].has_value() && row[1].has_value() &&
        absl::SimpleAtoi(*row[1], &balance)) {
      balances[*row[0]] = balance;
    }
  }
  int64_t accounts_count = 0;
  if (locked.size() > 2) {
    const auto& rows = locked[2].rows;
    if (rows.empty() || rows[0].empty() || !rows[0][0].has_value() ||
        !absl::SimpleAtoi(*rows[0][0], &accounts_count)) {
      step.error = absl::InternalError("bank_meta has no account_count row");
      step.groups = {Rollback()};
      return step;
    }
  }
  AtomicBatchOutcome outcome = PlanAtomicBatch(
      operations, static_cast<size_t>(accounts_count), accounts_max,
      [&balances](const std::string& id) -> std::optional<int64_t> {
        auto it = balances.find(id);
        if (it == balances.end()) return std::nullopt;
        return it->second;
      },
      [](const Operation&) {});
  step.results = std::move(outcome.results);
  step.applies = outcome.applied;
  if (!outcome.applied) {
    step.groups = {Rollback()};
    return step;
  }
  StatementGroup write;
  int64_t opened = 0;
  for (const AccountWrite& account : outcome.writes) {
    const std::string balance = absl::StrCat(account.balance);
    if (account.opened) {
      ++opened;
      write.calls.push_back(
          {Statement::kBatchInsert, {account.account_id, balance}});
    } else {
      write.calls.push_back(
          {Statement::kBatchUpdate, {account.account_id, balance}});
    }
  }
  if (opened > 0) {
    write.calls.push_back({Statement::kBatchCount, {absl::StrCat(opened)}});
  }
  write.calls.push_back({Statement::kCommit, {}});
  step.groups = {std::move(write), Rollback()};
  return step;
}

CommitOutcome ReadCommit(const std::vector<StatementResult>& results) {
  CommitOutcome outcome;
  // The last result is the trailing ROLLBACK (a no-op after COMMIT).
  for (size_t i = 0; i + 1 < results.size(); ++i) {
    const StatementResult& result = results[i];
    if (result.kind == StatementResult::Kind::kRows) continue;
    // A concurrent open of the same id (unique violation) or a conflict:
    // nothing applied, plan again.
    outcome.retry =
        result.kind == StatementResult::Kind::kError &&
        (IsRetryable(result.sqlstate) || result.sqlstate == "23505");
    outcome.error = DatabaseError(result);
    return outcome;
  }
  return outcome;
}

}  // namespace bank
