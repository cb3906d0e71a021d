#include "service/engine/unsafe_engine.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "service/engine/check.h"

namespace bank {

UnsafeEngine::UnsafeEngine(const EngineOptions& options, OperationHook hook)
    : latency_(options.latency, std::move(hook)),
      balances_(options.accounts_max) {}

UnsafeEngine::~UnsafeEngine() { Shutdown(); }

void UnsafeEngine::Shutdown() { gate_.Close(); }

void UnsafeEngine::Execute(Operation operation, OperationDone done) {
  if (!gate_.Admit(done)) return;
  absl::StatusOr<OperationResult> result = balances_.Apply(operation, *this);
  std::move(done)(std::move(result));
  gate_.Exit();
}

void UnsafeEngine::ExecuteBatch(std::vector<Operation> operations, bool atomic,
                                BatchDone done) {
  if (!gate_.AdmitBatch(operations.size(), done)) return;
  BatchResults results =
      atomic ? ApplyAtomic(operations) : balances_.ApplyEach(operations, *this);
  std::move(done)(std::move(results));
  gate_.Exit();
}

BatchResults UnsafeEngine::ApplyAtomic(
    const std::vector<Operation>& operations) {
  // THE BUG again, batch-sized: read everything, plan, write back.
  AtomicBatchOutcome outcome = PlanAtomicBatch(
      operations, balances_.Size(), balances_.accounts_max(),
      [this](const std::string& account_id) -> std::optional<int64_t> {
        Balance* balance = balances_.Find(account_id);
        if (balance == nullptr) return std::nullopt;
        return balance->load();
      },
      [this](const Operation& operation) { latency_.Spend(operation); });
  if (outcome.applied) {
    for (const AccountWrite& write : outcome.writes) {
      if (write.opened) {
        // Lost (see the header) if someone opened it meanwhile.
        balances_.Insert(write.account_id, NewAccount(write.balance))
            .IgnoreError();
      } else {
        balances_.Find(write.account_id)->store(write.balance);
      }
    }
  }
  return std::move(outcome.results);
}

std::unique_ptr<UnsafeEngine::Balance> UnsafeEngine::NewAccount(
    int64_t balance) {
  return std::make_unique<Balance>(balance);
}

absl::StatusOr<OperationResult> UnsafeEngine::GetBalance(
    const Operation& operation, Balance& balance) {
  latency_.Spend(operation);
  return OperationResult{balance.load(), 0};
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

EngineStats UnsafeEngine::Stats() const {
  EngineStats stats;
  stats.accounts_open = balances_.Size();
  return stats;
}

}  // namespace bank
