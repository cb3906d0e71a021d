// Helpers for the storage tests: a scratch directory that removes itself,
// a "crash image" (a copy of a live data directory, which is what a kill -9
// leaves behind when every acknowledged write was synced), and records.

#ifndef BANK_TESTS_STORAGE_STORAGE_TEST_UTIL_H_
#define BANK_TESTS_STORAGE_STORAGE_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "service/storage/account_store.h"

namespace bank::testing {

// ScratchDir: a fresh directory under $TMPDIR (or /tmp), removed at the end.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// CopyDirectory copies every regular file of `source` into `target`.
void CopyDirectory(const std::string& source, const std::string& target);

// WalFilesIn: the write-ahead log files (*.log) in `dir`, oldest first.
std::vector<std::string> WalFilesIn(const std::string& dir);

// Record: one operation's effect on one account.
StoreRecord Record(const std::string& account_id, int64_t balance);
// TransferRecord: both legs of a transfer.
StoreRecord TransferRecord(const std::string& from, int64_t from_balance,
                           const std::string& to, int64_t to_balance);

}  // namespace bank::testing

#endif  // BANK_TESTS_STORAGE_STORAGE_TEST_UTIL_H_
