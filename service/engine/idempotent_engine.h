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
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
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
  // ExecuteBatch (idempotent_batch.cc) gives each change in the batch that
  // carries a request id the single operation's contract above; changes
  // without one, and every kGetBalance (its id is dropped), run as they
  // are. Only the changes this call claimed first reach the wrapped engine
  // with their request id; replayed, attached and refused ones never reach
  // it. Before any look-up, a change whose fields are invalid, or whose id
  // an earlier operation of the same batch already uses, is refused with
  // kInvalidArgument.
  //   atomic = false  each change answers exactly what the single operation
  //                   would, in its place (replay, kInvalidArgument for
  //                   other parameters, waiting for a first in flight
  //                   elsewhere); the rest runs as one batch, in order.
  //   atomic = true   every id is looked up and every new one claimed under
  //                   one lock, all or none. The batch fails at the first
  //                   operation that is refused, is invalid, reuses an id
  //                   with other parameters or replays a remembered error
  //                   (that result, the others kAborted; nothing runs);
  //                   if an id is in flight elsewhere, every result is
  //                   kAborted naming it (nothing runs; retry). Otherwise
  //                   remembered successes replay and the rest applies as
  //                   one atomic batch; each claimed id then remembers its
  //                   own result (kAborted is not remembered, so a retry of
  //                   a failed batch runs those operations again).
  // A batch-level error of the wrapped engine (nothing applied) answers
  // the batch with it, once every attached change has its answer.
  void ExecuteBatch(std::vector<Operation> operations, bool atomic,
                    BatchDone done) override;
  void Shutdown() override { inner_->Shutdown(); }
  // Name is the wrapped engine's: the wrapper is not an engine choice.
  const char* Name() const override { return inner_->Name(); }
  // Stats and health are the wrapped engine's.
  EngineStats Stats() const override { return inner_->Stats(); }
  bool Healthy() const override { return inner_->Healthy(); }

  // RememberedIds answers the table's size (in flight and remembered).
  size_t RememberedIds() const { return table_.Size(); }

 private:
  struct PendingBatch;
  // The two halves of ExecuteBatch; `refused` lists the operations refused
  // before any look-up, by ascending index.
  void ExecuteNonAtomic(std::vector<Operation> operations,
                        const std::vector<size_t>& with_ids,
                        std::vector<std::pair<size_t, absl::Status>> refused,
                        BatchDone done);
  void ExecuteAtomic(std::vector<Operation> operations,
                     const std::vector<size_t>& with_ids,
                     std::vector<std::pair<size_t, absl::Status>> refused,
                     BatchDone done);
  // FinishClaims records the outcome of each claimed id (`claimed`: the
  // position of its outcome, the id; `outcome_of` answers the outcome at a
  // position) under one lock, and answers the repeats that attached to
  // them meanwhile.
  void FinishClaims(
      const std::vector<std::pair<size_t, std::string>>& claimed,
      absl::FunctionRef<const absl::StatusOr<OperationResult>&(size_t)>
          outcome_of);

  // Declared before inner_, so destroyed after it: the engine writes to it.
  const std::unique_ptr<RequestIdJournal> journal_;
  const std::unique_ptr<AccountEngine> inner_;
  RequestIdTable table_;
};

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_IDEMPOTENT_ENGINE_H_
