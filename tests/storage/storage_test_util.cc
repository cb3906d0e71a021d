#include "tests/storage/storage_test_util.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace bank::testing {

ScratchDir::ScratchDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr ? tmp : "/tmp") + "/bank-storage-XXXXXX";
  char* made = mkdtemp(pattern.data());
  EXPECT_NE(made, nullptr) << "mkdtemp " << pattern;
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code error;
  std::filesystem::remove_all(path_, error);
}

void CopyDirectory(const std::string& source, const std::string& target) {
  std::filesystem::create_directories(target);
  for (const auto& entry : std::filesystem::directory_iterator(source)) {
    if (!entry.is_regular_file()) continue;
    std::filesystem::copy_file(
        entry.path(), target + "/" + entry.path().filename().string(),
        std::filesystem::copy_options::overwrite_existing);
  }
}

std::vector<std::string> WalFilesIn(const std::string& dir) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (absl::EndsWith(name, ".log")) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

StoreRecord Record(const std::string& account_id, int64_t balance) {
  StoreRecord record;
  record.balances.push_back({account_id, balance});
  return record;
}

StoreRecord TransferRecord(const std::string& from, int64_t from_balance,
                           const std::string& to, int64_t to_balance) {
  StoreRecord record;
  record.balances.push_back({from, from_balance});
  record.balances.push_back({to, to_balance});
  return record;
}

}  // namespace bank::testing
