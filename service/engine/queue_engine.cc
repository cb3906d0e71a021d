#include "service/engine/queue_engine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/engine/check.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace bank {
namespace {

// CpuRelax tells the core we are spinning (frees pipeline resources for the
// sibling hyperthread, saves power).
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

}  // namespace

QueueEngine::QueueEngine(const EngineOptions& options, OperationHook hook)
    : accounts_max_(options.accounts_max),
      queue_depth_max_(options.queue_depth_max),
      latency_(options.latency, std::move(hook)),
      slots_(new Slot[options.queue_depth_max]) {
  BANK_CHECK(queue_depth_max_ >= 1);
  for (size_t i = 0; i < queue_depth_max_; ++i) {
    slots_[i].sequence.store(2 * i, std::memory_order_relaxed);
  }
  batch_.reserve(std::min(kBatchSizeMax, queue_depth_max_));
  absl::MutexLock lock(&shutdown_mu_);
  consumer_ = std::thread([this] { Run(); });
}

QueueEngine::~QueueEngine() { Shutdown(); }

void QueueEngine::Execute(Operation operation, OperationDone done) {
  absl::Status rejected = ValidateOperation(operation);
  if (rejected.ok()) {
    Message message{std::move(operation), std::move(done), nullptr};
    rejected = Enqueue(message);
    if (rejected.ok()) return;
    done = std::move(message.done);
  }
  // Rejected up front: complete on the caller's thread.
  std::move(done)(std::move(rejected));
}

void QueueEngine::ExecuteBatch(std::vector<Operation> operations, bool atomic,
                               BatchDone done) {
  absl::Status rejected = ValidateBatchSize(operations.size());
  if (rejected.ok()) {
    Message message;
    message.batch = std::make_unique<BatchMessage>(
        BatchMessage{std::move(operations), atomic, std::move(done)});
    rejected = Enqueue(message);
    if (rejected.ok()) return;
    done = std::move(message.batch->done);
  }
  std::move(done)(std::move(rejected));
}

absl::Status QueueEngine::Enqueue(Message& message) {
  uint64_t position = tail_.load(std::memory_order_relaxed);
  Slot* slot = nullptr;
  for (;;) {
    if ((position & kClosedBit) != 0) return EngineShutDownError();
    slot = &slots_[position % queue_depth_max_];
    const uint64_t sequence = slot->sequence.load(std::memory_order_acquire);
    const auto lag = static_cast<int64_t>(sequence - 2 * position);
    if (lag == 0) {
      // The slot is free for `position`: claim it (a failed exchange
      // reloads `position`).
      if (tail_.compare_exchange_weak(position, position + 1,
                                      std::memory_order_relaxed)) {
        break;
      }
    } else if (lag < 0) {
      // The consumer has not freed this slot since the last lap: full.
      return absl::ResourceExhaustedError(absl::StrCat(
          "the queue engine already holds its limit of ", queue_depth_max_,
          " waiting operations or batches (queue_depth_max); retry later"));
    } else {
      position = tail_.load(std::memory_order_relaxed);
    }
  }
  slot->message = std::move(message);
  // Publish (seq_cst: paired with the consumer's sleeping_ store, see the
  // header), then wake the consumer if it went to sleep.
  slot->sequence.store(2 * position + 1);
  if (sleeping_.load()) {
    absl::MutexLock lock(&sleep_mu_);
  }
  return absl::OkStatus();
}

void QueueEngine::Shutdown() {
  // Joining from the consumer thread would wait for itself forever.
  BANK_CHECK(consumer_id_.load() != std::this_thread::get_id());
  absl::MutexLock shutdown_lock(&shutdown_mu_);
  stopping_.store(true);
  tail_.fetch_or(kClosedBit);
  {
    // Unlocking makes a sleeping consumer re-evaluate its condition.
    absl::MutexLock lock(&sleep_mu_);
  }
  // The consumer answers every accepted operation (unapplied, once
  // stopping_ is set, unless it had started) before it exits.
  if (consumer_.joinable()) consumer_.join();
}

QueueEngineStats QueueEngine::stats() const {
  return {stats_batches_.load(std::memory_order_relaxed),
          stats_operations_.load(std::memory_order_relaxed)};
}

// PublishAccountsOpen makes balances_.size() visible to Stats(), before the
// completion of the operation that opened the account runs.
void QueueEngine::PublishAccountsOpen() {
  stats_accounts_open_.store(balances_.size(), std::memory_order_relaxed);
}

