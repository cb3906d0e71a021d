// store_recovery_fuzzer: our recovery code on arbitrary storage contents,
// without opening RocksDB (recovery_fuzzer does that, at about 50 inputs a
// second; this target runs thousands).
//
// The first input byte picks the part:
//   even  wal_check (wal_check.h), the check that runs on every write-ahead
//         log before RocksDB replays it, on the rest of the input as a log.
//         Bit 1: recompute every framed record's checksum first, so that the
//         write-batch parsing behind the framing is reached. Bit 2: put the
//         input after a valid filler record that ends near the first 32 KiB
//         block boundary (the next byte says how near), so that records
//         split across blocks are reached with short inputs.
//   odd   the stored key/value layout (store_layout.h) and the engines'
//         recovery from it (CreateEngine with recovered balances and
//         request-id journal entries, mutex or queue engine), then one more
//         operation, then a second recovery from what that left.
// What must hold:
//   wal_check  deterministic; valid_bytes within the file and before the bad
//              offset; the part it keeps checks clean with the same sequence
//              numbers (fuzz_util.h). On a clean log, every prefix (what a
//              crash leaves), also followed by zeros (preallocated space), is
//              never damage and keeps every whole record it holds.
//   recovery   CreateEngine refuses exactly when an independent decoder here
//              says the stored values are damaged (kDataLoss: a balance not
//              8 bytes or negative, a record count not 8 bytes, a journal
//              entry the journal's format cannot hold) or the accounts exceed
//              accounts_max (kFailedPrecondition); otherwise every balance
//              reads back as stored and every request id the journal's
//              policy keeps (younger than the ttl, newest per id, the newest
//              `slots`) answers its remembered outcome again, changing
//              nothing. One more operation then answers what a trivial model
//              says; the store's commit holds exactly its effect; and a second
//              recovery (by the other engine) from the stored values plus
//              that commit gives the model's balances and remembers the new
//              operation's outcome if it is a remembered one.
// No sanitizer report, no abort.

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "fuzz/fuzz_util.h"
#include "service/engine/account_engine.h"
#include "service/engine/engine_factory.h"
#include "service/engine/operation.h"
#include "service/storage/account_store.h"
#include "service/storage/memory_store.h"
#include "service/storage/store_layout.h"
#include "service/storage/wal_check.h"

