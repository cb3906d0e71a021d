// recovery_fuzzer: arbitrary bytes in the files RocksDbStore recovers from.
// Recovery must refuse (a clear status) or recover; it must never crash and
// never accept an inconsistent state.
//
// Setup (once per process): a store under /dev/shm (tmpfs, so syncs cost
// nothing) commits a fixed workload that conserves money (1,000 units over
// accounts a, b, c; some records carry entries), and two images of its
// directory are kept in memory:
//   image 0  "crash": copied while the store is open, so every commit is in
//            the write-ahead log (what kill -9 leaves);
//   image 1  "flushed": the first half of the commits flushed to a table file
//            by a close and reopen, the second half in a new log.
// Each input rebuilds one image in a scratch directory, damages it, and runs
// RocksDbStore::Open on it. The first input byte picks the mode:
//   mode 0  edits to the write-ahead log, raw;
//   mode 1  edits to the write-ahead log, then every record's checksum is
//           recomputed, so RocksDB parses the damaged batch contents;
//   mode 2  edits to any other file of the image (MANIFEST, CURRENT, OPTIONS,
//           the table file), raw;
//   mode 3  our value decoding: fuzzer keys and values ("a" balances, "e"
//           entries, "m:records") written through RocksDB itself.
// What must hold:
//   modes 0, 2  Open refuses, or recovers exactly the state after some prefix
//               of the commits (balances, entries and the record count all
//               from the same prefix; so money is conserved). The exception:
//               if the damaged log holds a checksum-valid record the original
//               did not have (a forged record, which is what a writer with
//               access to the directory can do), only mode 1's rule applies.
//   mode 1      Open refuses or recovers a state whose balances are all
//               valid (decodable, >= 0): a batch with a valid checksum is
//               indistinguishable from a real one.
//   mode 3      Open refuses (kDataLoss) exactly when a balance or the
//               record count is not a valid encoding, and otherwise recovers
//               exactly the values written, decoded independently here.
//   all modes   after a successful Open, one more commit, a close and a
//               reopen recover the same state plus that commit (a recovered
//               state, e.g. after a torn tail was cut, must stay openable).
// Edits (modes 0-2): after the mode byte (and a file byte in mode 2), up to
// kEditsMax records [op][offset: 2 bytes][length][length bytes]: op % 4 is
// overwrite (extending the file), insert, truncate, or xor one byte.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_util.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "service/storage/account_store.h"
#include "service/storage/rocksdb_store.h"
#include "service/storage/wal_check.h"

namespace {

namespace fs = std::filesystem;
using bank_fuzz::CheckWalChecker;
using bank_fuzz::FixChecksums;
using bank_fuzz::Fixed32At;
using bank_fuzz::ForEachRecord;
using bank_fuzz::kHeaderBytes;
using bank_fuzz::Mask;
using bank_fuzz::Reader;
using bank_fuzz::RecordCrc;

constexpr size_t kEditsMax = 16;
constexpr size_t kPutsMax = 8;
constexpr int64_t kMoneyTotal = 1000;
constexpr size_t kWriteBufferBytes = size_t{64} << 10;

// State: what a store holds, in comparable form.
struct State {
  std::map<std::string, int64_t> balances;
  std::map<std::string, std::string> entries;
  uint64_t records = 0;
  bool operator==(const State& other) const {
    return balances == other.balances && entries == other.entries &&
           records == other.records;
  }
};

State FromRecovered(const bank::RecoveredState& recovered) {
  State state;
  state.balances.insert(recovered.balances.begin(), recovered.balances.end());
  for (const auto& [key, value] : recovered.entries) {
    FUZZ_CHECK(state.entries.emplace(key, value).second);  // Keys are unique.
  }
  state.records = recovered.records_committed;
  return state;
}

void ApplyRecords(const std::vector<bank::StoreRecord>& group, State& state) {
  for (const bank::StoreRecord& record : group) {
    for (const bank::BalanceWrite& write : record.balances) {
      state.balances[write.account_id] = write.balance;
    }
    for (const auto& [key, value] : record.entries) state.entries[key] = value;
  }
  state.records += group.size();
}

bank::StoreRecord Transfer(const std::string& from, int64_t from_balance,
                           const std::string& to, int64_t to_balance) {
  bank::StoreRecord record;
  record.balances.push_back({from, from_balance});
  record.balances.push_back({to, to_balance});
  return record;
}

bank::StoreRecord Open(const std::string& id, int64_t balance) {
  bank::StoreRecord record;
  record.balances.push_back({id, balance});
  return record;
}

// The workload: each group is one Commit; money is conserved after group 0.
std::vector<std::vector<bank::StoreRecord>> Workload() {
  std::vector<std::vector<bank::StoreRecord>> groups;
  groups.push_back({Open("a", 600), Open("b", 300), Open("c", 100)});
  groups.push_back({Transfer("a", 550, "b", 350)});
  groups.back()[0].entries.push_back({"r/1", "transfer a->b 50: ok"});
  groups.push_back({Transfer("b", 340, "c", 110), Transfer("c", 0, "a", 660)});
  groups.push_back({Transfer("a", 1, "b", 999)});
  groups.back()[0].entries.push_back({"r/2", std::string(300, 'x')});
  groups.push_back({Transfer("b", 0, "c", 999)});
  groups.push_back({Transfer("c", 499, "a", 501)});
  groups.back()[0].entries.push_back({"r/1", "superseded"});
  // Larger than a log block (32 KiB): its batch is written as First and
  // Last fragments, so a crash can leave a log ending between them.
  groups.back()[0].entries.push_back({"r/3", std::string(40000, 'y')});
  groups.push_back({Transfer("a", 250, "b", 251)});
  groups.push_back({Transfer("a", 0, "c", 749)});
  return groups;
}

using Files = std::map<std::string, std::string>;  // File name -> bytes.

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

void WriteFile(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out.good()) std::fprintf(stderr, "write %s failed\n", path.c_str());
  FUZZ_CHECK(out.good());
}

