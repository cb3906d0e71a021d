#include "service/engine/commit_log.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "service/engine/check.h"

namespace bank {

CommitLog::CommitLog(AccountStore& store, CommitLogOwner& owner,
                     size_t entries_max)
    : store_(store), owner_(owner), entries_max_(entries_max) {
  BANK_CHECK(entries_max_ >= 1);
  absl::MutexLock lock(&shutdown_mu_);
  committer_ = std::thread([this] { Run(); });
}

CommitLog::~CommitLog() { Shutdown(); }

bool CommitLog::Admit() const {
  absl::MutexLock lock(&mu_);
  return entries_.size() < entries_max_;
}

uint64_t CommitLog::Reserve() {
  absl::MutexLock lock(&mu_);
  BANK_CHECK(!stopping_);
  entries_.emplace_back();
  return first_position_ + entries_.size() - 1;
}

void CommitLog::Complete(uint64_t position, std::optional<StoreRecord> record,
                         Completion done) {
  absl::MutexLock lock(&mu_);
  BANK_CHECK(position >= first_position_ &&
             position < first_position_ + entries_.size());
  Entry& entry = entries_[position - first_position_];
  BANK_CHECK(!entry.completed);
  entry.completed = true;
  entry.record = std::move(record);
  entry.done = std::move(done);
}

void CommitLog::Shutdown() {
  absl::MutexLock shutdown_lock(&shutdown_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (committer_.joinable()) committer_.join();
}

bool CommitLog::AllCompleted() const {
  for (const Entry& entry : entries_) {
    if (!entry.completed) return false;
  }
  return true;
}

void CommitLog::Run() {
  std::vector<Entry> group;
  while (TakeGroup(group)) {
    CommitGroup(group);
    group.clear();
  }
}

bool CommitLog::TakeGroup(std::vector<Entry>& group) {
  absl::MutexLock lock(&mu_);
  while (true) {
    mu_.Await(absl::Condition(this, &CommitLog::HasGroupOrStopping));
    while (!entries_.empty() && entries_.front().completed) {
      group.push_back(std::move(entries_.front()));
      entries_.pop_front();
      ++first_position_;
    }
    if (!group.empty()) return true;
    // Stopping: the owner stopped reservations, so the rest will complete.
    if (entries_.empty()) return false;
  }
}

void CommitLog::CommitGroup(std::vector<Entry>& group) {
  std::vector<StoreRecord> records;
  for (Entry& entry : group) {
    if (entry.record.has_value()) records.push_back(std::move(*entry.record));
  }
  absl::Status committed = store_.Commit(records);
  if (!committed.ok()) {
    // Put the records back: the rollback needs to know what they touched.
    size_t next = 0;
    for (Entry& entry : group) {
      if (entry.record.has_value()) entry.record = std::move(records[next++]);
    }
    FailGroup(group, committed);
    return;
  }
  for (Entry& entry : group) std::move(entry.done)(absl::OkStatus());
}

void CommitLog::FailGroup(std::vector<Entry>& group,
                          const absl::Status& error) {
  owner_.StopTheWorld([&] {
    {
      absl::MutexLock lock(&mu_);
      // Nobody can reserve now, and those who reserved complete without
      // any lock but mu_, so this wait ends.
      mu_.Await(absl::Condition(this, &CommitLog::AllCompleted));
      for (Entry& entry : entries_) group.push_back(std::move(entry));
      first_position_ += entries_.size();
      entries_.clear();
    }
    absl::flat_hash_set<std::string> touched;
    for (const Entry& entry : group) {
      if (!entry.record.has_value()) continue;
      for (const BalanceWrite& write : entry.record->balances) {
        touched.insert(write.account_id);
      }
    }
    for (const std::string& account_id : touched) {
      absl::StatusOr<std::optional<int64_t>> durable =
          store_.ReadDurable(account_id);
      // Without the durable value memory cannot be made to match the disk,
      // and serving on would be wrong.
      BANK_CHECK(durable.ok());
      owner_.RestoreBalance(account_id, *durable);
    }
  });
  const absl::Status unavailable = absl::UnavailableError(
      absl::StrCat(error.message(), " (operation rolled back)"));
  for (Entry& entry : group) std::move(entry.done)(unavailable);
}

std::optional<StoreRecord> RecordFor(const Operation& operation,
                                     const OperationResult& result) {
  StoreRecord record;
  switch (operation.kind) {
    case OperationKind::kOpen:
    case OperationKind::kDeposit:
    case OperationKind::kWithdraw:
      record.balances.push_back({operation.account_id, result.balance});
      return record;
    case OperationKind::kTransfer:
      record.balances.push_back({operation.account_id, result.balance});
      record.balances.push_back({operation.to_account_id, result.to_balance});
      return record;
    case OperationKind::kGetBalance:
      break;
  }
  return std::nullopt;
}

}  // namespace bank