namespace {

using bank_fuzz::Reader;

constexpr size_t kStoredMax = 12;      // Key/value pairs per input.
constexpr size_t kAccountsMaxTop = 8;  // accounts_max is 1 to this.
constexpr size_t kSlotsTop = 4;        // request_ids_max is 1 to this.
constexpr size_t kQueueDepthMax = 16;
constexpr int64_t kNowSeconds = 1'800'000'000;
const absl::Time kNow = absl::FromUnixSeconds(kNowSeconds);

// ---------------------------------------------------------------------------
// Part 1: wal_check.

// Filler: one valid Full record holding a write batch (sequence 1, one Put
// of key "f" and a value), `bytes` long in all (>= 21).
std::string Filler(size_t bytes) {
  std::string batch;
  const uint64_t sequence = 1;
  for (int i = 0; i < 8; ++i)
    batch.push_back(static_cast<char>(sequence >> (8 * i)));
  batch += std::string("\x01\x00\x00\x00", 4);  // Count 1.
  batch.push_back('\x01');                      // Put.
  batch += std::string(
      "\x01"
      "f",
      2);  // Key "f".
  // The value's varint length takes 3 bytes for every size used here
  // (16 KiB to 32 KiB).
  const size_t value_bytes = bytes - bank_fuzz::kHeaderBytes - batch.size() - 3;
  batch.push_back(static_cast<char>(0x80 | (value_bytes & 0x7f)));
  batch.push_back(static_cast<char>(0x80 | ((value_bytes >> 7) & 0x7f)));
  batch.push_back(static_cast<char>(value_bytes >> 14));
  batch += std::string(value_bytes, 'v');
  std::string record(bank_fuzz::kHeaderBytes, '\0');
  record[4] = static_cast<char>(batch.size() & 0xff);
  record[5] = static_cast<char>(batch.size() >> 8);
  record[6] = 1;  // Full.
  record += batch;
  bank_fuzz::FixChecksums(record);
  return record;
}

// CachedFiller: Filler(kBlockBytes - gap), built once per gap (checking
// the logs is the point, not building them).
const std::string& CachedFiller(uint8_t gap) {
  static std::array<std::string, 256>* const cache =
      new std::array<std::string, 256>();
  std::string& filler = (*cache)[gap];
  if (filler.empty()) filler = Filler(bank_fuzz::kBlockBytes - gap);
  return filler;
}

void FuzzWal(uint8_t mode, Reader& in) {
  std::string wal;
  if (mode & 4) wal = CachedFiller(in.Byte());  // Ends 0-255 bytes early.
  const size_t filler_bytes = wal.size();
  const uint8_t cut_byte = in.Byte();
  const uint8_t zeros_byte = in.Byte();
  wal += in.Rest();
  if (mode & 2) bank_fuzz::FixChecksums(wal, filler_bytes);
  const bank::WalCheck check = bank_fuzz::CheckWalChecker(wal);
  if (check.verdict != bank::WalCheck::Verdict::kClean) return;
  // A crash leaves a prefix of a clean log, maybe followed by zeros.
  const size_t cut = wal.size() * cut_byte / 255;
  wal.resize(cut);
  for (int padded = 0; padded < 2; ++padded) {
    if (padded == 1) wal.append(size_t{zeros_byte} * 65, '\0');
    const bank::WalCheck crashed = bank_fuzz::CheckWalChecker(wal);
    FUZZ_CHECK(crashed.verdict != bank::WalCheck::Verdict::kDamaged);
    FUZZ_CHECK(crashed.valid_bytes <= check.valid_bytes);
    if (cut >= check.valid_bytes) {
      FUZZ_CHECK(crashed.valid_bytes == check.valid_bytes);
      FUZZ_CHECK(crashed.next_sequence == check.next_sequence);
    }
  }
}

// ---------------------------------------------------------------------------
// Part 2: recovery. The model's own decoding, written from the formats in
// store_layout.h and request_id_journal.h, not from their code.

std::string Fixed64(uint64_t value) {
  std::string bytes;
  for (int i = 0; i < 8; ++i)
    bytes.push_back(static_cast<char>(value >> (8 * i)));
  return bytes;
}

std::optional<uint64_t> Read64(const std::string& bytes, size_t& at) {
  if (at > bytes.size() || bytes.size() - at < 8) return std::nullopt;
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    value |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[at + i]))
             << (8 * i);
  }
  at += 8;
  return value;
}

std::optional<std::string> ReadString(const std::string& bytes, size_t& at,
                                      size_t size_max) {
  if (bytes.size() - at < 4) return std::nullopt;
  uint32_t size = 0;
  for (int i = 0; i < 4; ++i) {
    size |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[at + i]))
            << (8 * i);
  }
  at += 4;
  if (size > size_max || size > bytes.size() - at) return std::nullopt;
  std::string text = bytes.substr(at, size);
  at += size;
  return text;
}

