// RunLoad: the closed-loop load itself.
//
// `concurrency` slots each keep one RPC in flight: when a slot's RPC
// completes, its callback (on a gRPC thread) records the outcome and starts
// the slot's next RPC, so a few gRPC threads keep every RPC in flight and no
// thread waits per RPC. Slot i uses channel i % connections and its own
// generator seeded from --seed and i, and reuses its context storage,
// requests and responses from one RPC to the next. With --rps the slots
// instead hand themselves to one pacer thread, which starts RPC number n at
// start + n / rps (catching up at once when behind: the rate is a target,
// and the report shows what was achieved).
//
// With --batch=N each RPC is an ApplyBatch of N operations drawn from the
// mix; every operation is recorded on its own (its kind, its own status, and
// the RPC's latency, so latency percentiles are per RPC) and goes to the
// ledger with its own outcome. An RPC that fails as a whole gives each of
// its operations the RPC's outcome (nothing applied for a refusal such as
// RESOURCE_EXHAUSTED, indeterminate for a deadline or a lost connection).
//
// RPCs started during --warmup go to the ledger (their money moved) but not
// to the statistics; --total and --duration count from the end of warmup.
// RunLoad returns once every slot has stopped and every RPC has completed.

#ifndef BANK_LOADGEN_LOAD_RUNNER_H_
#define BANK_LOADGEN_LOAD_RUNNER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "loadgen/config.h"
#include "loadgen/ledger.h"
#include "loadgen/run_stats.h"

namespace bank::loadgen {

// kProgressInterval: how often the live progress line is redrawn.
inline constexpr absl::Duration kProgressInterval = absl::Milliseconds(250);

// ThroughputSample: what completed in one kProgressInterval of the run.
struct ThroughputSample {
  double elapsed_s = 0;  // End of the interval, from the start of the run.
  double rpcs_per_s = 0;
  double operations_per_s = 0;
};
// kTimelineSamplesMax bounds the timeline (24 h at 4 samples a second);
// later samples are dropped.
inline constexpr size_t kTimelineSamplesMax = 24 * 3600 * 4;

struct LoadTiming {
  std::vector<ThroughputSample> timeline;  // For the HTML report.
  // measured: from the end of warmup to the completion of the last RPC.
  absl::Duration measured = absl::ZeroDuration();
  uint64_t measured_rpcs = 0;
  uint64_t warmup_rpcs = 0;
  // Operations in those RPCs (equal to the RPC counts without --batch).
  uint64_t measured_operations = 0;
  uint64_t warmup_operations = 0;
  // CPU time this process spent during the load (warmup included), from
  // getrusage, to be divided by measured_rpcs + warmup_rpcs.
  absl::Duration cpu_user = absl::ZeroDuration();
  absl::Duration cpu_system = absl::ZeroDuration();
  // Retries by request id: operations retried at least once, and the most
  // retries one operation needed.
  uint64_t retried_operations = 0;
  uint64_t retries_max = 0;
  // stopped_reason: why the load stopped before its end ("" if it did not):
  // the server answered nothing definitive for kServerLostAfter (without
  // request ids) or for --retry_for (with them).
  std::string stopped_reason;
};

// kServerLostAfter: without request ids, the load stops once no RPC got a
// definitive answer for this long while RPCs kept failing.
inline constexpr absl::Duration kServerLostAfter = absl::Seconds(1);
// Retry backoff: the n-th retry waits a uniformly random time in
// [b/2, b], b = min(kRetryBackoffInitial * 2^(n-1), kRetryBackoffMax).
inline constexpr absl::Duration kRetryBackoffInitial = absl::Milliseconds(10);
inline constexpr absl::Duration kRetryBackoffMax = absl::Seconds(1);

// RunLoad fires `config`'s load over `channels` (config.connections of
// them) at the accounts config.account_ids, whose indices the ledger uses.
// With `show_progress`, a progress line is redrawn on stderr.
LoadTiming RunLoad(const LoadgenConfig& config,
                   const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                   Ledger& ledger, RunStats& stats, bool show_progress);

}  // namespace bank::loadgen

#endif  // BANK_LOADGEN_LOAD_RUNNER_H_
