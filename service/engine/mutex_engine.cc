#include "service/engine/mutex_engine.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "service/engine/check.h"

namespace bank {
namespace {

// OrderedLockPair holds two account mutexes, taken in a fixed global order
// (ascending account id) whatever the transfer's direction, so that two
// opposite transfers can never each hold one lock and wait for the other.
// The lock order is dynamic, which clang's analysis cannot follow inside the
// constructor; the annotations tell it what callers hold afterwards.
class ABSL_SCOPED_LOCKABLE OrderedLockPair {
 public:
  OrderedLockPair(const std::string& first_id, absl::Mutex* first,
                  const std::string& second_id, absl::Mutex* second)
      ABSL_EXCLUSIVE_LOCK_FUNCTION(first, second) ABSL_NO_THREAD_SAFETY_ANALYSIS
      : low_(first_id < second_id ? first : second),
        high_(first_id < second_id ? second : first) {
    BANK_CHECK(first_id != second_id);
    low_->Lock();
    high_->Lock();
  }
  ~OrderedLockPair() ABSL_UNLOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    high_->Unlock();
    low_->Unlock();
  }

  OrderedLockPair(const OrderedLockPair&) = delete;
  OrderedLockPair& operator=(const OrderedLockPair&) = delete;

 private:
  absl::Mutex* const low_;
  absl::Mutex* const high_;
};

}  // namespace

MutexEngine::MutexEngine(const EngineOptions& options, OperationHook hook)
    : latency_(options.latency, std::move(hook)),
      accounts_(options.accounts_max) {}

MutexEngine::~MutexEngine() { Shutdown(); }

void MutexEngine::Shutdown() { gate_.Close(); }

void MutexEngine::Execute(Operation operation, OperationDone done) {
  if (!gate_.TryEnter()) {
    std::move(done)(EngineShutDownError());
    return;
  }
  // Apply releases every lock before it returns, so the completion never
  // runs under one of ours.
  absl::StatusOr<OperationResult> result = accounts_.Apply(operation, *this);
  std::move(done)(std::move(result));
  gate_.Exit();
}

std::unique_ptr<MutexEngine::Account> MutexEngine::NewAccount(
    int64_t balance) {
  auto account = std::make_unique<Account>();
  // Nobody else can see the account yet; the lock only keeps the analysis
  // honest.
  absl::MutexLock lock(&account->mu);
  account->balance = balance;
  return account;
}

absl::StatusOr<OperationResult> MutexEngine::ChangeBalance(
    const Operation& operation, Account& account) {
  absl::MutexLock lock(&account.mu);
  latency_.Spend(operation);
  absl::StatusOr<int64_t> balance =
      operation.kind == OperationKind::kDeposit
          ? CheckedDeposit(operation.account_id, account.balance,
                           operation.amount)
          : CheckedWithdraw(operation.account_id, account.balance,
                            operation.amount);
  if (!balance.ok()) return balance.status();
  BANK_CHECK(*balance >= 0);
  account.balance = *balance;
  return OperationResult{*balance, 0};
}

absl::StatusOr<OperationResult> MutexEngine::GetBalance(
    const Operation& operation, Account& account) {
  absl::ReaderMutexLock lock(&account.mu);
  latency_.Spend(operation);
  return OperationResult{account.balance, 0};
}

absl::StatusOr<OperationResult> MutexEngine::Transfer(
    const Operation& operation, Account& from, Account& to) {
  OrderedLockPair locks(operation.account_id, &from.mu, operation.to_account_id,
                        &to.mu);
  latency_.Spend(operation);
  // Check both legs before changing either: a transfer applies wholly or
  // not at all.
  absl::StatusOr<int64_t> from_balance =
      CheckedWithdraw(operation.account_id, from.balance, operation.amount);
  if (!from_balance.ok()) return from_balance.status();
  absl::StatusOr<int64_t> to_balance =
      CheckedDeposit(operation.to_account_id, to.balance, operation.amount);
  if (!to_balance.ok()) return to_balance.status();
  // Money is conserved: what left one account arrived in the other.
  BANK_CHECK(from.balance - *from_balance == operation.amount);
  BANK_CHECK(*to_balance - to.balance == operation.amount);
  BANK_CHECK(*from_balance >= 0);
  from.balance = *from_balance;
  to.balance = *to_balance;
  return OperationResult{*from_balance, *to_balance};
}

}  // namespace bank
