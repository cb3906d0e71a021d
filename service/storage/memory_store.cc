#include "service/storage/memory_store.h"

#include <utility>

namespace bank {

absl::Status MemoryStore::Commit(absl::Span<const StoreRecord> records) {
  if (records.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (failing_) {
    ++stats_.commits_failed;
    return absl::UnavailableError(
        "the change could not be made durable (test store is failing); it "
        "was not applied, retry later");
  }
  for (const StoreRecord& record : records) {
    for (const BalanceWrite& write : record.balances) {
      durable_.balances[write.account_id] = write.balance;
    }
    for (const auto& [key, value] : record.entries) {
      // A key holds one value, as in a real store: a later write replaces.
      auto [it, inserted] =
          entry_index_.try_emplace(key, durable_.entries.size());
      if (inserted) {
        durable_.entries.emplace_back(key, value);
      } else {
        durable_.entries[it->second].second = value;
      }
    }
  }
  durable_.records_committed += records.size();
  ++stats_.commits;
  stats_.records += records.size();
  stats_.RecordSync(absl::ZeroDuration());  // Memory: nothing to wait for.
  return absl::OkStatus();
}

absl::StatusOr<std::optional<int64_t>> MemoryStore::ReadDurable(
    const std::string& account_id) {
  absl::MutexLock lock(&mu_);
  auto it = durable_.balances.find(account_id);
  if (it == durable_.balances.end()) return std::optional<int64_t>();
  return std::optional<int64_t>(it->second);
}

absl::Status MemoryStore::Checkpoint(const std::string&) {
  return absl::UnimplementedError("MemoryStore has no checkpoints");
}

StoreStats MemoryStore::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void MemoryStore::SetFailing(bool failing) {
  absl::MutexLock lock(&mu_);
  failing_ = failing;
}

RecoveredState MemoryStore::Durable() const {
  absl::MutexLock lock(&mu_);
  return durable_;
}

}  // namespace bank
