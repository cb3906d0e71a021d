// Goal: the WAL framing check tells clean, torn-tail and damaged logs apart.
// Method: hand-built logs in RocksDB's record format.

#include "service/storage/wal_check.h"

#include <string>

#include "gtest/gtest.h"

namespace bank {
namespace {

// Frame builds one full-type record as RocksDB's log writer does.
std::string Frame(const std::string& payload, uint8_t type = 1) {
  const std::string type_byte(1, static_cast<char>(type));
  uint32_t crc = Crc32c(payload, Crc32c(type_byte));
  crc = ((crc >> 15) | (crc << 17)) + 0xa282ead8u;  // RocksDB's mask.
  std::string record;
  for (int i = 0; i < 4; ++i) record += static_cast<char>(crc >> (8 * i));
  record += static_cast<char>(payload.size() & 0xff);
  record += static_cast<char>(payload.size() >> 8);
  record += type_byte;
  return record + payload;
}

TEST(WalCheckTest, Crc32cMatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xe3069283u);
}

TEST(WalCheckTest, WholeRecordsAreClean) {
  const std::string log = Frame("one") + Frame("two") + std::string(20, '\0');
  WalCheck check = CheckWalBytes(log);
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kClean);
  EXPECT_EQ(check.valid_bytes, 2 * 7 + 6u);
  EXPECT_EQ(CheckWalBytes("").verdict, WalCheck::Verdict::kClean);
}

TEST(WalCheckTest, IncompleteLastRecordIsATornTail) {
  const std::string log = Frame("one") + Frame("two");
  WalCheck check = CheckWalBytes(log.substr(0, log.size() - 1));
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kTornTail);
  EXPECT_EQ(check.valid_bytes, 10u);
  EXPECT_EQ(check.bad_offset, 10u);
  EXPECT_EQ(CheckWalBytes(log.substr(0, 12)).verdict,
            WalCheck::Verdict::kTornTail);  // A torn header.
}

TEST(WalCheckTest, ChecksumFailureFollowedByDataIsDamage) {
  std::string log = Frame("one") + Frame("two") + Frame("three");
  log[8] ^= 1;  // The payload of "one".
  WalCheck check = CheckWalBytes(log);
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kDamaged);
  EXPECT_EQ(check.bad_offset, 0u);
  EXPECT_EQ(check.reason, "checksum mismatch");
}

TEST(WalCheckTest, FragmentedRecordCutBeforeItsFirstFragment) {
  // A FIRST fragment whose LAST fragment never made it: valid data ends
  // before the FIRST, so cutting there leaves no half record behind.
  const std::string log = Frame("one") + Frame("head", 2);
  WalCheck torn = CheckWalBytes(log + Frame("tail", 4).substr(0, 9));
  EXPECT_EQ(torn.verdict, WalCheck::Verdict::kTornTail);
  EXPECT_EQ(torn.valid_bytes, 10u);
}

// Found by fuzz/recovery_fuzzer: a log that ENDS right after a whole First
// (or Middle) fragment was called clean, and RocksDB's strict recovery then
// refused to start ("error reading trailing data"). That is what losing
// power after a 32 KiB block boundary leaves while a large batch is
// written: a torn tail, to be cut before the First fragment.
TEST(WalCheckTest, LogEndingBetweenFragmentsIsATornTail) {
  const std::string log = Frame("one") + Frame("head", 2);
  WalCheck check = CheckWalBytes(log);
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kTornTail);
  EXPECT_EQ(check.valid_bytes, 10u);
  EXPECT_EQ(check.bad_offset, 10u);
  EXPECT_EQ(check.reason, "the log ends inside a record split across blocks");

  const std::string middle = log + Frame("body", 3) + std::string(30, '\0');
  check = CheckWalBytes(middle);  // Preallocated zeros after a Middle.
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kTornTail);
  EXPECT_EQ(check.valid_bytes, 10u);

  check = CheckWalBytes(log + Frame("tail", 4));  // Complete again.
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kClean);
  EXPECT_EQ(check.valid_bytes, log.size() + 11);
}

}  // namespace
}  // namespace bank
