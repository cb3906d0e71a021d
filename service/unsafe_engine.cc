#include "service/unsafe_engine.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "service/check.h"

namespace bank {

UnsafeEngine::UnsafeEngine(const EngineOptions& options, OperationHook hook)
    : accounts_max_(options.accounts_max),
      latency_(options.latency, std::move(hook)) {}

UnsafeEngine::~UnsafeEngine() { Shutdown(); }

void UnsafeEngine::Shutdown() { gate_.Close(); }

void UnsafeEngine::Execute(Operation operation, OperationDone done) {
  if (!gate_.TryEnter()) {
    std::move(done)(EngineShutDownError());
    return;
  }
  absl::StatusOr<OperationResult> result = Apply(operation);
  std::move(done)(std::move(result));
  gate_.Exit();
}

absl::StatusOr<OperationResult> UnsafeEngine::Apply(
    const Operation& operation) {
  absl::Status valid = ValidateOperation(operation);
  if (!valid.ok()) return valid;
  if (operation.kind == OperationKind::kOpen) return Open(operation);
  Balance* balance = Find(operation.account_id);
  if (balance == nullptr) return AccountNotFoundError(operation.account_id);
  switch (operation.kind) {
    case OperationKind::kDeposit:
    case OperationKind::kWithdraw:
      return ChangeBalance(operation, *balance);
    case OperationKind::kGetBalance:
      latency_.Spend(operation);
      return OperationResult{balance->load(), 0};
    case OperationKind::kTransfer: {
      Balance* to = Find(operation.to_account_id);
      if (to == nullptr) return AccountNotFoundError(operation.to_account_id);
      return Transfer(operation, *balance, *to);
    }
    case OperationKind::kOpen:
      break;
  }
  BANK_CHECK(false && "unhandled OperationKind");
  return absl::InternalError("unhandled operation kind");
}

UnsafeEngine::Balance* UnsafeEngine::Find(const std::string& account_id) const {
  absl::ReaderMutexLock lock(&table_mu_);
  auto it = balances_.find(account_id);
  return it == balances_.end() ? nullptr : it->second.get();
}

absl::StatusOr<OperationResult> UnsafeEngine::Open(const Operation& operation) {
  absl::MutexLock lock(&table_mu_);
  if (balances_.contains(operation.account_id)) {
    return AccountExistsError(operation.account_id);
  }
  if (balances_.size() >= accounts_max_) {
    return AccountLimitError(operation.account_id, accounts_max_);
  }
  balances_.emplace(operation.account_id,
                    std::make_unique<Balance>(operation.amount));
  return OperationResult{operation.amount, 0};
}

absl::StatusOr<OperationResult> UnsafeEngine::ChangeBalance(
    const Operation& operation, Balance& balance) {
  // THE BUG, on purpose: read, wait, write back what was computed from the
  // read. Another operation's write in between is lost.
  const int64_t read = balance.load();
  absl::StatusOr<int64_t> changed =
      operation.kind == OperationKind::kDeposit
          ? CheckedDeposit(operation.account_id, read, operation.amount)
          : CheckedWithdraw(operation.account_id, read, operation.amount);
  if (!changed.ok()) return changed.status();
  latency_.Spend(operation);
  balance.store(*changed);
  return OperationResult{*changed, 0};
}

absl::StatusOr<OperationResult> UnsafeEngine::Transfer(
    const Operation& operation, Balance& from, Balance& to) {
  // Two non-atomic legs. Both are checked against what was read, so a lone
  // transfer still applies wholly or not at all; concurrent ones do not.
  const int64_t from_read = from.load();
  const int64_t to_read = to.load();
  absl::StatusOr<int64_t> from_balance =
      CheckedWithdraw(operation.account_id, from_read, operation.amount);
  if (!from_balance.ok()) return from_balance.status();
  absl::StatusOr<int64_t> to_balance =
      CheckedDeposit(operation.to_account_id, to_read, operation.amount);
  if (!to_balance.ok()) return to_balance.status();
  latency_.Spend(operation);
  from.store(*from_balance);
  to.store(*to_balance);
  return OperationResult{*from_balance, *to_balance};
}

}  // namespace bank
