// QueueEngine: "share memory by communicating".
//
// One consumer thread owns every balance, in plain unlocked data. Execute()
// validates the operation on the caller's thread, then puts it, with its
// completion, on a bounded multi-producer single-consumer queue and returns
// at once; ExecuteBatch() puts a whole batch there as ONE message (one
// hand-off per batch, whatever its size). The consumer takes whatever is
// pending, up to kBatchSizeMax operations per pass, applies it in order and
// runs each completion right after its operation (or batch). A transfer, and
// an atomic batch, is atomic for free: one thread applies it, and nothing
// else ever touches a balance.
//
// The single-consumer rule: balances_, batch_ and head_ are read and written
// ONLY by the consumer thread, without any lock. Every function that touches
// them asserts that it runs on that thread (BANK_CHECK), so a future change
// that breaks the rule stops the process instead of racing.
//
// The queue is a ring of queue_depth_max preallocated slots with no lock on
// the hot path (Dmitry Vyukov's bounded queue, single consumer): each slot
// carries a sequence number saying whose turn it is. A producer claims the
// next position with one compare-and-swap on tail_, writes the message into
// the slot and publishes it by advancing the slot's sequence; the consumer
// reads published slots in order, moves each message out and frees its slot
// at once, BEFORE applying anything, so the queue depth counts messages
// waiting for the consumer, not the ones it is applying. A full ring
// completes the operation (or batch) at once, on the caller's thread, with
// kResourceExhausted: memory never grows with the load.
//
// Limits: a batch is one message, so it takes one slot of queue_depth_max;
// the operations in waiting batches are bounded on their own
// (kBatchedOperationsWaitingMax). A
// consumer pass takes messages until it holds kBatchSizeMax operations, but
// always at least one message, so a batch of up to kBatchOperationsMax
// operations is applied in one pass, unsplit.
//
// Wake-ups: when the ring is empty the consumer spins briefly
// (kSpinCountMax polls, a few pauses apart: every poll pulls the producer's
// next slot into the consumer's cache, so polling back to back slows the
// very producer it waits for), then sleeps on sleep_mu_ after raising
// sleeping_; a producer takes sleep_mu_ (to wake it) only when it sees
// sleeping_ raised, so a busy consumer costs producers one load. Both sides use
// sequentially consistent operations for the publish/flag pair, so a wake-up is
// never missed: either the producer sees the flag, or the consumer sees the
// slot.
//
// Durable (EngineOptions::store set): group commit. The consumer applies a
// pass (single operations and batches alike) in memory, collects one record
// per successful change, makes the whole pass durable with ONE
// AccountStore::Commit() (one sync), and only then runs the pass's
// completions, so no answer reports a state that is not on disk yet.
// Operations that arrive during the sync wait in the ring and form the next
// pass. If the commit fails (a full disk, an I/O error), the consumer puts
// every account the pass touched back to its durable balance (an account
// the pass opened disappears again) and answers every operation and batch
// of the pass kUnavailable: none is acknowledged, memory matches the disk,
// and the next pass tries the disk again.
//
// Completions run on the consumer thread (or on the caller's thread for an
// operation rejected up front). A completion may call Execute() again, but
// must not block and must not call Shutdown().
//
// Thread safety: all public methods may be called from any thread at once.

#ifndef BANK_SERVICE_ENGINE_QUEUE_ENGINE_H_
#define BANK_SERVICE_ENGINE_QUEUE_ENGINE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "service/engine/account_engine.h"
#include "service/engine/engine_factory.h"
#include "service/engine/latency_injector.h"
#include "service/engine/request_id_journal.h"

namespace bank {

// kBatchSizeBucketCount: the finite buckets of the batch-size histogram
// (Stats()), whose upper bounds are the powers of two up to kBatchSizeMax;
// a pass can exceed kBatchSizeMax when its last message is a batch, and
// then counts in the +Inf bucket.
inline constexpr size_t kBatchSizeBucketCount = 11;  // 1, 2, 4, ..., 1024.

// QueueEngineStats: how the consumer has been batching, for benchmarks.
struct QueueEngineStats {
  uint64_t batches = 0;     // Passes the consumer made over the queue.
  uint64_t operations = 0;  // Operations in those passes.

  double mean_batch_size() const {
    return batches == 0 ? 0.0 : static_cast<double>(operations) / batches;
  }
};

class QueueEngine final : public AccountEngine {
 public:
  // The most operations the consumer takes in one pass (at least one
  // message); bounds how long producers wait for a freed slot.
  static constexpr size_t kBatchSizeMax = 1024;
  static_assert(kBatchSizeMax == size_t{1} << (kBatchSizeBucketCount - 1),
                "the last finite batch-size bucket must be kBatchSizeMax");
  // How many times the consumer polls an empty ring before it sleeps, and
  // how far apart (up to 2^kSpinBackoffShiftMax pauses): about 250 pauses
  // in all, a few microseconds, enough to catch a producer that is
  // mid-stream, short enough not to steal a shared core. Measured
  // (BENCHMARKS.md): polls back to back gave one producer 3.6 M ops/s,
  // these 16.8 M; 16 times longer spinning gained no more in process and
  // cost 9% of end-to-end RPS (the spinning consumer took the core from
  // gRPC's threads).
  static constexpr int kSpinCountMax = 64;
  static constexpr int kSpinBackoffShiftMax = 2;
  // The most operations that batches waiting in the ring may hold together.
  // A batch takes one slot of queue_depth_max whatever its size, so without
  // this bound queue_depth_max full batches (about 100 bytes an operation)
  // could pin tens of GiB; with it, waiting batches hold at most about
  // 50 MiB. A batch that would pass it answers kResourceExhausted at once.
  static constexpr size_t kBatchedOperationsWaitingMax =
      64 * kBatchOperationsMax;

