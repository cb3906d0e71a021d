// Metrics: what bank_server counts about itself, and its rendering in
// Prometheus's text format (served on /metrics by MetricsHttpServer when
// --metrics_listen is set; see docs/SERVER.md for every metric).
//
// Two kinds of source:
//   - push, on the RPC hot path: RpcMetrics, updated by BankServiceImpl for
//     every RPC that reaches a handler. Each method's instruments are
//     resolved once (RpcMetrics::method(kWithdraw) is an array index), and an
//     update is a few relaxed atomic increments: no lock, no map lookup, no
//     allocation.
//   - pull, at scrape time: AccountEngine::Stats() (accounts open, the queue
//     engine's depth and batch sizes, durable storage's syncs; see
//     service/engine/engine_stats.h), read only when Prometheus asks.
//
// Thread safety: every instrument may be updated from any number of threads
// at once; RenderMetrics() may run concurrently with updates (a scrape sees
// each atomic at some recent value; a histogram's sum may lag its buckets
// by an observation, which Prometheus tolerates).

#ifndef BANK_SERVICE_SERVER_METRICS_H_
#define BANK_SERVICE_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/engine/account_engine.h"
#include "service/engine/engine_stats.h"

namespace bank {

// Counter: a count that only grows.
class Counter {
 public:
  void Increment() { value_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// LatencyHistogram: counts durations into fixed buckets (the finite upper
// bounds of kLatencyBoundsNanos; +Inf is implied) and keeps their sum, all
// in integer nanoseconds, so an observation is two relaxed fetch_adds.
// Snapshot() answers them in seconds.
class LatencyHistogram {
 public:
  // kLatencyBoundsNanos: bank_rpc_duration_seconds's buckets, 25 us to 10 s:
  // our RPCs take tens of microseconds unloaded, milliseconds under load or
  // with --apply_latency.
  static constexpr int64_t kBoundsNanos[] = {
      25'000,        50'000,        100'000,       250'000,     500'000,
      1'000'000,     2'500'000,     5'000'000,     10'000'000,  25'000'000,
      50'000'000,    100'000'000,   250'000'000,   500'000'000, 1'000'000'000,
      2'500'000'000, 5'000'000'000, 10'000'000'000};
  static constexpr size_t kBucketCount = std::size(kBoundsNanos) + 1;

  // Observe records one duration (negative counts as 0).
  void Observe(int64_t nanos);

  // Snapshot answers the buckets (not cumulative) and the sum, in seconds.
  HistogramSnapshot Snapshot() const;

 private:
  std::array<std::atomic<uint64_t>, kBucketCount> bucket_counts_{};
  std::atomic<uint64_t> sum_nanos_{0};
};

// RpcMethod: bank.v1.BankService's methods, as array indices.
enum class RpcMethod {
  kOpenAccount,
  kDeposit,
  kWithdraw,
  kTransfer,
  kGetBalance,
  kApplyBatch,
};
inline constexpr int kRpcMethodCount = 6;
// kStatusCodeCount: gRPC status codes 0 (OK) .. 16 (UNAUTHENTICATED).
inline constexpr int kStatusCodeCount = 17;

// MethodMetrics: one method's instruments, on cache lines of their own so
// that RPCs of different methods on different cores do not contend. An RPC
// costs: a clock read and one increment in Started; a clock read, a code
// increment and the histogram's two in Finished.
class alignas(64) MethodMetrics {
 public:
  // Started: an RPC entered the handler. Answers the start time to hand to
  // Finished.
  std::chrono::steady_clock::time_point Started() {
    started_.Increment();
    return std::chrono::steady_clock::now();
  }
  // Finished: the RPC is about to Finish with `code` (a grpc::StatusCode).
  void Finished(std::chrono::steady_clock::time_point started, int code);

  uint64_t Count(int code) const;
  // InFlight: started and not yet finished (read the finished counts first,
  // so that a racing RPC can never make it negative).
  uint64_t InFlight() const;
  HistogramSnapshot Latency() const { return latency_.Snapshot(); }

 private:
  Counter started_;
  std::array<Counter, kStatusCodeCount> codes_;
  LatencyHistogram latency_;
};

// RpcMetrics: every method's instruments.
class RpcMetrics {
 public:
  RpcMetrics() = default;
  RpcMetrics(const RpcMetrics&) = delete;
  RpcMetrics& operator=(const RpcMetrics&) = delete;

  MethodMetrics& method(RpcMethod method) {
    return methods_[static_cast<int>(method)];
  }
  const MethodMetrics& method(RpcMethod method) const {
    return methods_[static_cast<int>(method)];
  }
  // InFlight: RPCs of every method started and not yet finished.
  uint64_t InFlight() const;

 private:
  std::array<MethodMetrics, kRpcMethodCount> methods_;
};

// MethodName answers the proto name of `method`, e.g. "Withdraw".
const char* MethodName(RpcMethod method);
// StatusCodeName answers the canonical name of a gRPC code, e.g.
// "FAILED_PRECONDITION".
const char* StatusCodeName(int code);

// BuildInfo: bank_build_info's labels.
struct BuildInfo {
  std::string version;
  std::string engine;
};

// kBankVersion: the version bank_build_info reports (set by CMake).
const char* BankVersion();

// RenderMetrics answers the whole /metrics page: RPC metrics, the engine's
// Stats() and build information. `engine` must outlive the call.
std::string RenderMetrics(const RpcMetrics& rpcs, const AccountEngine& engine,
                          const BuildInfo& build, absl::Time started);

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_METRICS_H_
