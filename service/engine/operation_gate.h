// OperationGate: lets an engine that runs operations on its callers' threads
// (MutexEngine, UnsafeEngine) stop accepting them and wait until those
// already running have finished, as AccountEngine::Shutdown promises.
//
// Usage, on every operation (AdmitBatch likewise for a batch):
//   if (!gate_.Admit(done)) return;  // Refused: done ran.
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
#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/engine/batch.h"
#include "service/engine/operation.h"

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

  // Admit is TryEnter for an operation: when the gate is closed it runs
  // `done` with EngineShutDownError() and answers false (`done` is then
  // used up).
  bool Admit(OperationDone& done) {
    if (TryEnter()) return true;
    std::move(done)(EngineShutDownError());
    return false;
  }

  // AdmitBatch is Admit for a batch of `operation_count` operations, which
  // it first refuses through `done` with ValidateBatchSize's error when
  // that rejects the count: the one preamble of every ExecuteBatch that
  // runs on its caller's thread.
  bool AdmitBatch(size_t operation_count, BatchDone& done) {
    if (absl::Status size = ValidateBatchSize(operation_count); !size.ok()) {
      std::move(done)(std::move(size));
      return false;
    }
    if (TryEnter()) return true;
    std::move(done)(EngineShutDownError());
    return false;
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