bool PrintableId(const std::string& id) {
  if (id.empty() || id.size() > bank::kRequestIdBytesMax) return false;
  for (char c : id) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// Remembered: one decoded journal entry.
struct Remembered {
  uint64_t sequence = 0;
  absl::Time at;
  bank::Operation operation;
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;
  int64_t balance = 0;
  int64_t to_balance = 0;
};

bool IsRemembered(absl::StatusCode code) {
  return code == absl::StatusCode::kOk ||
         code == absl::StatusCode::kFailedPrecondition ||
         code == absl::StatusCode::kNotFound ||
         code == absl::StatusCode::kOutOfRange ||
         code == absl::StatusCode::kAlreadyExists;
}

// DecodeEntry: the journal's value format, or nullopt for a value its
// encoder cannot have written.
std::optional<Remembered> DecodeEntry(const std::string& value) {
  Remembered entry;
  size_t at = 1;
  if (value.empty() || value[0] != 1) return std::nullopt;
  auto sequence = Read64(value, at);
  auto micros = Read64(value, at);
  if (!sequence || !micros || value.size() - at < 1) return std::nullopt;
  const uint8_t kind = static_cast<uint8_t>(value[at++]);
  auto amount = Read64(value, at);
  if (!amount || value.size() - at < 1) return std::nullopt;
  const uint8_t code = static_cast<uint8_t>(value[at++]);
  auto balance = Read64(value, at);
  auto to_balance = Read64(value, at);
  if (!balance || !to_balance) return std::nullopt;
  auto request_id = ReadString(value, at, bank::kRequestIdBytesMax);
  auto account = ReadString(value, at, bank::kAccountIdBytesMax);
  auto to_account = ReadString(value, at, bank::kAccountIdBytesMax);
  auto message = ReadString(value, at, 1024);
  if (!request_id || !account || !to_account || !message) return std::nullopt;
  if (at != value.size()) return std::nullopt;
  // Kinds: open, deposit, withdraw, transfer (a read is never journaled).
  if (kind > 3) return std::nullopt;
  const int64_t signed_amount = static_cast<int64_t>(*amount);
  const bool transfer = kind == 3;
  if (!PrintableId(*request_id) || account->empty() ||
      (transfer && (to_account->empty() || *to_account == *account)) ||
      (kind == 0 ? signed_amount < 0 : signed_amount <= 0)) {
    return std::nullopt;
  }
  if (code > 16 || !IsRemembered(static_cast<absl::StatusCode>(code)) ||
      (code == 0 && !message->empty())) {
    return std::nullopt;
  }
  const int64_t signed_micros = static_cast<int64_t>(*micros);
  if (signed_micros == std::numeric_limits<int64_t>::min() ||
      signed_micros == std::numeric_limits<int64_t>::max()) {
    return std::nullopt;
  }
  entry.sequence = *sequence;
  entry.at = absl::FromUnixMicros(signed_micros);
  entry.operation.kind = static_cast<bank::OperationKind>(kind);
  entry.operation.amount = signed_amount;
  entry.operation.request_id = *request_id;
  entry.operation.account_id = *account;
  entry.operation.to_account_id = *to_account;
  entry.code = static_cast<absl::StatusCode>(code);
  entry.message = *message;
  entry.balance = static_cast<int64_t>(*balance);
  entry.to_balance = static_cast<int64_t>(*to_balance);
  return entry;
}

std::string EncodeEntry(const Remembered& entry) {
  std::string out(1, '\x01');
  out += Fixed64(entry.sequence);
  out += Fixed64(static_cast<uint64_t>(absl::ToUnixMicros(entry.at)));
  out.push_back(static_cast<char>(entry.operation.kind));
  out += Fixed64(static_cast<uint64_t>(entry.operation.amount));
  out.push_back(static_cast<char>(entry.code));
  out += Fixed64(static_cast<uint64_t>(entry.balance));
  out += Fixed64(static_cast<uint64_t>(entry.to_balance));
  for (const std::string* text :
       {&entry.operation.request_id, &entry.operation.account_id,
        &entry.operation.to_account_id, &entry.message}) {
    const uint32_t size = static_cast<uint32_t>(text->size());
    for (int i = 0; i < 4; ++i)
      out.push_back(static_cast<char>(size >> (8 * i)));
    out += *text;
  }
  return out;
}

struct Config {
  std::string engine;
  size_t accounts_max = 1;
  size_t slots = 1;
  absl::Duration ttl;
};

// Expected: what recovery must give, or the status code it must refuse with.
struct Expected {
  absl::StatusCode refused = absl::StatusCode::kOk;
  std::map<std::string, int64_t> balances;
  uint64_t records = 0;
  // Kept journal entries by request id; `ambiguous` when two share a
  // sequence number (no real journal has that), so which is newest is not
  // defined and remembered outcomes are not compared.
  std::map<std::string, Remembered> remembered;
  bool ambiguous = false;
  std::set<std::string> request_ids;  // Of every entry, kept or not.
};

using Stored = std::map<std::string, std::string>;  // As RocksDB orders it.

Expected Model(const Stored& stored, const Config& config) {
  Expected expected;
  std::vector<Remembered> found;
  for (const auto& [key, value] : stored) {
    if (key.empty()) continue;
    if (key[0] == 'a') {
      size_t at = 0;
      const auto balance = Read64(value, at);
      if (!balance || value.size() != 8 || static_cast<int64_t>(*balance) < 0) {
        expected.refused = absl::StatusCode::kDataLoss;
        return expected;
      }
      expected.balances[key.substr(1)] = static_cast<int64_t>(*balance);
    } else if (key == "m:records") {
      size_t at = 0;
      const auto records = Read64(value, at);
      if (!records || value.size() != 8) {
        expected.refused = absl::StatusCode::kDataLoss;
        return expected;
      }
      expected.records = *records;
    }
  }
  // The journal after the store: CreateEngine reads it before the engine.
  for (const auto& [key, value] : stored) {
    if (!absl::StartsWith(key, "erequest_id/")) continue;
    std::optional<Remembered> entry = DecodeEntry(value);
    if (!entry) {
      expected.refused = absl::StatusCode::kDataLoss;
      return expected;
    }
    expected.request_ids.insert(entry->operation.request_id);
    if (kNow - entry->at < config.ttl) found.push_back(*std::move(entry));
  }
  if (expected.balances.size() > config.accounts_max) {
    expected.refused = absl::StatusCode::kFailedPrecondition;
    return expected;
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const Remembered& a, const Remembered& b) {
                     return a.sequence < b.sequence;
                   });
  for (size_t i = 1; i < found.size(); ++i) {
    if (found[i].sequence == found[i - 1].sequence) expected.ambiguous = true;
  }
  // Newest per request id, then the newest `slots` of those.
  std::vector<Remembered> newest;
  for (size_t i = 0; i < found.size(); ++i) {
    bool later = false;
    for (size_t j = i + 1; j < found.size(); ++j) {
      later = later ||
              found[j].operation.request_id == found[i].operation.request_id;
    }
    if (!later) newest.push_back(found[i]);
  }
  const size_t skip =
      newest.size() > config.slots ? newest.size() - config.slots : 0;
  for (size_t i = skip; i < newest.size(); ++i) {
    expected.remembered[newest[i].operation.request_id] = newest[i];
  }
  return expected;
}

