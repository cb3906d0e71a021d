// bench_no_deadlock_detection: an LD_PRELOAD module that turns off Abseil's
// mutex deadlock detection in a program that does not do so itself.
//
// Debian builds Abseil without NDEBUG, so by default every absl::Mutex (the
// engines' and gRPC's own) is checked on each Lock() against a process-wide
// lock-order graph under one global spinlock, and every mutex ever locked
// keeps a node in that graph. bench/e2e.sh preloads this module to measure
// what bank_server and bank_loadgen would gain by calling
// absl::SetMutexDeadlockDetectionMode(kIgnore) at startup; it is never
// shipped.

#include "absl/synchronization/mutex.h"

namespace {

// Runs when the module is loaded, before the program's main().
__attribute__((constructor)) void TurnOffDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace
