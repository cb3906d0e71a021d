// LatencyHistogram: HdrHistogram-style log-linear latency buckets.
//
// Values are nanoseconds. Below 2 * kSubBuckets every value has its own
// bucket; above, each power of two [2^e, 2^(e+1)) is split into kSubBuckets
// equal buckets, so a bucket is at most 1/kSubBuckets (1.6%) of its lower
// bound wide. Answers (percentiles) are bucket midpoints, clamped to the
// exact min and max, so their relative error is at most 1/(2*kSubBuckets)
// (0.8%). Memory is fixed (kBucketCount counters) whatever the number of
// samples; values above kValueNsMax are counted as kValueNsMax.
//
// Thread safety: Record and MergeFrom may be called from any number of
// threads at once (relaxed atomic counters: a sample is never lost, and the
// queries are exact once the recording threads are done and joined or
// otherwise synchronised with the reader).

#ifndef BANK_LOADGEN_HISTOGRAM_H_
#define BANK_LOADGEN_HISTOGRAM_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace bank::loadgen {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 6;
  static constexpr int64_t kSubBuckets = int64_t{1} << kSubBucketBits;
  // kValueBitsMax: values up to 2^40 ns (about 18 minutes) are resolved.
  static constexpr int kValueBitsMax = 40;
  static constexpr int64_t kValueNsMax = (int64_t{1} << kValueBitsMax) - 1;
  static constexpr size_t kBucketCount =
      static_cast<size_t>((kValueBitsMax - kSubBucketBits + 1) * kSubBuckets);

  LatencyHistogram() = default;
  LatencyHistogram(const LatencyHistogram&) = delete;
  LatencyHistogram& operator=(const LatencyHistogram&) = delete;

  // Record counts one sample; negative values count as 0.
  void Record(int64_t value_ns);
  // MergeFrom adds every sample of `other` to this histogram.
  void MergeFrom(const LatencyHistogram& other);

  uint64_t Count() const;
  // MinNs/MaxNs are exact; 0 when empty.
  int64_t MinNs() const;
  int64_t MaxNs() const;
  double MeanNs() const;
  // ValueAtPercentileNs: the smallest recorded value (within the bucket
  // error) that at least `percentile` percent of the samples do not exceed;
  // percentile in [0, 100]. 0 when empty.
  int64_t ValueAtPercentileNs(double percentile) const;

  // Bar: one line of a ghz-style text histogram: `count` samples above the
  // previous bar's mark and at most `mark_ns`.
  struct Bar {
    int64_t mark_ns = 0;
    uint64_t count = 0;
  };
  // LinearBars splits [min, max] into `bar_count` equal parts (ghz's layout:
  // the first bar is the minimum itself) and places each bucket by its
  // midpoint. Empty when there are no samples; a single bar when every
  // sample has the same value.
  std::vector<Bar> LinearBars(int bar_count) const;

  // Bucket arithmetic, public for tests.
  static size_t BucketIndex(int64_t value_ns);
  static int64_t BucketLowerNs(size_t index);
  static int64_t BucketUpperNs(size_t index);  // Inclusive.

 private:
  int64_t BucketMidpointNs(size_t index) const;

  std::array<std::atomic<uint64_t>, kBucketCount> counts_{};
  std::atomic<uint64_t> sum_ns_{0};
  // min_ns_ starts above any value; MinNs() maps "no sample" to 0.
  std::atomic<int64_t> min_ns_{kValueNsMax + 1};
  std::atomic<int64_t> max_ns_{0};
};

}  // namespace bank::loadgen

#endif  // BANK_LOADGEN_HISTOGRAM_H_
