#include "service/engine/batch.h"

#include <algorithm>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/engine/check.h"

namespace bank {
namespace {

// ScratchBook: the balances an atomic batch has touched so far. A
// std::unordered_map because a transfer holds references to two entries
// while the second may be inserted (its references stay valid).
class ScratchBook {
 public:
  struct Entry {
    std::optional<int64_t> balance;  // nullopt: no such account (yet).
    bool opened = false;
    bool changed = false;
  };

  ScratchBook(size_t accounts_count, size_t accounts_max, BalanceLookup lookup,
              SpendLatency spend)
      : accounts_count_(accounts_count),
        accounts_max_(accounts_max),
        lookup_(lookup),
        spend_(spend) {}

  absl::StatusOr<OperationResult> Apply(const Operation& operation);
  std::vector<AccountWrite> Writes() const;

 private:
  Entry& Get(const std::string& account_id) {
    auto [it, inserted] = entries_.try_emplace(account_id);
    if (inserted) it->second.balance = lookup_(account_id);
    return it->second;
  }
  absl::StatusOr<OperationResult> Open(const Operation& operation);
  absl::StatusOr<OperationResult> Transfer(const Operation& operation,
                                           Entry& from);

  size_t accounts_count_;
  const size_t accounts_max_;
  BalanceLookup lookup_;
  SpendLatency spend_;
  std::unordered_map<std::string, Entry> entries_;
};

absl::StatusOr<OperationResult> ScratchBook::Apply(const Operation& operation) {
  if (absl::Status valid = ValidateOperation(operation); !valid.ok()) {
    return valid;
  }
  if (operation.kind == OperationKind::kOpen) return Open(operation);
  Entry& account = Get(operation.account_id);
  if (!account.balance.has_value()) {
    return AccountNotFoundError(operation.account_id);
  }
  if (operation.kind == OperationKind::kTransfer) {
    return Transfer(operation, account);
  }
  spend_(operation);
  if (operation.kind == OperationKind::kGetBalance) {
    return OperationResult{*account.balance, 0};
  }
  absl::StatusOr<int64_t> changed =
      operation.kind == OperationKind::kDeposit
          ? CheckedDeposit(operation.account_id, *account.balance,
                           operation.amount)
          : CheckedWithdraw(operation.account_id, *account.balance,
                            operation.amount);
  if (!changed.ok()) return changed.status();
  BANK_CHECK(*changed >= 0);
  account.balance = *changed;
  account.changed = true;
  return OperationResult{*changed, 0};
}

absl::StatusOr<OperationResult> ScratchBook::Open(const Operation& operation) {
  Entry& account = Get(operation.account_id);
  if (account.balance.has_value()) {
    return AccountExistsError(operation.account_id);
  }
  if (accounts_count_ >= accounts_max_) {
    return AccountLimitError(operation.account_id, accounts_max_);
  }
  ++accounts_count_;
  account.balance = operation.amount;
  account.opened = true;
  account.changed = true;
  return OperationResult{operation.amount, 0};
}

absl::StatusOr<OperationResult> ScratchBook::Transfer(
    const Operation& operation, Entry& from) {
  Entry& to = Get(operation.to_account_id);
  if (!to.balance.has_value()) {
    return AccountNotFoundError(operation.to_account_id);
  }
  spend_(operation);
  absl::StatusOr<int64_t> from_balance =
      CheckedWithdraw(operation.account_id, *from.balance, operation.amount);
  if (!from_balance.ok()) return from_balance.status();
  absl::StatusOr<int64_t> to_balance =
      CheckedDeposit(operation.to_account_id, *to.balance, operation.amount);
  if (!to_balance.ok()) return to_balance.status();
  BANK_CHECK(*from.balance - *from_balance == operation.amount);
  BANK_CHECK(*to_balance - *to.balance == operation.amount);
  from.balance = *from_balance;
  to.balance = *to_balance;
  from.changed = to.changed = true;
  return OperationResult{*from_balance, *to_balance};
}

std::vector<AccountWrite> ScratchBook::Writes() const {
  std::vector<AccountWrite> writes;
  for (const auto& [account_id, entry] : entries_) {
    if (!entry.changed) continue;
    BANK_CHECK(entry.balance.has_value() && *entry.balance >= 0);
    writes.push_back({account_id, *entry.balance, entry.opened});
  }
  return writes;
}

}  // namespace

absl::Status ValidateBatchSize(size_t operation_count) {
  if (operation_count == 0) {
    return absl::InvalidArgumentError("a batch needs at least one operation");
  }
  if (operation_count > kBatchOperationsMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("a batch holds at most ", kBatchOperationsMax,
                     " operations; this one has ", operation_count));
  }
  return absl::OkStatus();
}

BatchResults AbortedBatchResults(size_t count, size_t failed_index,
                                 const absl::Status& failure) {
  BANK_CHECK(failed_index < count && !failure.ok());
  const absl::Status aborted = absl::AbortedError(absl::StrCat(
      "not applied: the atomic batch failed at operation ", failed_index, " (",
      absl::StatusCodeToString(failure.code()), ": ", failure.message(), ")"));
  BatchResults results(count, aborted);
  results[failed_index] = failure;
  return results;
}

AtomicBatchOutcome PlanAtomicBatch(const std::vector<Operation>& operations,
                                   size_t accounts_count, size_t accounts_max,
                                   BalanceLookup lookup, SpendLatency spend) {
  ScratchBook book(accounts_count, accounts_max, lookup, spend);
  AtomicBatchOutcome outcome;
  outcome.results.reserve(operations.size());
  for (size_t i = 0; i < operations.size(); ++i) {
    absl::StatusOr<OperationResult> result = book.Apply(operations[i]);
    if (!result.ok()) {
      outcome.results =
          AbortedBatchResults(operations.size(), i, result.status());
      return outcome;
    }
    outcome.results.push_back(std::move(result));
  }
  outcome.applied = true;
  outcome.writes = book.Writes();
  return outcome;
}

std::vector<std::string> AccountIdsOf(
    const std::vector<Operation>& operations) {
  std::vector<std::string> ids;
  ids.reserve(operations.size() * 2);
  for (const Operation& operation : operations) {
    ids.push_back(operation.account_id);
    if (operation.kind == OperationKind::kTransfer) {
      ids.push_back(operation.to_account_id);
    }
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace bank
