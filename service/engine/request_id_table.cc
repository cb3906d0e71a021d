#include "service/engine/request_id_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "service/engine/check.h"

namespace bank {
namespace {

bool SameParameters(const Operation& first, const Operation& repeat) {
  return first.kind == repeat.kind && first.account_id == repeat.account_id &&
         first.to_account_id == repeat.to_account_id &&
         first.amount == repeat.amount;
}

std::string Describe(const Operation& operation) {
  std::string text =
      absl::StrCat(OperationKindName(operation.kind), " of ", operation.amount,
                   " on '", operation.account_id, "'");
  if (operation.kind == OperationKind::kTransfer) {
    absl::StrAppend(&text, " to '", operation.to_account_id, "'");
  }
  return text;
}

}  // namespace

absl::Status RequestIdReusedError(const Operation& first,
                                  const Operation& repeat) {
  return absl::InvalidArgumentError(
      absl::StrCat("request_id '", repeat.request_id,
                   "' was already used for another operation (",
                   Describe(first), "); this request is ", Describe(repeat),
                   ". Use a new request_id for a new operation"));
}

bool IsRememberedOutcome(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kAlreadyExists:
      return true;
    default:
      return false;
  }
}

RequestIdTable::RequestIdTable(RequestIdOptions options)
    : options_(std::move(options)) {
  BANK_CHECK(options_.entries_max > 0);
}

absl::Time RequestIdTable::Now() const {
  return options_.clock ? options_.clock() : absl::Now();
}

void RequestIdTable::ExpireLocked(absl::Time now) {
  mu_.AssertHeld();
  // The remembered time is kept next to the key, so the common case (the
  // oldest has not expired) costs no hash look-up.
  while (!remembered_order_.empty() &&
         now - remembered_order_.front().second >= options_.ttl) {
    auto it = entries_.find(*remembered_order_.front().first);
    BANK_CHECK(it != entries_.end() && it->second.remembered);
    remembered_order_.pop_front();
    entries_.erase(it);
  }
}

RequestIdTable::Claim RequestIdTable::LookUpLocked(
    const Operation& operation) const {
  mu_.AssertHeld();
  auto it = entries_.find(operation.request_id);
  if (it == entries_.end()) return {ClaimKind::kFirst, OperationResult{}};
  const Entry& entry = it->second;
  if (!SameParameters(entry.operation, operation)) {
    return {ClaimKind::kAnswered,
            RequestIdReusedError(entry.operation, operation)};
  }
  if (entry.remembered) return {ClaimKind::kAnswered, entry.outcome};
  return {ClaimKind::kAttached, OperationResult{}};
}

bool RequestIdTable::InsertLocked(const Operation& operation) {
  mu_.AssertHeld();
  if (entries_.size() >= options_.entries_max) {
    if (remembered_order_.empty()) return false;
    entries_.erase(*remembered_order_.front().first);
    remembered_order_.pop_front();
  }
  Entry entry;
  entry.operation = operation;
  entry.operation.request_id.clear();
  entries_.emplace(operation.request_id, std::move(entry));
  return true;
}

absl::Status RequestIdTable::FullError() const {
  return absl::ResourceExhaustedError(
      absl::StrCat("all ", options_.entries_max,
                   " request ids (--request_ids_max) belong to operations "
                   "still in flight; retry later"));
}

RequestIdTable::Claim RequestIdTable::ClaimId(const Operation& operation,
                                              OperationDone* done) {
  absl::MutexLock lock(&mu_);
  ExpireLocked(Now());
  Claim claim = LookUpLocked(operation);
  switch (claim.kind) {
    case ClaimKind::kFirst:
      if (!InsertLocked(operation)) return {ClaimKind::kAnswered, FullError()};
      return claim;
    case ClaimKind::kAttached:
      entries_.find(operation.request_id)
          ->second.waiters.push_back(std::move(*done));
      return claim;
    case ClaimKind::kAnswered:
      break;
  }
  return claim;
}

