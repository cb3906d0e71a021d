// MemoryStore: an AccountStore in memory, for engine tests (it builds
// without RocksDB, so the durable engines also run under ThreadSanitizer).
// It keeps the contract's failure semantics: while failing, every Commit()
// answers kUnavailable and changes nothing.
//
// Thread safety: every method may be called from any thread.

#ifndef BANK_SERVICE_STORAGE_MEMORY_STORE_H_
#define BANK_SERVICE_STORAGE_MEMORY_STORE_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "service/storage/account_store.h"

namespace bank {

class MemoryStore final : public AccountStore {
 public:
  absl::Status Commit(absl::Span<const StoreRecord> records) override
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::optional<int64_t>> ReadDurable(
      const std::string& account_id) override ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status Checkpoint(const std::string& target_dir) override;
  StoreStats stats() const override ABSL_LOCKS_EXCLUDED(mu_);

  // SetFailing makes every later Commit() fail (true) or succeed (false),
  // like a disk that fills up and is then freed.
  void SetFailing(bool failing) ABSL_LOCKS_EXCLUDED(mu_);

  // Durable answers the committed balances and entries, as a restart would
  // recover them.
  RecoveredState Durable() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  bool failing_ ABSL_GUARDED_BY(mu_) = false;
  RecoveredState durable_ ABSL_GUARDED_BY(mu_);
  // Where each entry key sits in durable_.entries.
  absl::flat_hash_map<std::string, size_t> entry_index_ ABSL_GUARDED_BY(mu_);
  StoreStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace bank

#endif  // BANK_SERVICE_STORAGE_MEMORY_STORE_H_
