#include "service/engine/mutex_engine.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/engine/check.h"
#include "service/engine/storage_stats.h"

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

// The log position the current thread reserved under an account lock
// during AccountTable::Apply (durable mode); read and reset by
// ExecuteDurable on the same thread right after Apply returns.
thread_local std::optional<uint64_t> reserved_position;

}  // namespace

MutexEngine::MutexEngine(const EngineOptions& options, OperationHook hook)
    : latency_(options.latency, std::move(hook)),
      store_(options.store),
      journal_(options.journal),
      accounts_(options.accounts_max) {
  for (const auto& [account_id, balance] : options.recovered_balances) {
    BANK_CHECK(accounts_.Insert(account_id, NewAccount(balance)).ok());
  }
  if (store_ != nullptr) {
    log_ = std::make_unique<CommitLog>(*store_, *this, kLogEntriesMax);
  }
}

MutexEngine::~MutexEngine() { Shutdown(); }

void MutexEngine::Shutdown() {
  gate_.Close();
  // Every accepted operation has reserved and completed its position by
  // now; the log commits them and runs their completions.
  if (log_ != nullptr) log_->Shutdown();
}

void MutexEngine::Execute(Operation operation, OperationDone done) {
  if (!gate_.Admit(done)) return;
  if (log_ != nullptr) {
    ExecuteDurable(std::move(operation), std::move(done));
    gate_.Exit();
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
  if (!gate_.AdmitBatch(operations.size(), done)) return;
  if (log_ != nullptr) {
    ExecuteBatchDurable(std::move(operations), atomic, std::move(done));
    gate_.Exit();
    return;
  }
  BatchResults results =
      atomic ? ApplyAtomic(operations) : accounts_.ApplyEach(operations, *this);
  std::move(done)(std::move(results));
  gate_.Exit();
}

void MutexEngine::ExecuteDurable(Operation operation, OperationDone done) {
  if (!log_->Admit()) {
    std::move(done)(absl::ResourceExhaustedError(absl::StrCat(
        "the mutex engine already holds its limit of ", kLogEntriesMax,
        " operations waiting for the disk; retry later")));
    return;
  }
  if (operation.kind == OperationKind::kOpen) {
    DurableOpen(operation, std::move(done));
    return;
  }
  absl::StatusOr<OperationResult> result;
  {
    absl::ReaderMutexLock world(&world_mu_);
    reserved_position.reset();
    result = accounts_.Apply(operation, *this);
    std::optional<StoreRecord> record =
        DurableRecordFor(operation, result, journal_);
    if (!reserved_position.has_value() && record.has_value()) {
      // Refused before any account lock (say kNotFound) but remembered for
      // its request id: the answer must be durable before it is given.
      reserved_position = log_->Reserve();
    }
    if (reserved_position.has_value()) {
      log_->Complete(*reserved_position, std::move(record),
                     [done = std::move(done), result = std::move(result)](
                         absl::Status durable) mutable {
                       if (durable.ok()) {
                         std::move(done)(std::move(result));
                       } else {
                         std::move(done)(std::move(durable));
                       }
                     });
      reserved_position.reset();
      return;
    }
  }
  // Refused before any account lock (invalid, not found): nothing it
  // reports depends on an undurable change.
  std::move(done)(std::move(result));
}

void MutexEngine::ExecuteBatchDurable(std::vector<Operation> operations,
                                      bool atomic, BatchDone done) {
  if (operations.empty()) {
    std::move(done)(BatchResults());
    return;
  }
  if (!atomic) {
    // Each operation logged as Execute() would; the batch answers when the
    // last of them is durable (completions may run on the committer).
    struct Pending {
      absl::Mutex mu;
      BatchResults results ABSL_GUARDED_BY(mu);
      size_t remaining ABSL_GUARDED_BY(mu) = 0;
      BatchDone done;
    };
    auto pending = std::make_shared<Pending>();
    {
      absl::MutexLock lock(&pending->mu);
      pending->results.resize(operations.size());
      pending->remaining = operations.size();
    }
    pending->done = std::move(done);
    for (size_t i = 0; i < operations.size(); ++i) {
      ExecuteDurable(std::move(operations[i]),
                     [pending, i](absl::StatusOr<OperationResult> result) {
                       BatchResults results;
                       {
                         absl::MutexLock lock(&pending->mu);
                         pending->results[i] = std::move(result);
                         if (--pending->remaining > 0) return;
                         results = std::move(pending->results);
                       }
                       std::move(pending->done)(std::move(results));
                     });
    }
    return;
  }
  if (!log_->Admit()) {
    std::move(done)(absl::ResourceExhaustedError(absl::StrCat(
        "the mutex engine already holds its limit of ", kLogEntriesMax,
        " operations waiting for the disk; retry later")));
    return;
  }
  // An atomic batch runs alone: nothing else applies or reserves meanwhile,
  // so its one position is in every account's apply order.
  BatchResults results;
  uint64_t position = 0;
  {
    absl::MutexLock world(&world_mu_);
    results = ApplyAtomic(operations);
    position = log_->Reserve();
  }
  StoreRecord record;
  for (size_t i = 0; i < operations.size(); ++i) {
    std::optional<StoreRecord> change =
        DurableRecordFor(operations[i], results[i], journal_);
    if (!change.has_value()) continue;
    for (BalanceWrite& write : change->balances) {
      record.balances.push_back(std::move(write));
    }
    for (auto& entry : change->entries) {
      record.entries.push_back(std::move(entry));
    }
  }
  std::optional<StoreRecord> logged;
  if (!record.balances.empty() || !record.entries.empty()) {
    logged = std::move(record);
  }
  log_->Complete(position, std::move(logged),
                 [done = std::move(done),
                  results = std::move(results)](absl::Status durable) mutable {
                   if (durable.ok()) {
                     std::move(done)(std::move(results));
                   } else {
                     std::move(done)(std::move(durable));
                   }
                 });
}

void MutexEngine::DurableOpen(const Operation& operation, OperationDone done) {
  absl::Status valid = ValidateOperation(operation);
  if (!valid.ok()) {
    std::move(done)(std::move(valid));
    return;
  }
  absl::Status inserted;
  uint64_t position = 0;
  {
    absl::ReaderMutexLock world(&world_mu_);
    // The position is reserved before the account becomes visible, so every
    // operation on it is logged after its open.
    absl::MutexLock lock(&open_mu_);
    position = log_->Reserve();
    inserted =
        accounts_.Insert(operation.account_id, NewAccount(operation.amount));
  }
  std::optional<StoreRecord> record = DurableRecordFor(
      operation,
      inserted.ok() ? absl::StatusOr<OperationResult>(
                          OperationResult{operation.amount, 0})
                    : absl::StatusOr<OperationResult>(inserted),
      journal_);
  log_->Complete(position, std::move(record),
                 [inserted = std::move(inserted), amount = operation.amount,
                  done = std::move(done)](absl::Status durable) mutable {
                   if (!durable.ok()) {
                     std::move(done)(std::move(durable));
                   } else if (!inserted.ok()) {
                     std::move(done)(std::move(inserted));
                   } else {
                     std::move(done)(OperationResult{amount, 0});
                   }
                 });
}

void MutexEngine::ReserveLogPosition() {
  if (log_ != nullptr) reserved_position = log_->Reserve();
}

void MutexEngine::StopTheWorld(absl::FunctionRef<void()> body) {
  absl::MutexLock world(&world_mu_);
  body();
}

void MutexEngine::RestoreBalance(const std::string& account_id,
                                 std::optional<int64_t> balance) {
  Account* account = accounts_.Find(account_id);
  if (!balance.has_value()) {
    // Opened by the failed group: no operation can hold it now.
    if (account != nullptr) accounts_.Erase(account_id);
    return;
  }
  BANK_CHECK(account != nullptr);
  absl::MutexLock lock(&account->mu);
  account->balance = *balance;
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
  ReserveLogPosition();
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
  ReserveLogPosition();
  latency_.Spend(operation);
  return OperationResult{account.balance, 0};
}

absl::StatusOr<OperationResult> MutexEngine::Transfer(
    const Operation& operation, Account& from, Account& to) {
  OrderedLockPair locks(operation.account_id, &from.mu, operation.to_account_id,
                        &to.mu);
  if (gate_.Closing()) return EngineShutDownError();
  ReserveLogPosition();
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
  if (store_ != nullptr) stats.storage = StorageStatsOf(store_->stats());
  return stats;
}

}  // namespace bank
