// bench_no_deadlock_detection: an LD_PRELOAD module that gives a program
// bank_loadgen's process setup, for bench/e2e.sh's what-if runs.
//
// Debian builds Abseil without NDEBUG, so by default every absl::Mutex (the
// engines' and gRPC's own) is checked on each Lock() against a process-wide
// lock-order graph under one global spinlock, which also records every
// mutex it sees. This module turns that off, as
// absl::SetMutexDeadlockDetectionMode(kIgnore) at the top of main would.
// With BANK_BENCH_KEEP_FREED_HEAP=1 in the environment it also stops glibc
// from trimming freed heap, as bank_loadgen's main does (mallopt). Never
// shipped: it measures what bank_server would gain from those lines.

#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include "absl/synchronization/mutex.h"

namespace {

// The same values as loadgen/main.cc.
constexpr int kMallocTrimThresholdBytes = 256 << 20;
constexpr int kMallocMmapThresholdBytes = 4 << 20;

// Runs when the module is loaded, before the program's main().
__attribute__((constructor)) void SetUpProcess() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const char* keep = std::getenv("BANK_BENCH_KEEP_FREED_HEAP");
  if (keep != nullptr && std::strcmp(keep, "1") == 0) {
    mallopt(M_TRIM_THRESHOLD, kMallocTrimThresholdBytes);
    mallopt(M_MMAP_THRESHOLD, kMallocMmapThresholdBytes);
  }
}

}  // namespace