// ApplyModel: the trivial model of one operation on `balances`.
absl::StatusCode ApplyModel(const bank::Operation& op, size_t accounts_max,
                            std::map<std::string, int64_t>& balances) {
  const bool transfer = op.kind == bank::OperationKind::kTransfer;
  if (op.account_id.empty() || (transfer && op.to_account_id.empty()) ||
      (transfer && op.account_id == op.to_account_id) ||
      (op.kind == bank::OperationKind::kOpen ? op.amount < 0
                                             : op.amount <= 0)) {
    return absl::StatusCode::kInvalidArgument;
  }
  auto from = balances.find(op.account_id);
  if (op.kind == bank::OperationKind::kOpen) {
    if (from != balances.end()) return absl::StatusCode::kAlreadyExists;
    if (balances.size() >= accounts_max) {
      return absl::StatusCode::kResourceExhausted;
    }
    balances[op.account_id] = op.amount;
    return absl::StatusCode::kOk;
  }
  if (from == balances.end()) return absl::StatusCode::kNotFound;
  if (op.kind == bank::OperationKind::kDeposit) {
    if (from->second > INT64_MAX - op.amount) {
      return absl::StatusCode::kOutOfRange;
    }
    from->second += op.amount;
    return absl::StatusCode::kOk;
  }
  if (op.kind == bank::OperationKind::kWithdraw) {
    if (from->second < op.amount) return absl::StatusCode::kFailedPrecondition;
    from->second -= op.amount;
    return absl::StatusCode::kOk;
  }
  auto to = balances.find(op.to_account_id);
  if (to == balances.end()) return absl::StatusCode::kNotFound;
  if (from->second < op.amount) return absl::StatusCode::kFailedPrecondition;
  if (to->second > INT64_MAX - op.amount) return absl::StatusCode::kOutOfRange;
  from->second -= op.amount;
  to->second += op.amount;
  return absl::StatusCode::kOk;
}

std::string SmallId(uint8_t byte) {
  static const char* const kIds[] = {"x", "y", "z", ""};
  return kIds[byte % 4];
}

// StructuredEntry: a journal entry built from a few input bytes, so that
// valid ones (and ones that collide in request id, slot and sequence) are
// common; bit 7 of the first byte damages it afterwards.
std::pair<std::string, std::string> StructuredEntry(Reader& in) {
  const uint8_t shape = in.Byte();
  Remembered entry;
  entry.sequence = in.Byte() % 8;
  entry.at = kNow - absl::Minutes(in.Byte() % 16);
  entry.operation.kind = static_cast<bank::OperationKind>(in.Byte() % 5);
  entry.operation.amount = static_cast<int64_t>(in.Byte()) - 4;
  static const absl::StatusCode kCodes[] = {
      absl::StatusCode::kOk,
      absl::StatusCode::kFailedPrecondition,
      absl::StatusCode::kNotFound,
      absl::StatusCode::kOutOfRange,
      absl::StatusCode::kAlreadyExists,
      absl::StatusCode::kUnavailable};
  entry.code = kCodes[in.Byte() % 6];
  if (entry.code != absl::StatusCode::kOk || (shape & 0x40)) {
    entry.message = absl::StrCat("m", shape % 3);
  }
  entry.balance = in.Byte();
  entry.to_balance = in.Byte();
  entry.operation.request_id = absl::StrCat("r", in.Byte() % 4);
  entry.operation.account_id = SmallId(in.Byte());
  entry.operation.to_account_id = SmallId(in.Byte());
  std::string value = EncodeEntry(entry);
  if (shape & 0x80) {
    const size_t at = in.Byte() % value.size();
    value[at] = static_cast<char>(value[at] ^ (in.Byte() | 1));
  }
  return {absl::StrCat("erequest_id/", shape % 5), value};
}

