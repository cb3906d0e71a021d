// AccountStore: the durable home of account balances.
//
// The guarantee, in one sentence: Commit() returns OK only after every record
// it was given is on stable storage, atomically with the records before it,
// so that a restart recovers all of them or, if the process died inside
// Commit(), a prefix of the commits that includes every one that returned OK.
//
// What a record holds. A record is the effect of ONE operation: the new
// absolute balance of each account it changed (one, or two for a transfer),
// plus optional opaque key/value entries that must become durable in the same
// atomic write (issue 9 stores the remembered outcome of a request id this
// way, so that "the balance changed" and "this request id was answered" can
// never be separated by a crash). Absolute balances, not deltas, make replay
// idempotent and let a later record supersede an earlier one wholesale.
//
// Group commit. Commit() takes a whole group of records and makes them
// durable with ONE sync, in order: a later record's balances win over an
// earlier one's. The engines decide what forms a group (the queue engine's
// drained batch; the mutex engine's log queue); the store never reorders.
//
// Failure. A Commit() that fails (a full disk, an I/O error) returns
// kUnavailable and none of its records count as committed: the caller must
// answer no operation of the group with success, and must drop the group's
// changes from any state it serves, e.g. by reading the durable balances back
// with ReadDurable(). A record of a failed group may still have reached the
// disk; the store makes sure it can never resurface: the next successful
// Commit() first rewrites every key of the failed group with its durable
// value. The store retries its own recovery on later Commit() calls (the
// RocksDB store reopens its directory, at most every 500 ms), so writes
// resume by themselves once space returns.
//
// Thread safety: Commit(), ReadDurable() and Checkpoint() are serialised
// internally, but callers keep the order of their groups only if ONE thread
// commits (both engines commit from a single committer); stats() may be
// called from any thread.

#ifndef BANK_SERVICE_STORAGE_ACCOUNT_STORE_H_
#define BANK_SERVICE_STORAGE_ACCOUNT_STORE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace bank {

// BalanceWrite: an account's balance right after the operation.
struct BalanceWrite {
  std::string account_id;
  int64_t balance = 0;
};

// StoreRecord: the durable effect of one operation.
struct StoreRecord {
  absl::InlinedVector<BalanceWrite, 2> balances;
  // Opaque entries written in the same atomic write as `balances`; keys are
  // the caller's own namespace (they never collide with account ids).
  std::vector<std::pair<std::string, std::string>> entries;
};

// RecoveredState: what Open found on disk.
struct RecoveredState {
  absl::flat_hash_map<std::string, int64_t> balances;
  std::vector<std::pair<std::string, std::string>> entries;
  uint64_t records_committed = 0;  // Records ever committed (the last seq).
  uint64_t storage_sequence = 0;   // The storage library's own sequence.
  uint64_t torn_tail_bytes = 0;    // Dropped from an interrupted last write.
  absl::Duration recovery_time;    // From open to state in memory.
};

// kSyncDurationBoundsSeconds: upper bounds of StoreStats' sync-time
// histogram (a sync here takes about 0.6 ms; a slow disk, tens of ms).
inline constexpr double kSyncDurationBoundsSeconds[] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01,   0.025,   0.05,   0.1,   0.25,   1.0};
inline constexpr size_t kSyncDurationBucketCount =
    sizeof(kSyncDurationBoundsSeconds) / sizeof(double);

// StoreStats: counters since open, for benchmarks and metrics.
struct StoreStats {
  uint64_t commits = 0;            // Successful syncs (one per group).
  uint64_t records = 0;            // Records in those commits.
  uint64_t commits_failed = 0;     // Groups answered kUnavailable.
  uint64_t bytes_written = 0;      // Payload bytes handed to the log.
  absl::Duration sync_time_total;  // Time inside the synced write.
  absl::Duration sync_time_max;
  absl::Duration recovery_time;
  // Successful syncs by duration: [i] counts syncs of at most
  // kSyncDurationBoundsSeconds[i] (and over the one before); slower ones
  // are counted in `commits` only.
  std::array<uint64_t, kSyncDurationBucketCount> sync_duration_buckets{};

  // RecordSync adds one successful sync of `took` to the histogram.
  void RecordSync(absl::Duration took) {
    const double seconds = absl::ToDoubleSeconds(took);
    for (size_t i = 0; i < kSyncDurationBucketCount; ++i) {
      if (seconds <= kSyncDurationBoundsSeconds[i]) {
        ++sync_duration_buckets[i];
        return;
      }
    }
  }

  double records_per_commit() const {
    return commits == 0 ? 0.0 : static_cast<double>(records) / commits;
  }
};

class AccountStore {
 public:
  virtual ~AccountStore() = default;

  // Commit makes `records` durable, in order, with one sync: OK only once
  // they are on stable storage; kUnavailable (naming the cause) otherwise,
  // and then none of them is committed (see "Failure" above).
  virtual absl::Status Commit(absl::Span<const StoreRecord> records) = 0;

  // ReadDurable answers the last committed balance of `account_id`, or
  // nullopt if no committed record has opened it.
  virtual absl::StatusOr<std::optional<int64_t>> ReadDurable(
      const std::string& account_id) = 0;

  // Checkpoint writes a consistent, openable copy of the store to
  // `target_dir` (which must not exist): a backup.
  virtual absl::Status Checkpoint(const std::string& target_dir) = 0;

  virtual StoreStats stats() const = 0;
};

}  // namespace bank

#endif  // BANK_SERVICE_STORAGE_ACCOUNT_STORE_H_
