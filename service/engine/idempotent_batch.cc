// IdempotentEngine::ExecuteBatch: request ids inside a batch (contract in
// idempotent_engine.h; the table for people in docs/SERVER.md, "Batches").

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "service/engine/check.h"
#include "service/engine/idempotent_engine.h"

namespace bank {
namespace {

using Refusals = std::vector<std::pair<size_t, absl::Status>>;

absl::StatusOr<OperationResult> AsReplay(
    absl::StatusOr<OperationResult> outcome) {
  if (outcome.ok()) outcome->replayed = true;
  return outcome;
}

// RefuseBeforeLookUp answers, by ascending index, the changes with ids that
// must not take their id: invalid fields (they decide nothing, as for a
// single operation), or an id an earlier operation of this batch uses.
Refusals RefuseBeforeLookUp(const std::vector<Operation>& operations,
                            const std::vector<size_t>& with_ids) {
  Refusals refused;
  absl::flat_hash_map<absl::string_view, size_t> first_use;
  first_use.reserve(with_ids.size());
  for (size_t index : with_ids) {
    const Operation& operation = operations[index];
    auto [it, inserted] = first_use.try_emplace(operation.request_id, index);
    if (absl::Status valid = ValidateOperation(operation); !valid.ok()) {
      refused.emplace_back(index, std::move(valid));
    } else if (!inserted) {
      refused.emplace_back(
          index, absl::InvalidArgumentError(absl::StrCat(
                     "request_id '", operation.request_id,
                     "' is used by operations ", it->second, " and ", index,
                     " of this batch; every change needs its own request_id")));
    }
  }
  return refused;
}

// Forwarded: the operations of a batch that go to the wrapped engine, where
// each came from, and the ids this call claimed for them.
struct Forwarded {
  std::vector<Operation> operations;
  std::vector<size_t> index;  // Position in the caller's batch.
  // (position in `operations`, request id), ascending.
  std::vector<std::pair<size_t, std::string>> claimed;

  void Add(Operation operation, size_t at, bool claimed_id) {
    if (claimed_id)
      claimed.emplace_back(operations.size(), operation.request_id);
    operations.push_back(std::move(operation));
    index.push_back(at);
  }

  // Collect moves every operation of the batch not marked in `skip` into
  // a Forwarded, in order, noting those whose id was claimed (`claimed_id`).
  static Forwarded Collect(std::vector<Operation>& batch,
                           const std::vector<bool>& skip,
                           const std::vector<bool>& claimed_id) {
    Forwarded forwarded;
    forwarded.operations.reserve(batch.size());
    forwarded.index.reserve(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) {
      if (!skip[i]) forwarded.Add(std::move(batch[i]), i, claimed_id[i]);
    }
    return forwarded;
  }
};

// InFlightError: an atomic batch cannot wait for another request's id (two
// batches could wait for each other), so it answers ABORTED: retry.
absl::Status InFlightError(const Operation& operation, size_t index) {
  return absl::AbortedError(absl::StrCat(
      "not applied: request_id '", operation.request_id, "' of operation ",
      index,
      " is being applied by another request right now; retry the batch "
      "(the atomic batch cannot wait for it)"));
}

}  // namespace

// PendingBatch: a non-atomic batch's answer while parts of it are still
// running: the wrapped engine's share and every change attached to an id in
// flight elsewhere. Each result slot is written by exactly one completion;
// the last completion (pending reaches zero) answers the batch.
struct IdempotentEngine::PendingBatch {
  explicit PendingBatch(size_t count, BatchDone batch_done)
      : results(count), done(std::move(batch_done)) {}

