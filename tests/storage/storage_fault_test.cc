// Goal: storage faults never lose or invent acknowledged money.
//   - A full disk (a real ENOSPC, on a small tmpfs) answers kUnavailable,
//     leaves the durable state as it was, and writes resume by themselves
//     once space returns.
//   - A simulated power loss (every byte not synced is dropped, every file
//     never synced disappears) keeps every acknowledged commit.
// Method: ENOSPC mounts a 16 MiB tmpfs (needs root; skipped with a message
// otherwise) and fills it. Power loss runs a writer thread against a store on
// PowerLossFileSystem with a small memtable (so flushes, log switches and
// compactions are in progress too), crashes at a seeded random commit count
// while a commit may be in flight, cuts every file back to its synced length
// and reopens with the real file system.

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/env.h"
#include "service/storage/rocksdb_store.h"
#include "tests/storage/power_loss_fs.h"
#include "tests/storage/storage_test_util.h"

namespace bank::testing {
namespace {

using ::testing::HasSubstr;

constexpr char kTmpfsSize[] = "size=16m";
constexpr size_t kFillChunkBytes = 64 << 10;
constexpr int kCommitsUntilFullMax = 400;
constexpr int kFailuresWanted = 3;
constexpr absl::Duration kResumeWaitMax = absl::Seconds(60);
constexpr int kPowerLossRounds = 12;
constexpr int kAccountCount = 30;
constexpr int kGroupSizeMax = 8;
constexpr int kGroupsPerRound = 400;

// Tmpfs: a small tmpfs mounted for one test, unmounted at the end.
class Tmpfs {
 public:
  explicit Tmpfs(const std::string& path) : path_(path) {
    std::filesystem::create_directories(path_);
    mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, kTmpfsSize) == 0;
    if (!mounted_) error_ = std::strerror(errno);
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  bool mounted_ = false;
  std::string error_;
};

// FillDisk appends to `path` until the file system is full; answers bytes
// written.
uint64_t FillDisk(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "ab");
  if (file == nullptr) return 0;
  const std::string chunk(kFillChunkBytes, 'x');
  uint64_t written = 0;
  // Bounded: a 16 MiB file system holds fewer chunks than this.
  for (int i = 0; i < 1024; ++i) {
    const size_t n = std::fwrite(chunk.data(), 1, chunk.size(), file);
    written += n;
    if (n < chunk.size() || std::fflush(file) != 0) break;
  }
  std::fclose(file);
  return written;
}

TEST(StorageFaultTest, FullDiskAnswersUnavailableAndResumesWhenSpaceReturns) {
  ScratchDir scratch;
  Tmpfs tmpfs(scratch.Sub("tmpfs"));
  if (!tmpfs.mounted()) {
    GTEST_SKIP() << "cannot mount a tmpfs (" << tmpfs.error()
                 << "); run as root to test a real ENOSPC";
  }
  const std::string dir = scratch.Sub("tmpfs/data");
  RocksDbStoreOptions options;
  options.dir = dir;
  options.write_buffer_bytes = 256 << 10;
  RecoveredState recovered;
  std::map<std::string, std::string> entries_committed;
  int64_t balance_committed = 0;
  {
    auto store = RocksDbStore::Open(options, &recovered);
    ASSERT_TRUE(store.ok()) << store.status();
    StoreRecord first = Record("a", 100);
    ASSERT_TRUE((*store)->Commit({&first, 1}).ok());
    balance_committed = 100;
    ASSERT_GT(FillDisk(scratch.Sub("tmpfs/filler")), 0u);

    // Commits with bulky entries until one finds the disk full, then a few
    // more while it stays full (a reopen after a failure may free a little
    // space, so some of them may succeed: each success is in the model).
    int failures = 0;
    for (int i = 1; i <= kCommitsUntilFullMax && failures < kFailuresWanted;
         ++i) {
      StoreRecord record = Record("a", 100 + i);
      const std::string key = "request/" + std::to_string(i);
      record.entries.push_back({key, std::string(kFillChunkBytes, 'v')});
      absl::Status committed = (*store)->Commit({&record, 1});
      if (committed.ok()) {
        balance_committed = 100 + i;
        entries_committed[key] = record.entries[0].second;
        if (failures > 0) FillDisk(scratch.Sub("tmpfs/filler"));  // Refill.
        continue;
      }
      ++failures;
      EXPECT_EQ(committed.code(), absl::StatusCode::kUnavailable);
      EXPECT_THAT(committed.message(), HasSubstr("not applied"));
      // Nothing of the refused commit is served as durable.
      EXPECT_EQ(*(*store)->ReadDurable("a"),
                std::optional<int64_t>(balance_committed));
    }
    ASSERT_EQ(failures, kFailuresWanted) << "the disk never filled";
    EXPECT_EQ((*store)->stats().commits_failed, uint64_t{kFailuresWanted});

    std::filesystem::remove(scratch.Sub("tmpfs/filler"));
    // RocksDB's own recovery from a full disk re-checks free space every few
    // seconds; until then commits keep answering kUnavailable.
    StoreRecord after = Record("a", 7777);
    absl::Status resumed;
    const absl::Time deadline = absl::Now() + kResumeWaitMax;
    do {
      resumed = (*store)->Commit({&after, 1});
      if (!resumed.ok()) absl::SleepFor(absl::Milliseconds(100));
    } while (!resumed.ok() && absl::Now() < deadline);
    ASSERT_TRUE(resumed.ok()) << resumed;
    balance_committed = 7777;
    EXPECT_EQ(*(*store)->ReadDurable("a"), std::optional<int64_t>(7777));
  }
  auto reopened = RocksDbStore::Open(options, &recovered);
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  EXPECT_EQ(recovered.balances.at("a"), balance_committed);
  std::map<std::string, std::string> entries_recovered(
      recovered.entries.begin(), recovered.entries.end());
  EXPECT_EQ(entries_recovered, entries_committed)
      << "no entry of a refused commit may survive";
}

// PowerLossRound: one writer, one crash, one recovery.
class PowerLossRound {
 public:
  explicit PowerLossRound(uint32_t seed) : seed_(seed), rng_(seed) {}

