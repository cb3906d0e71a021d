#include "service/engine/request_id_journal.h"

#include <algorithm>
#include <limits>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "service/engine/check.h"
#include "service/engine/commit_log.h"
#include "service/engine/request_id_table.h"

namespace bank {
namespace {

constexpr uint8_t kFormatVersion = 1;

void PutU64(std::string& out, uint64_t value) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>(value >> (8 * i)));
}

void PutString(std::string& out, absl::string_view text) {
  const uint32_t size = static_cast<uint32_t>(text.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(size >> (8 * i)));
  out.append(text.data(), text.size());
}

// Reader consumes a value front to back; every read checks the bounds.
class Reader {
 public:
  explicit Reader(absl::string_view data) : data_(data) {}

  bool U8(uint8_t& value) {
    if (data_.empty()) return false;
    value = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return true;
  }
  bool U64(uint64_t& value) {
    if (data_.size() < 8) return false;
    value = 0;
    for (int i = 0; i < 8; ++i) {
      value |= static_cast<uint64_t>(static_cast<uint8_t>(data_[i])) << (8 * i);
    }
    data_.remove_prefix(8);
    return true;
  }
  bool I64(int64_t& value) {
    uint64_t raw = 0;
    if (!U64(raw)) return false;
    value = static_cast<int64_t>(raw);
    return true;
  }
  bool String(std::string& value, size_t size_max) {
    if (data_.size() < 4) return false;
    uint32_t size = 0;
    for (int i = 0; i < 4; ++i) {
      size |= static_cast<uint32_t>(static_cast<uint8_t>(data_[i])) << (8 * i);
    }
    data_.remove_prefix(4);
    if (size > size_max || size > data_.size()) return false;
    value.assign(data_.data(), size);
    data_.remove_prefix(size);
    return true;
  }
  bool AtEnd() const { return data_.empty(); }

 private:
  absl::string_view data_;
};

absl::Status Damaged(absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("request-id journal entry is damaged: ", what));
}

bool IsKnownCode(uint8_t code) {
  return code <= static_cast<uint8_t>(absl::StatusCode::kUnauthenticated);
}

}  // namespace

std::string EncodeJournalEntry(const JournalEntry& entry) {
  const Operation& op = entry.operation;
  const absl::Status status = entry.outcome.status();
  OperationResult result;
  if (entry.outcome.ok()) result = *entry.outcome;
  absl::string_view message = status.message();
  if (message.size() > kJournalMessageBytesMax) {
    message = message.substr(0, kJournalMessageBytesMax);
  }
  std::string out;
  out.reserve(70 + op.request_id.size() + op.account_id.size() +
              op.to_account_id.size() + message.size());
  out.push_back(static_cast<char>(kFormatVersion));
  PutU64(out, entry.sequence);
  PutU64(out, static_cast<uint64_t>(absl::ToUnixMicros(entry.remembered_at)));
  out.push_back(static_cast<char>(op.kind));
  PutU64(out, static_cast<uint64_t>(op.amount));
  out.push_back(static_cast<char>(status.code()));
  PutU64(out, static_cast<uint64_t>(result.balance));
  PutU64(out, static_cast<uint64_t>(result.to_balance));
  PutString(out, op.request_id);
  PutString(out, op.account_id);
  PutString(out, op.to_account_id);
  PutString(out, message);
  return out;
}

absl::StatusOr<JournalEntry> DecodeJournalEntry(absl::string_view value) {
  Reader reader(value);
  uint8_t version = 0;
  if (!reader.U8(version)) return Damaged("empty");
  if (version != kFormatVersion) {
    return Damaged(absl::StrCat("unknown format version ", version));
  }
  JournalEntry entry;
  int64_t micros = 0;
  uint8_t kind = 0;
  uint8_t code = 0;
  int64_t balance = 0;
  int64_t to_balance = 0;
  std::string message;
  if (!reader.U64(entry.sequence) || !reader.I64(micros) || !reader.U8(kind) ||
      !reader.I64(entry.operation.amount) || !reader.U8(code) ||
      !reader.I64(balance) || !reader.I64(to_balance) ||
      !reader.String(entry.operation.request_id, kRequestIdBytesMax) ||
      !reader.String(entry.operation.account_id, kAccountIdBytesMax) ||
      !reader.String(entry.operation.to_account_id, kAccountIdBytesMax) ||
      !reader.String(message, kJournalMessageBytesMax)) {
    return Damaged("truncated or oversized field");
  }
  if (!reader.AtEnd()) return Damaged("trailing bytes");
  if (kind > static_cast<uint8_t>(OperationKind::kTransfer)) {
    return Damaged(absl::StrCat("unknown operation kind ", kind));
  }
  entry.operation.kind = static_cast<OperationKind>(kind);
  if (entry.operation.request_id.empty() ||
      !ValidateOperation(entry.operation).ok()) {
    return Damaged("invalid operation or request id");
  }
  if (!IsKnownCode(code)) return Damaged(absl::StrCat("unknown code ", code));
  const absl::Status status(static_cast<absl::StatusCode>(code), message);
  if (!IsRememberedOutcome(status) || (status.ok() && !message.empty())) {
    return Damaged(absl::StrCat("outcome ", code, " is never remembered"));
  }
  if (micros == std::numeric_limits<int64_t>::min() ||
      micros == std::numeric_limits<int64_t>::max()) {
    return Damaged("time out of range");
  }
  entry.remembered_at = absl::FromUnixMicros(micros);
  if (status.ok()) {
    entry.outcome = OperationResult{balance, to_balance};
  } else {
    entry.outcome = status;
  }
  return entry;
}

