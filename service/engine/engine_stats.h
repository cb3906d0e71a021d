// EngineStats: what an engine (and, through it, its durable storage) tells
// the outside about itself, as plain numbers.
//
// The pull model: engines never call into a metrics library (bank_engine
// depends on Abseil only). Instead AccountEngine::Stats() answers a snapshot
// of this struct, and the server's metrics layer (service/server/metrics.h)
// calls it when Prometheus scrapes /metrics, then renders each field as the
// metric named beside it. So an engine pays nothing per operation beyond
// keeping its own counters, and only at scrape time (every few seconds) does
// anyone read them.
//
// Every field is optional (std::nullopt = "this engine has no such thing")
// so that a metric is exported only by engines that have it. Counters
// (`_total`) must only ever grow for the life of the engine; gauges may move
// either way.
//
// Adding durable storage (service/storage): fill `storage` in the engine's
// Stats() from counters the storage layer keeps (atomics or under its own
// lock; Stats() may be called from any thread at any time, concurrently with
// operations, and must not block for long). Nothing in the server needs to
// change: the metrics layer already renders every StorageStats field.

#ifndef BANK_SERVICE_ENGINE_ENGINE_STATS_H_
#define BANK_SERVICE_ENGINE_ENGINE_STATS_H_

#include <cstdint>
#include <optional>
#include <vector>

namespace bank {

// HistogramSnapshot: a histogram as plain numbers. `upper_bounds` are the
// finite bucket bounds, strictly ascending; `bucket_counts` has one more
// entry than `upper_bounds`: bucket_counts[i] counts observations v with
// upper_bounds[i-1] < v <= upper_bounds[i] (NOT cumulative), and the last
// entry counts those above the last bound (Prometheus's +Inf bucket adds
// them up). `sum` is the sum of every observed value, in the metric's unit.
struct HistogramSnapshot {
  std::vector<double> upper_bounds;
  std::vector<uint64_t> bucket_counts;
  double sum = 0;

  // Count answers the number of observations (the sum of bucket_counts).
  uint64_t Count() const {
    uint64_t count = 0;
    for (uint64_t bucket : bucket_counts) count += bucket;
    return count;
  }
};

// QueueStats: the queue engine's queue, between batches.
struct QueueStats {
  // bank_engine_queue_depth: messages waiting (an operation or a batch).
  uint64_t depth = 0;
  uint64_t depth_max = 0;  // bank_engine_queue_depth_max: the ring's size.
  // bank_engine_queue_batch_size: operations per pass of the consumer.
  HistogramSnapshot batch_sizes;
};

// StorageStats: durable storage, for engines that have it.
struct StorageStats {
  uint64_t syncs_total = 0;  // bank_storage_syncs_total: fsync/fdatasync.
  // bank_storage_sync_duration_seconds: how long each sync took, seconds.
  HistogramSnapshot sync_duration_seconds;
  uint64_t bytes_written_total = 0;  // bank_storage_written_bytes_total.
  // bank_storage_recovery_duration_seconds: how long recovery took at start
  // (a gauge, set once).
  double recovery_duration_seconds = 0;
};

struct EngineStats {
  // bank_accounts_open: accounts that exist now.
  std::optional<uint64_t> accounts_open;
  std::optional<QueueStats> queue;
  std::optional<StorageStats> storage;
};

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_ENGINE_STATS_H_
