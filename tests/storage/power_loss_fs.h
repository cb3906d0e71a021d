// PowerLossFileSystem: a RocksDB FileSystem that can lose power.
//
// It forwards everything to the real file system and records, per file
// written through it, how many bytes were appended and how many of them a
// Sync/Fsync covered. Crash() freezes it: every later write or sync fails,
// as if the machine stopped. DropUnsyncedData() then does what a power cut
// does to the page cache: each file is cut back to its synced length, and a
// file that was never synced disappears (its creation was never made
// durable). Renames are tracked (the synced length follows the file) but a
// rename is assumed durable once made: RocksDB syncs the directory right
// after its only rename (CURRENT), so this is the one fault not simulated.
//
// Thread safety: RocksDB calls it from its own threads; all state is behind
// mu_.

#ifndef BANK_TESTS_STORAGE_POWER_LOSS_FS_H_
#define BANK_TESTS_STORAGE_POWER_LOSS_FS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/file_system.h"

namespace bank::testing {

class PowerLossFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  PowerLossFileSystem();

  const char* Name() const override { return "PowerLossFileSystem"; }

  rocksdb::IOStatus NewWritableFile(
      const std::string& path, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus ReopenWritableFile(
      const std::string& path, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus RenameFile(const std::string& source,
                               const std::string& target,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* debug) override;
  rocksdb::IOStatus DeleteFile(const std::string& path,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* debug) override;

  // Crash: from now on every write and sync fails.
  void Crash() ABSL_LOCKS_EXCLUDED(mu_);
  // CrashAfterAppends: Crash() right after the count-th successful append
  // from now on (that append's bytes reach the file, unsynced).
  void CrashAfterAppends(uint64_t count) ABSL_LOCKS_EXCLUDED(mu_);
  // DropUnsyncedData: what a power cut leaves. Each tracked file keeps its
  // synced bytes plus a random part (seeded) of its unsynced bytes (pages
  // may or may not have been written back), so tails come out torn; a file
  // never synced keeps nothing and disappears. Call after the DB using this
  // file system is gone. Answers how many bytes were dropped.
  uint64_t DropUnsyncedData(uint32_t seed) ABSL_LOCKS_EXCLUDED(mu_);

  // For the file wrappers.
  bool crashed() const ABSL_LOCKS_EXCLUDED(mu_);
  void Appended(const std::string& path, uint64_t bytes)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Synced(const std::string& path) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct FileState {
    uint64_t written_bytes = 0;
    uint64_t synced_bytes = 0;
    bool ever_synced = false;
  };

  mutable absl::Mutex mu_;
  bool crashed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t appends_until_crash_ ABSL_GUARDED_BY(mu_) = 0;  // 0: never.
  std::map<std::string, FileState> files_ ABSL_GUARDED_BY(mu_);
};

}  // namespace bank::testing

#endif  // BANK_TESTS_STORAGE_POWER_LOSS_FS_H_
