// IdempotentEngine: exactly-once changes by client-chosen request id, for
// any AccountEngine.
//
// It wraps another engine and keeps a RequestIdTable (request_id_table.h).
// An operation without a request id, and every kGetBalance, passes straight
// through. A change with a request id:
//   first use        runs on the wrapped engine; its outcome is remembered
//                    if it decided something (success, kFailedPrecondition,
//                    kNotFound, kOutOfRange, kAlreadyExists);
//   repeat, same     answers the remembered outcome: the same result or the
//   parameters       same status and message; nothing runs again;
//   repeat, other    kInvalidArgument naming the id; nothing runs;
//   parameters
//   repeat while     waits for the first and answers its outcome (never a
//   the first runs   second application);
//   after an undecided outcome (kResourceExhausted, kUnavailable,
//                    kInvalidArgument): runs again, as a first use.
// The gRPC layer builds its response only from the OperationResult and the
// request's own (identical) parameters, so a replayed answer is the same
// bytes on the wire.
//
// What this wrapper cannot do alone is survive a restart: its table lives
// in memory. A durable engine must write the remembered outcome in the same
// atomic write as the change itself (see docs/SERVER.md).
//
// Thread safety: as AccountEngine. Completions run on the wrapped engine's
// completion thread (the first's and its attached repeats'), or on the
// calling thread for a replay or a rejection.

#ifndef BANK_SERVICE_ENGINE_IDEMPOTENT_ENGINE_H_
#define BANK_SERVICE_ENGINE_IDEMPOTENT_ENGINE_H_

#include <memory>
#include <utility>
#include <vector>

#include "service/engine/account_engine.h"
#include "service/engine/request_id_table.h"

namespace bank {

class IdempotentEngine final : public AccountEngine {
 public:
  IdempotentEngine(std::unique_ptr<AccountEngine> inner,
                   RequestIdOptions options);
  ~IdempotentEngine() override;

  void Execute(Operation operation, OperationDone done) override;
  // ExecuteBatch passes the batch to the wrapped engine as it is: request
  // ids inside a batch are not looked up or remembered (bank.v1's batch
  // carries none); a batch is retried safely only if it is atomic and the
  // caller can tell from its results whether it applied.
  void ExecuteBatch(std::vector<Operation> operations, bool atomic,
                    BatchDone done) override {
    inner_->ExecuteBatch(std::move(operations), atomic, std::move(done));
  }
  void Shutdown() override { inner_->Shutdown(); }
  // Name is the wrapped engine's: the wrapper is not an engine choice.
  const char* Name() const override { return inner_->Name(); }
  // Stats and health are the wrapped engine's.
  EngineStats Stats() const override { return inner_->Stats(); }
  bool Healthy() const override { return inner_->Healthy(); }

  // RememberedIds answers the table's size (in flight and remembered).
  size_t RememberedIds() const { return table_.Size(); }

 private:
  const std::unique_ptr<AccountEngine> inner_;
  RequestIdTable table_;
};

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_IDEMPOTENT_ENGINE_H_