RequestIdJournal::RequestIdJournal(size_t slots,
                                   std::function<absl::Time()> clock)
    : slots_(slots), clock_(std::move(clock)) {
  BANK_CHECK(slots_ >= 1);
}

absl::StatusOr<std::vector<JournalEntry>> RequestIdJournal::Recover(
    const std::vector<std::pair<std::string, std::string>>& entries,
    absl::Duration ttl) {
  const absl::Time now = clock_ ? clock_() : absl::Now();
  std::vector<JournalEntry> found;
  uint64_t sequence_max = 0;
  for (const auto& [key, value] : entries) {
    if (!absl::StartsWith(key, kRequestIdJournalKeyPrefix)) continue;
    absl::StatusOr<JournalEntry> entry = DecodeJournalEntry(value);
    if (!entry.ok()) {
      return absl::DataLossError(
          absl::StrCat(entry.status().message(), " (key '", key, "')"));
    }
    sequence_max = std::max(sequence_max, entry->sequence);
    if (now - entry->remembered_at >= ttl) continue;
    found.push_back(*std::move(entry));
  }
  std::sort(found.begin(), found.end(),
            [](const JournalEntry& a, const JournalEntry& b) {
              return a.sequence < b.sequence;
            });
  // One id may sit in two slots (forgotten in memory, then used again): the
  // newer entry is the one its last client heard.
  absl::flat_hash_map<std::string, size_t> newest;
  for (size_t i = 0; i < found.size(); ++i) {
    newest[found[i].operation.request_id] = i;
  }
  std::vector<JournalEntry> kept;
  for (size_t i = 0; i < found.size(); ++i) {
    if (newest[found[i].operation.request_id] == i) {
      kept.push_back(std::move(found[i]));
    }
  }
  if (kept.size() > slots_) {
    kept.erase(kept.begin(),
               kept.begin() + static_cast<ptrdiff_t>(kept.size() - slots_));
  }
  next_sequence_.store(sequence_max + 1, std::memory_order_relaxed);
  return kept;
}

bool RequestIdJournal::AddTo(const Operation& operation,
                             const absl::StatusOr<OperationResult>& outcome,
                             StoreRecord& record) {
  if (operation.request_id.empty() ||
      operation.kind == OperationKind::kGetBalance ||
      !IsRememberedOutcome(outcome.status())) {
    return false;
  }
  JournalEntry entry;
  entry.sequence = next_sequence_.fetch_add(1, std::memory_order_relaxed);
  entry.remembered_at = clock_ ? clock_() : absl::Now();
  entry.operation = operation;
  entry.outcome = outcome;
  if (entry.outcome.ok()) entry.outcome->replayed = false;
  record.entries.emplace_back(
      absl::StrCat(kRequestIdJournalKeyPrefix, entry.sequence % slots_),
      EncodeJournalEntry(entry));
  return true;
}

std::optional<StoreRecord> DurableRecordFor(
    const Operation& operation, const absl::StatusOr<OperationResult>& outcome,
    RequestIdJournal* journal) {
  std::optional<StoreRecord> record;
  if (outcome.ok()) record = RecordFor(operation, *outcome);
  if (journal == nullptr) return record;
  StoreRecord with_entry =
      record.has_value() ? *std::move(record) : StoreRecord();
  if (journal->AddTo(operation, outcome, with_entry) ||
      !with_entry.balances.empty()) {
    return with_entry;
  }
  return std::nullopt;
}

}  // namespace bank
