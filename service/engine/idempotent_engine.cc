#include "service/engine/idempotent_engine.h"

#include <string>
#include <utility>
#include <vector>

namespace bank {

IdempotentEngine::IdempotentEngine(std::unique_ptr<AccountEngine> inner,
                                   RequestIdOptions options)
    : inner_(std::move(inner)), table_(std::move(options)) {}

IdempotentEngine::IdempotentEngine(std::unique_ptr<AccountEngine> inner,
                                   RequestIdOptions options,
                                   std::unique_ptr<RequestIdJournal> journal,
                                   std::vector<JournalEntry> remembered)
    : journal_(std::move(journal)),
      inner_(std::move(inner)),
      table_(std::move(options)) {
  for (JournalEntry& entry : remembered) table_.Restore(std::move(entry));
}

IdempotentEngine::~IdempotentEngine() { inner_->Shutdown(); }

void IdempotentEngine::Execute(Operation operation, OperationDone done) {
  if (operation.request_id.empty() ||
      operation.kind == OperationKind::kGetBalance) {
    inner_->Execute(std::move(operation), std::move(done));
    return;
  }
  // A malformed operation decides nothing and must not take the id.
  if (absl::Status valid = ValidateOperation(operation); !valid.ok()) {
    std::move(done)(valid);
    return;
  }
  RequestIdTable::Claim claim = table_.ClaimId(operation, &done);
  switch (claim.kind) {
    case RequestIdTable::ClaimKind::kAnswered:
      if (claim.outcome.ok()) claim.outcome->replayed = true;
      std::move(done)(std::move(claim.outcome));
      return;
    case RequestIdTable::ClaimKind::kAttached:
      return;
    case RequestIdTable::ClaimKind::kFirst:
      break;
  }
  std::string request_id = operation.request_id;
  inner_->Execute(
      std::move(operation),
      [this, request_id = std::move(request_id), done = std::move(done)](
          absl::StatusOr<OperationResult> outcome) mutable {
        std::vector<OperationDone> waiters = table_.Finish(request_id, outcome);
        absl::StatusOr<OperationResult> replay = outcome;
        if (replay.ok()) replay->replayed = true;
        for (OperationDone& waiter : waiters) std::move(waiter)(replay);
        std::move(done)(std::move(outcome));
      });
}

}  // namespace bank
