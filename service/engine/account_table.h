// AccountTable: the id -> account map of the engines that apply operations
// on their callers' threads (MutexEngine, UnsafeEngine), and the one way
// they turn an Operation into a call on its account(s).
//
// Accounts are never removed, so a pointer Find() answers stays valid for
// the table's lifetime and may be used after the table lock is released:
// what guards an account's balance is the engine's business (a per-account
// mutex, or nothing at all in the unsafe engine).
//
// Thread safety: every method may be called from any thread at once; the
// table's own reader/writer lock is held only inside Find() and Insert(),
// never while an engine handler runs.

#ifndef BANK_SERVICE_ENGINE_ACCOUNT_TABLE_H_
#define BANK_SERVICE_ENGINE_ACCOUNT_TABLE_H_

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "service/engine/batch.h"
#include "service/engine/check.h"
#include "service/engine/operation.h"

namespace bank {

template <typename Account>
class AccountTable {
 public:
  // Inserting more than `accounts_max` accounts answers kResourceExhausted.
  explicit AccountTable(size_t accounts_max) : accounts_max_(accounts_max) {}

  AccountTable(const AccountTable&) = delete;
  AccountTable& operator=(const AccountTable&) = delete;

  // Find answers the account named `account_id`, or nullptr.
  Account* Find(const std::string& account_id) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::ReaderMutexLock lock(&mu_);
    auto it = accounts_.find(account_id);
    return it == accounts_.end() ? nullptr : it->second.get();
  }

  // Insert adds `account` under `account_id`: kAlreadyExists if the id is
  // taken, kResourceExhausted at the account limit; nothing changes then.
  absl::Status Insert(const std::string& account_id,
                      std::unique_ptr<Account> account)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (accounts_.contains(account_id)) return AccountExistsError(account_id);
    if (accounts_.size() >= accounts_max_) {
      return AccountLimitError(account_id, accounts_max_);
    }
    accounts_.emplace(account_id, std::move(account));
    return absl::OkStatus();
  }

  // Size answers how many accounts exist now.
  size_t Size() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::ReaderMutexLock lock(&mu_);
    return accounts_.size();
  }

  // Erase removes `account_id` (nothing if absent). Only for a durable
  // MutexEngine's rollback, while no operation can hold an Account*.
  void Erase(const std::string& account_id) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    accounts_.erase(account_id);
  }

  // accounts_max answers the table's account limit.
  size_t accounts_max() const { return accounts_max_; }

  // The table's writer lock, held across a whole atomic batch that opens
  // accounts (MutexEngine), so that nobody can see or open those accounts
  // before the batch commits. Lock order: the table lock before any
  // account's lock, never the other way round (nobody holding an account's
  // lock ever takes the table's).
  void LockExclusive() ABSL_EXCLUSIVE_LOCK_FUNCTION(mu_) { mu_.Lock(); }
  void UnlockExclusive() ABSL_UNLOCK_FUNCTION(mu_) { mu_.Unlock(); }
  // FindLocked, SizeLocked and InsertLocked: Find, size and Insert under the
  // writer lock. InsertLocked's caller has checked the id is free and the
  // limit not reached (PlanAtomicBatch does).
  Account* FindLocked(const std::string& account_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    mu_.AssertHeld();
    auto it = accounts_.find(account_id);
    return it == accounts_.end() ? nullptr : it->second.get();
  }
  size_t SizeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    mu_.AssertHeld();
    return accounts_.size();
  }
  void InsertLocked(const std::string& account_id,
                    std::unique_ptr<Account> account)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    mu_.AssertHeld();
    BANK_CHECK(accounts_.size() < accounts_max_);
    BANK_CHECK(accounts_.emplace(account_id, std::move(account)).second);
  }

  // Apply validates `operation`, then opens its account or looks up the
  // account(s) it names (kNotFound if missing) and hands them to the
  // engine's handlers, whose answer it returns:
  //   std::unique_ptr<Account> handlers.NewAccount(int64_t balance)
  //   handlers.ChangeBalance(operation, Account&)      deposit, withdraw
  //   handlers.GetBalance(operation, Account&)
  //   handlers.Transfer(operation, Account& from, Account& to)
  // (the last three answer absl::StatusOr<OperationResult>).
  template <typename Handlers>
  absl::StatusOr<OperationResult> Apply(const Operation& operation,
                                        Handlers& handlers) {
    absl::Status valid = ValidateOperation(operation);
    if (!valid.ok()) return valid;
    if (operation.kind == OperationKind::kOpen) {
      absl::Status inserted =
          Insert(operation.account_id, handlers.NewAccount(operation.amount));
      if (!inserted.ok()) return inserted;
      return OperationResult{operation.amount, 0};
    }
    Account* account = Find(operation.account_id);
    if (account == nullptr) return AccountNotFoundError(operation.account_id);
    switch (operation.kind) {
      case OperationKind::kDeposit:
      case OperationKind::kWithdraw:
        return handlers.ChangeBalance(operation, *account);
      case OperationKind::kGetBalance:
        return handlers.GetBalance(operation, *account);
      case OperationKind::kTransfer: {
        Account* to = Find(operation.to_account_id);
        if (to == nullptr) return AccountNotFoundError(operation.to_account_id);
        return handlers.Transfer(operation, *account, *to);
      }
      case OperationKind::kOpen:
        break;
    }
    BANK_CHECK(false && "unhandled OperationKind");
    return absl::InternalError("unhandled operation kind");
  }

  // ApplyEach applies `operations` one after another, each alone as Apply
  // does: a non-atomic batch on an engine that runs on its caller's thread.
  template <typename Handlers>
  BatchResults ApplyEach(const std::vector<Operation>& operations,
                         Handlers& handlers) {
    BatchResults results;
    results.reserve(operations.size());
    for (const Operation& operation : operations) {
      results.push_back(Apply(operation, handlers));
    }
    return results;
  }

 private:
  // Constant after construction.
  const size_t accounts_max_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Account>> accounts_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_ACCOUNT_TABLE_H_