EngineStats QueueEngine::Stats() const {
  EngineStats stats;
  stats.accounts_open = stats_accounts_open_.load(std::memory_order_relaxed);
  QueueStats queue;
  queue.depth_max = queue_depth_max_;
  // consumed first: tail_ only grows, so the later tail is never behind it.
  const uint64_t consumed = stats_consumed_.load(std::memory_order_relaxed);
  const uint64_t claimed = tail_.load() & ~kClosedBit;
  queue.depth = claimed > consumed ? claimed - consumed : 0;
  for (size_t i = 0; i < kBatchSizeBucketCount; ++i) {
    queue.batch_sizes.upper_bounds.push_back(
        static_cast<double>(size_t{1} << i));
  }
  for (const std::atomic<uint64_t>& count : stats_batch_sizes_) {
    queue.batch_sizes.bucket_counts.push_back(
        count.load(std::memory_order_relaxed));
  }
  queue.batch_sizes.sum =
      static_cast<double>(stats_operations_.load(std::memory_order_relaxed));
  stats.queue = std::move(queue);
  return stats;
}

void QueueEngine::Run() {
  consumer_id_.store(std::this_thread::get_id());
  while (WaitForWork()) {
    TakeBatch();
    ApplyBatch();
  }
}

void QueueEngine::AssertConsumerThread() const {
  BANK_CHECK(consumer_id_.load(std::memory_order_relaxed) ==
             std::this_thread::get_id());
}

bool QueueEngine::WaitForWork() {
  AssertConsumerThread();
  for (;;) {
    for (int spin = 0; spin < kSpinCountMax; ++spin) {
      if (IsPublished(head_)) return true;
      const uint64_t tail = tail_.load();
      // Closed, and every claimed position consumed: all accepted
      // operations have been completed.
      if (tail == (head_ | kClosedBit)) return false;
      CpuRelax();
    }
    if ((tail_.load() & kClosedBit) != 0) {
      // Closed, but a producer is between its claim and its publish (it
      // never blocks there): give it the core.
      std::this_thread::yield();
      continue;
    }
    absl::MutexLock lock(&sleep_mu_);
    wait_position_ = head_;
    sleeping_.store(true);
    sleep_mu_.Await(absl::Condition(this, &QueueEngine::HasWorkOrClosed));
    sleeping_.store(false, std::memory_order_relaxed);
  }
}

void QueueEngine::TakeBatch() {
  AssertConsumerThread();
  BANK_CHECK(batch_.empty());
  size_t operations = 0;
  // At least one message; then as many as are published, up to
  // kBatchSizeMax operations.
  do {
    Slot& slot = slots_[head_ % queue_depth_max_];
    batch_.push_back(std::move(slot.message));
    operations += batch_.back().batch == nullptr
                      ? 1
                      : batch_.back().batch->operations.size();
    // Free the slot for the next lap before applying anything.
    slot.sequence.store(2 * (head_ + queue_depth_max_),
                        std::memory_order_release);
    ++head_;
  } while (operations < kBatchSizeMax && IsPublished(head_));
  stats_batches_.fetch_add(1, std::memory_order_relaxed);
  stats_operations_.fetch_add(operations, std::memory_order_relaxed);
  size_t bucket = 0;
  while (bucket < kBatchSizeBucketCount && (size_t{1} << bucket) < operations) {
    ++bucket;
  }
  stats_batch_sizes_[bucket].fetch_add(1, std::memory_order_relaxed);
  stats_consumed_.store(head_, std::memory_order_relaxed);
}

void QueueEngine::ApplyBatch() {
  AssertConsumerThread();
  for (Message& message : batch_) ApplyMessage(message);
  batch_.clear();
}

void QueueEngine::ApplyMessage(Message& message) {
  // After Shutdown began, what has not started is answered, not applied: a
  // long queue must not hold the process past its shutdown grace.
  if (stopping_.load(std::memory_order_relaxed)) {
    if (message.batch == nullptr) {
      std::move(message.done)(EngineShutDownError());
    } else {
      std::move(message.batch->done)(EngineShutDownError());
    }
    return;
  }
  if (message.batch == nullptr) {
    std::move(message.done)(Apply(message.operation));
    return;
  }
  BatchMessage& batch = *message.batch;
  BatchResults results;
  if (batch.atomic) {
    results = ApplyAtomic(batch.operations);
  } else {
    results.reserve(batch.operations.size());
    for (const Operation& operation : batch.operations) {
      // Validated here, not in ExecuteBatch, so an invalid operation fails
      // alone, in order.
      absl::Status valid = ValidateOperation(operation);
      results.push_back(valid.ok() ? Apply(operation)
                                   : absl::StatusOr<OperationResult>(valid));
    }
  }
  std::move(batch.done)(std::move(results));
}

BatchResults QueueEngine::ApplyAtomic(
    const std::vector<Operation>& operations) {
  AssertConsumerThread();
  AtomicBatchOutcome outcome = PlanAtomicBatch(
      operations, balances_.size(), accounts_max_,
      [this](const std::string& account_id) -> std::optional<int64_t> {
        auto account = balances_.find(account_id);
        if (account == balances_.end()) return std::nullopt;
        return account->second;
      },
      [this](const Operation& operation) { latency_.Spend(operation); });
  if (outcome.applied) {
    for (const AccountWrite& write : outcome.writes) {
      balances_[write.account_id] = write.balance;
    }
    PublishAccountsOpen();
  }
  return std::move(outcome.results);
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
  PublishAccountsOpen();
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
