#include "service/engine/process_tuning.h"

#include <malloc.h>

#include "absl/synchronization/mutex.h"

namespace bank {

void TuneProcessForThroughput() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  mallopt(M_TRIM_THRESHOLD, kMallocTrimThresholdBytes);
  mallopt(M_MMAP_THRESHOLD, kMallocMmapThresholdBytes);
}

}  // namespace bank
