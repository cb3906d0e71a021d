#include "service/engine/queue_engine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/engine/check.h"
#include "service/engine/commit_log.h"
#include "service/engine/storage_stats.h"

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
      store_(options.store),
      journal_(options.journal),
      slots_(new Slot[options.queue_depth_max]) {
  BANK_CHECK(queue_depth_max_ >= 1);
  // Before the consumer starts: afterwards only it may touch balances_.
  balances_.insert(options.recovered_balances.begin(),
                   options.recovered_balances.end());
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
  const size_t count = operations.size();
  if (rejected.ok() &&
      batched_operations_waiting_.fetch_add(count, std::memory_order_relaxed) +
              count >
          kBatchedOperationsWaitingMax) {
    batched_operations_waiting_.fetch_sub(count, std::memory_order_relaxed);
    rejected = absl::ResourceExhaustedError(
        absl::StrCat("the queue engine already holds its limit of ",
                     kBatchedOperationsWaitingMax,
                     " operations in waiting batches; retry later"));
  } else if (rejected.ok()) {
    Message message;
    message.batch = std::make_unique<BatchMessage>(
        BatchMessage{std::move(operations), atomic, std::move(done)});
    rejected = Enqueue(message);
    if (rejected.ok()) return;
    batched_operations_waiting_.fetch_sub(count, std::memory_order_relaxed);
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
  if (store_ != nullptr) stats.storage = StorageStatsOf(store_->stats());
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
      // Back off between polls: each poll pulls the producer's slot into
      // this core's cache, and the producer must take it back to write.
      for (int pause = 0; pause < (1 << std::min(spin, kSpinBackoffShiftMax));
           ++pause) {
        CpuRelax();
      }
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
    if (batch_.back().batch == nullptr) {
      ++operations;
    } else {
      const size_t count = batch_.back().batch->operations.size();
      operations += count;
      batched_operations_waiting_.fetch_sub(count, std::memory_order_relaxed);
    }
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
  if (store_ != nullptr) {
    ApplyBatchDurably();
    return;
  }
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
  BatchResults results = ApplyBatchMessage(*message.batch);
  std::move(message.batch->done)(std::move(results));
}

void QueueEngine::ApplyBatchDurably() {
  single_results_.clear();
  batch_results_.clear();
  records_.clear();
  auto record = [this](const Operation& operation,
                       const absl::StatusOr<OperationResult>& result) {
    std::optional<StoreRecord> change =
        DurableRecordFor(operation, result, journal_);
    if (change.has_value()) records_.push_back(*std::move(change));
  };
  for (Message& message : batch_) {
    if (message.batch == nullptr) {
      single_results_.push_back(Apply(message.operation));
      record(message.operation, single_results_.back());
    } else {
      batch_results_.push_back(ApplyBatchMessage(*message.batch));
      for (size_t i = 0; i < message.batch->operations.size(); ++i) {
        record(message.batch->operations[i], batch_results_.back()[i]);
      }
    }
  }
  // One sync for the whole pass; completions only after it returned.
  absl::Status committed = store_->Commit(records_);
  if (!committed.ok()) {
    RollBack(records_);
    committed = absl::UnavailableError(
        absl::StrCat(committed.message(), " (operation rolled back)"));
  }
  size_t single = 0;
  size_t batch = 0;
  for (Message& message : batch_) {
    if (message.batch == nullptr) {
      absl::StatusOr<OperationResult>& result = single_results_[single++];
      std::move(message.done)(committed.ok() ? std::move(result) : committed);
    } else {
      BatchResults& results = batch_results_[batch++];
      std::move(message.batch->done)(
          committed.ok() ? absl::StatusOr<BatchResults>(std::move(results))
                         : absl::StatusOr<BatchResults>(committed));
    }
  }
  batch_.clear();
}

void QueueEngine::RollBack(const std::vector<StoreRecord>& records) {
  AssertConsumerThread();
  for (const StoreRecord& record : records) {
    for (const BalanceWrite& write : record.balances) {
      absl::StatusOr<std::optional<int64_t>> durable =
          store_->ReadDurable(write.account_id);
      // Without the durable value memory cannot be made to match the disk;
      // serving on would be wrong.
      BANK_CHECK(durable.ok());
      if (durable->has_value()) {
        balances_[write.account_id] = **durable;
      } else {
        balances_.erase(write.account_id);  // Opened by the failed pass.
      }
    }
  }
}

BatchResults QueueEngine::ApplyBatchMessage(BatchMessage& batch) {
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
  return results;
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
