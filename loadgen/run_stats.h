// RunStats: latency and status counts of the measured RPCs, per RpcKind.
//
// Recording is on the hot path of every RPC, so the counters are sharded:
// each thread records into the shard picked by its own thread number, which
// keeps the two cores from bouncing one cache line; shards are merged once,
// after the load.
//
// Thread safety: Record from any number of threads; the Merged* queries
// after the recording threads are done (ordered before by the caller).

#ifndef BANK_LOADGEN_RUN_STATS_H_
#define BANK_LOADGEN_RUN_STATS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "loadgen/config.h"
#include "loadgen/histogram.h"

namespace bank::loadgen {

// kStatusCodeCount: gRPC status codes are 0 (OK) to 16 (UNAUTHENTICATED).
inline constexpr size_t kStatusCodeCount = 17;
using StatusCounts = std::array<uint64_t, kStatusCodeCount>;

class RunStats {
 public:
  // kShardCount: more than the threads gRPC runs callbacks on here, so that
  // threads rarely share a shard (sharing is still correct, only slower).
  static constexpr size_t kShardCount = 8;

  RunStats();

  // Record notes one measured RPC of `kind` that ended with `code` after
  // `latency_ns`.
  void Record(RpcKind kind, int code, int64_t latency_ns);

  // MergedLatency adds every shard's histogram of `kind` into `out`.
  void MergeLatency(RpcKind kind, LatencyHistogram& out) const;
  StatusCounts MergedStatusCounts(RpcKind kind) const;

 private:
  struct KindStats {
    LatencyHistogram latency;
    std::array<std::atomic<uint64_t>, kStatusCodeCount> status_counts{};
  };
  struct alignas(64) Shard {
    std::array<KindStats, kRpcKindCount> kinds;
  };

  std::unique_ptr<Shard[]> shards_;
};

}  // namespace bank::loadgen

#endif  // BANK_LOADGEN_RUN_STATS_H_