void ReadStored(Reader& in, Stored& stored) {
  for (size_t i = 0; i < kStoredMax && !in.empty(); ++i) {
    const uint8_t tag = in.Byte();
    switch (tag % 4) {
      case 0: {  // A balance; bit 2: a valid encoding of a small amount.
        const std::string key = "a" + SmallId(in.Byte());
        if (tag & 4) {
          stored[key] = Fixed64(in.Byte() | (uint64_t{in.Byte()} << 8));
        } else {
          stored[key] = in.Bytes(in.Byte() % 10);
        }
        break;
      }
      case 1:  // The record count.
        stored["m:records"] =
            (tag & 4) ? Fixed64(in.Byte()) : in.Bytes(in.Byte() % 10);
        break;
      case 2: {
        auto [key, value] = StructuredEntry(in);
        stored[key] = std::move(value);
        break;
      }
      default: {  // Anything: raw key and value.
        std::string key = in.Bytes(in.Byte() % 14);
        stored[key] = in.Bytes(in.Byte() % 24);
      }
    }
  }
}

bank::EngineOptions Options(const Config& config, bank::AccountStore& store,
                            const Stored& stored, absl::Status& decoded) {
  bank::RecoveredState recovered;
  decoded = absl::OkStatus();
  for (const auto& [key, value] : stored) {
    decoded = bank::DecodeStoredKeyValue(key, value, &recovered);
    if (!decoded.ok()) break;
  }
  bank::EngineOptions options;
  options.engine = config.engine;
  options.accounts_max = config.accounts_max;
  // Small: the queue engine allocates its whole queue up front, which would
  // cost more than the rest of an input.
  options.queue_depth_max = kQueueDepthMax;
  options.store = &store;
  options.recovered_balances = std::move(recovered.balances);
  options.recovered_entries = std::move(recovered.entries);
  options.request_ids.entries_max = config.slots;
  options.request_ids.ttl = config.ttl;
  options.request_ids.clock = [] { return kNow; };
  return options;
}

