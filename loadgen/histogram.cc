#include "loadgen/histogram.h"

#include <algorithm>
#include <cmath>

namespace bank::loadgen {
namespace {

constexpr std::memory_order kRelaxed = std::memory_order_relaxed;

void StoreMin(std::atomic<int64_t>& target, int64_t value) {
  int64_t current = target.load(kRelaxed);
  while (value < current &&
         !target.compare_exchange_weak(current, value, kRelaxed)) {
  }
}

void StoreMax(std::atomic<int64_t>& target, int64_t value) {
  int64_t current = target.load(kRelaxed);
  while (value > current &&
         !target.compare_exchange_weak(current, value, kRelaxed)) {
  }
}

int HighestBit(uint64_t value) { return 63 - __builtin_clzll(value); }

}  // namespace

size_t LatencyHistogram::BucketIndex(int64_t value_ns) {
  const int64_t value = std::clamp<int64_t>(value_ns, 0, kValueNsMax);
  if (value < 2 * kSubBuckets) return static_cast<size_t>(value);
  // shift makes value >> shift land in [kSubBuckets, 2 * kSubBuckets).
  const int shift = HighestBit(static_cast<uint64_t>(value)) - kSubBucketBits;
  return static_cast<size_t>(shift * kSubBuckets + (value >> shift));
}

int64_t LatencyHistogram::BucketLowerNs(size_t index) {
  const int64_t i = static_cast<int64_t>(index);
  if (i < 2 * kSubBuckets) return i;
  const int shift = static_cast<int>(i / kSubBuckets) - 1;
  return (i - shift * kSubBuckets) << shift;
}

int64_t LatencyHistogram::BucketUpperNs(size_t index) {
  const int64_t i = static_cast<int64_t>(index);
  if (i < 2 * kSubBuckets) return i;
  const int shift = static_cast<int>(i / kSubBuckets) - 1;
  return BucketLowerNs(index) + (int64_t{1} << shift) - 1;
}

int64_t LatencyHistogram::BucketMidpointNs(size_t index) const {
  const int64_t mid =
      BucketLowerNs(index) + (BucketUpperNs(index) - BucketLowerNs(index)) / 2;
  return std::clamp(mid, MinNs(), MaxNs());
}

void LatencyHistogram::Record(int64_t value_ns) {
  const int64_t value = std::clamp<int64_t>(value_ns, 0, kValueNsMax);
  counts_[BucketIndex(value)].fetch_add(1, kRelaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(value), kRelaxed);
  StoreMin(min_ns_, value);
  StoreMax(max_ns_, value);
}

void LatencyHistogram::MergeFrom(const LatencyHistogram& other) {
  for (size_t i = 0; i < kBucketCount; ++i) {
    const uint64_t count = other.counts_[i].load(kRelaxed);
    if (count != 0) counts_[i].fetch_add(count, kRelaxed);
  }
  sum_ns_.fetch_add(other.sum_ns_.load(kRelaxed), kRelaxed);
  StoreMin(min_ns_, other.min_ns_.load(kRelaxed));
  StoreMax(max_ns_, other.max_ns_.load(kRelaxed));
}

uint64_t LatencyHistogram::Count() const {
  uint64_t total = 0;
  for (const std::atomic<uint64_t>& count : counts_)
    total += count.load(kRelaxed);
  return total;
}

int64_t LatencyHistogram::MinNs() const {
  const int64_t min = min_ns_.load(kRelaxed);
  return min > kValueNsMax ? 0 : min;
}

int64_t LatencyHistogram::MaxNs() const { return max_ns_.load(kRelaxed); }

double LatencyHistogram::MeanNs() const {
  const uint64_t count = Count();
  if (count == 0) return 0;
  return static_cast<double>(sum_ns_.load(kRelaxed)) /
         static_cast<double>(count);
}

int64_t LatencyHistogram::ValueAtPercentileNs(double percentile) const {
  const uint64_t count = Count();
  if (count == 0) return 0;
  if (percentile <= 0) return MinNs();
  if (percentile >= 100) return MaxNs();
  // rank: how many samples must lie at or below the answer.
  const uint64_t rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(
             std::ceil(percentile / 100.0 * static_cast<double>(count))));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBucketCount; ++i) {
    seen += counts_[i].load(kRelaxed);
    if (seen >= rank) return BucketMidpointNs(i);
  }
  return MaxNs();
}

std::vector<LatencyHistogram::Bar> LatencyHistogram::LinearBars(
    int bar_count) const {
  std::vector<Bar> bars;
  if (Count() == 0 || bar_count < 2) return bars;
  const int64_t min = MinNs();
  if (MaxNs() == min) return {Bar{min, Count()}};  // One value: one bar.
  const double step =
      static_cast<double>(MaxNs() - min) / static_cast<double>(bar_count - 1);
  bars.resize(static_cast<size_t>(bar_count));
  for (int b = 0; b < bar_count; ++b) {
    bars[b].mark_ns = min + static_cast<int64_t>(std::llround(step * b));
  }
  bars.back().mark_ns = MaxNs();
  for (size_t i = 0; i < kBucketCount; ++i) {
    const uint64_t count = counts_[i].load(kRelaxed);
    if (count == 0) continue;
    // The minimum's bucket belongs to the first bar, whose mark is the
    // minimum itself; every other bucket goes by its midpoint.
    const int64_t mid = i == BucketIndex(min) ? min : BucketMidpointNs(i);
    // The first bar whose mark is at or above the midpoint takes it.
    auto it = std::lower_bound(
        bars.begin(), bars.end(), mid,
        [](const Bar& bar, int64_t value) { return bar.mark_ns < value; });
    if (it == bars.end()) it = bars.end() - 1;
    it->count += count;
  }
  return bars;
}

}  // namespace bank::loadgen