  void Run() {
    auto fs = std::make_shared<PowerLossFileSystem>();
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
    RocksDbStoreOptions options;
    options.dir = scratch_.Sub("data");
    options.write_buffer_bytes = 64 << 10;
    options.env = env.get();
    RecoveredState recovered;
    auto store = RocksDbStore::Open(options, &recovered);
    ASSERT_TRUE(store.ok()) << store.status();
    // The crash strikes inside the file system, right after a write and
    // before its sync, so there is always unsynced data to lose.
    MakeGroups(kGroupsPerRound);
    fs->CrashAfterAppends(
        std::uniform_int_distribution<uint64_t>(20, 400)(rng_));

    std::thread writer([&] { Write(**store); });
    writer.join();
    store->reset();  // Closing after the crash writes nothing.
    const uint64_t dropped_bytes = fs->DropUnsyncedData(seed_);
    dropped_bytes_total_ += dropped_bytes;

    options.env = nullptr;
    auto reopened = RocksDbStore::Open(options, &recovered);
    ASSERT_TRUE(reopened.ok()) << "seed " << seed_ << ": " << reopened.status();
    absl::MutexLock lock(&mu_);
    // Every acknowledged group is there; at most the one in flight more.
    const uint64_t groups = RecoveredGroups(recovered.records_committed);
    EXPECT_TRUE(groups == acked_ || groups == acked_ + 1)
        << "seed " << seed_ << ": acknowledged " << acked_
        << " groups, recovered " << groups;
    EXPECT_EQ(recovered.balances, models_[groups]) << "seed " << seed_;
    std::printf(
        "power loss seed %u: %llu groups acknowledged, %llu recovered, "
        "%llu unsynced bytes dropped\n",
        seed_, static_cast<unsigned long long>(acked_),
        static_cast<unsigned long long>(groups),
        static_cast<unsigned long long>(dropped_bytes));
  }

 private:
  void MakeGroups(int count) {
    std::map<std::string, int64_t> model;
    models_.push_back({});
    records_before_.push_back(0);
    std::uniform_int_distribution<int> account(0, kAccountCount - 1);
    std::uniform_int_distribution<int> size(1, kGroupSizeMax);
    std::uniform_int_distribution<int64_t> balance(0, 1'000'000);
    for (int g = 0; g < count; ++g) {
      std::vector<StoreRecord> group;
      for (int r = size(rng_); r > 0; --r) {
        const std::string from = "acct" + std::to_string(account(rng_));
        const std::string to = "acct" + std::to_string(account(rng_));
        group.push_back(from == to ? Record(from, balance(rng_))
                                   : TransferRecord(from, balance(rng_), to,
                                                    balance(rng_)));
        for (const BalanceWrite& w : group.back().balances) {
          model[w.account_id] = w.balance;
        }
      }
      records_before_.push_back(records_before_.back() + group.size());
      groups_.push_back(std::move(group));
      models_.emplace_back(model.begin(), model.end());
    }
  }

  void Write(AccountStore& store) {
    for (const auto& group : groups_) {
      if (!store.Commit(group).ok()) break;
      absl::MutexLock lock(&mu_);
      ++acked_;
    }
    absl::MutexLock lock(&mu_);
    writer_done_ = true;
  }

  uint64_t RecoveredGroups(uint64_t records) const {
    for (size_t g = 0; g < records_before_.size(); ++g) {
      if (records_before_[g] == records) return g;
    }
    ADD_FAILURE() << "recovered " << records
                  << " records: not a group boundary";
    return 0;
  }

  const uint32_t seed_;
  std::mt19937 rng_;
  ScratchDir scratch_;
  std::vector<std::vector<StoreRecord>> groups_;
  std::vector<uint64_t> records_before_;  // Records in groups [0, g).
  std::vector<absl::flat_hash_map<std::string, int64_t>> models_;
  absl::Mutex mu_;
  uint64_t acked_ ABSL_GUARDED_BY(mu_) = 0;
  bool writer_done_ ABSL_GUARDED_BY(mu_) = false;

 public:
  static inline uint64_t dropped_bytes_total_ = 0;
};

TEST(StorageFaultTest, PowerLossKeepsEveryAcknowledgedCommit) {
  for (uint32_t seed = 1; seed <= kPowerLossRounds; ++seed) {
    PowerLossRound round(seed);
    round.Run();
    if (HasFailure()) return;
  }
  EXPECT_GT(PowerLossRound::dropped_bytes_total_, 0u)
      << "no round had unsynced data to lose: the test tested nothing";
}

}  // namespace
}  // namespace bank::testing
