// bank_recovery_bench: fills a data directory the way a long-running durable
// server does, then dies without closing it, so that a later bank_server
// --data_dir (or --recover_only) shows how long recovery takes.
//
//   bank_recovery_bench --data_dir=DIR --accounts=1000000
//       --operations=10000000 --group=1000     (fill, then _Exit: a crash)
//   bank_recovery_bench --data_dir=DIR --recover_only
//
// Operations are deposits and transfers over random accounts (seeded), each
// one record, committed in synced groups of --group records as the engines'
// group commit does. Accounts are opened first, in groups too.

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "service/storage/rocksdb_store.h"

ABSL_FLAG(std::string, data_dir, "", "data directory to fill or recover");
ABSL_FLAG(int64_t, accounts, 1'000'000, "accounts to open");
ABSL_FLAG(int64_t, operations, 10'000'000, "operations to log after that");
ABSL_FLAG(int64_t, group, 1000, "records per synced commit");
ABSL_FLAG(bool, recover_only, false, "only open the directory and report");

namespace {

int Recover(const bank::RocksDbStoreOptions& options) {
  bank::RecoveredState recovered;
  const absl::Time start = absl::Now();
  auto store = bank::RocksDbStore::Open(options, &recovered);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  std::printf("recovered %zu accounts, %llu records committed, in %.0f ms\n",
              recovered.balances.size(),
              static_cast<unsigned long long>(recovered.records_committed),
              absl::ToDoubleMilliseconds(absl::Now() - start));
  std::fflush(stdout);
  std::_Exit(0);  // Like a crash: the store is not closed.
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  bank::RocksDbStoreOptions options;
  options.dir = absl::GetFlag(FLAGS_data_dir);
  if (options.dir.empty()) {
    std::fprintf(stderr, "--data_dir is required\n");
    return 2;
  }
  if (absl::GetFlag(FLAGS_recover_only)) return Recover(options);
  bank::RecoveredState recovered;
  auto store = bank::RocksDbStore::Open(options, &recovered);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  const int64_t accounts = absl::GetFlag(FLAGS_accounts);
  const int64_t operations = absl::GetFlag(FLAGS_operations);
  const int64_t group_size = absl::GetFlag(FLAGS_group);
  std::vector<int64_t> balances(static_cast<size_t>(accounts), 1'000'000);
  std::mt19937_64 rng(1);
  std::vector<bank::StoreRecord> group;
  auto flush = [&]() {
    absl::Status committed = (*store)->Commit(group);
    if (!committed.ok()) {
      std::fprintf(stderr, "%s\n", std::string(committed.message()).c_str());
      std::exit(1);
    }
    group.clear();
  };
  const absl::Time start = absl::Now();
  for (int64_t i = 0; i < accounts; ++i) {
    bank::StoreRecord record;
    record.balances.push_back({absl::StrCat("acct-", i), balances[i]});
    group.push_back(std::move(record));
    if (static_cast<int64_t>(group.size()) == group_size) flush();
  }
  std::uniform_int_distribution<int64_t> pick(0, accounts - 1);
  for (int64_t i = 0; i < operations; ++i) {
    const int64_t from = pick(rng);
    const int64_t to = pick(rng);
    bank::StoreRecord record;
    if (from == to || i % 2 == 0) {
      balances[from] += 1;
      record.balances.push_back({absl::StrCat("acct-", from), balances[from]});
    } else {
      balances[from] -= 1;
      balances[to] += 1;
      record.balances.push_back({absl::StrCat("acct-", from), balances[from]});
      record.balances.push_back({absl::StrCat("acct-", to), balances[to]});
    }
    group.push_back(std::move(record));
    if (static_cast<int64_t>(group.size()) == group_size) flush();
  }
  if (!group.empty()) flush();
  std::printf(
      "filled %lld accounts and %lld operations in %.1f s; "
      "exiting without closing (a crash)\n",
      static_cast<long long>(accounts), static_cast<long long>(operations),
      absl::ToDoubleSeconds(absl::Now() - start));
  std::fflush(stdout);
  std::_Exit(0);
}
