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
// at once; Render() may run concurrently with updates (a scrape sees each
// atomic at some recent value; a histogram's buckets, sum and count are not
// one atomic snapshot, which Prometheus tolerates).

#ifndef BANK_SERVICE_SERVER_METRICS_H_
#define BANK_SERVICE_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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

// Gauge: a value that goes up and down (e.g. RPCs in flight).
class Gauge {
 public:
  void Add(int64_t delta) {
    value_.fetch_add(delta, std::memory_order_relaxed);
  }
  int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Histogram: counts observations into fixed buckets chosen at construction
// (finite upper bounds, strictly ascending; +Inf is implied) and keeps
// their sum.
class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);

  // Observe records `value`: one bucket increment and one add to the sum.
  void Observe(double value);

  // Snapshot answers the buckets (not cumulative) and sum so far.
  HistogramSnapshot Snapshot() const;

 private:
  const std::vector<double> upper_bounds_;
  // One per bound plus the +Inf bucket.
  std::unique_ptr<std::atomic<uint64_t>[]> bucket_counts_;
  std::atomic<double> sum_{0};
};

// kRpcLatencyBoundsSeconds: bank_rpc_duration_seconds's buckets, 25 us to
// 10 s: our RPCs take tens of microseconds unloaded, milliseconds under load
// or with --apply_latency.
std::vector<double> RpcLatencyBoundsSeconds();

// RpcMethod: bank.v1.BankService's methods, as array indices.
enum class RpcMethod {
  kOpenAccount,
  kDeposit,
  kWithdraw,
  kTransfer,
  kGetBalance,
};
inline constexpr int kRpcMethodCount = 5;
// kStatusCodeCount: gRPC status codes 0 (OK) .. 16 (UNAUTHENTICATED).
inline constexpr int kStatusCodeCount = 17;

// MethodMetrics: one method's instruments.
class MethodMetrics {
 public:
  MethodMetrics() : latency_seconds_(RpcLatencyBoundsSeconds()) {}

  // Started: an RPC entered the handler. Answers the start time to hand to
  // Finished.
  std::chrono::steady_clock::time_point Started() {
    in_flight_->Add(1);
    return std::chrono::steady_clock::now();
  }
  // Finished: the RPC is about to Finish with `code` (a grpc::StatusCode).
  void Finished(std::chrono::steady_clock::time_point started, int code);

  uint64_t Count(int code) const;
  HistogramSnapshot Latency() const { return latency_seconds_.Snapshot(); }

 private:
  friend class RpcMetrics;
  Gauge* in_flight_ = nullptr;  // Shared by every method; set by RpcMetrics.
  std::array<Counter, kStatusCodeCount> codes_;
  Histogram latency_seconds_;
};

// RpcMetrics: every method's instruments and the shared in-flight gauge.
class RpcMetrics {
 public:
  RpcMetrics();
  RpcMetrics(const RpcMetrics&) = delete;
  RpcMetrics& operator=(const RpcMetrics&) = delete;

  MethodMetrics& method(RpcMethod method) {
    return methods_[static_cast<int>(method)];
  }
  const MethodMetrics& method(RpcMethod method) const {
    return methods_[static_cast<int>(method)];
  }
  int64_t InFlight() const { return in_flight_.Value(); }

 private:
  Gauge in_flight_;
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
