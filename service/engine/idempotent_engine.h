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
// Durability: the table lives in memory; with a durable store, CreateEngine
// also hands the wrapped engine a RequestIdJournal (request_id_journal.h),
// which the engine writes each remembered outcome to in the same atomic,
// synced write as the change itself, and reloads the table from it here.
// The wrapper only reports an outcome after the wrapped engine did, i.e.
// after it was durable.
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
#include "service/engine/request_id_journal.h"
#include "service/engine/request_id_table.h"

namespace bank {

class IdempotentEngine final : public AccountEngine {
 public:
  IdempotentEngine(std::unique_ptr<AccountEngine> inner,
                   RequestIdOptions options);
  // Durable: `journal` is the one `inner` writes to (owned here, outliving
  // `inner`); `remembered` (oldest first) is loaded into the table.
  IdempotentEngine(std::unique_ptr<AccountEngine> inner,
                   RequestIdOptions options,
                   std::unique_ptr<RequestIdJournal> journal,
                   std::vector<JournalEntry> remembered);
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
  // Declared before inner_, so destroyed after it: the engine writes to it.
  const std::unique_ptr<RequestIdJournal> journal_;
  const std::unique_ptr<AccountEngine> inner_;
  RequestIdTable table_;
};

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_IDEMPOTENT_ENGINE_H_
