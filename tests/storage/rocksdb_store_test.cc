// Goal: RocksDbStore keeps the AccountStore contract on a real disk:
// committed balances and entries survive a restart, a kill -9 image holds
// every commit, a torn tail is cut with a log line, damage before the tail
// refuses to start naming file and offset, a second writer fails at once,
// a graceful close leaves no log to replay, and a checkpoint is a backup.
// Method: real RocksDB directories under $TMPDIR. A "crash image" is a copy
// of the directory taken while the store is open: every commit was synced,
// so that is what kill -9 leaves (the page cache survives a process kill).

#include "service/storage/rocksdb_store.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "tests/storage/storage_test_util.h"

namespace bank::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

constexpr int kCommitCount = 50;

class RocksDbStoreTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<RocksDbStore>> OpenAt(const std::string& dir) {
    RocksDbStoreOptions options;
    options.dir = dir;
    options.log_line = [this](const std::string& line) {
      log_lines_.push_back(line);
    };
    return RocksDbStore::Open(options, &recovered_);
  }

  // CommitCounting commits kCommitCount groups: group i sets "a" to i+1.
  void CommitCounting(AccountStore& store) {
    for (int i = 0; i < kCommitCount; ++i) {
      StoreRecord record = Record("a", i + 1);
      ASSERT_TRUE(store.Commit({&record, 1}).ok());
    }
  }

  // FlipByte xors one byte of `path` at `offset`.
  static void FlipByte(const std::string& path, uint64_t offset) {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(static_cast<std::streamoff>(offset));
    char byte = 0;
    file.read(&byte, 1);
    byte = static_cast<char>(byte ^ 0x5a);
    file.seekp(static_cast<std::streamoff>(offset));
    file.write(&byte, 1);
  }

  ScratchDir scratch_;
  RecoveredState recovered_;
  std::vector<std::string> log_lines_;
};

