// RequestIdJournal: remembered request-id outcomes made durable in the same
// atomic write as the change they describe.
//
// With a durable store (account_store.h), a remembered outcome that lived in
// memory only would be forgotten by kill -9, and a client's retry after the
// restart would apply its change a second time. So a durable engine adds one
// journal entry to the StoreRecord of every operation that carries a request
// id and ends with a remembered outcome (IsRememberedOutcome): the change and
// "this id was answered so" reach the disk in one synced write, or neither
// does. A decided error (say FAILED_PRECONDITION) changes no balance, and
// its record holds the journal entry alone: it is durable before the client
// hears it, as any other answer.
//
// Bounded storage: entries live in `slots` numbered keys (slots = the
// table's --request_ids_max). Each entry takes the next sequence number and
// is written to slot `sequence % slots`, overwriting the entry `slots`
// sequence numbers older: the disk never holds more entries than the memory
// table may, and the oldest are dropped first, as in memory. (An entry cannot
// overwrite one still in flight: the memory table refuses new ids while
// `slots` of them are in flight.) Lowering --request_ids_max later leaves the
// slots above the new limit on disk; recovery ignores all but the newest.
//
// Recovery decodes every journal entry (Decode refuses a damaged one with a
// message naming its key), drops those older than the ttl, and hands the
// newest `slots` to the table in sequence order; the next sequence number
// continues after the largest recovered one.
//
// Value format (little-endian; version byte first, so a later format can be
// told apart): version u8 = 1, sequence u64, remembered_at unix micros i64,
// kind u8, amount i64, status code u8, balance i64, to_balance i64, then four
// strings as u32 length + bytes: request id, account id, to account id,
// status message: 59 bytes plus the four strings.
//
// Thread safety: AddTo may be called from any thread (the sequence is
// atomic); the rest is used before the engine serves.

#ifndef BANK_SERVICE_ENGINE_REQUEST_ID_JOURNAL_H_
#define BANK_SERVICE_ENGINE_REQUEST_ID_JOURNAL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/engine/operation.h"
#include "service/storage/account_store.h"

namespace bank {

// kRequestIdJournalKeyPrefix: the StoreRecord entry keys of the journal
// ("request_id/" + slot number); other entry keys are not the journal's.
inline constexpr absl::string_view kRequestIdJournalKeyPrefix = "request_id/";
// A status message longer than this is cut when journaled (engine messages
// are well under it).
inline constexpr size_t kJournalMessageBytesMax = 1024;

// JournalEntry: one remembered outcome, as stored.
struct JournalEntry {
  uint64_t sequence = 0;
  absl::Time remembered_at;
  Operation operation;  // With its request_id.
  absl::StatusOr<OperationResult> outcome = OperationResult{};
};

// EncodeJournalEntry / DecodeJournalEntry: the value format above. Decode
// answers kDataLoss naming what is wrong for any value Encode cannot have
// written (short, trailing bytes, unknown version, kind or code, an invalid
// request id, oversized strings, a success code with a message).
std::string EncodeJournalEntry(const JournalEntry& entry);
absl::StatusOr<JournalEntry> DecodeJournalEntry(absl::string_view value);

class RequestIdJournal {
 public:
  // `slots` >= 1; `clock` answers the time stamped on entries (absl::Now
  // when null; the memory table's clock, so that ttls agree).
  RequestIdJournal(size_t slots, std::function<absl::Time()> clock);

  RequestIdJournal(const RequestIdJournal&) = delete;
  RequestIdJournal& operator=(const RequestIdJournal&) = delete;

  // Recover decodes the journal's entries among a store's recovered
  // `entries`, keeps those younger than `ttl` (by this journal's clock), and
  // answers the newest `slots` of them, oldest first; later AddTo calls
  // continue after the largest sequence found. kDataLoss naming the key for
  // a damaged entry.
  absl::StatusOr<std::vector<JournalEntry>> Recover(
      const std::vector<std::pair<std::string, std::string>>& entries,
      absl::Duration ttl);

  // AddTo appends the journal entry of `operation`'s outcome to `record`
  // when the operation carries a request id and `outcome` is remembered;
  // otherwise leaves `record` as it is. Answers whether it added one.
  bool AddTo(const Operation& operation,
             const absl::StatusOr<OperationResult>& outcome,
             StoreRecord& record);

 private:
  const size_t slots_;
  const std::function<absl::Time()> clock_;
  std::atomic<uint64_t> next_sequence_{1};
};

// DurableRecordFor answers the durable record of `operation`'s outcome: the
// new balance of each account a successful change wrote, plus, with a
// journal (may be null), the request id's remembered outcome; nullopt when
// there is nothing to write (a read, an error without a request id).
std::optional<StoreRecord> DurableRecordFor(
    const Operation& operation, const absl::StatusOr<OperationResult>& outcome,
    RequestIdJournal* journal);

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_REQUEST_ID_JOURNAL_H_
