// StorageStatsOf: the durable store's counters (service/storage) as the
// engine-neutral EngineStats::storage the metrics layer reads, so that the
// durable mutex and queue engines report them the same way.

#ifndef BANK_SERVICE_ENGINE_STORAGE_STATS_H_
#define BANK_SERVICE_ENGINE_STORAGE_STATS_H_

#include "absl/time/time.h"
#include "service/engine/engine_stats.h"
#include "service/storage/account_store.h"

namespace bank {

inline StorageStats StorageStatsOf(const StoreStats& store) {
  StorageStats storage;
  storage.syncs_total = store.commits;
  storage.bytes_written_total = store.bytes_written;
  storage.recovery_duration_seconds =
      absl::ToDoubleSeconds(store.recovery_time);
  HistogramSnapshot& syncs = storage.sync_duration_seconds;
  for (size_t i = 0; i < kSyncDurationBucketCount; ++i) {
    syncs.upper_bounds.push_back(kSyncDurationBoundsSeconds[i]);
    syncs.bucket_counts.push_back(store.sync_duration_buckets[i]);
  }
  // The last bucket (+Inf) holds the syncs slower than every bound, so
  // that Count() equals the number of syncs.
  const uint64_t bucketed = syncs.Count();
  syncs.bucket_counts.push_back(store.commits - bucketed);
  syncs.sum = absl::ToDoubleSeconds(store.sync_time_total);
  return storage;
}

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_STORAGE_STATS_H_
