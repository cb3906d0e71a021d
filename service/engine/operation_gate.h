// OperationGate: lets an engine that runs operations on its callers' threads
// (MutexEngine, UnsafeEngine) stop accepting them and wait until those
// already running have finished, as AccountEngine::Shutdown promises.
//
// Usage, on every operation:
//   if (!gate_.TryEnter()) { done(EngineShutDownError()); return; }
//   ... apply, run the completion ...
//   gate_.Exit();
// and Close() in Shutdown().
//
// The hot path is two atomic read-modify-writes and one atomic load; the
// mutex is touched only once the gate is closed.
//
// Thread safety: every method may be called from any thread at once. Close()
// must not be called between TryEnter() and Exit() on the same thread (it
// would wait for itself).

#ifndef BANK_SERVICE_ENGINE_OPERATION_GATE_H_
#define BANK_SERVICE_ENGINE_OPERATION_GATE_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace bank {

class OperationGate {
 public:
  // TryEnter answers true, and counts the caller in, unless the gate is
  // closed. Every true must be matched by one Exit().
  bool TryEnter() {
    // seq_cst on both sides (here and in Close) so that either this thread
    // sees closed_, or Close() sees this thread in in_flight_.
    in_flight_.fetch_add(1);
    if (closed_.load()) {
      Exit();
      return false;
    }
    return true;
  }

  // Exit counts the caller out; the last one out after Close() wakes it.
  void Exit() {
    if (in_flight_.fetch_sub(1) == 1 && closed_.load()) {
      // Unlocking mu_ makes a waiting Close() re-evaluate its condition.
      absl::MutexLock lock(&mu_);
    }
  }

  // Closing answers true once Close() has begun: an admitted caller that
  // has not started its work yet may then give up instead.
  bool Closing() const { return closed_.load(); }

  // Close stops TryEnter() from admitting anyone and returns once every
  // caller already admitted has called Exit(). Idempotent.
  void Close() ABSL_LOCKS_EXCLUDED(mu_) {
    closed_.store(true);
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &OperationGate::Drained));
  }

 private:
  bool Drained() const { return in_flight_.load() == 0; }

  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> closed_{false};
  // Guards nothing itself: Close() waits on it, Exit() wakes Close().
  absl::Mutex mu_;
};

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_OPERATION_GATE_H_
