#include "service/engine/process_tuning.h"

#include <malloc.h>

#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace bank {

void TuneProcessForThroughput() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  mallopt(M_TRIM_THRESHOLD, kMallocTrimThresholdBytes);
  mallopt(M_MMAP_THRESHOLD, kMallocMmapThresholdBytes);
}

void StartHeapTrimmer(absl::Duration interval) {
  std::thread([interval] {
    while (true) {
      absl::SleepFor(interval);
      malloc_trim(0);
    }
  }).detach();
}

}  // namespace bank
