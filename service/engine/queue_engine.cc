#include "service/engine/queue_engine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/engine/check.h"

namespace bank {

QueueEngine::QueueEngine(const EngineOptions& options, OperationHook hook)
    : accounts_max_(options.accounts_max),
      queue_depth_max_(options.queue_depth_max),
      latency_(options.latency, std::move(hook)),
      slots_(options.queue_depth_max) {
  BANK_CHECK(queue_depth_max_ >= 1);
  batch_.reserve(std::min(kBatchSizeMax, queue_depth_max_));
  absl::MutexLock lock(&shutdown_mu_);
  consumer_ = std::thread([this] { Run(); });
}

QueueEngine::~QueueEngine() { Shutdown(); }

void QueueEngine::Execute(Operation operation, OperationDone done) {
  absl::Status rejected = ValidateOperation(operation);
  if (rejected.ok()) {
    absl::MutexLock lock(&mu_);
    if (!accepting_) {
      rejected = EngineShutDownError();
    } else if (pending_ == queue_depth_max_) {
      rejected = absl::ResourceExhaustedError(absl::StrCat(
          "the queue engine already holds its limit of ", queue_depth_max_,
          " waiting operations (queue_depth_max); retry later"));
    } else {
      Message& slot = slots_[(head_ + pending_) % queue_depth_max_];
      slot.operation = std::move(operation);
      slot.done = std::move(done);
      ++pending_;
      return;
    }
  }
  // Rejected up front: complete on the caller's thread, outside mu_.
  std::move(done)(std::move(rejected));
}

void QueueEngine::Shutdown() {
  // Joining from the consumer thread would wait for itself forever.
  BANK_CHECK(consumer_id_.load() != std::this_thread::get_id());
  absl::MutexLock shutdown_lock(&shutdown_mu_);
  {
    absl::MutexLock lock(&mu_);
    accepting_ = false;
  }
  // The consumer drains every accepted operation before it exits.
  if (consumer_.joinable()) consumer_.join();
}

QueueEngineStats QueueEngine::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void QueueEngine::Run() {
  consumer_id_.store(std::this_thread::get_id());
  while (TakeBatch()) ApplyBatch();
}

void QueueEngine::AssertConsumerThread() const {
  BANK_CHECK(consumer_id_.load(std::memory_order_relaxed) ==
             std::this_thread::get_id());
}

bool QueueEngine::TakeBatch() {
  AssertConsumerThread();
  size_t first = 0;
  size_t count = 0;
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &QueueEngine::HasWorkOrClosed));
    // Closed and drained: every accepted operation has been completed.
    if (pending_ == 0) return false;
    first = head_;
    // A batch never wraps around the ring, so it is one contiguous run.
    count = std::min({pending_, kBatchSizeMax, queue_depth_max_ - head_});
  }
  // Outside mu_: producers keep filling other slots meanwhile.
  BANK_CHECK(batch_.empty());
  for (size_t i = first; i < first + count; ++i) {
    batch_.push_back(std::move(slots_[i]));
    slots_[i].done = nullptr;  // A moved-from AnyInvocable is unspecified.
  }
  absl::MutexLock lock(&mu_);
  head_ = (head_ + count) % queue_depth_max_;
  pending_ -= count;
  ++stats_.batches;
  stats_.operations += count;
  return true;
}

void QueueEngine::ApplyBatch() {
  AssertConsumerThread();
  for (Message& message : batch_) {
    std::move(message.done)(Apply(message.operation));
  }
  batch_.clear();
}

// The functions below run on the consumer thread only, so they read and
// write balances_ with no lock at all.

absl::StatusOr<OperationResult> QueueEngine::Apply(const Operation& operation) {
  AssertConsumerThread();
  if (operation.kind == OperationKind::kOpen) return Open(operation);
  auto account = balances_.find(operation.account_id);
  if (account == balances_.end()) {
    return AccountNotFoundError(operation.account_id);
  }
  int64_t& balance = account->second;
  absl::StatusOr<int64_t> changed = balance;
  switch (operation.kind) {
    case OperationKind::kDeposit:
      latency_.Spend(operation);
      changed = CheckedDeposit(operation.account_id, balance, operation.amount);
      break;
    case OperationKind::kWithdraw:
      latency_.Spend(operation);
      changed =
          CheckedWithdraw(operation.account_id, balance, operation.amount);
      break;
    case OperationKind::kGetBalance:
      latency_.Spend(operation);
      break;
    case OperationKind::kTransfer: {
      auto to = balances_.find(operation.to_account_id);
      if (to == balances_.end()) {
        return AccountNotFoundError(operation.to_account_id);
      }
      latency_.Spend(operation);
      return Transfer(operation, balance, to->second);
    }
    case OperationKind::kOpen:
      BANK_CHECK(false && "kOpen is handled above");
  }
  if (!changed.ok()) return changed.status();
  BANK_CHECK(*changed >= 0);
  balance = *changed;
  return OperationResult{balance, 0};
}

absl::StatusOr<OperationResult> QueueEngine::Open(const Operation& operation) {
  if (balances_.contains(operation.account_id)) {
    return AccountExistsError(operation.account_id);
  }
  if (balances_.size() >= accounts_max_) {
    return AccountLimitError(operation.account_id, accounts_max_);
  }
  balances_.emplace(operation.account_id, operation.amount);
  return OperationResult{operation.amount, 0};
}

absl::StatusOr<OperationResult> QueueEngine::Transfer(
    const Operation& operation, int64_t& from, int64_t& to) {
  // Check both legs before changing either: a transfer applies wholly or
  // not at all.
  absl::StatusOr<int64_t> from_balance =
      CheckedWithdraw(operation.account_id, from, operation.amount);
  if (!from_balance.ok()) return from_balance.status();
  absl::StatusOr<int64_t> to_balance =
      CheckedDeposit(operation.to_account_id, to, operation.amount);
  if (!to_balance.ok()) return to_balance.status();
  // Money is conserved: what left one account arrived in the other.
  BANK_CHECK(from - *from_balance == operation.amount);
  BANK_CHECK(*to_balance - to == operation.amount);
  BANK_CHECK(*from_balance >= 0);
  from = *from_balance;
  to = *to_balance;
  return OperationResult{from, to};
}

}  // namespace bank
