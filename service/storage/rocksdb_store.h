// RocksDbStore: AccountStore on RocksDB (Debian's librocksdb 7.8).
//
// Why RocksDB: its write-ahead log is checksummed (CRC32C per record), a
// write with WriteOptions::sync returns only after fdatasync, one WriteBatch
// is applied atomically, memtable flushes and compaction keep the log short
// (recovery replays at most one memtable's worth of log, write_buffer_bytes),
// its LOCK file keeps a second writer out, and Checkpoint makes backups.
//
// On-disk layout (one RocksDB database in the data directory; the keys and
// their decoding are in store_layout.h):
//   "a" + account_id  -> balance, 8 bytes little-endian two's complement
//   "e" + entry key   -> opaque entry value (StoreRecord::entries)
//   "m:records"       -> records ever committed, 8 bytes little-endian
// plus RocksDB's own files: NNNNNN.log (the write-ahead log), NNNNNN.sst
// (tables), MANIFEST-NNNNNN, CURRENT, LOCK, OPTIONS-NNNNNN, LOG (its text log).
//
// Recovery: before RocksDB opens the directory, every write-ahead log file
// is checked (wal_check.h). A torn tail, an interrupted last write in the
// newest log, is cut off (the cut bytes are kept as NNNNNN.log.torn-OFFSET)
// with a line on the log callback; a bad record anywhere else refuses to
// start with the file and offset. RocksDB then opens with
// WALRecoveryMode::kAbsoluteConsistency: after our cut there is nothing left
// to tolerate, so any other damage it finds refuses to start too. Serving a
// state that silently misses acknowledged operations is never an option.
//
// Thread safety: as AccountStore; Close() must not race with other calls.

#ifndef BANK_SERVICE_STORAGE_ROCKSDB_STORE_H_
#define BANK_SERVICE_STORAGE_ROCKSDB_STORE_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/storage/account_store.h"

namespace rocksdb {
class DB;
class Iterator;
class Status;
class Env;
}  // namespace rocksdb

namespace bank {

struct RocksDbStoreOptions {
  std::string dir;  // Created if missing.
  // The memtable size: bounds how much log a restart replays.
  size_t write_buffer_bytes = size_t{32} << 20;
  // Tests pass a fault-injecting Env (power loss); null is the default Env.
  rocksdb::Env* env = nullptr;
  // Receives one line per notable recovery event (a torn tail cut off).
  // Null: stderr.
  std::function<void(const std::string&)> log_line;
};

class RocksDbStore final : public AccountStore {
 public:
  // Open opens (or creates) options.dir and fills `recovered`. Errors:
  //   kFailedPrecondition  another process holds the directory's LOCK;
  //   kDataLoss            damage before the tail (message names file and
  //                        offset), a balance that is not a valid int64,
  //                        or a record count that is not 8 bytes;
  //   kUnavailable/kInternal  other I/O errors, with RocksDB's message.
  static absl::StatusOr<std::unique_ptr<RocksDbStore>> Open(
      const RocksDbStoreOptions& options, RecoveredState* recovered);

  ~RocksDbStore() override;
  RocksDbStore(const RocksDbStore&) = delete;
  RocksDbStore& operator=(const RocksDbStore&) = delete;

  absl::Status Commit(absl::Span<const StoreRecord> records) override
      ABSL_LOCKS_EXCLUDED(mu_, stats_mu_);
  absl::StatusOr<std::optional<int64_t>> ReadDurable(
      const std::string& account_id) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Checkpoint(const std::string& target_dir) override
      ABSL_LOCKS_EXCLUDED(mu_);
  StoreStats stats() const override ABSL_LOCKS_EXCLUDED(stats_mu_);

  // Close flushes the memtable (so the next open replays no log), syncs and
  // releases the directory. Idempotent; the destructor calls it.
  absl::Status Close() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // After a failed write, reopen attempts are at most this frequent.
  static constexpr absl::Duration kReopenInterval = absl::Milliseconds(500);

  RocksDbStore(const RocksDbStoreOptions& options,
               std::unique_ptr<rocksdb::DB> db,
               const RecoveredState& recovered);

  // RememberFailedGroup records the durable value of every key the failed
  // group wrote (the first failure's value wins: nothing succeeded since).
  void RememberFailedGroup(absl::Span<const StoreRecord> records)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ReopenAfterFailure closes and reopens RocksDB (a full recovery).
  absl::Status ReopenAfterFailure() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ReadLocked reads `key`'s committed value into `*value` (nullopt:
  // absent) through read_iterator_, made at the first read after a write.
  rocksdb::Status ReadLocked(const std::string& key,
                             std::optional<std::string>* value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ResetReads drops read_iterator_ (before any write, close or reopen).
  void ResetReads() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RocksDbStoreOptions options_;
  mutable absl::Mutex mu_;
  std::unique_ptr<rocksdb::DB> db_ ABSL_GUARDED_BY(mu_);  // Null: closed.
  // Reads go through one iterator, kept until the next write: the memtable
  // is an unsorted vector (fast appends: the engines never read while
  // serving), and each new iterator or point read sorts a copy of it, so
  // the failure path's many reads share one sort. Declared after db_, so
  // destroyed before it.
  std::unique_ptr<rocksdb::Iterator> read_iterator_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t records_committed_ ABSL_GUARDED_BY(mu_);
  // Every key written by failed commits since the last successful one, with
  // its durable value (nullopt: absent). The next commit writes them back
  // first, so a failed record that reached the disk anyway is superseded.
  absl::flat_hash_map<std::string, std::optional<std::string>> repair_values_
      ABSL_GUARDED_BY(mu_);
  bool unrepairable_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time reopen_not_before_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();

  mutable absl::Mutex stats_mu_;
  StoreStats stats_ ABSL_GUARDED_BY(stats_mu_);
};

}  // namespace bank

#endif  // BANK_SERVICE_STORAGE_ROCKSDB_STORE_H_