// Snapshot: the regular files of `dir` except LOCK and RocksDB's text log.
Files Snapshot(const fs::path& dir) {
  Files files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name == "LOCK" ||
        absl::StartsWith(name, "LOG")) {
      continue;
    }
    files[name] = ReadFile(entry.path());
  }
  return files;
}

bank::RocksDbStoreOptions StoreOptions(const std::string& dir) {
  bank::RocksDbStoreOptions options;
  options.dir = dir;
  // Small: RocksDB preallocates a log of about this size, and allocating
  // tens of MB on tmpfs per execution would dominate the run time.
  options.write_buffer_bytes = kWriteBufferBytes;
  options.log_line = [](const std::string&) {};  // Torn tails are expected.
  return options;
}

struct Image {
  Files files;
  std::string wal_name;  // The log file that holds records.
};

struct World {
  fs::path root;
  fs::path run_dir;
  Image images[2];
  std::vector<State> prefixes;  // prefixes[k]: the state after k groups.
};

World* MakeWorld() {
  auto* world = new World;
  const char* shm = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : nullptr;
  const char* tmp = std::getenv("TMPDIR");
  world->root = fs::path(shm ? shm : (tmp ? tmp : "/tmp")) /
                absl::StrCat("bank-recovery-fuzzer.", getpid());
  // Scratch directories of earlier runs that crashed (atexit never ran).
  std::error_code error;
  for (const auto& entry :
       fs::directory_iterator(world->root.parent_path(), error)) {
    const std::string name = entry.path().filename().string();
    int pid = 0;
    if (absl::StartsWith(name, "bank-recovery-fuzzer.") &&
        absl::SimpleAtoi(name.substr(21), &pid) && kill(pid, 0) != 0 &&
        errno == ESRCH) {
      fs::remove_all(entry.path(), error);
    }
  }
  fs::remove_all(world->root);
  fs::create_directories(world->root);
  world->run_dir = world->root / "run";
  std::atexit([] {
    std::error_code error;
    fs::remove_all(fs::path(std::getenv("BANK_RECOVERY_FUZZER_ROOT")), error);
  });
  setenv("BANK_RECOVERY_FUZZER_ROOT", world->root.c_str(), 1);

  const auto groups = Workload();
  world->prefixes.emplace_back();
  for (const auto& group : groups) {
    State next = world->prefixes.back();
    ApplyRecords(group, next);
    int64_t sum = 0;
    for (const auto& [id, balance] : next.balances) sum += balance;
    FUZZ_CHECK(sum == kMoneyTotal);
    world->prefixes.push_back(std::move(next));
  }

  for (int image = 0; image < 2; ++image) {
    const std::string dir =
        (world->root / absl::StrCat("seed", image)).string();
    bank::RecoveredState recovered;
    auto store = bank::RocksDbStore::Open(StoreOptions(dir), &recovered);
    FUZZ_CHECK(store.ok());
    for (size_t i = 0; i < groups.size(); ++i) {
      if (image == 1 && i == groups.size() / 2) {
        FUZZ_CHECK((*store)->Close().ok());  // Flushes to a table file.
        store = bank::RocksDbStore::Open(StoreOptions(dir), &recovered);
        FUZZ_CHECK(store.ok());
      }
      FUZZ_CHECK((*store)->Commit(groups[i]).ok());
    }
    Image& snapshot = world->images[image];
    snapshot.files = Snapshot(dir);  // While open: a crash image.
    size_t wal_bytes = 0;
    for (const auto& [name, bytes] : snapshot.files) {
      if (absl::EndsWith(name, ".log") && bytes.size() > wal_bytes) {
        snapshot.wal_name = name;
        wal_bytes = bytes.size();
      }
    }
    FUZZ_CHECK(!snapshot.wal_name.empty());
    store->reset();
    fs::remove_all(dir);
  }
  return world;
}

