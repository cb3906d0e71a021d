// Goal: the metrics layer counts what it says: a histogram puts a value
// equal to a bound in that bound's bucket and keeps the sum; RpcMetrics
// counts each RPC once under its method and code, with its latency and the
// in-flight gauge back at zero; RenderMetrics shows the engine's pulled
// Stats() (accounts, queue, and durable storage's hook) and build info.
// Method: drive the instruments directly and check the rendered page's
// lines, with a real queue engine and a fake engine that reports storage.

#include "service/server/metrics.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/engine/engine_factory.h"

namespace bank {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kOk = 0;
constexpr int kNotFound = 5;

TEST(LatencyHistogramTest, ValueOnABoundCountsInThatBucketInSeconds) {
  LatencyHistogram histogram;
  histogram.Observe(10'000);          // 10 us: the first bucket (le 25 us).
  histogram.Observe(25'000);          // le="2.5e-05": bounds are inclusive.
  histogram.Observe(25'001);          // The next bucket (le 50 us).
  histogram.Observe(-5);              // A clock step back counts as 0.
  histogram.Observe(20'000'000'000);  // 20 s: above every bound, +Inf.
  const HistogramSnapshot snapshot = histogram.Snapshot();
  ASSERT_EQ(snapshot.upper_bounds.size(), LatencyHistogram::kBucketCount - 1);
  EXPECT_DOUBLE_EQ(snapshot.upper_bounds.front(), 25e-6);
  EXPECT_DOUBLE_EQ(snapshot.upper_bounds.back(), 10);
  ASSERT_EQ(snapshot.bucket_counts.size(), LatencyHistogram::kBucketCount);
  EXPECT_EQ(snapshot.bucket_counts[0], 3u);
  EXPECT_EQ(snapshot.bucket_counts[1], 1u);
  EXPECT_EQ(snapshot.bucket_counts.back(), 1u);
  EXPECT_EQ(snapshot.Count(), 5u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 20.000060001);
}

TEST(RpcMetricsTest, CountsByMethodAndCodeAndTracksInFlight) {
  RpcMetrics rpcs;
  MethodMetrics& withdraw = rpcs.method(RpcMethod::kWithdraw);
  const auto first = withdraw.Started();
  const auto second = withdraw.Started();
  const auto other = rpcs.method(RpcMethod::kDeposit).Started();
  EXPECT_EQ(rpcs.InFlight(), 3u);
  withdraw.Finished(first, kOk);
  withdraw.Finished(second, kNotFound);
  EXPECT_EQ(rpcs.InFlight(), 1u);
  rpcs.method(RpcMethod::kDeposit).Finished(other, kOk);
  EXPECT_EQ(rpcs.InFlight(), 0u);
  EXPECT_EQ(withdraw.Count(kOk), 1u);
  EXPECT_EQ(withdraw.Count(kNotFound), 1u);
  EXPECT_EQ(rpcs.method(RpcMethod::kDeposit).Count(kOk), 1u);
  EXPECT_EQ(withdraw.Latency().Count(), 2u);
  EXPECT_GE(withdraw.Latency().sum, 0.0);
}

TEST(RpcMetricsTest, NamesAreTheProtoAndCanonicalCodeNames) {
  EXPECT_STREQ(MethodName(RpcMethod::kOpenAccount), "OpenAccount");
  EXPECT_STREQ(MethodName(RpcMethod::kGetBalance), "GetBalance");
  EXPECT_STREQ(StatusCodeName(0), "OK");
  EXPECT_STREQ(StatusCodeName(9), "FAILED_PRECONDITION");
  EXPECT_STREQ(StatusCodeName(16), "UNAUTHENTICATED");
  EXPECT_STREQ(StatusCodeName(17), "UNKNOWN");
}

TEST(RenderMetricsTest, ShowsRpcsEngineStatsAndBuildInfo) {
  absl::StatusOr<std::unique_ptr<AccountEngine>> engine =
      CreateEngine(EngineOptions{});
  ASSERT_TRUE(engine.ok()) << engine.status();
  ASSERT_TRUE(
      ExecuteAndWait(**engine, {OperationKind::kOpen, "main", "", 80}).ok());
  RpcMetrics rpcs;
  MethodMetrics& withdraw = rpcs.method(RpcMethod::kWithdraw);
  withdraw.Finished(withdraw.Started(), kNotFound);
  const std::string page =
      RenderMetrics(rpcs, **engine, {"1.2.3", "queue"}, absl::Now());
  EXPECT_THAT(page, HasSubstr("# TYPE bank_rpcs_total counter\n"));
  EXPECT_THAT(page, HasSubstr("bank_rpcs_total{method=\"Withdraw\",code="
                              "\"NOT_FOUND\"} 1\n"));
  // OK series exist from the start; other codes only once seen.
  EXPECT_THAT(page, HasSubstr("bank_rpcs_total{method=\"Deposit\",code="
                              "\"OK\"} 0\n"));
  EXPECT_THAT(page, Not(HasSubstr("code=\"ABORTED\"")));
  EXPECT_THAT(page, HasSubstr("# TYPE bank_rpc_duration_seconds histogram\n"));
  EXPECT_THAT(page, HasSubstr("bank_rpc_duration_seconds_count{method="
                              "\"Withdraw\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("bank_rpcs_in_flight 0\n"));
  EXPECT_THAT(page, HasSubstr("bank_accounts_open 1\n"));
  EXPECT_THAT(page, HasSubstr("bank_engine_queue_depth 0\n"));
  EXPECT_THAT(page, HasSubstr("bank_engine_queue_depth_max 65536\n"));
  EXPECT_THAT(page,
              HasSubstr("# TYPE bank_engine_queue_batch_size histogram\n"));
  EXPECT_THAT(page, HasSubstr("bank_build_info{version=\"1.2.3\",engine="
                              "\"queue\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("# TYPE bank_start_time_seconds gauge\n"));
  // No durable storage in this engine: no storage families.
  EXPECT_THAT(page, Not(HasSubstr("bank_storage_")));
}

// FakeDurableEngine reports storage stats the way a durable engine will.
class FakeDurableEngine final : public AccountEngine {
 public:
  void Execute(Operation, OperationDone done) override {
    std::move(done)(absl::UnavailableError("fake"));
  }
  void ExecuteBatch(std::vector<Operation>, bool, BatchDone done) override {
    std::move(done)(absl::UnavailableError("fake"));
  }
  void Shutdown() override {}
  const char* Name() const override { return "fake"; }
  EngineStats Stats() const override {
    EngineStats stats;
    StorageStats storage;
    storage.syncs_total = 12;
    storage.sync_duration_seconds.upper_bounds = {0.001};
    storage.sync_duration_seconds.bucket_counts = {10, 2};
    storage.sync_duration_seconds.sum = 0.0125;
    storage.bytes_written_total = 4096;
    storage.recovery_duration_seconds = 0.5;
    stats.storage = storage;
    return stats;
  }
};

TEST(RenderMetricsTest, RendersTheDurableStorageHook) {
  FakeDurableEngine engine;
  RpcMetrics rpcs;
  const std::string page =
      RenderMetrics(rpcs, engine, {"1.2.3", "fake"}, absl::Now());
  EXPECT_THAT(page, HasSubstr("# TYPE bank_storage_syncs_total counter\n"
                              "bank_storage_syncs_total 12\n"));
  EXPECT_THAT(page, HasSubstr("bank_storage_sync_duration_seconds_bucket{le="
                              "\"0.001\"} 10\n"
                              "bank_storage_sync_duration_seconds_bucket{le="
                              "\"+Inf\"} 12\n"
                              "bank_storage_sync_duration_seconds_sum 0.0125\n"
                              "bank_storage_sync_duration_seconds_count 12\n"));
  EXPECT_THAT(page, HasSubstr("bank_storage_written_bytes_total 4096\n"));
  EXPECT_THAT(page, HasSubstr("bank_storage_recovery_duration_seconds 0.5\n"));
  // An engine without accounts_open exports no such gauge.
  EXPECT_THAT(page, Not(HasSubstr("bank_accounts_open")));
}

}  // namespace
}  // namespace bank
