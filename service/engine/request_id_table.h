// RequestIdTable: the remembered outcomes of operations that carried a
// client-chosen request id (the idempotency key of AIP-155 and Stripe).
//
// Each entry holds an operation's parameters and, once known, its outcome.
// An entry is either
//   - in flight: the first operation with this id is being applied; later
//     repeats wait on it (their completions are kept in the entry), or
//   - remembered: the outcome is known and is replayed to every repeat.
// Only decided outcomes are remembered (see IsRememberedOutcome); an entry
// whose first operation decided nothing (a full queue, a shut-down engine) is
// dropped, so that a retry runs the operation again.
//
// Bounds: at most `entries_max` entries, in flight and remembered together.
// A new id that finds the table full evicts the oldest remembered entry
// (oldest by when its outcome became known); when every entry is in flight,
// the new operation answers kResourceExhausted. A remembered entry is kept
// for `ttl` after its outcome became known and then forgotten. A repeat
// after eviction or expiry runs again as a new operation, as Stripe's keys
// do after 24 hours: the window of safe retries is what the two bounds give.
//
// Memory: one entry costs about kRequestIdEntryBytesApprox bytes (the hash
// node with the key, the copied parameters, the outcome and the eviction
// queue's pointer; more for ids or account ids over 15 bytes, which leave
// std::string's inline buffer, and for long error messages).
//
// Thread safety: every method may be called from any thread; one internal
// mutex guards all state. No method calls a completion: completions are
// handed back to the caller, which runs them without the lock held.

#ifndef BANK_SERVICE_ENGINE_REQUEST_ID_TABLE_H_
#define BANK_SERVICE_ENGINE_REQUEST_ID_TABLE_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/engine/operation.h"
#include "service/engine/request_id_journal.h"

namespace bank {

inline constexpr absl::Duration kRequestIdTtlDefault = absl::Hours(24);
inline constexpr size_t kRequestIdsMaxDefault = 1'000'000;
// Measured (bench/request_id_bytes: 344) with 36-byte UUID ids and 8-byte
// account ids; see BENCHMARKS.md.
inline constexpr size_t kRequestIdEntryBytesApprox = 350;

struct RequestIdOptions {
  absl::Duration ttl = kRequestIdTtlDefault;
  size_t entries_max = kRequestIdsMaxDefault;
  // Clock answers the current time; null means absl::Now. Tests inject one.
  std::function<absl::Time()> clock;
};

// IsRememberedOutcome: success and the errors that decided the operation
// (kFailedPrecondition, kNotFound, kOutOfRange, kAlreadyExists). Anything
// else (kResourceExhausted, kUnavailable, kInvalidArgument, ...) decided
// nothing and may succeed when retried.
bool IsRememberedOutcome(const absl::Status& status);

// RequestIdReusedError: kInvalidArgument for `repeat`, whose request id was
// first used for `first` with other parameters; names the id and both
// operations. Shared with engines that keep ids elsewhere (postgres).
absl::Status RequestIdReusedError(const Operation& first,
                                  const Operation& repeat);

class RequestIdTable {
 public:
  explicit RequestIdTable(RequestIdOptions options);

  RequestIdTable(const RequestIdTable&) = delete;
  RequestIdTable& operator=(const RequestIdTable&) = delete;

  enum class ClaimKind {
    kFirst,     // New id: run the operation, then call Finish.
    kAnswered,  // `outcome` is the answer (a replay or an error); run nothing.
    kAttached,  // In flight: `done` was taken and will come back from Finish.
                // (From ClaimAllOrNone: in flight elsewhere; nothing taken.)
  };
  struct Claim {
    ClaimKind kind = ClaimKind::kFirst;
    absl::StatusOr<OperationResult> outcome = OperationResult{};
  };

  // Claim looks up operation.request_id (which must be non-empty and valid).
  // A repeat with other parameters is answered kInvalidArgument naming the
  // id. On kAttached, `*done` has been moved into the entry.
  Claim ClaimId(const Operation& operation, OperationDone* done)
      ABSL_LOCKS_EXCLUDED(mu_);

