#include "service/storage/rocksdb_store.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <filesystem>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/memtablerep.h"
#include "rocksdb/options.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/write_batch.h"
#include "service/storage/store_layout.h"
#include "service/storage/wal_check.h"

namespace bank {
namespace {

// WarningLogger: RocksDB's own log, warnings and errors only, to stderr.
// Not RocksDB's default LOG file in the data directory: on a full disk that
// file fails too, and Debian's build (assertions on) aborts when RocksDB
// writes to a log file after an earlier write to it failed.
class WarningLogger final : public rocksdb::Logger {
 public:
  WarningLogger() : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[1024];
    std::vsnprintf(line, sizeof(line), format, ap);
    std::fprintf(stderr, "rocksdb: %s\n", line);
  }
};

void LogLine(const RocksDbStoreOptions& options, const std::string& line) {
  if (options.log_line) {
    options.log_line(line);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

// The write-ahead log files in `dir`, oldest first (RocksDB numbers them).
std::vector<std::pair<uint64_t, std::string>> WalFiles(const std::string& dir) {
  std::vector<std::pair<uint64_t, std::string>> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    uint64_t number = 0;
    if (name.size() > 4 && absl::EndsWith(name, ".log") &&
        absl::SimpleAtoi(name.substr(0, name.size() - 4), &number)) {
      files.emplace_back(number, entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

// CheckWals cuts a torn tail off the newest log and refuses damage anywhere.
absl::Status CheckWals(const RocksDbStoreOptions& options,
                       RecoveredState* recovered) {
  const auto files = WalFiles(options.dir);
  uint64_t next_sequence = 0;  // After the previous file's last batch.
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string& path = files[i].second;
    absl::StatusOr<WalCheck> check = CheckWalFile(path);
    if (!check.ok()) return check.status();
    if (check->first_sequence != 0 && check->first_sequence < next_sequence) {
      return absl::DataLossError(absl::StrCat(
          "refusing to start: write-ahead log ", path,
          " starts at sequence number ", check->first_sequence,
          ", before the end of the log before it (", next_sequence,
          "); restore the data directory from a backup (docs/SERVER.md)"));
    }
    next_sequence = std::max(next_sequence, check->next_sequence);
    const bool newest = i + 1 == files.size();
    if (check->verdict == WalCheck::Verdict::kClean) continue;
    if (check->verdict == WalCheck::Verdict::kDamaged || !newest) {
      return absl::DataLossError(absl::StrCat(
          "refusing to start: write-ahead log ", path,
          " is damaged at byte offset ", check->bad_offset, " (", check->reason,
          ") with data after it, so acknowledged operations may be lost; "
          "restore the data directory from a backup (docs/SERVER.md)"));
    }
    const uint64_t size = std::filesystem::file_size(path);
    const std::string kept = absl::StrCat(path, ".torn-", check->valid_bytes);
    std::error_code error;
    std::filesystem::copy_file(
        path, kept, std::filesystem::copy_options::overwrite_existing, error);
    std::filesystem::resize_file(path, check->valid_bytes, error);
    if (error) {
      return absl::InternalError(absl::StrCat("cannot cut the torn tail of ",
                                              path, ": ", error.message()));
    }
    recovered->torn_tail_bytes += size - check->valid_bytes;
    LogLine(options,
            absl::StrCat("storage: dropped a torn tail of ",
                         size - check->valid_bytes, " bytes at offset ",
                         check->valid_bytes, " of ", path, " (", check->reason,
                         "): a write interrupted by a crash, never "
                         "acknowledged; the original is kept as ",
                         kept));
  }
  return absl::OkStatus();
}

absl::Status OpenError(const std::string& dir, const rocksdb::Status& status) {
  const std::string message = status.ToString();
  if (status.IsIOError() && absl::StrContains(message, "LOCK")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", dir,
        " is in use by another bank_server (its LOCK file is held): ",
        message));
  }
  if (status.IsCorruption()) {
    return absl::DataLossError(absl::StrCat(
        "refusing to start: RocksDB found damage in ", dir, ": ", message,
        "; restore the data directory from a backup (docs/SERVER.md)"));
  }
  return absl::UnavailableError(
      absl::StrCat("cannot open data directory ", dir, ": ", message));
}

// LoadState reads every balance and entry into `recovered`.
absl::Status LoadState(rocksdb::DB& db, RecoveredState* recovered) {
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::Status decoded = DecodeStoredKeyValue(
        absl::string_view(it->key().data(), it->key().size()),
        absl::string_view(it->value().data(), it->value().size()), recovered);
    if (!decoded.ok()) return decoded;
  }
  if (!it->status().ok()) return OpenError(db.GetName(), it->status());
  recovered->storage_sequence = db.GetLatestSequenceNumber();
  return absl::OkStatus();
}

// OpenDb checks the logs (cutting a torn tail) and opens RocksDB.
absl::StatusOr<std::unique_ptr<rocksdb::DB>> OpenDb(
    const RocksDbStoreOptions& options, RecoveredState* recovered) {
  std::error_code error;
  std::filesystem::create_directories(options.dir, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create data directory ", options.dir, ": ", error.message()));
  }
  rocksdb::Env* env = options.env ? options.env : rocksdb::Env::Default();
  // The LOCK first: a second server must not even read the live log.
  rocksdb::FileLock* lock = nullptr;
  rocksdb::Status locked = env->LockFile(options.dir + "/LOCK", &lock);
  if (!locked.ok()) return OpenError(options.dir, locked);
  env->UnlockFile(lock);
  absl::Status wals = CheckWals(options, recovered);
  if (!wals.ok()) return wals;

  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kAbsoluteConsistency;
  db_options.write_buffer_size = options.write_buffer_bytes;
  db_options.max_total_wal_size = 4 * options.write_buffer_bytes;
  db_options.info_log = std::make_shared<WarningLogger>();
  db_options.paranoid_checks = true;
  // An append-only memtable: a sorted skip list spent about 70% of a
  // durable server's CPU on inserts (docs/BENCHMARKS.md), and the engines
  // read RocksDB only at recovery and after a failed write (both through
  // one sorted iterator, see ReadLocked). One writer at a time (mu_).
  db_options.memtable_factory = std::make_shared<rocksdb::VectorRepFactory>();
  db_options.allow_concurrent_memtable_write = false;
  db_options.env = env;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status opened = rocksdb::DB::Open(db_options, options.dir, &raw_db);
  if (!opened.ok()) return OpenError(options.dir, opened);
  return std::unique_ptr<rocksdb::DB>(raw_db);
}

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDbStore>> RocksDbStore::Open(
    const RocksDbStoreOptions& options, RecoveredState* recovered) {
  const absl::Time start = absl::Now();
  *recovered = RecoveredState();
  absl::StatusOr<std::unique_ptr<rocksdb::DB>> db = OpenDb(options, recovered);
  if (!db.ok()) return db.status();
  absl::Status loaded = LoadState(**db, recovered);
  if (!loaded.ok()) return loaded;
  recovered->recovery_time = absl::Now() - start;
  return std::unique_ptr<RocksDbStore>(
      new RocksDbStore(options, *std::move(db), *recovered));
}

RocksDbStore::RocksDbStore(const RocksDbStoreOptions& options,
                           std::unique_ptr<rocksdb::DB> db,
                           const RecoveredState& recovered)
    : options_(options),
      db_(std::move(db)),
      records_committed_(recovered.records_committed) {
  absl::MutexLock lock(&stats_mu_);
  stats_.recovery_time = recovered.recovery_time;
}

RocksDbStore::~RocksDbStore() { Close().IgnoreError(); }

absl::Status RocksDbStore::Close() {
  absl::MutexLock lock(&mu_);
  if (db_ == nullptr) return absl::OkStatus();
  rocksdb::FlushOptions flush;
  flush.wait = true;
  ResetReads();
  rocksdb::Status flushed =
      repair_values_.empty() ? db_->Flush(flush) : rocksdb::Status::OK();
  rocksdb::Status closed = db_->Close();
  db_.reset();
  closed_ = true;
  if (!flushed.ok()) {
    return absl::UnavailableError(
        absl::StrCat("storage flush at close: ", flushed.ToString()));
  }
  if (!closed.ok()) {
    return absl::UnavailableError(
        absl::StrCat("storage close: ", closed.ToString()));
  }
  return absl::OkStatus();
}

void RocksDbStore::RememberFailedGroup(absl::Span<const StoreRecord> records) {
  mu_.AssertHeld();
  auto remember =
      [this](const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        if (repair_values_.contains(key)) return;  // Already the durable value.
        std::optional<std::string> value;
        rocksdb::Status read = ReadLocked(key, &value);
        if (read.ok()) {
          repair_values_.emplace(key, std::move(value));
        } else {
          unrepairable_ = true;  // Cannot know the durable value: stop writing.
        }
      };
  for (const StoreRecord& record : records) {
    for (const BalanceWrite& write : record.balances) {
      remember(StoredAccountKey(write.account_id));
    }
    for (const auto& entry : record.entries) {
      remember(StoredEntryKey(entry.first));
    }
  }
  remember(std::string(kStoredRecordsKey));
}

absl::Status RocksDbStore::ReopenAfterFailure() {
  mu_.AssertHeld();
  const absl::Time now = absl::Now();
  if (now < reopen_not_before_) {
    return absl::UnavailableError("storage is recovering from a failed write");
  }
  reopen_not_before_ = now + kReopenInterval;
  if (db_ != nullptr) {
    ResetReads();
    db_->Close().PermitUncheckedError();
    db_.reset();
  }
  RecoveredState ignored;
  absl::StatusOr<std::unique_ptr<rocksdb::DB>> db = OpenDb(options_, &ignored);
  if (!db.ok()) return absl::UnavailableError(db.status().message());
  db_ = *std::move(db);
  return absl::OkStatus();
}

absl::Status RocksDbStore::Commit(absl::Span<const StoreRecord> records) {
  if (records.empty()) return absl::OkStatus();
  absl::MutexLock lock(&mu_);
  if (closed_) {
    return absl::UnavailableError("storage is closed; operation not applied");
  }
  ResetReads();  // This write would not be in the iterator's snapshot.
  rocksdb::WriteBatch batch;
  absl::Status ready;
  if (unrepairable_) {
    ready = absl::UnavailableError(
        "an earlier write failed and its keys could not be read back; "
        "restart the server");
  } else if (!repair_values_.empty()) {
    // After a failed write RocksDB refuses further writes until recovered,
    // and Debian's build aborts if its log writer is reused after an error:
    // close and reopen instead, which is a full recovery (a partial record
    // the failed write left is cut as a torn tail). Then put the failed
    // groups' keys back to their durable values, first in this batch.
    ready = ReopenAfterFailure();
    for (const auto& [key, value] : repair_values_) {
      if (value.has_value()) {
        batch.Put(key, *value);
      } else {
        batch.Delete(key);
      }
    }
  }
  for (const StoreRecord& record : records) {
    for (const BalanceWrite& write : record.balances) {
      batch.Put(StoredAccountKey(write.account_id),
                EncodeStoredFixed64(static_cast<uint64_t>(write.balance)));
    }
    for (const auto& [key, value] : record.entries) {
      batch.Put(StoredEntryKey(key), value);
    }
  }
  batch.Put(rocksdb::Slice(kStoredRecordsKey.data(), kStoredRecordsKey.size()),
            EncodeStoredFixed64(records_committed_ + records.size()));
  rocksdb::WriteOptions write_options;
  write_options.sync = true;
  const absl::Time start = absl::Now();
  rocksdb::Status written =
      ready.ok() ? db_->Write(write_options, &batch)
                 : rocksdb::Status::IOError(std::string(ready.message()));
  const absl::Duration took = absl::Now() - start;
  if (!written.ok()) {
    // Whatever of this batch reached the disk must be superseded later.
    RememberFailedGroup(records);
    absl::MutexLock stats_lock(&stats_mu_);
    ++stats_.commits_failed;
    return absl::UnavailableError(
        absl::StrCat("the change could not be made durable (",
                     written.ToString(), "); it was not applied, retry later"));
  }
  repair_values_.clear();
  records_committed_ += records.size();
  absl::MutexLock stats_lock(&stats_mu_);
  ++stats_.commits;
  stats_.records += records.size();
  stats_.bytes_written += batch.GetDataSize();
  stats_.sync_time_total += took;
  stats_.sync_time_max = std::max(stats_.sync_time_max, took);
  stats_.RecordSync(took);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<int64_t>> RocksDbStore::ReadDurable(
    const std::string& account_id) {
  absl::MutexLock lock(&mu_);
  const std::string key = StoredAccountKey(account_id);
  std::optional<std::string> value;
  rocksdb::Status read;
  if (auto repair = repair_values_.find(key); repair != repair_values_.end()) {
    // Touched by a failed write: its durable value is the remembered one.
    value = repair->second;
  } else if (db_ == nullptr) {
    return absl::UnavailableError("storage is closed or reopening");
  } else {
    read = ReadLocked(key, &value);
  }
  if (read.ok() && !value.has_value()) return std::optional<int64_t>();
  const std::optional<uint64_t> raw =
      read.ok() ? DecodeStoredFixed64(*value) : std::nullopt;
  if (!raw.has_value()) {
    return absl::UnavailableError(
        absl::StrCat("cannot read account '", account_id,
                     "' from storage: ", read.ToString()));
  }
  return std::optional<int64_t>(static_cast<int64_t>(*raw));
}

rocksdb::Status RocksDbStore::ReadLocked(const std::string& key,
                                         std::optional<std::string>* value) {
  mu_.AssertHeld();
  if (db_ == nullptr) return rocksdb::Status::IOError("storage is closed");
  if (read_iterator_ == nullptr) {
    read_iterator_.reset(db_->NewIterator(rocksdb::ReadOptions()));
  }
  read_iterator_->Seek(key);
  if (read_iterator_->Valid() && read_iterator_->key() == key) {
    *value = read_iterator_->value().ToString();
    return rocksdb::Status::OK();
  }
  *value = std::nullopt;
  return read_iterator_->status();
}

void RocksDbStore::ResetReads() {
  mu_.AssertHeld();
  read_iterator_.reset();
}

absl::Status RocksDbStore::Checkpoint(const std::string& target_dir) {
  absl::MutexLock lock(&mu_);
  if (db_ == nullptr) return absl::UnavailableError("storage is closed");
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status made = rocksdb::Checkpoint::Create(db_.get(), &raw);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  if (made.ok()) made = checkpoint->CreateCheckpoint(target_dir);
  if (!made.ok()) {
    return absl::UnavailableError(absl::StrCat("checkpoint to ", target_dir,
                                               " failed: ", made.ToString()));
  }
  return absl::OkStatus();
}

StoreStats RocksDbStore::stats() const {
  absl::MutexLock lock(&stats_mu_);
  return stats_;
}

}  // namespace bank