RequestIdTable::BatchClaim RequestIdTable::ClaimAllOrNone(
    const std::vector<const Operation*>& operations, bool claim) {
  BatchClaim batch;
  batch.claims.reserve(operations.size());
  absl::MutexLock lock(&mu_);
  ExpireLocked(Now());
  size_t new_ids = 0;
  bool blocked = false;
  for (const Operation* operation : operations) {
    batch.claims.push_back(LookUpLocked(*operation));
    const Claim& claim = batch.claims.back();
    if (claim.kind == ClaimKind::kFirst) ++new_ids;
    if (claim.kind == ClaimKind::kAttached || !claim.outcome.ok()) {
      blocked = true;
    }
  }
  if (!claim || blocked || new_ids == 0) return batch;
  // Entries in flight cannot be evicted; every remembered one can.
  const size_t in_flight = entries_.size() - remembered_order_.size();
  if (in_flight + new_ids > options_.entries_max) {
    batch.status = absl::ResourceExhaustedError(absl::StrCat(
        "the atomic batch needs ", new_ids, " new request ids but only ",
        options_.entries_max - std::min(in_flight, options_.entries_max),
        " of --request_ids_max=", options_.entries_max,
        " are not in flight; retry later or send fewer ids per batch"));
    return batch;
  }
  for (size_t i = 0; i < operations.size(); ++i) {
    if (batch.claims[i].kind != ClaimKind::kFirst) continue;
    const bool inserted = InsertLocked(*operations[i]);
    BANK_CHECK(inserted);  // Room was counted above.
  }
  batch.claimed = true;
  return batch;
}

std::vector<OperationDone> RequestIdTable::FinishLocked(
    const std::string& request_id,
    const absl::StatusOr<OperationResult>& outcome, absl::Time now) {
  mu_.AssertHeld();
  auto it = entries_.find(request_id);
  BANK_CHECK(it != entries_.end() && !it->second.remembered);
  std::vector<OperationDone> waiters = std::move(it->second.waiters);
  if (!IsRememberedOutcome(outcome.status())) {
    entries_.erase(it);
    return waiters;
  }
  it->second.waiters.clear();
  it->second.waiters.shrink_to_fit();
  it->second.remembered = true;
  it->second.outcome = outcome;
  remembered_order_.emplace_back(&it->first, now);
  return waiters;
}

void RequestIdTable::Restore(JournalEntry restored) {
  absl::MutexLock lock(&mu_);
  BANK_CHECK(entries_.size() < options_.entries_max);
  std::string request_id = std::move(restored.operation.request_id);
  restored.operation.request_id.clear();
  Entry entry;
  entry.operation = std::move(restored.operation);
  entry.remembered = true;
  entry.outcome = std::move(restored.outcome);
  // Stamped as stored: a restart must not extend an id's ttl. Later
  // entries may be stamped earlier than this one (a clock step); the ttl
  // sweep then keeps them a little longer, never shorter.
  auto [inserted, ok] =
      entries_.emplace(std::move(request_id), std::move(entry));
  BANK_CHECK(ok);
  remembered_order_.emplace_back(&inserted->first, restored.remembered_at);
}

std::vector<OperationDone> RequestIdTable::Finish(
    const std::string& request_id,
    const absl::StatusOr<OperationResult>& outcome) {
  absl::MutexLock lock(&mu_);
  return FinishLocked(request_id, outcome, Now());
}

std::vector<std::pair<size_t, OperationDone>> RequestIdTable::FinishEach(
    const std::vector<
        std::pair<std::string, const absl::StatusOr<OperationResult>*>>&
        outcomes) {
  std::vector<std::pair<size_t, OperationDone>> waiters;
  absl::MutexLock lock(&mu_);
  const absl::Time now = Now();
  for (size_t i = 0; i < outcomes.size(); ++i) {
    for (OperationDone& waiter :
         FinishLocked(outcomes[i].first, *outcomes[i].second, now)) {
      waiters.emplace_back(i, std::move(waiter));
    }
  }
  return waiters;
}

std::vector<RequestIdTable::Claim> RequestIdTable::ClaimEach(
    const std::vector<const Operation*>& operations,
    absl::FunctionRef<OperationDone(size_t)> waiter) {
  std::vector<Claim> claims;
  claims.reserve(operations.size());
  absl::MutexLock lock(&mu_);
  ExpireLocked(Now());
  for (size_t i = 0; i < operations.size(); ++i) {
    const Operation& operation = *operations[i];
    claims.push_back(LookUpLocked(operation));
    Claim& claim = claims.back();
    if (claim.kind == ClaimKind::kFirst && !InsertLocked(operation)) {
      claim = {ClaimKind::kAnswered, FullError()};
    } else if (claim.kind == ClaimKind::kAttached) {
      entries_.find(operation.request_id)->second.waiters.push_back(waiter(i));
    }
  }
  return claims;
}

size_t RequestIdTable::Size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace bank
