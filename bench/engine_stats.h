// ReadEngineStats: an engine's batching counters, where it keeps any.
//
// Only the queue engine batches (its consumer drains whatever is pending as
// one batch); the benchmark reports its mean batch size over a run as the
// difference of two snapshots. Other engines answer available = false.

#ifndef BANK_BENCH_ENGINE_STATS_H_
#define BANK_BENCH_ENGINE_STATS_H_

#include <cstdint>

#include "service/engine/account_engine.h"
#include "service/engine/queue_engine.h"

namespace bank {

struct EngineStatsSnapshot {
  bool available = false;
  int64_t batches = 0;     // Batches the consumer took so far.
  int64_t operations = 0;  // Operations in those batches.
};

inline EngineStatsSnapshot ReadEngineStats(const AccountEngine& engine) {
  EngineStatsSnapshot snapshot;
  const auto* queue = dynamic_cast<const QueueEngine*>(&engine);
  if (queue == nullptr) return snapshot;
  const QueueEngineStats stats = queue->stats();
  snapshot.available = true;
  snapshot.batches = static_cast<int64_t>(stats.batches);
  snapshot.operations = static_cast<int64_t>(stats.operations);
  return snapshot;
}

}  // namespace bank

#endif  // BANK_BENCH_ENGINE_STATS_H_