TEST_F(RocksDbStoreTest, RecoversCommittedBalancesAndEntries) {
  const std::string dir = scratch_.Sub("data");
  {
    auto store = OpenAt(dir);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_TRUE(recovered_.balances.empty());
    std::vector<StoreRecord> group = {Record("main", 80),
                                      TransferRecord("main", 50, "b", 30)};
    group[1].entries.push_back({"request/7", "outcome-7"});
    ASSERT_TRUE((*store)->Commit(group).ok());
    StoreRecord later = Record("b", 35);
    ASSERT_TRUE((*store)->Commit({&later, 1}).ok());
    EXPECT_EQ((*store)->stats().commits, 2u);
    EXPECT_EQ((*store)->stats().records, 3u);
  }
  auto store = OpenAt(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_THAT(recovered_.balances,
              UnorderedElementsAre(Pair("main", 50), Pair("b", 35)));
  EXPECT_THAT(recovered_.entries,
              UnorderedElementsAre(Pair("request/7", "outcome-7")));
  EXPECT_EQ(recovered_.records_committed, 3u);
  absl::StatusOr<std::optional<int64_t>> main = (*store)->ReadDurable("main");
  ASSERT_TRUE(main.ok());
  EXPECT_EQ(*main, std::optional<int64_t>(50));
  EXPECT_EQ(*(*store)->ReadDurable("nobody"), std::nullopt);
}

TEST_F(RocksDbStoreTest, CloseLeavesNoLogToReplay) {
  const std::string dir = scratch_.Sub("data");
  auto store = OpenAt(dir);
  ASSERT_TRUE(store.ok()) << store.status();
  CommitCounting(**store);
  ASSERT_TRUE((*store)->Close().ok());
  uint64_t wal_bytes = 0;
  for (const std::string& wal : WalFilesIn(dir)) {
    wal_bytes += std::filesystem::file_size(wal);
  }
  EXPECT_EQ(wal_bytes, 0u) << "a graceful close flushes the memtable";
  EXPECT_EQ((*store)->Commit({}).code(), absl::StatusCode::kOk);
  StoreRecord record = Record("a", 1);
  EXPECT_EQ((*store)->Commit({&record, 1}).code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(RocksDbStoreTest, CrashImageHoldsEveryCommit) {
  auto store = OpenAt(scratch_.Sub("data"));
  ASSERT_TRUE(store.ok()) << store.status();
  CommitCounting(**store);
  CopyDirectory(scratch_.Sub("data"), scratch_.Sub("image"));
  auto recovered = OpenAt(scratch_.Sub("image"));
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_THAT(recovered_.balances, UnorderedElementsAre(Pair("a", 50)));
  EXPECT_EQ(recovered_.records_committed, uint64_t{kCommitCount});
  EXPECT_EQ(recovered_.torn_tail_bytes, 0u);
  EXPECT_TRUE(log_lines_.empty());
}

TEST_F(RocksDbStoreTest, TornTailIsCutWithALogLine) {
  auto store = OpenAt(scratch_.Sub("data"));
  ASSERT_TRUE(store.ok()) << store.status();
  CommitCounting(**store);
  CopyDirectory(scratch_.Sub("data"), scratch_.Sub("image"));
  const std::string wal = WalFilesIn(scratch_.Sub("image")).back();
  const uint64_t size = std::filesystem::file_size(wal);
  std::filesystem::resize_file(wal, size - 3);  // The last write, torn.

  auto recovered = OpenAt(scratch_.Sub("image"));
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  // Only the interrupted last commit is gone.
  EXPECT_THAT(recovered_.balances,
              UnorderedElementsAre(Pair("a", kCommitCount - 1)));
  EXPECT_EQ(recovered_.records_committed, uint64_t{kCommitCount - 1});
  EXPECT_GT(recovered_.torn_tail_bytes, 0u);
  ASSERT_EQ(log_lines_.size(), 1u);
  EXPECT_THAT(log_lines_[0], AllOf(HasSubstr("torn tail"), HasSubstr(wal),
                                   HasSubstr("truncated record body")));
}

TEST_F(RocksDbStoreTest, ChecksumFailureInTheLastRecordIsATornTail) {
  auto store = OpenAt(scratch_.Sub("data"));
  ASSERT_TRUE(store.ok()) << store.status();
  CommitCounting(**store);
  CopyDirectory(scratch_.Sub("data"), scratch_.Sub("image"));
  const std::string wal = WalFilesIn(scratch_.Sub("image")).back();
  FlipByte(wal, std::filesystem::file_size(wal) - 2);

  auto recovered = OpenAt(scratch_.Sub("image"));
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_THAT(recovered_.balances,
              UnorderedElementsAre(Pair("a", kCommitCount - 1)));
  ASSERT_EQ(log_lines_.size(), 1u);
  EXPECT_THAT(log_lines_[0], HasSubstr("checksum mismatch"));
}

// Found by fuzz/recovery_fuzzer: a batch larger than a log block (32 KiB)
// is written as First and Last fragments; losing power after the block
// boundary leaves a log that ends after the First. That write was never
// acknowledged: recovery cuts it and starts, instead of refusing.
TEST_F(RocksDbStoreTest, LogEndingBetweenFragmentsIsCutAsATornTail) {
  auto store = OpenAt(scratch_.Sub("data"));
  ASSERT_TRUE(store.ok()) << store.status();
  CommitCounting(**store);
  StoreRecord large = Record("a", 1000);
  large.entries.push_back({"request/large", std::string(40000, 'x')});
  ASSERT_TRUE((*store)->Commit({&large, 1}).ok());
  CopyDirectory(scratch_.Sub("data"), scratch_.Sub("image"));
  const std::string wal = WalFilesIn(scratch_.Sub("image")).back();
  ASSERT_GT(std::filesystem::file_size(wal), 32768u);
  std::filesystem::resize_file(wal, 32768);  // Ends after the First.

  auto recovered = OpenAt(scratch_.Sub("image"));
  ASSERT_TRUE(recovered.ok()) << recovered.status();
  EXPECT_THAT(recovered_.balances,
              UnorderedElementsAre(Pair("a", kCommitCount)));
  EXPECT_TRUE(recovered_.entries.empty());
  ASSERT_EQ(log_lines_.size(), 1u);
  EXPECT_THAT(log_lines_[0], HasSubstr("split across blocks"));
}

TEST_F(RocksDbStoreTest, DamageBeforeTheTailRefusesNamingFileAndOffset) {
  auto store = OpenAt(scratch_.Sub("data"));
  ASSERT_TRUE(store.ok()) << store.status();
  CommitCounting(**store);
  CopyDirectory(scratch_.Sub("data"), scratch_.Sub("image"));
  const std::string wal = WalFilesIn(scratch_.Sub("image")).back();
  FlipByte(wal, 12);  // Inside the first record's payload.

  auto recovered = OpenAt(scratch_.Sub("image"));
  ASSERT_FALSE(recovered.ok());
  EXPECT_EQ(recovered.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(
      recovered.status().message(),
      AllOf(HasSubstr("refusing to start"), HasSubstr(wal),
            HasSubstr("byte offset 0"), HasSubstr("checksum mismatch")));
}

// PutRaw writes `key` = `value` into a closed store's directory through
// RocksDB itself, so the checksums are valid and only our decoding can object.
void PutRaw(const std::string& dir, const std::string& key,
            const std::string& value) {
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), dir, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, value).ok());
  ASSERT_TRUE(db->Close().ok());
}

// Found by fuzz/recovery_fuzzer: a record count that was not 8 bytes was
// accepted as 0. Both it and a bad balance must refuse to start.
TEST_F(RocksDbStoreTest, InvalidStoredValuesRefuseToStart) {
  const struct {
    std::string key;
    std::string value;
    std::string message;
  } cases[] = {
      {"aa", "1234", "account 'a' has an invalid stored balance"},
      {"aa", std::string(7, '\0') + "\x80",  // Negative.
       "account 'a' has an invalid stored balance"},
      {"m:records", "abc", "the stored record count is invalid"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.key + " = " + c.value);
    const std::string dir =
        scratch_.Sub("data-" + std::to_string(c.value.size()) + c.key);
    {
      auto store = OpenAt(dir);
      ASSERT_TRUE(store.ok()) << store.status();
      CommitCounting(**store);
    }
    PutRaw(dir, c.key, c.value);
    auto recovered = OpenAt(dir);
    ASSERT_FALSE(recovered.ok());
    EXPECT_EQ(recovered.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(recovered.status().message(),
                AllOf(HasSubstr("refusing to start"), HasSubstr(c.message)));
  }
}

// A copy of a log under a later number replays old batches again: the
// sequence numbers go backwards across files, which no crash leaves.
TEST_F(RocksDbStoreTest, LogWhoseSequenceGoesBackAcrossFilesRefuses) {
  auto store = OpenAt(scratch_.Sub("data"));
  ASSERT_TRUE(store.ok()) << store.status();
  CommitCounting(**store);
  CopyDirectory(scratch_.Sub("data"), scratch_.Sub("image"));
  const std::string wal = WalFilesIn(scratch_.Sub("image")).back();
  const std::string copy = scratch_.Sub("image") + "/999999.log";
  std::filesystem::copy_file(wal, copy);

  auto recovered = OpenAt(scratch_.Sub("image"));
  ASSERT_FALSE(recovered.ok());
  EXPECT_EQ(recovered.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(recovered.status().message(),
              AllOf(HasSubstr("refusing to start"), HasSubstr(copy),
                    HasSubstr("sequence number")));
}

TEST_F(RocksDbStoreTest, SecondWriterFailsAtOnce) {
  auto first = OpenAt(scratch_.Sub("data"));
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = OpenAt(scratch_.Sub("data"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(),
              AllOf(HasSubstr(scratch_.Sub("data")), HasSubstr("in use")));
  // The first store is untouched by the attempt.
  CommitCounting(**first);
}

TEST_F(RocksDbStoreTest, CheckpointIsAnOpenableBackup) {
  auto store = OpenAt(scratch_.Sub("data"));
  ASSERT_TRUE(store.ok()) << store.status();
  CommitCounting(**store);
  ASSERT_TRUE((*store)->Checkpoint(scratch_.Sub("backup")).ok());
  StoreRecord after = Record("a", 1000);
  ASSERT_TRUE((*store)->Commit({&after, 1}).ok());
  EXPECT_FALSE((*store)->Checkpoint(scratch_.Sub("backup")).ok())
      << "a checkpoint never overwrites";

  auto backup = OpenAt(scratch_.Sub("backup"));
  ASSERT_TRUE(backup.ok()) << backup.status();
  EXPECT_THAT(recovered_.balances, UnorderedElementsAre(Pair("a", 50)));
}

}  // namespace
}  // namespace bank::testing