World& GetWorld() {
  static World* world = MakeWorld();
  return *world;
}

// Reader: the fuzzer's bytes, read front to back; zeros once exhausted.
void ApplyEdits(Reader& in, std::string& file) {
  for (size_t i = 0; i < kEditsMax && !in.empty(); ++i) {
    const uint8_t op = in.Byte();
    size_t offset = in.Byte();
    offset |= static_cast<size_t>(in.Byte()) << 8;
    const size_t length = in.Byte();
    const std::string bytes = in.Bytes(length);
    offset %= file.size() + 1;
    switch (op % 4) {
      case 0:
        file.resize(std::max(file.size(), offset + bytes.size()));
        file.replace(offset, bytes.size(), bytes);
        break;
      case 1:
        file.insert(offset, bytes);
        break;
      case 2:
        file.resize(offset);
        break;
      case 3:
        if (offset < file.size()) {
          file[offset] = static_cast<char>(file[offset] ^ (length | 1));
        }
        break;
    }
  }
}

// The log format's framing (as in service/storage/wal_check.cc).
// HasForgedRecord: does `wal` hold, before its first bad record, a
// checksum-valid record that differs from `original`'s bytes at that offset?
bool HasForgedRecord(const std::string& original, const std::string& wal) {
  bool forged = false;
  ForEachRecord(wal, [&](size_t offset, size_t length) {
    const size_t end = offset + kHeaderBytes + length;
    if (end <= original.size() && original.compare(offset, end - offset, wal,
                                                   offset, end - offset) == 0) {
      return true;  // The original's record, in place.
    }
    if (Mask(RecordCrc(wal, offset, length)) != Fixed32At(wal, offset)) {
      return false;  // Damage: recovery stops or refuses here.
    }
    forged = true;
    return false;
  });
  return forged;
}

void WriteImage(const World& world, const Files& files) {
  std::error_code error;
  fs::remove_all(world.run_dir, error);
  fs::create_directories(world.run_dir);
  for (const auto& [name, bytes] : files)
    WriteFile(world.run_dir / name, bytes);
}

void CheckValidBalances(const State& state) {
  for (const auto& [id, balance] : state.balances) FUZZ_CHECK(balance >= 0);
}

bool IsPrefix(const World& world, const State& state) {
  return std::find(world.prefixes.begin(), world.prefixes.end(), state) !=
         world.prefixes.end();
}

// OpenAndCheck opens the damaged directory; on success it checks `accept`,
// commits one more record, and requires a reopen to recover both.
// `must_open`: the damage is what a crash can leave, so refusing is wrong.
template <typename Accept>
void OpenAndCheck(const World& world, bool must_open, Accept accept) {
  bank::RecoveredState recovered;
  auto store = bank::RocksDbStore::Open(StoreOptions(world.run_dir.string()),
                                        &recovered);
  if (!store.ok() && must_open) {
    std::fprintf(stderr, "refused a crash image: %s\n",
                 std::string(store.status().message()).c_str());
    FUZZ_CHECK(store.ok());
  }
  if (!store.ok()) {
    // Refused: with a status a person can act on, never a silent OK.
    FUZZ_CHECK(!store.status().message().empty());
    return;
  }
  State state = FromRecovered(recovered);
  CheckValidBalances(state);
  accept(state);

  std::vector<bank::StoreRecord> more = {Open("after-recovery", 7)};
  more[0].entries.push_back({"r/after", "ok"});
  FUZZ_CHECK((*store)->Commit(more).ok());
  ApplyRecords(more, state);
  FUZZ_CHECK((*store)->Close().ok());
  store->reset();
  auto reopened = bank::RocksDbStore::Open(StoreOptions(world.run_dir.string()),
                                           &recovered);
  FUZZ_CHECK(reopened.ok());
  FUZZ_CHECK(FromRecovered(recovered) == state);
}

