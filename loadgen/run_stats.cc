#include "loadgen/run_stats.h"

namespace bank::loadgen {
namespace {

// ThreadShard: a number fixed per thread, handed out round-robin.
size_t ThreadShard() {
  static std::atomic<size_t> next_thread{0};
  thread_local const size_t shard =
      next_thread.fetch_add(1, std::memory_order_relaxed) %
      RunStats::kShardCount;
  return shard;
}

}  // namespace

RunStats::RunStats() : shards_(new Shard[kShardCount]) {}

void RunStats::Record(RpcKind kind, int code, int64_t latency_ns) {
  KindStats& stats = shards_[ThreadShard()].kinds[static_cast<size_t>(kind)];
  stats.latency.Record(latency_ns);
  const size_t index =
      code >= 0 && static_cast<size_t>(code) < kStatusCodeCount
          ? static_cast<size_t>(code)
          : static_cast<size_t>(2);  // UNKNOWN, for a code gRPC never sends.
  stats.status_counts[index].fetch_add(1, std::memory_order_relaxed);
}

void RunStats::MergeLatency(RpcKind kind, LatencyHistogram& out) const {
  for (size_t s = 0; s < kShardCount; ++s) {
    out.MergeFrom(shards_[s].kinds[static_cast<size_t>(kind)].latency);
  }
}

StatusCounts RunStats::MergedStatusCounts(RpcKind kind) const {
  StatusCounts counts{};
  for (size_t s = 0; s < kShardCount; ++s) {
    const KindStats& stats = shards_[s].kinds[static_cast<size_t>(kind)];
    for (size_t c = 0; c < kStatusCodeCount; ++c) {
      counts[c] += stats.status_counts[c].load(std::memory_order_relaxed);
    }
  }
  return counts;
}

}  // namespace bank::loadgen
