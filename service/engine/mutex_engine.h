// MutexEngine: "guard shared memory with a lock".
//
// Every account's balance sits behind that account's own absl::Mutex, and the
// account table behind one more (readers share it: looking an account up is
// far more common than opening one). Operations run on the caller's thread
// and call their completion there, after every lock is released, before
// Execute() returns.
//
// Lock order (so that no two operations can deadlock):
//   1. the table's lock (AccountTable) is never held while an account's
//      mutex is taken;
//   2. a transfer takes both account mutexes in ascending account-id order,
//      whichever direction the money goes;
//   3. an atomic batch takes the mutex of every account it names, in
//      ascending account-id order (the same global order, so batches and
//      transfers never deadlock each other), checks every operation against
//      scratch balances (PlanAtomicBatch), writes back, and only then
//      releases them. A batch that opens accounts first takes the table's
//      writer lock (the one exception to rule 1: table lock, then account
//      locks, never the reverse) and inserts them just before releasing it.
// A non-atomic batch applies its operations one by one, each exactly like
// Execute() would, on the caller's thread.
// The configured latency is spent while the account lock(s) are held: that
// is what serialisation costs.
//
// Accounts are never removed (except by a durable rollback, below), so an
// Account* stays valid once the table lock is released.
//
// Durable (EngineOptions::store set): group commit with early lock release
// through a CommitLog (commit_log.h). Under its account lock(s) an
// operation applies its change in memory and reserves the next log position;
// it releases the locks and hands the log its record and completion; the
// committer thread makes each run of positions durable with one sync and
// only then runs their completions (on the committer thread). No account
// lock is ever held across a sync, so a hot account keeps applying while the
// disk works. Reads and refused operations take a position too: what they
// report may depend on a change whose sync has not returned. An operation
// refused before any account lock (invalid, kNotFound) answers at once.
// An open reserves its position (under open_mu_) before it inserts the
// account, so every operation on the account is logged after it. A
// non-atomic batch is its operations, each logged as above; an atomic batch
// runs alone (world_mu_ held exclusively) and is one log position. A failed
// commit answers kUnavailable to its group and to everything logged after
// it, after putting every account they touched back to its durable balance
// (removing the accounts they opened), with every operation held off by
// world_mu_ meanwhile: this is the one case where an account is removed.
// Lock order: world_mu_ (shared per durable operation) before open_mu_
// before the table's lock before account locks before the log's lock.
//
// Thread safety: all public methods may be called from any thread at once.

#ifndef BANK_SERVICE_ENGINE_MUTEX_ENGINE_H_
#define BANK_SERVICE_ENGINE_MUTEX_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/engine/account_engine.h"
#include "service/engine/account_table.h"
#include "service/engine/commit_log.h"
#include "service/engine/engine_factory.h"
#include "service/engine/request_id_journal.h"
#include "service/engine/latency_injector.h"
#include "service/engine/operation_gate.h"

namespace bank {

class MutexEngine final : public AccountEngine, public CommitLogOwner {
 public:
  // Durable mode: the most operations waiting for the disk; one more
  // answers kResourceExhausted at once.
  static constexpr size_t kLogEntriesMax = 65'536;

  // Uses options.accounts_max and options.latency; `hook` is for tests (see
  // latency_injector.h) and runs under the account lock(s).
  explicit MutexEngine(const EngineOptions& options,
                       OperationHook hook = nullptr);
  ~MutexEngine() override;

  MutexEngine(const MutexEngine&) = delete;
  MutexEngine& operator=(const MutexEngine&) = delete;

  void Execute(Operation operation, OperationDone done) override;
  void ExecuteBatch(std::vector<Operation> operations, bool atomic,
                    BatchDone done) override;
  void Shutdown() override;
  const char* Name() const override { return "mutex"; }
  EngineStats Stats() const override;

 private:
  struct Account {
    absl::Mutex mu;
    int64_t balance ABSL_GUARDED_BY(mu) = 0;
  };

  // The handlers AccountTable::Apply calls.
  friend class AccountTable<Account>;
  std::unique_ptr<Account> NewAccount(int64_t balance);
  absl::StatusOr<OperationResult> ChangeBalance(const Operation& operation,
                                                Account& account)
      ABSL_LOCKS_EXCLUDED(account.mu);
  absl::StatusOr<OperationResult> GetBalance(const Operation& operation,
                                             Account& account)
      ABSL_LOCKS_EXCLUDED(account.mu);
  absl::StatusOr<OperationResult> Transfer(const Operation& operation,
                                           Account& from, Account& to)
      ABSL_LOCKS_EXCLUDED(from.mu, to.mu);

  // Atomic batches (rule 3 above).
  BatchResults ApplyAtomic(const std::vector<Operation>& operations);
  AtomicBatchOutcome PlanUnderAccountLocks(
      const std::vector<Operation>& operations,
      const std::vector<std::string>& ids,
      const std::vector<Account*>& accounts, size_t accounts_count);
  static int64_t HeldBalance(const Account& account);

  // Durable mode only.
  void ExecuteDurable(Operation operation, OperationDone done)
      ABSL_LOCKS_EXCLUDED(world_mu_);
  void ExecuteBatchDurable(std::vector<Operation> operations, bool atomic,
                           BatchDone done) ABSL_LOCKS_EXCLUDED(world_mu_);
  void DurableOpen(const Operation& operation, OperationDone done)
      ABSL_LOCKS_EXCLUDED(open_mu_);
  // ReserveLogPosition: under the account lock(s), in durable mode.
  void ReserveLogPosition();
  void StopTheWorld(absl::FunctionRef<void()> body) override
      ABSL_LOCKS_EXCLUDED(world_mu_);
  void RestoreBalance(const std::string& account_id,
                      std::optional<int64_t> balance) override;

  // Constant after construction.
  const LatencyInjector latency_;
  AccountStore* const store_;  // Null: in memory only.
  // Request-id outcomes journaled with the changes; null: not journaled.
  RequestIdJournal* const journal_;

  OperationGate gate_;
  AccountTable<Account> accounts_;
  // Held shared by every durable operation, exclusively by an atomic batch
  // and by a rollback.
  absl::Mutex world_mu_;
  // Serialises durable opens' reserve-then-insert.
  absl::Mutex open_mu_;
  // Declared last: its committer thread uses the members above.
  std::unique_ptr<CommitLog> log_;
};

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_MUTEX_ENGINE_H_
