// AccountEngine: where account balances live.
//
// The gRPC layer talks only to this interface, so the two classic answers to
// concurrent access of shared state can be run side by side:
//   - MutexEngine ("share memory by communicating"'s opposite): every account
//     is guarded by its own absl::Mutex;
//   - QueueEngine ("share memory by communicating"): one consumer thread owns
//     every balance and receives each operation as a message on a bounded
//     queue;
//   - UnsafeEngine: the article's naive account (read, wait, write), kept only
//     to demonstrate the lost update.
//
// The interface is asynchronous: Execute() hands the engine an operation and a
// completion, and returns. The completion runs exactly once, either on the
// calling thread before Execute() returns (mutex and unsafe engines, and any
// operation rejected up front) or later on an engine thread (queue engine).
// This is what lets a gRPC callback handler finish its RPC from the engine's
// thread without any gRPC thread ever blocking on the engine.
//
// Thread safety: every method may be called from any number of threads at
// once. Completions must not block: they run on the engine's own thread.
//
// Errors (absl::StatusCode, the same codes gRPC uses):
//   kInvalidArgument     see ValidateOperation() in operation.h.
//   kNotFound            an account does not exist.
//   kAlreadyExists       kOpen on an id that is already open.
//   kFailedPrecondition  insufficient funds; nothing changed.
//   kOutOfRange          a balance would pass INT64_MAX; nothing changed.
//   kResourceExhausted   an engine limit (queue depth, account count).
//   kUnavailable         the engine has been shut down.
// A failed operation never changes any balance, except in UnsafeEngine,
// whose whole point is that it is wrong.

#ifndef BANK_SERVICE_ENGINE_ACCOUNT_ENGINE_H_
#define BANK_SERVICE_ENGINE_ACCOUNT_ENGINE_H_

#include <vector>

#include "absl/status/statusor.h"
#include "service/engine/batch.h"
#include "service/engine/engine_stats.h"
#include "service/engine/operation.h"

namespace bank {

class AccountEngine {
 public:
  virtual ~AccountEngine() = default;

  // Execute applies `operation` and then calls `done` exactly once with its
  // result (OperationResult on success, a status from the table above
  // otherwise). Operations submitted from one thread apply in submission
  // order; operations from different threads apply in some serial order
  // (except in UnsafeEngine).
  virtual void Execute(Operation operation, OperationDone done) = 0;

  // ExecuteBatch applies `operations` as one batch (semantics in batch.h)
  // and then calls `done` exactly once, on the same threads Execute() would:
  // with a batch-level error (kInvalidArgument from ValidateBatchSize,
  // kResourceExhausted, kUnavailable; nothing applied) or with one result
  // per operation. A batch is ordered like one operation: batches and
  // operations submitted from one thread apply in submission order.
  virtual void ExecuteBatch(std::vector<Operation> operations, bool atomic,
                            BatchDone done) = 0;

  // Shutdown stops accepting operations (later calls complete with
  // kUnavailable), and returns once every operation already accepted has
  // completed: those already applying finish; those still waiting (in the
  // queue engine's queue, or for an account lock in the mutex engine)
  // complete with kUnavailable and change nothing, so that shutdown takes
  // at most about one operation's time, and kUnavailable always means "not
  // applied". Idempotent; the destructor calls it too.
  virtual void Shutdown() = 0;

  // Name is the engine's flag value: "mutex", "queue" or "unsafe".
  virtual const char* Name() const = 0;

  // Stats answers a snapshot of the engine's counters and gauges for the
  // metrics layer, which calls it at scrape time (see engine_stats.h for
  // the pull model and what each field becomes). Cheap and non-blocking
  // beyond a short lock; callable from any thread, also after Shutdown().
  // The default has nothing to tell; engines fill what they have.
  virtual EngineStats Stats() const { return EngineStats(); }

  // Healthy answers false while the engine cannot serve (e.g. its database
  // is unreachable); the server polls it for the gRPC health status. Engines
  // in memory are always healthy.
  virtual bool Healthy() const { return true; }
};

// ExecuteAndWait runs `operation` on `engine` and blocks the calling thread
// until its completion ran. For tests, tools and benchmarks: never call it
// from a gRPC handler or from a completion.
absl::StatusOr<OperationResult> ExecuteAndWait(AccountEngine& engine,
                                               Operation operation);

// ExecuteBatchAndWait is ExecuteAndWait for a batch: same restrictions.
absl::StatusOr<BatchResults> ExecuteBatchAndWait(
    AccountEngine& engine, std::vector<Operation> operations, bool atomic);

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_ACCOUNT_ENGINE_H_
