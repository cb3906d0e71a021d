#include "service/engine/latency_injector.h"

#include <cstdint>
#include <utility>

#include "absl/random/random.h"
#include "service/engine/check.h"

namespace bank {

LatencyInjector::LatencyInjector(LatencyRange range, OperationHook hook)
    : range_(range), hook_(std::move(hook)) {
  BANK_CHECK(range_.min >= absl::ZeroDuration());
  BANK_CHECK(range_.min <= range_.max);
}

absl::Duration LatencyInjector::Sample() const {
  if (!range_.enabled()) return absl::ZeroDuration();
  const int64_t min_ns = absl::ToInt64Nanoseconds(range_.min);
  const int64_t max_ns = absl::ToInt64Nanoseconds(range_.max);
  if (min_ns == max_ns) return range_.min;
  // One generator per thread: absl::BitGen is not thread-safe, and a shared
  // one behind a lock would serialise the very threads we want to race.
  thread_local absl::BitGen bit_gen;
  return absl::Nanoseconds(
      absl::Uniform(absl::IntervalClosedClosed, bit_gen, min_ns, max_ns));
}

void LatencyInjector::SpendSlow(const Operation& operation) const {
  if (range_.enabled()) absl::SleepFor(Sample());
  if (hook_) hook_(operation);
}

}  // namespace bank
