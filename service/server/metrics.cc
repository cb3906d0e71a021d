#include "service/server/metrics.h"

#include <iterator>

#include "absl/strings/str_cat.h"
#include "service/engine/check.h"
#include "service/server/prometheus_text.h"

#ifndef BANK_VERSION
#define BANK_VERSION "unknown"
#endif

namespace bank {

namespace {
constexpr double kNanosPerSecond = 1e9;
}  // namespace

void LatencyHistogram::Observe(int64_t nanos) {
  if (nanos < 0) nanos = 0;
  // A linear scan over 18 bounds: short, and most RPCs stop in the first few.
  size_t bucket = 0;
  while (bucket < std::size(kBoundsNanos) && nanos > kBoundsNanos[bucket]) {
    ++bucket;
  }
  bucket_counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(static_cast<uint64_t>(nanos), std::memory_order_relaxed);
}

HistogramSnapshot LatencyHistogram::Snapshot() const {
  HistogramSnapshot snapshot;
  for (int64_t bound : kBoundsNanos) {
    snapshot.upper_bounds.push_back(static_cast<double>(bound) /
                                    kNanosPerSecond);
  }
  for (const std::atomic<uint64_t>& count : bucket_counts_) {
    snapshot.bucket_counts.push_back(count.load(std::memory_order_relaxed));
  }
  snapshot.sum =
      static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) /
      kNanosPerSecond;
  return snapshot;
}

void MethodMetrics::Finished(std::chrono::steady_clock::time_point started,
                             int code) {
  latency_.Observe(std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::steady_clock::now() - started)
                       .count());
  if (code < 0 || code >= kStatusCodeCount) code = 2;  // UNKNOWN.
  codes_[code].Increment();
}

uint64_t MethodMetrics::Count(int code) const {
  BANK_CHECK(code >= 0 && code < kStatusCodeCount);
  return codes_[code].Value();
}

uint64_t MethodMetrics::InFlight() const {
  uint64_t finished = 0;
  for (const Counter& code : codes_) finished += code.Value();
  const uint64_t started = started_.Value();
  return started > finished ? started - finished : 0;
}

uint64_t RpcMetrics::InFlight() const {
  uint64_t in_flight = 0;
  for (const MethodMetrics& method : methods_) in_flight += method.InFlight();
  return in_flight;
}

const char* MethodName(RpcMethod method) {
  switch (method) {
    case RpcMethod::kOpenAccount:
      return "OpenAccount";
    case RpcMethod::kDeposit:
      return "Deposit";
    case RpcMethod::kWithdraw:
      return "Withdraw";
    case RpcMethod::kTransfer:
      return "Transfer";
    case RpcMethod::kGetBalance:
      return "GetBalance";
    case RpcMethod::kApplyBatch:
      return "ApplyBatch";
  }
  return "unknown";
}

const char* StatusCodeName(int code) {
  static constexpr const char* kNames[kStatusCodeCount] = {
      "OK",
      "CANCELLED",
      "UNKNOWN",
      "INVALID_ARGUMENT",
      "DEADLINE_EXCEEDED",
      "NOT_FOUND",
      "ALREADY_EXISTS",
      "PERMISSION_DENIED",
      "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION",
      "ABORTED",
      "OUT_OF_RANGE",
      "UNIMPLEMENTED",
      "INTERNAL",
      "UNAVAILABLE",
      "DATA_LOSS",
      "UNAUTHENTICATED"};
  return code >= 0 && code < kStatusCodeCount ? kNames[code] : "UNKNOWN";
}

const char* BankVersion() { return BANK_VERSION; }

