#include "loadgen/ledger.h"

#include <utility>

#include "service/engine/check.h"

namespace bank::loadgen {
namespace {

constexpr std::memory_order kRelaxed = std::memory_order_relaxed;

}  // namespace

Outcome ClassifyStatus(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return Outcome::kApplied;
    // The server decided and, by contract, changed nothing.
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::UNIMPLEMENTED:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return Outcome::kNotApplied;
    // DEADLINE_EXCEEDED, UNAVAILABLE, CANCELLED, UNKNOWN, ABORTED, INTERNAL,
    // DATA_LOSS: the call may have reached the engine before it ended, so
    // only a range can be claimed.
    default:
      return Outcome::kIndeterminate;
  }
}

Ledger::Ledger(std::vector<int64_t> initial_balances)
    : initial_balances_(std::move(initial_balances)),
      accounts_(new AccountState[initial_balances_.size()]) {
  for (int64_t balance : initial_balances_) initial_total_ += balance;
}

void Ledger::Count(Outcome outcome) {
  switch (outcome) {
    case Outcome::kApplied:
      applied_count_.fetch_add(1, kRelaxed);
      break;
    case Outcome::kNotApplied:
      not_applied_count_.fetch_add(1, kRelaxed);
      break;
    case Outcome::kIndeterminate:
      indeterminate_count_.fetch_add(1, kRelaxed);
      break;
  }
}

void Ledger::RecordDeposit(size_t account, int64_t amount, Outcome outcome) {
  BANK_CHECK(account < account_count() && amount > 0);
  Count(outcome);
  if (outcome == Outcome::kApplied) {
    accounts_[account].applied_delta.fetch_add(amount, kRelaxed);
    applied_deposits_.fetch_add(amount, kRelaxed);
  } else if (outcome == Outcome::kIndeterminate) {
    accounts_[account].indeterminate_credit.fetch_add(amount, kRelaxed);
    indeterminate_deposits_.fetch_add(amount, kRelaxed);
  }
}

void Ledger::RecordWithdraw(size_t account, int64_t amount, Outcome outcome) {
  BANK_CHECK(account < account_count() && amount > 0);
  Count(outcome);
  if (outcome == Outcome::kApplied) {
    accounts_[account].applied_delta.fetch_sub(amount, kRelaxed);
    applied_withdrawals_.fetch_add(amount, kRelaxed);
  } else if (outcome == Outcome::kIndeterminate) {
    accounts_[account].indeterminate_debit.fetch_add(amount, kRelaxed);
    indeterminate_withdrawals_.fetch_add(amount, kRelaxed);
  }
}

void Ledger::RecordTransfer(size_t from, size_t to, int64_t amount,
                            Outcome outcome) {
  BANK_CHECK(from < account_count() && to < account_count() && from != to);
  BANK_CHECK(amount > 0);
  Count(outcome);
  if (outcome == Outcome::kApplied) {
    accounts_[from].applied_delta.fetch_sub(amount, kRelaxed);
    accounts_[to].applied_delta.fetch_add(amount, kRelaxed);
  } else if (outcome == Outcome::kIndeterminate) {
    accounts_[from].indeterminate_debit.fetch_add(amount, kRelaxed);
    accounts_[to].indeterminate_credit.fetch_add(amount, kRelaxed);
  }
}

void Ledger::RecordRead(Outcome outcome) { Count(outcome); }

void Ledger::ObserveBalance(size_t account, int64_t balance) {
  if (balance >= 0) return;
  absl::MutexLock lock(&mu_);
  ++negative_reply_count_;
  if (negative_replies_.size() < kNegativeRepliesKeptMax) {
    negative_replies_.push_back(
        Violation{Violation::Kind::kNegativeReply, account, 0, 0, balance});
  }
}

OutcomeCounts Ledger::Counts() const {
  return OutcomeCounts{applied_count_.load(kRelaxed),
                       not_applied_count_.load(kRelaxed),
                       indeterminate_count_.load(kRelaxed)};
}

Verdict Ledger::Check(const std::vector<int64_t>& final_balances) const {
  BANK_CHECK(final_balances.size() == account_count());
  Verdict verdict;
  for (size_t i = 0; i < account_count(); ++i) {
    const AccountState& state = accounts_[i];
    const int64_t base =
        initial_balances_[i] + state.applied_delta.load(kRelaxed);
    const int64_t min = base - state.indeterminate_debit.load(kRelaxed);
    const int64_t max = base + state.indeterminate_credit.load(kRelaxed);
    const int64_t actual = final_balances[i];
    verdict.total_actual += actual;
    if (actual < min || actual > max) {
      verdict.violations.push_back(
          Violation{Violation::Kind::kBalanceOutOfRange, i, min, max, actual});
    }
    if (actual < 0) {
      verdict.violations.push_back(
          Violation{Violation::Kind::kNegativeBalance, i, 0, 0, actual});
    }
  }
  const int64_t total = initial_total_ + applied_deposits_.load(kRelaxed) -
                        applied_withdrawals_.load(kRelaxed);
  verdict.total_expected_min =
      total - indeterminate_withdrawals_.load(kRelaxed);
  verdict.total_expected_max = total + indeterminate_deposits_.load(kRelaxed);
  if (verdict.total_actual < verdict.total_expected_min ||
      verdict.total_actual > verdict.total_expected_max) {
    verdict.violations.push_back(Violation{
        Violation::Kind::kTotalOutOfRange, 0, verdict.total_expected_min,
        verdict.total_expected_max, verdict.total_actual});
  }
  {
    absl::MutexLock lock(&mu_);
    verdict.negative_replies = negative_reply_count_;
    verdict.violations.insert(verdict.violations.end(),
                              negative_replies_.begin(),
                              negative_replies_.end());
  }
  verdict.pass = verdict.violations.empty();
  return verdict;
}

}  // namespace bank::loadgen
