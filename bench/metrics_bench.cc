// metrics_bench: what bank_server's per-RPC metrics cost, in-process and
// without gRPC: one MethodMetrics::Started plus Finished (two clock reads,
// four relaxed atomic increments), from 1 and 2 threads on one method (the
// contended case), and the two clock reads alone for comparison. A figure
// that machine load disturbs far less than an end-to-end RPS ratio does; see
// docs/BENCHMARKS.md ("Metrics overhead").

#include <chrono>

#include "benchmark/benchmark.h"
#include "service/server/metrics.h"

namespace bank {
namespace {

RpcMetrics& SharedMetrics() {
  static RpcMetrics* const metrics = new RpcMetrics();
  return *metrics;
}

void BM_RpcMetrics(benchmark::State& state) {
  MethodMetrics& method = SharedMetrics().method(RpcMethod::kWithdraw);
  for (auto _ : state) {
    const auto started = method.Started();
    method.Finished(started, 0);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RpcMetrics)->Threads(1)->Threads(2)->UseRealTime();

void BM_TwoClockReads(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(std::chrono::steady_clock::now());
    benchmark::DoNotOptimize(std::chrono::steady_clock::now());
  }
}
BENCHMARK(BM_TwoClockReads);

}  // namespace
}  // namespace bank

BENCHMARK_MAIN();
