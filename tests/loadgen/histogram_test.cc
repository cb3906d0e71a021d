// Goal: LatencyHistogram answers within its stated error bound with fixed
// memory, and merges and concurrent recording lose no sample.
// Method: bucket arithmetic checked over a sweep of values; percentiles of
// known data (a uniform ramp, a bimodal set) compared with the exact answer
// computed from the sorted samples.

#include "loadgen/histogram.h"

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace bank::loadgen {
namespace {

// kRelativeErrorMax: a bucket midpoint is within half a bucket, and a bucket
// is at most 1/kSubBuckets of its lower bound wide.
constexpr double kRelativeErrorMax =
    1.0 / (2.0 * LatencyHistogram::kSubBuckets);

int64_t ExactPercentile(std::vector<int64_t> values, double percentile) {
  std::sort(values.begin(), values.end());
  const size_t rank = std::max<size_t>(
      1, static_cast<size_t>(std::ceil(percentile / 100.0 * values.size())));
  return values[rank - 1];
}

void ExpectClose(int64_t actual, int64_t expected) {
  const double bound = kRelativeErrorMax * static_cast<double>(expected) + 1;
  EXPECT_LE(std::abs(static_cast<double>(actual - expected)), bound)
      << "actual " << actual << " expected " << expected;
}

TEST(LatencyHistogramTest, BucketsTileTheRangeWithBoundedWidth) {
  size_t previous_index = 0;
  for (int64_t v = 0; v < (int64_t{1} << 24);
       v = v < 1000 ? v + 1 : v + v / 97) {
    const size_t index = LatencyHistogram::BucketIndex(v);
    ASSERT_LT(index, LatencyHistogram::kBucketCount);
    EXPECT_LE(LatencyHistogram::BucketLowerNs(index), v);
    EXPECT_GE(LatencyHistogram::BucketUpperNs(index), v);
    EXPECT_GE(index, previous_index);
    previous_index = index;
    const int64_t width = LatencyHistogram::BucketUpperNs(index) -
                          LatencyHistogram::BucketLowerNs(index) + 1;
    EXPECT_LE(width * LatencyHistogram::kSubBuckets,
              std::max<int64_t>(LatencyHistogram::kSubBuckets,
                                LatencyHistogram::BucketLowerNs(index)));
  }
  for (size_t i = 0; i + 1 < LatencyHistogram::kBucketCount; ++i) {
    EXPECT_EQ(LatencyHistogram::BucketUpperNs(i) + 1,
              LatencyHistogram::BucketLowerNs(i + 1));
  }
  EXPECT_EQ(LatencyHistogram::BucketIndex(LatencyHistogram::kValueNsMax),
            LatencyHistogram::kBucketCount - 1);
}

TEST(LatencyHistogramTest, EmptyAnswersZero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.Count(), 0u);
  EXPECT_EQ(histogram.MinNs(), 0);
  EXPECT_EQ(histogram.MaxNs(), 0);
  EXPECT_EQ(histogram.MeanNs(), 0);
  EXPECT_EQ(histogram.ValueAtPercentileNs(50), 0);
  EXPECT_TRUE(histogram.LinearBars(11).empty());
}

TEST(LatencyHistogramTest, PercentilesOfARampAreWithinTheBound) {
  LatencyHistogram histogram;
  std::vector<int64_t> values;
  for (int64_t us = 1; us <= 100'000; ++us) values.push_back(us * 1000);
  for (int64_t v : values) histogram.Record(v);
  EXPECT_EQ(histogram.Count(), values.size());
  EXPECT_EQ(histogram.MinNs(), 1000);
  EXPECT_EQ(histogram.MaxNs(), 100'000'000);
  EXPECT_DOUBLE_EQ(histogram.MeanNs(), 50'000.5 * 1000);
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    SCOPED_TRACE(p);
    ExpectClose(histogram.ValueAtPercentileNs(p), ExactPercentile(values, p));
  }
  EXPECT_EQ(histogram.ValueAtPercentileNs(0), 1000);
  EXPECT_EQ(histogram.ValueAtPercentileNs(100), 100'000'000);
}

TEST(LatencyHistogramTest, PercentilesOfABimodalSetFindTheTail) {
  LatencyHistogram histogram;
  std::vector<int64_t> values;
  for (int i = 0; i < 9900; ++i) values.push_back(200'000 + i);  // ~0.2 ms
  for (int i = 0; i < 100; ++i) values.push_back(50'000'000 + i * 1000);
  for (int64_t v : values) histogram.Record(v);
  for (double p : {50.0, 98.0, 99.0, 99.5, 99.9}) {
    SCOPED_TRACE(p);
    ExpectClose(histogram.ValueAtPercentileNs(p), ExactPercentile(values, p));
  }
}

TEST(LatencyHistogramTest, MergeEqualsRecordingIntoOne) {
  LatencyHistogram a, b, both;
  for (int64_t v = 1; v < 5'000'000; v += 7919) {
    ((v / 7919) % 2 == 0 ? a : b).Record(v);
    both.Record(v);
  }
  LatencyHistogram merged;
  merged.MergeFrom(a);
  merged.MergeFrom(b);
  EXPECT_EQ(merged.Count(), both.Count());
  EXPECT_EQ(merged.MinNs(), both.MinNs());
  EXPECT_EQ(merged.MaxNs(), both.MaxNs());
  EXPECT_DOUBLE_EQ(merged.MeanNs(), both.MeanNs());
  for (double p : {50.0, 90.0, 99.0}) {
    EXPECT_EQ(merged.ValueAtPercentileNs(p), both.ValueAtPercentileNs(p));
  }
}

TEST(LatencyHistogramTest, OutOfRangeValuesAreClamped) {
  LatencyHistogram histogram;
  histogram.Record(-5);
  histogram.Record(LatencyHistogram::kValueNsMax * 4);
  EXPECT_EQ(histogram.Count(), 2u);
  EXPECT_EQ(histogram.MinNs(), 0);
  EXPECT_EQ(histogram.MaxNs(), LatencyHistogram::kValueNsMax);
}

TEST(LatencyHistogramTest, LinearBarsSpanMinToMaxAndHoldEverySample) {
  LatencyHistogram histogram;
  for (int64_t v = 1'000'000; v <= 11'000'000; v += 1000) histogram.Record(v);
  const std::vector<LatencyHistogram::Bar> bars = histogram.LinearBars(11);
  ASSERT_EQ(bars.size(), 11u);
  EXPECT_EQ(bars.front().mark_ns, 1'000'000);
  EXPECT_EQ(bars.back().mark_ns, 11'000'000);
  EXPECT_GE(bars.front().count, 1u);
  uint64_t total = 0;
  for (size_t i = 0; i < bars.size(); ++i) {
    total += bars[i].count;
    if (i > 0) {
      EXPECT_GT(bars[i].mark_ns, bars[i - 1].mark_ns);
    }
  }
  EXPECT_EQ(total, histogram.Count());
}

TEST(LatencyHistogramTest, OneDistinctValueMakesOneBar) {
  LatencyHistogram histogram;
  for (int i = 0; i < 5; ++i) histogram.Record(4242);
  const std::vector<LatencyHistogram::Bar> bars = histogram.LinearBars(11);
  ASSERT_EQ(bars.size(), 1u);
  EXPECT_EQ(bars[0].mark_ns, 4242);
  EXPECT_EQ(bars[0].count, 5u);
}

TEST(LatencyHistogramTest, ConcurrentRecordingLosesNothing) {
  constexpr int kThreadCount = 4;
  constexpr int kSamplesPerThread = 20'000;
  LatencyHistogram histogram;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreadCount; ++t) {
    threads.emplace_back([&histogram, t] {
      for (int i = 1; i <= kSamplesPerThread; ++i) histogram.Record(i + t);
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(histogram.Count(),
            static_cast<uint64_t>(kThreadCount) * kSamplesPerThread);
  EXPECT_EQ(histogram.MinNs(), 1);
  EXPECT_EQ(histogram.MaxNs(), kSamplesPerThread + kThreadCount - 1);
}

}  // namespace
}  // namespace bank::loadgen
