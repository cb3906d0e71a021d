// CommitLog: group commit with early lock release, for an engine whose
// operations run on many threads under per-account locks (MutexEngine).
//
// The pattern (leveldb's writer queue, the "early lock release" of database
// logging): an operation applies its change in memory under its account
// lock(s) and, STILL UNDER THEM, reserves the next log position; then it
// releases the locks and hands the log its record (the changed balances, or
// nothing for a read or a refused operation) and its completion. Positions
// taken under an account's lock are in that account's apply order, so the
// log order is a valid serial order. One committer thread takes the longest
// run of consecutive positions whose records have arrived, makes the records
// durable with ONE AccountStore::Commit(), and only then runs the run's
// completions, in order. An operation that waits for the sync holds no lock,
// so a hot account keeps serving while the disk works; every operation that
// arrives during a sync joins the next group.
//
// Why even reads and refusals wait: a balance read (or an "insufficient
// funds") may reflect a change whose sync has not returned yet; answering
// before it would report a state that a crash could erase.
//
// A failed commit: the records of the group, and of every position after
// it, may depend on the lost changes. The committer asks the owner to stop
// the world (no operation between Reserve() and Complete()), waits until
// every reserved position has been completed, restores every account those
// records touched to its durable balance (AccountStore::ReadDurable), and
// completes all of those operations with kUnavailable: none is acknowledged
// and none of their changes stays in memory. Later operations try the disk
// again, so the engine serves again as soon as the store can write.
//
// Limits: at most entries_max positions may be reserved and not yet
// committed; Admit() says whether one more operation may start.
//
// Thread safety: Reserve/Complete/Admit from any thread; the owner's
// callbacks run on the committer thread.

#ifndef BANK_SERVICE_ENGINE_COMMIT_LOG_H_
#define BANK_SERVICE_ENGINE_COMMIT_LOG_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "service/engine/operation.h"
#include "service/storage/account_store.h"

namespace bank {

// RecordFor answers the durable record of a successful operation: the new
// balance of each account it changed (from `result`), or nullopt for a read.
std::optional<StoreRecord> RecordFor(const Operation& operation,
                                     const OperationResult& result);

// CommitLogOwner: what the committer needs from the engine after a failed
// commit.
class CommitLogOwner {
 public:
  virtual ~CommitLogOwner() = default;
  // StopTheWorld runs `body` while no operation is between Reserve() and
  // Complete() and none can start (e.g. under the engine's writer lock).
  virtual void StopTheWorld(absl::FunctionRef<void()> body) = 0;
  // RestoreBalance sets `account_id` to `balance`, its durable value, or
  // removes the account if it has none (opened by a failed group); runs
  // inside StopTheWorld.
  virtual void RestoreBalance(const std::string& account_id,
                              std::optional<int64_t> balance) = 0;
};

class CommitLog {
 public:
  // A completion: called with OK once its record is durable, or with the
  // commit's kUnavailable error.
  using Completion = absl::AnyInvocable<void(absl::Status) &&>;

  CommitLog(AccountStore& store, CommitLogOwner& owner, size_t entries_max);
  ~CommitLog();  // Shutdown().

  CommitLog(const CommitLog&) = delete;
  CommitLog& operator=(const CommitLog&) = delete;

  // Admit answers false when entries_max positions are already waiting.
  bool Admit() const ABSL_LOCKS_EXCLUDED(mu_);
  // Reserve answers the next log position; call it under the lock(s) of the
  // account(s) the operation read or changed.
  uint64_t Reserve() ABSL_LOCKS_EXCLUDED(mu_);
  // Complete hands over position `position`'s record (nullopt: nothing to
  // write) and completion. Call it exactly once per reserved position,
  // after releasing the account locks.
  void Complete(uint64_t position, std::optional<StoreRecord> record,
                Completion done) ABSL_LOCKS_EXCLUDED(mu_);
  // Shutdown commits and completes everything reserved, then stops the
  // committer. The owner must have stopped new reservations.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    bool completed = false;
    std::optional<StoreRecord> record;
    Completion done;
  };

  void Run();
  // TakeGroup waits for the next run of completed positions.
  bool TakeGroup(std::vector<Entry>& group) ABSL_LOCKS_EXCLUDED(mu_);
  void CommitGroup(std::vector<Entry>& group);
  void FailGroup(std::vector<Entry>& group, const absl::Status& error);

  bool HasGroupOrStopping() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return (!entries_.empty() && entries_.front().completed) || stopping_;
  }
  bool AllCompleted() const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  AccountStore& store_;
  CommitLogOwner& owner_;
  const size_t entries_max_;

  mutable absl::Mutex mu_;
  uint64_t first_position_ ABSL_GUARDED_BY(mu_) = 0;  // entries_.front()'s.
  std::deque<Entry> entries_ ABSL_GUARDED_BY(mu_);    // Reserved, uncommitted.
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex shutdown_mu_;
  std::thread committer_ ABSL_GUARDED_BY(shutdown_mu_);
};

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_COMMIT_LOG_H_
