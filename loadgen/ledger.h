// Ledger: what the load generator knows about the money, and the invariant
// check that compares it with the balances read back after the load.
//
// Every RPC's outcome is one of:
//   applied        the server acknowledged it (OK);
//   not applied    the server said it changed nothing (FAILED_PRECONDITION
//                  for insufficient funds, INVALID_ARGUMENT, NOT_FOUND, ...);
//   indeterminate  nobody knows (DEADLINE_EXCEEDED, UNAVAILABLE, CANCELLED,
//                  UNKNOWN, connection loss): it may or may not have applied.
// So each account's final balance must lie in [min, max], where
//   min = initial + applied net change - every indeterminate possible debit,
//   max = initial + applied net change + every indeterminate possible credit,
// which is exact (min == max) when nothing was indeterminate. The total over
// all accounts must lie in initial total + applied deposits - applied
// withdrawals, widened only by indeterminate deposits and withdrawals:
// a transfer moves money, so whether it applied or not the total is the same.
// No balance may ever be negative: neither a final one nor one carried by a
// reply during the load (ObserveBalance).
//
// Thread safety: Record* and ObserveBalance may be called from any number of
// threads at once (relaxed atomic counters plus a mutex for the rare negative
// reply). Check must run after every recording call has returned and is
// ordered before it (e.g. the load's threads signalled completion).

#ifndef BANK_LOADGEN_LEDGER_H_
#define BANK_LOADGEN_LEDGER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/status_code_enum.h"

namespace bank::loadgen {

enum class Outcome { kApplied, kNotApplied, kIndeterminate };

// ClassifyStatus maps an RPC's final status code to its Outcome.
Outcome ClassifyStatus(grpc::StatusCode code);

// Violation: one broken rule, with the expected range and what was found.
struct Violation {
  enum class Kind {
    kBalanceOutOfRange,  // A final balance outside [expected_min, max].
    kNegativeBalance,    // A final balance below zero.
    kNegativeReply,      // A reply during the load carried a balance < 0.
    kTotalOutOfRange,    // The sum of the final balances is outside range.
  };
  Kind kind = Kind::kBalanceOutOfRange;
  size_t account = 0;  // Index into the ledger's accounts; unused for totals.
  int64_t expected_min = 0;
  int64_t expected_max = 0;
  int64_t actual = 0;
};

// kNegativeRepliesKeptMax bounds how many negative replies are remembered
// (all are counted).
inline constexpr size_t kNegativeRepliesKeptMax = 16;

struct Verdict {
  bool pass = true;
  std::vector<Violation> violations;
  int64_t total_expected_min = 0;
  int64_t total_expected_max = 0;
  int64_t total_actual = 0;
  uint64_t negative_replies = 0;
};

// OutcomeCounts: how many recorded operations ended each way.
struct OutcomeCounts {
  uint64_t applied = 0;
  uint64_t not_applied = 0;
  uint64_t indeterminate = 0;
};

class Ledger {
 public:
  explicit Ledger(std::vector<int64_t> initial_balances);
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  size_t account_count() const { return initial_balances_.size(); }
  const std::vector<int64_t>& initial_balances() const {
    return initial_balances_;
  }

  // Record* note one finished RPC. Accounts are indices below
  // account_count(); amounts are > 0.
  void RecordDeposit(size_t account, int64_t amount, Outcome outcome);
  void RecordWithdraw(size_t account, int64_t amount, Outcome outcome);
  void RecordTransfer(size_t from, size_t to, int64_t amount, Outcome outcome);
  // RecordRead notes a balance read (it moves no money).
  void RecordRead(Outcome outcome);
  // ObserveBalance notes a balance a reply carried during the load.
  void ObserveBalance(size_t account, int64_t balance);

  OutcomeCounts Counts() const;

  // Check compares `final_balances` (one per account, in order) with the
  // history recorded so far.
  Verdict Check(const std::vector<int64_t>& final_balances) const;

 private:
  // AccountState: one account's history, summed.
  struct AccountState {
    std::atomic<int64_t> applied_delta{0};
    std::atomic<int64_t> indeterminate_credit{0};  // Could have been added.
    std::atomic<int64_t> indeterminate_debit{0};   // Could have been taken.
  };

  void Count(Outcome outcome);

  // Constant after construction.
  const std::vector<int64_t> initial_balances_;
  int64_t initial_total_ = 0;

  std::unique_ptr<AccountState[]> accounts_;
  std::atomic<int64_t> applied_deposits_{0};
  std::atomic<int64_t> applied_withdrawals_{0};
  std::atomic<int64_t> indeterminate_deposits_{0};
  std::atomic<int64_t> indeterminate_withdrawals_{0};
  std::atomic<uint64_t> applied_count_{0};
  std::atomic<uint64_t> not_applied_count_{0};
  std::atomic<uint64_t> indeterminate_count_{0};

  mutable absl::Mutex mu_;
  uint64_t negative_reply_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Violation> negative_replies_ ABSL_GUARDED_BY(mu_);
};

}  // namespace bank::loadgen

#endif  // BANK_LOADGEN_LEDGER_H_
