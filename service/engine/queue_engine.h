// QueueEngine: "share memory by communicating".
//
// One consumer thread owns every balance, in plain unlocked data. Execute()
// validates the operation on the caller's thread, then puts it, with its
// completion, on a bounded multi-producer single-consumer queue and returns
// at once. The consumer takes whatever is pending as one batch (at most
// kBatchSizeMax operations), applies the batch in order and runs each
// completion right after its operation. A transfer is atomic for free: one
// thread applies it, and nothing else ever touches a balance.
//
// The single-consumer rule: balances_ and batch_ are read and written ONLY by
// the consumer thread, without any lock. Every function that touches them
// asserts that it runs on that thread (BANK_CHECK), so a future change that
// breaks the rule stops the process instead of racing.
//
// The queue is a ring of queue_depth_max preallocated slots behind mu_.
// Producers write a slot under mu_; the consumer claims the pending slots
// under mu_, moves their messages into batch_ without the lock, and frees
// the slots again under mu_ BEFORE applying anything, so the queue depth
// counts operations waiting for the consumer, not the batch it is applying.
// A full queue completes the operation at once, on the caller's thread, with
// kResourceExhausted: memory never grows with the load.
//
// Wake-ups: the consumer sleeps (absl::Mutex::Await) only when the queue is
// empty; absl::Mutex re-evaluates its condition only while it sleeps, so a
// busy consumer costs producers nothing extra.
//
// Completions run on the consumer thread (or on the caller's thread for an
// operation rejected up front). A completion may call Execute() again, but
// must not block and must not call Shutdown().
//
// Thread safety: all public methods may be called from any thread at once.

#ifndef BANK_SERVICE_ENGINE_QUEUE_ENGINE_H_
#define BANK_SERVICE_ENGINE_QUEUE_ENGINE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "service/engine/account_engine.h"
#include "service/engine/engine_factory.h"
#include "service/engine/latency_injector.h"

namespace bank {

// QueueEngineStats: how the consumer has been batching, for benchmarks.
struct QueueEngineStats {
  uint64_t batches = 0;     // Batches the consumer took.
  uint64_t operations = 0;  // Operations in those batches.

  double mean_batch_size() const {
    return batches == 0 ? 0.0 : static_cast<double>(operations) / batches;
  }
};

class QueueEngine final : public AccountEngine {
 public:
  // The most operations the consumer applies between two visits to the
  // queue; bounds how long producers wait for a freed slot.
  static constexpr size_t kBatchSizeMax = 1024;

  // Uses options.accounts_max, options.queue_depth_max (>= 1) and
  // options.latency; `hook` is for tests (see latency_injector.h) and runs on
  // the consumer thread, so a blocking hook blocks the whole engine.
  explicit QueueEngine(const EngineOptions& options,
                       OperationHook hook = nullptr);
  ~QueueEngine() override;

  QueueEngine(const QueueEngine&) = delete;
  QueueEngine& operator=(const QueueEngine&) = delete;

  void Execute(Operation operation, OperationDone done) override;
  void Shutdown() override ABSL_LOCKS_EXCLUDED(shutdown_mu_, mu_);
  const char* Name() const override { return "queue"; }

  // stats answers the batching counters so far.
  QueueEngineStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Message {
    Operation operation;
    OperationDone done;
  };

  // Consumer thread only.
  void Run();
  bool TakeBatch() ABSL_LOCKS_EXCLUDED(mu_);
  void ApplyBatch();
  absl::StatusOr<OperationResult> Apply(const Operation& operation);
  absl::StatusOr<OperationResult> Open(const Operation& operation);
  absl::StatusOr<OperationResult> Transfer(const Operation& operation,
                                           int64_t& from, int64_t& to);
  void AssertConsumerThread() const;

  bool HasWorkOrClosed() const ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return pending_ > 0 || !accepting_;
  }

  // Constant after construction.
  const size_t accounts_max_;
  const size_t queue_depth_max_;
  const LatencyInjector latency_;

  // The ring. The vector itself never changes size. A slot belongs to
  // whoever holds mu_, except while TakeBatch() moves the claimed slots
  // [head_, head_ + n) out without the lock: producers cannot write them
  // then, because pending_ still counts them.
  std::vector<Message> slots_;

  mutable absl::Mutex mu_;
  size_t head_ ABSL_GUARDED_BY(mu_) = 0;     // Oldest pending slot.
  size_t pending_ ABSL_GUARDED_BY(mu_) = 0;  // Accepted, not yet claimed.
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  QueueEngineStats stats_ ABSL_GUARDED_BY(mu_);

  // Owned by the consumer thread (see the single-consumer rule above).
  std::atomic<std::thread::id> consumer_id_{};
  absl::flat_hash_map<std::string, int64_t> balances_;
  std::vector<Message> batch_;

  // Serialises Shutdown() callers; declared last so that the consumer
  // starts after every other member is constructed.
  absl::Mutex shutdown_mu_;
  std::thread consumer_ ABSL_GUARDED_BY(shutdown_mu_);
};

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_QUEUE_ENGINE_H_
