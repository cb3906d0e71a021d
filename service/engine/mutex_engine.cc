#include "service/engine/mutex_engine.h"

#include <algorithm>
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

void MutexEngine::ExecuteBatch(std::vector<Operation> operations, bool atomic,
                               BatchDone done) {
  if (absl::Status size = ValidateBatchSize(operations.size()); !size.ok()) {
    std::move(done)(std::move(size));
    return;
  }
  if (!gate_.TryEnter()) {
    std::move(done)(EngineShutDownError());
    return;
  }
  BatchResults results;
  if (atomic) {
    results = ApplyAtomic(operations);
  } else {
    results.reserve(operations.size());
    for (const Operation& operation : operations) {
      results.push_back(accounts_.Apply(operation, *this));
    }
  }
  std::move(done)(std::move(results));
  gate_.Exit();
}

BatchResults MutexEngine::ApplyAtomic(
    const std::vector<Operation>& operations) {
  const std::vector<std::string> ids = AccountIdsOf(operations);
  std::vector<Account*> accounts(ids.size(), nullptr);
  const bool opens = std::any_of(
      operations.begin(), operations.end(), [](const Operation& operation) {
        return operation.kind == OperationKind::kOpen;
      });
  if (!opens) {
    // Nothing is inserted, so the table lock is needed only for lookups; an
    // account missing now fails its operation (kNotFound) at planning time.
    for (size_t i = 0; i < ids.size(); ++i)
      accounts[i] = accounts_.Find(ids[i]);
    return PlanUnderAccountLocks(operations, ids, accounts, 0).results;
  }
  accounts_.LockExclusive();
  for (size_t i = 0; i < ids.size(); ++i) {
    accounts[i] = accounts_.FindLocked(ids[i]);
  }
  AtomicBatchOutcome outcome =
      PlanUnderAccountLocks(operations, ids, accounts, accounts_.SizeLocked());
  if (outcome.applied) {
    for (const AccountWrite& write : outcome.writes) {
      if (write.opened) {
        accounts_.InsertLocked(write.account_id, NewAccount(write.balance));
      }
    }
  }
  accounts_.UnlockExclusive();
  return std::move(outcome.results);
}

// HeldBalance reads a balance whose lock the caller holds, from a lambda
// the analysis cannot see into; AssertHeld() checks it at run time.
int64_t MutexEngine::HeldBalance(const Account& account)
    ABSL_NO_THREAD_SAFETY_ANALYSIS {
  account.mu.AssertHeld();
  return account.balance;
}

// The number of locks is dynamic, which clang's analysis cannot follow: the
// accounts' mutexes are taken and released by hand, in ascending id order
// (`ids` is sorted and `accounts` parallel to it).
AtomicBatchOutcome MutexEngine::PlanUnderAccountLocks(
    const std::vector<Operation>& operations,
    const std::vector<std::string>& ids, const std::vector<Account*>& accounts,
    size_t accounts_count) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  BANK_CHECK(std::is_sorted(ids.begin(), ids.end()));
  auto find = [&ids, &accounts](const std::string& account_id) {
    auto it = std::lower_bound(ids.begin(), ids.end(), account_id);
    BANK_CHECK(it != ids.end() && *it == account_id);
    return accounts[it - ids.begin()];
  };
  for (Account* account : accounts) {
    if (account != nullptr) account->mu.Lock();
  }
  AtomicBatchOutcome outcome = PlanAtomicBatch(
      operations, accounts_count, accounts_.accounts_max(),
      [&find](const std::string& account_id) -> std::optional<int64_t> {
        Account* account = find(account_id);
        if (account == nullptr) return std::nullopt;
        return HeldBalance(*account);
      },
      [this](const Operation& operation) { latency_.Spend(operation); });
  if (outcome.applied) {
    for (const AccountWrite& write : outcome.writes) {
      if (!write.opened) find(write.account_id)->balance = write.balance;
    }
  }
  for (auto it = accounts.rbegin(); it != accounts.rend(); ++it) {
    if (*it != nullptr) (*it)->mu.Unlock();
  }
  return outcome;
}

std::unique_ptr<MutexEngine::Account> MutexEngine::NewAccount(int64_t balance) {
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
  // Waiting for this lock may have outlasted Shutdown's start: then give up
  // unapplied rather than hold shutdown behind every waiter.
  if (gate_.Closing()) return EngineShutDownError();
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
  if (gate_.Closing()) return EngineShutDownError();
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

EngineStats MutexEngine::Stats() const {
  EngineStats stats;
  stats.accounts_open = accounts_.Size();
  return stats;
}

}  // namespace bank