  // Uses options.accounts_max, options.queue_depth_max (>= 1) and
  // options.latency; `hook` is for tests (see latency_injector.h) and runs on
  // the consumer thread, so a blocking hook blocks the whole engine.
  explicit QueueEngine(const EngineOptions& options,
                       OperationHook hook = nullptr);
  ~QueueEngine() override;

  QueueEngine(const QueueEngine&) = delete;
  QueueEngine& operator=(const QueueEngine&) = delete;

  void Execute(Operation operation, OperationDone done) override;
  void ExecuteBatch(std::vector<Operation> operations, bool atomic,
                    BatchDone done) override;
  void Shutdown() override ABSL_LOCKS_EXCLUDED(shutdown_mu_, sleep_mu_);
  const char* Name() const override { return "queue"; }
  // Stats: accounts open, queue depth (messages claimed and not yet taken
  // by the consumer; a batch counts once) and the batch-size histogram.
  EngineStats Stats() const override;

  // stats answers the batching counters so far.
  QueueEngineStats stats() const;

 private:
  struct BatchMessage {
    std::vector<Operation> operations;
    bool atomic = false;
    BatchDone done;
  };
  // A single operation (operation, done) or, when batch is set, a batch.
  struct Message {
    Operation operation;
    OperationDone done;
    std::unique_ptr<BatchMessage> batch;
  };
  struct alignas(64) Slot {
    // == 2 * position: free for the producer of `position`;
    // == 2 * position + 1: published; == 2 * (position + queue_depth_max):
    // freed for the next lap. (Doubled so that "published" and "free for
    // the next lap" differ even when queue_depth_max is 1.)
    std::atomic<uint64_t> sequence{0};
    Message message;
  };
  // Set in tail_ by Shutdown(): no position can be claimed any more.
  static constexpr uint64_t kClosedBit = uint64_t{1} << 63;

  // Producers.
  absl::Status Enqueue(Message& message) ABSL_LOCKS_EXCLUDED(sleep_mu_);

  // Consumer thread only.
  void Run();
  bool WaitForWork() ABSL_LOCKS_EXCLUDED(sleep_mu_);
  void TakeBatch();
  void ApplyBatch();
  void ApplyMessage(Message& message);
  BatchResults ApplyBatchMessage(BatchMessage& batch);
  void ApplyBatchDurably();
  void RollBack(const std::vector<StoreRecord>& records);
  BatchResults ApplyAtomic(const std::vector<Operation>& operations);
  absl::StatusOr<OperationResult> Apply(const Operation& operation);
  absl::StatusOr<OperationResult> Open(const Operation& operation);
  absl::StatusOr<OperationResult> Transfer(const Operation& operation,
                                           int64_t& from, int64_t& to);
  void AssertConsumerThread() const;
  void PublishAccountsOpen();

  bool IsPublished(uint64_t position) const {
    return slots_[position % queue_depth_max_].sequence.load() ==
           2 * position + 1;
  }
  bool HasWorkOrClosed() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(sleep_mu_) {
    return IsPublished(wait_position_) || (tail_.load() & kClosedBit) != 0;
  }

  // Constant after construction.
  const size_t accounts_max_;
  const size_t queue_depth_max_;
  const LatencyInjector latency_;
  AccountStore* const store_;  // Null: in memory only.
  // Request-id outcomes journaled with the changes; null: not journaled.
  RequestIdJournal* const journal_;
  const std::unique_ptr<Slot[]> slots_;

  // The next position a producer claims, plus kClosedBit once shut down.
  alignas(64) std::atomic<uint64_t> tail_{0};
  // Raised by the consumer just before it sleeps.
  alignas(64) std::atomic<bool> sleeping_{false};
  // Operations in batches accepted and not yet taken by the consumer
  // (kBatchedOperationsWaitingMax); single operations are not counted.
  std::atomic<size_t> batched_operations_waiting_{0};
  // Guards nothing but wait_position_: the consumer sleeps on it, and a
  // producer or Shutdown() locks and unlocks it to make absl::Mutex
  // re-evaluate the consumer's condition.
  absl::Mutex sleep_mu_;
  uint64_t wait_position_ ABSL_GUARDED_BY(sleep_mu_) = 0;
  std::atomic<uint64_t> stats_batches_{0};
  std::atomic<uint64_t> stats_operations_{0};
  // stopping_: set by Shutdown; the consumer then answers kUnavailable to
  // every message it has not started, instead of applying it.
  std::atomic<bool> stopping_{false};
  // Written by the consumer only, read by Stats() from any thread: passes
  // by size (bucket i: 2^(i-1) < operations <= 2^i; the last: above
  // kBatchSizeMax), head_ after each pass, balances_.size().
  std::array<std::atomic<uint64_t>, kBatchSizeBucketCount + 1>
      stats_batch_sizes_{};
  std::atomic<uint64_t> stats_consumed_{0};
  std::atomic<uint64_t> stats_accounts_open_{0};

  // Owned by the consumer thread (see the single-consumer rule above).
  std::atomic<std::thread::id> consumer_id_{};
  alignas(64) uint64_t head_ = 0;  // The next position to consume.
  absl::flat_hash_map<std::string, int64_t> balances_;
  std::vector<Message> batch_;
  // Durable mode, consumer thread only: the pass's outcomes until its sync.
  std::vector<absl::StatusOr<OperationResult>> single_results_;
  std::vector<BatchResults> batch_results_;
  std::vector<StoreRecord> records_;

  // Serialises Shutdown() callers; declared last so that the consumer
  // starts after every other member is constructed.
  absl::Mutex shutdown_mu_;
  std::thread consumer_ ABSL_GUARDED_BY(shutdown_mu_);
};

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_QUEUE_ENGINE_H_