// Recover runs the real recovery (layout decoding, then CreateEngine) on
// `stored` and checks it against the model; answers the engine, or null
// when it (rightly) refused.
std::unique_ptr<bank::AccountEngine> Recover(const Config& config,
                                             bank::MemoryStore& store,
                                             const Stored& stored,
                                             const Expected& expected) {
  absl::Status decoded;
  bank::EngineOptions options = Options(config, store, stored, decoded);
  if (!decoded.ok()) {
    FUZZ_CHECK(decoded.code() == absl::StatusCode::kDataLoss);
    FUZZ_CHECK(expected.refused == absl::StatusCode::kDataLoss);
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<bank::AccountEngine>> engine =
      bank::CreateEngine(options);
  if (expected.refused != absl::StatusCode::kOk) {
    FUZZ_CHECK(!engine.ok());
    FUZZ_CHECK(engine.status().code() == expected.refused);
    FUZZ_CHECK(!engine.status().message().empty());
    return nullptr;
  }
  FUZZ_CHECK(engine.ok());
  bank::AccountEngine& recovered = **engine;
  auto check_balances = [&] {
    for (const auto& [id, balance] : expected.balances) {
      if (id.empty() || id.size() > bank::kAccountIdBytesMax) continue;
      absl::StatusOr<bank::OperationResult> read = bank::ExecuteAndWait(
          recovered, {bank::OperationKind::kGetBalance, id, "", 0});
      FUZZ_CHECK(read.ok());
      FUZZ_CHECK(read->balance == balance);
    }
  };
  check_balances();
  if (!expected.ambiguous) {
    for (const auto& [id, entry] : expected.remembered) {
      absl::StatusOr<bank::OperationResult> again =
          bank::ExecuteAndWait(recovered, entry.operation);
      FUZZ_CHECK(again.status().code() == entry.code);
      if (entry.code == absl::StatusCode::kOk) {
        FUZZ_CHECK(again->replayed);
        FUZZ_CHECK(again->balance == entry.balance);
        FUZZ_CHECK(again->to_balance == entry.to_balance);
      } else {
        FUZZ_CHECK(again.status().message() == entry.message);
      }
    }
    check_balances();  // A replay changes nothing.
  }
  FUZZ_CHECK(store.Durable().records_committed == 0);  // Nothing written.
  return *std::move(engine);
}

// Merge adds the store's commits to `stored`, as RocksDbStore writes them.
void Merge(const bank::RecoveredState& commits, uint64_t records_before,
           Stored& stored) {
  for (const auto& [id, balance] : commits.balances) {
    stored[bank::StoredAccountKey(id)] =
        Fixed64(static_cast<uint64_t>(balance));
  }
  for (const auto& [key, value] : commits.entries) {
    stored[bank::StoredEntryKey(key)] = value;
  }
  stored["m:records"] = Fixed64(records_before + commits.records_committed);
}

void FuzzRecovery(Reader& in) {
  const uint8_t shape = in.Byte();
  Config config;
  config.engine = (shape & 1) ? "queue" : "mutex";
  config.accounts_max = 1 + (shape >> 1) % kAccountsMaxTop;
  config.slots = 1 + (shape >> 4) % kSlotsTop;
  config.ttl = absl::Minutes(1 + in.Byte() % 16);
  // The operation after recovery.
  bank::Operation op;
  op.kind = static_cast<bank::OperationKind>(in.Byte() % 4);
  op.account_id = SmallId(in.Byte());
  op.to_account_id = SmallId(in.Byte());
  const uint8_t amount = in.Byte();
  op.amount = (amount & 0x80) ? INT64_MAX - (amount & 0x7f)
                              : static_cast<int64_t>(amount) - 2;
  Stored stored;
  ReadStored(in, stored);
  const Expected expected = Model(stored, config);
  if (shape & 0x40) {  // A request id the journal does not hold yet.
    op.request_id = "fresh";
    while (expected.request_ids.count(op.request_id) > 0) op.request_id += "!";
  }

  bank::MemoryStore store;
  std::unique_ptr<bank::AccountEngine> engine =
      Recover(config, store, stored, expected);
  if (engine == nullptr) return;

  std::map<std::string, int64_t> balances = expected.balances;
  const absl::StatusCode code = ApplyModel(op, config.accounts_max, balances);
  const absl::StatusOr<bank::OperationResult> result =
      bank::ExecuteAndWait(*engine, op);
  FUZZ_CHECK(result.status().code() == code);
  if (result.ok()) FUZZ_CHECK(!result->replayed);
  engine->Shutdown();
  engine.reset();

  // The commit holds exactly the operation's effect (and its journal entry).
  const bank::RecoveredState commits = store.Durable();
  const bool remembered = !op.request_id.empty() && IsRemembered(code);
  FUZZ_CHECK(commits.records_committed ==
             (code == absl::StatusCode::kOk || remembered ? 1u : 0u));
  for (const auto& [id, balance] : commits.balances) {
    FUZZ_CHECK(balances.at(id) == balance);
    FUZZ_CHECK(balance >= 0);
  }
  FUZZ_CHECK(commits.entries.size() == (remembered ? 1u : 0u));
  Merge(commits, expected.records, stored);

  // Second recovery, by the other engine.
  Config again = config;
  again.engine = config.engine == "queue" ? "mutex" : "queue";
  Expected after = Model(stored, again);
  FUZZ_CHECK(after.refused == absl::StatusCode::kOk);
  FUZZ_CHECK(after.balances == balances);
  FUZZ_CHECK(after.records == expected.records + commits.records_committed);
  if (remembered) {
    // The newest entry, not expired: kept whatever else the journal holds.
    const auto it = after.remembered.find(op.request_id);
    FUZZ_CHECK(it != after.remembered.end());
    FUZZ_CHECK(it->second.code == code);
    FUZZ_CHECK(it->second.operation.amount == op.amount);
  }
  bank::MemoryStore second_store;
  std::unique_ptr<bank::AccountEngine> second =
      Recover(again, second_store, stored, after);
  FUZZ_CHECK(second != nullptr);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in(data, size);
  const uint8_t mode = in.Byte();
  if (mode & 1) {
    FuzzRecovery(in);
  } else {
    FuzzWal(mode, in);
  }
  return 0;
}