  // ClaimAllOrNone looks up several operations at once, for an atomic
  // batch, under one lock: each must carry a non-empty, valid request_id,
  // all different. It answers one Claim per operation, in order: kFirst
  // (a new id), kAnswered (the remembered outcome, or kInvalidArgument for
  // other parameters) or kAttached, which here means in flight elsewhere
  // (another request is applying it; nothing waits, nothing was taken). It
  // claims every kFirst id (the caller must Finish each) only when all of them
  // can be claimed and no operation is in flight or answered with an error;
  // otherwise, or when `claim` is false (a look-up only), it claims none
  // (`claimed` false). Room for the new ids is made as ClaimId does; when even
  // evicting every remembered entry leaves too little, `status` is
  // kResourceExhausted and nothing is claimed.
  struct BatchClaim {
    absl::Status status;
    bool claimed = false;
    std::vector<Claim> claims;
  };
  BatchClaim ClaimAllOrNone(const std::vector<const Operation*>& operations,
                            bool claim) ABSL_LOCKS_EXCLUDED(mu_);

  // Finish records the outcome of the kFirst operation with `request_id`
  // (or drops the entry if the outcome is not remembered) and answers the
  // completions of the repeats that attached meanwhile; the caller runs each
  // with the same outcome.
  std::vector<OperationDone> Finish(
      const std::string& request_id,
      const absl::StatusOr<OperationResult>& outcome) ABSL_LOCKS_EXCLUDED(mu_);

  // Restore adds a remembered outcome recovered from storage, before any
  // ClaimId. Callers pass what RequestIdJournal::Recover answered, which
  // already kept only live entries, the newest per id, at most
  // entries_max, oldest first: a repeated id or a full table is a bug.
  void Restore(JournalEntry entry) ABSL_LOCKS_EXCLUDED(mu_);

  // ClaimEach is ClaimId for each of `operations` in order, under one lock
  // (a non-atomic batch): an operation that attaches gets `waiter(i)` (i its
  // index in `operations`) as its completion. Ids must all differ.
  std::vector<Claim> ClaimEach(const std::vector<const Operation*>& operations,
                               absl::FunctionRef<OperationDone(size_t)> waiter)
      ABSL_LOCKS_EXCLUDED(mu_);

  // FinishEach is Finish for each (request id, outcome), under one lock; it
  // answers the attached completions, each with the index of its outcome.
  std::vector<std::pair<size_t, OperationDone>> FinishEach(
      const std::vector<
          std::pair<std::string, const absl::StatusOr<OperationResult>*>>&
          outcomes) ABSL_LOCKS_EXCLUDED(mu_);

  // Size answers the number of entries, in flight and remembered.
  size_t Size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    Operation operation;  // Parameters; request_id cleared (it is the key).
    bool remembered = false;
    absl::StatusOr<OperationResult> outcome = OperationResult{};
    std::vector<OperationDone> waiters;  // Only while in flight.
  };
  using Map = absl::node_hash_map<std::string, Entry>;

  absl::Time Now() const;
  // LookUpLocked answers kFirst for a new id, kAnswered for a remembered
  // entry or other parameters, kAttached for an entry in flight (without
  // attaching anything).
  Claim LookUpLocked(const Operation& operation) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // InsertLocked makes room as needed and adds an in-flight entry; false
  // when every entry is in flight and the table is full.
  bool InsertLocked(const Operation& operation)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status FullError() const;
  std::vector<OperationDone> FinishLocked(
      const std::string& request_id,
      const absl::StatusOr<OperationResult>& outcome, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // ExpireLocked forgets remembered entries older than the ttl.
  void ExpireLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RequestIdOptions options_;

  mutable absl::Mutex mu_;
  Map entries_ ABSL_GUARDED_BY(mu_);
  // Remembered entries (key, when remembered) in the order their outcomes
  // became known; the front is the oldest. Node map keys have stable
  // addresses.
  std::deque<std::pair<const std::string*, absl::Time>> remembered_order_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_REQUEST_ID_TABLE_H_
