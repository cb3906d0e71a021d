// bank_backup: a consistent copy of a stopped bank_server's --data_dir.
//
//   bank_backup --data_dir=DIR --backup_dir=NEW_DIR
//
// Opens the store (which recovers it exactly as bank_server would: a torn
// tail is cut, damage refuses), prints what it holds, and writes a RocksDB
// Checkpoint to NEW_DIR (hard links where the file system allows, so it is
// fast and small). NEW_DIR is itself a data directory: restore by starting
// bank_server --data_dir=NEW_DIR (or by moving it into place). The running
// server holds the directory's LOCK, so stop it first (SIGTERM); a second
// process never reads a live log. Exit 0 on success, 1 on failure, 2 for
// bad usage.

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "service/storage/rocksdb_store.h"

ABSL_FLAG(std::string, data_dir, "", "bank_server's data directory");
ABSL_FLAG(std::string, backup_dir, "",
          "where to write the backup; must not exist yet");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Backs up a stopped bank_server's data directory.\n"
      "Example: bank_backup --data_dir=/var/lib/bank "
      "--backup_dir=/backup/bank-2026-11-26");
  absl::ParseCommandLine(argc, argv);
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  const std::string backup_dir = absl::GetFlag(FLAGS_backup_dir);
  if (data_dir.empty() || backup_dir.empty()) {
    std::fprintf(stderr,
                 "bank_backup: --data_dir and --backup_dir are required\n");
    return 2;
  }
  bank::RocksDbStoreOptions options;
  options.dir = data_dir;
  bank::RecoveredState recovered;
  auto store = bank::RocksDbStore::Open(options, &recovered);
  if (!store.ok()) {
    std::fprintf(stderr, "bank_backup: %s\n",
                 std::string(store.status().message()).c_str());
    return 1;
  }
  absl::Status made = (*store)->Checkpoint(backup_dir);
  if (!made.ok()) {
    std::fprintf(stderr, "bank_backup: %s\n",
                 std::string(made.message()).c_str());
    return 1;
  }
  std::printf(
      "bank_backup: %zu accounts (%llu records committed) from %s "
      "backed up to %s\n",
      recovered.balances.size(),
      static_cast<unsigned long long>(recovered.records_committed),
      data_dir.c_str(), backup_dir.c_str());
  return 0;
}