  void Complete() {
    if (pending.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    if (!batch_error.ok()) {
      std::move(done)(batch_error);
    } else {
      std::move(done)(std::move(results));
    }
  }

  BatchResults results;
  // Set only by the wrapped engine's completion, before its Complete().
  absl::Status batch_error;
  // Starts at one for the caller's setup, released when setup is over.
  std::atomic<size_t> pending{1};
  BatchDone done;
};

void IdempotentEngine::FinishClaims(
    const std::vector<std::pair<size_t, std::string>>& claimed,
    absl::FunctionRef<const absl::StatusOr<OperationResult>&(size_t)>
        outcome_of) {
  if (claimed.empty()) return;
  std::vector<std::pair<std::string, const absl::StatusOr<OperationResult>*>>
      outcomes;
  outcomes.reserve(claimed.size());
  for (const auto& [at, request_id] : claimed) {
    outcomes.emplace_back(request_id, &outcome_of(at));
  }
  for (auto& [i, waiter] : table_.FinishEach(outcomes)) {
    std::move(waiter)(AsReplay(*outcomes[i].second));
  }
}

void IdempotentEngine::ExecuteBatch(std::vector<Operation> operations,
                                    bool atomic, BatchDone done) {
  std::vector<size_t> with_ids;
  for (size_t i = 0; i < operations.size(); ++i) {
    Operation& operation = operations[i];
    if (operation.request_id.empty()) continue;
    if (operation.kind == OperationKind::kGetBalance) {
      // A read is never remembered: its id must not reach the engine.
      operation.request_id.clear();
      continue;
    }
    with_ids.push_back(i);
  }
  if (with_ids.empty()) {
    inner_->ExecuteBatch(std::move(operations), atomic, std::move(done));
    return;
  }
  if (absl::Status size = ValidateBatchSize(operations.size()); !size.ok()) {
    std::move(done)(size);
    return;
  }
  Refusals refused = RefuseBeforeLookUp(operations, with_ids);
  if (atomic) {
    ExecuteAtomic(std::move(operations), with_ids, std::move(refused),
                  std::move(done));
  } else {
    ExecuteNonAtomic(std::move(operations), with_ids, std::move(refused),
                     std::move(done));
  }
}

void IdempotentEngine::ExecuteNonAtomic(std::vector<Operation> operations,
                                        const std::vector<size_t>& with_ids,
                                        Refusals refused, BatchDone done) {
  const size_t count = operations.size();
  auto state = std::make_shared<PendingBatch>(count, std::move(done));
  std::vector<bool> claimed(count, false);
  std::vector<bool> answered(count, false);
  for (auto& [index, status] : refused) {
    state->results[index] = std::move(status);
    answered[index] = true;
  }
  // Claims in batch order, so each change sees the table as a single
  // operation sent at that point would; one lock for the whole batch.
  std::vector<size_t> looked_up;
  std::vector<const Operation*> lookups;
  looked_up.reserve(with_ids.size());
  lookups.reserve(with_ids.size());
  for (size_t index : with_ids) {
    if (answered[index]) continue;
    looked_up.push_back(index);
    lookups.push_back(&operations[index]);
  }
  std::vector<RequestIdTable::Claim> claims = table_.ClaimEach(
      lookups, [&state, &looked_up](size_t k) -> OperationDone {
        // Counted before the table lets go of it: its first may finish on
        // another thread as soon as the lock is released.
        state->pending.fetch_add(1, std::memory_order_relaxed);
        return [state,
                index = looked_up[k]](absl::StatusOr<OperationResult> outcome) {
          state->results[index] = std::move(outcome);
          state->Complete();
        };
      });
  for (size_t k = 0; k < looked_up.size(); ++k) {
    const size_t index = looked_up[k];
    switch (claims[k].kind) {
      case RequestIdTable::ClaimKind::kAttached:
        answered[index] = true;  // Its answer comes from the first.
        break;
      case RequestIdTable::ClaimKind::kAnswered:
        state->results[index] = AsReplay(std::move(claims[k].outcome));
        answered[index] = true;
        break;
      case RequestIdTable::ClaimKind::kFirst:
        claimed[index] = true;
        break;
    }
  }
  Forwarded forwarded = Forwarded::Collect(operations, answered, claimed);
  if (!forwarded.operations.empty()) {
    state->pending.fetch_add(1, std::memory_order_relaxed);
    std::vector<Operation> to_engine = std::move(forwarded.operations);
    inner_->ExecuteBatch(
        std::move(to_engine), /*atomic=*/false,
        [this, state, index = std::move(forwarded.index),
         claimed_ids = std::move(forwarded.claimed)](
            absl::StatusOr<BatchResults> outcome) mutable {
          if (!outcome.ok()) {
            const absl::StatusOr<OperationResult> refused = outcome.status();
            FinishClaims(
                claimed_ids, [&](size_t) -> const auto& { return refused; });
            state->batch_error = outcome.status();
            state->Complete();
            return;
          }
          BANK_CHECK(outcome->size() == index.size());
          FinishClaims(
              claimed_ids, [&](size_t at) -> const auto& {
                return (*outcome)[at];
              });
          for (size_t k = 0; k < index.size(); ++k) {
            state->results[index[k]] = std::move((*outcome)[k]);
          }
          state->Complete();
        });
  }
  state->Complete();  // The setup's own count.
}

void IdempotentEngine::ExecuteAtomic(std::vector<Operation> operations,
                                     const std::vector<size_t>& with_ids,
                                     Refusals refused, BatchDone done) {
  const size_t count = operations.size();
  // The first failure decides the batch: a refusal, an invalid operation
  // without an id, or an id that replays an error.
  size_t failed_index = count;
  absl::Status failure;
  auto fail_at = [&](size_t index, const absl::Status& status) {
    if (index < failed_index) {
      failed_index = index;
      failure = status;
    }
  };
  if (!refused.empty()) fail_at(refused.front().first, refused.front().second);
  std::vector<bool> has_id(count, false);
  for (size_t index : with_ids) has_id[index] = true;
  for (size_t i = 0; i < failed_index; ++i) {
    if (has_id[i]) continue;
    if (absl::Status valid = ValidateOperation(operations[i]); !valid.ok()) {
      fail_at(i, valid);
    }
  }
  // Look up every id before the first failure; claim only if nothing fails.
  std::vector<size_t> looked_up;
  std::vector<const Operation*> lookups;
  for (size_t index : with_ids) {
    if (index >= failed_index) break;
    looked_up.push_back(index);
    lookups.push_back(&operations[index]);
  }
  RequestIdTable::BatchClaim claims =
      table_.ClaimAllOrNone(lookups, /*claim=*/failed_index == count);
  size_t in_flight = count;
  for (size_t k = 0; k < looked_up.size(); ++k) {
    const RequestIdTable::Claim& claim = claims.claims[k];
    if (claim.kind == RequestIdTable::ClaimKind::kAttached) {  // Elsewhere.
      in_flight = std::min(in_flight, looked_up[k]);
    } else if (!claim.outcome.ok()) {
      fail_at(looked_up[k], claim.outcome.status());
    }
  }
  if (failed_index < count) {
    BANK_CHECK(!claims.claimed);
    std::move(done)(AbortedBatchResults(count, failed_index, failure));
    return;
  }
  if (in_flight < count) {
    BANK_CHECK(!claims.claimed);
    std::move(done)(
        BatchResults(count, InFlightError(operations[in_flight], in_flight)));
    return;
  }
  if (!claims.status.ok()) {
    std::move(done)(claims.status);
    return;
  }
  BatchResults results(count);
  std::vector<bool> replayed(count, false);
  for (size_t k = 0; k < looked_up.size(); ++k) {
    RequestIdTable::Claim& claim = claims.claims[k];
    if (claim.kind != RequestIdTable::ClaimKind::kAnswered) continue;
    results[looked_up[k]] = AsReplay(std::move(claim.outcome));
    replayed[looked_up[k]] = true;
  }
  Forwarded forwarded = Forwarded::Collect(operations, replayed, has_id);
  BANK_CHECK(claims.claimed || forwarded.claimed.empty());
  if (forwarded.operations.empty()) {  // Every operation a replay.
    std::move(done)(std::move(results));
    return;
  }
  std::vector<Operation> to_engine = std::move(forwarded.operations);
  inner_->ExecuteBatch(
      std::move(to_engine), /*atomic=*/true,
      [this, results = std::move(results), index = std::move(forwarded.index),
       claimed_ids = std::move(forwarded.claimed),
       done = std::move(done)](absl::StatusOr<BatchResults> outcome) mutable {
        if (!outcome.ok()) {
          const absl::StatusOr<OperationResult> refused = outcome.status();
          FinishClaims(
              claimed_ids, [&](size_t) -> const auto& { return refused; });
          std::move(done)(outcome.status());
          return;
        }
        BANK_CHECK(outcome->size() == index.size());
        // The wrapped engine's failure, if any: the one result that is not
        // kAborted (its index is in the engine's numbering, so re-number).
        size_t failed = index.size();
        for (size_t k = 0; k < index.size() && failed == index.size(); ++k) {
          const absl::Status& status = (*outcome)[k].status();
          if (!status.ok() && status.code() != absl::StatusCode::kAborted) {
            failed = k;
          }
        }
        if (failed < index.size()) {
          results = AbortedBatchResults(results.size(), index[failed],
                                        (*outcome)[failed].status());
        } else {
          for (size_t k = 0; k < index.size(); ++k) {
            results[index[k]] = std::move((*outcome)[k]);
          }
        }
        FinishClaims(
            claimed_ids, [&](size_t at) -> const auto& {
              return results[index[at]];
            });
        std::move(done)(std::move(results));
      });
}

}  // namespace bank