namespace {

constexpr RpcMethod kMethods[kRpcMethodCount] = {
    RpcMethod::kOpenAccount, RpcMethod::kDeposit,    RpcMethod::kWithdraw,
    RpcMethod::kTransfer,    RpcMethod::kGetBalance, RpcMethod::kApplyBatch};

void RenderRpcs(const RpcMetrics& rpcs, PrometheusTextWriter& out) {
  out.Family("bank_rpcs_total",
             "RPCs of bank.v1.BankService answered, by method and gRPC "
             "status code (RPCs that gRPC rejects before a handler runs, "
             "e.g. oversized requests, are not counted).",
             MetricType::kCounter);
  for (RpcMethod method : kMethods) {
    for (int code = 0; code < kStatusCodeCount; ++code) {
      const uint64_t count = rpcs.method(method).Count(code);
      // OK is always there, so every method's series exists from the
      // start; error codes appear once they happen.
      if (count == 0 && code != 0) continue;
      out.Sample(
          "bank_rpcs_total",
          {{"method", MethodName(method)}, {"code", StatusCodeName(code)}},
          count);
    }
  }
  out.Family("bank_rpc_duration_seconds",
             "Server-side time from a bank.v1.BankService handler's start to "
             "its Finish, by method.",
             MetricType::kHistogram);
  for (RpcMethod method : kMethods) {
    out.Histogram("bank_rpc_duration_seconds", {{"method", MethodName(method)}},
                  rpcs.method(method).Latency());
  }
  out.Family("bank_rpcs_in_flight",
             "bank.v1.BankService RPCs inside a handler or waiting for the "
             "engine.",
             MetricType::kGauge);
  out.Sample("bank_rpcs_in_flight", {}, rpcs.InFlight());
}

void RenderQueue(const QueueStats& queue, PrometheusTextWriter& out) {
  out.Family("bank_engine_queue_depth",
             "Messages waiting for the queue engine's consumer (an "
             "operation, or a whole batch, takes one slot).",
             MetricType::kGauge);
  out.Sample("bank_engine_queue_depth", {}, queue.depth);
  out.Family("bank_engine_queue_depth_max",
             "The queue engine's capacity (--queue_depth_max); a full queue "
             "answers RESOURCE_EXHAUSTED.",
             MetricType::kGauge);
  out.Sample("bank_engine_queue_depth_max", {}, queue.depth_max);
  out.Family("bank_engine_queue_batch_size",
             "Operations per pass of the queue engine's consumer.",
             MetricType::kHistogram);
  out.Histogram("bank_engine_queue_batch_size", {}, queue.batch_sizes);
}

void RenderStorage(const StorageStats& storage, PrometheusTextWriter& out) {
  out.Family("bank_storage_syncs_total",
             "Syncs (fdatasync) of durable storage.", MetricType::kCounter);
  out.Sample("bank_storage_syncs_total", {}, storage.syncs_total);
  out.Family("bank_storage_sync_duration_seconds",
             "How long each sync of durable storage took.",
             MetricType::kHistogram);
  out.Histogram("bank_storage_sync_duration_seconds", {},
                storage.sync_duration_seconds);
  out.Family("bank_storage_written_bytes_total",
             "Bytes written to durable storage.", MetricType::kCounter);
  out.Sample("bank_storage_written_bytes_total", {},
             storage.bytes_written_total);
  out.Family("bank_storage_recovery_duration_seconds",
             "How long recovering durable state took at start.",
             MetricType::kGauge);
  out.Sample("bank_storage_recovery_duration_seconds", {},
             storage.recovery_duration_seconds);
}

void RenderEngine(const EngineStats& stats, PrometheusTextWriter& out) {
  if (stats.accounts_open.has_value()) {
    out.Family("bank_accounts_open", "Accounts that exist now.",
               MetricType::kGauge);
    out.Sample("bank_accounts_open", {}, *stats.accounts_open);
  }
  if (stats.queue.has_value()) RenderQueue(*stats.queue, out);
  if (stats.storage.has_value()) RenderStorage(*stats.storage, out);
}

}  // namespace

std::string RenderMetrics(const RpcMetrics& rpcs, const AccountEngine& engine,
                          const BuildInfo& build, absl::Time started) {
  PrometheusTextWriter out;
  RenderRpcs(rpcs, out);
  RenderEngine(engine.Stats(), out);
  out.Family("bank_build_info",
             "Always 1; the labels say which build and engine this is.",
             MetricType::kGauge);
  out.Sample("bank_build_info",
             {{"version", build.version}, {"engine", build.engine}},
             uint64_t{1});
  out.Family("bank_start_time_seconds",
             "When bank_server started serving, in seconds since the Unix "
             "epoch.",
             MetricType::kGauge);
  out.Sample("bank_start_time_seconds", {},
             absl::ToDoubleSeconds(started - absl::UnixEpoch()));
  return out.text();
}

}  // namespace bank