bool IsPrefixThenZeros(const std::string& original, const std::string& file) {
  size_t common = 0;
  while (common < file.size() && common < original.size() &&
         file[common] == original[common]) {
    ++common;
  }
  return file.find_first_not_of('\0', common) == std::string::npos;
}

void FuzzFiles(const World& world, int mode, Reader& in) {
  const Image& image = world.images[in.Byte() % 2];
  Files files = image.files;
  std::string name = image.wal_name;
  if (mode == 2) {
    std::vector<std::string> others;
    for (const auto& [file, bytes] : files) {
      if (file != image.wal_name) others.push_back(file);
    }
    name = others[in.Byte() % others.size()];
  }
  std::string& file = files[name];
  ApplyEdits(in, file);
  const std::string& original = image.files.at(name);
  const bool forged = mode == 0 && HasForgedRecord(original, file);
  if (mode == 1) FixChecksums(file);
  if (mode != 2) CheckWalChecker(file);
  // A crash leaves a prefix of the log, possibly followed by zeros
  // (preallocated space): recovery must then succeed.
  const bool crash_image = mode == 0 && IsPrefixThenZeros(original, file);
  WriteImage(world, files);
  OpenAndCheck(world, crash_image, [&](const State& state) {
    if (mode == 1 || forged) return;  // Valid balances is all one can ask.
    FUZZ_CHECK(IsPrefix(world, state));
  });
}

// Decode8: balances are 8 bytes, little-endian two's complement.
std::optional<uint64_t> Decode8(const std::string& bytes) {
  if (bytes.size() != 8) return std::nullopt;
  return Fixed32At(bytes, 0) |
         (static_cast<uint64_t>(Fixed32At(bytes, 4)) << 32);
}

void FuzzValues(const World& world, Reader& in) {
  WriteImage(world, world.images[0].files);
  State expected = world.prefixes.back();
  std::map<std::string, std::string> puts;  // Raw key -> raw value.
  for (size_t i = 0; i < kPutsMax && !in.empty(); ++i) {
    const uint8_t kind = in.Byte();
    const std::string id = in.Bytes(in.Byte() % 8);
    const std::string value = in.Bytes(in.Byte() % 16);
    switch (kind % 3) {
      case 0:
        puts["a" + id] = value;
        break;
      case 1:
        puts["e" + id] = value;
        break;
      case 2:
        puts["m:records"] = value;
        break;
    }
  }
  bool valid = true;
  for (const auto& [key, value] : puts) {
    const std::optional<uint64_t> decoded = Decode8(value);
    if (key[0] == 'e') {
      expected.entries[key.substr(1)] = value;
    } else if (key == "m:records") {
      if (decoded) expected.records = *decoded;
      valid = valid && decoded.has_value();
    } else {
      const bool balance_ok = decoded && static_cast<int64_t>(*decoded) >= 0;
      if (balance_ok)
        expected.balances[key.substr(1)] = static_cast<int64_t>(*decoded);
      valid = valid && balance_ok;
    }
  }
  {
    rocksdb::Options options;
    options.write_buffer_size = kWriteBufferBytes;
    rocksdb::DB* raw = nullptr;
    FUZZ_CHECK(rocksdb::DB::Open(options, world.run_dir.string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    for (const auto& [key, value] : puts) {
      FUZZ_CHECK(db->Put(rocksdb::WriteOptions(), key, value).ok());
    }
    FUZZ_CHECK(db->Close().ok());
  }
  bank::RecoveredState recovered;
  auto store = bank::RocksDbStore::Open(StoreOptions(world.run_dir.string()),
                                        &recovered);
  if (!valid) {
    FUZZ_CHECK(!store.ok());
    FUZZ_CHECK(store.status().code() == absl::StatusCode::kDataLoss);
    return;
  }
  FUZZ_CHECK(store.ok());
  FUZZ_CHECK(FromRecovered(recovered) == expected);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const World& world = GetWorld();
  Reader in(data, size);
  const int mode = in.Byte() % 4;
  if (mode == 3) {
    FuzzValues(world, in);
  } else {
    FuzzFiles(world, mode, in);
  }
  return 0;
}
