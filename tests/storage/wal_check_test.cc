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

// Batch builds a write batch as the store writes it: sequence number,
// count 1, one Put of `key` = "v".
std::string Batch(uint64_t sequence, const std::string& key) {
  std::string batch;
  for (int i = 0; i < 8; ++i) batch += static_cast<char>(sequence >> (8 * i));
  batch += std::string("\x01\0\0\0", 4);  // Count 1.
  batch += '\x01';                        // Put.
  batch += static_cast<char>(key.size());
  batch += key;
  batch += "\x01v";
  return batch;
}

TEST(WalCheckTest, Crc32cMatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xe3069283u);
}

TEST(WalCheckTest, WholeRecordsAreClean) {
  const std::string one = Frame(Batch(1, "one"));
  const std::string log = one + Frame(Batch(2, "two")) + std::string(20, '\0');
  WalCheck check = CheckWalBytes(log);
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kClean);
  EXPECT_EQ(check.valid_bytes, log.size() - 20);
  EXPECT_EQ(check.first_sequence, 1u);
  EXPECT_EQ(check.next_sequence, 3u);
  EXPECT_EQ(CheckWalBytes("").verdict, WalCheck::Verdict::kClean);
}

TEST(WalCheckTest, IncompleteLastRecordIsATornTail) {
  const std::string one = Frame(Batch(1, "one"));
  const std::string log = one + Frame(Batch(2, "two"));
  WalCheck check = CheckWalBytes(log.substr(0, log.size() - 1));
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kTornTail);
  EXPECT_EQ(check.valid_bytes, one.size());
  EXPECT_EQ(check.bad_offset, one.size());
  EXPECT_EQ(check.next_sequence, 2u);  // Only the whole batch counts.
  EXPECT_EQ(CheckWalBytes(log.substr(0, one.size() + 2)).verdict,
            WalCheck::Verdict::kTornTail);  // A torn header.
}

TEST(WalCheckTest, ChecksumFailureFollowedByDataIsDamage) {
  std::string log = Frame(Batch(1, "one")) + Frame(Batch(2, "two")) +
                    Frame(Batch(3, "three"));
  log[8] ^= 1;  // The payload of the first record.
  WalCheck check = CheckWalBytes(log);
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kDamaged);
  EXPECT_EQ(check.bad_offset, 0u);
  EXPECT_EQ(check.reason, "checksum mismatch");
}

TEST(WalCheckTest, FragmentedRecordCutBeforeItsFirstFragment) {
  // A FIRST fragment whose LAST fragment never made it: valid data ends
  // before the FIRST, so cutting there leaves no half record behind.
  const std::string one = Frame(Batch(1, "one"));
  const std::string two = Batch(2, "two");
  const std::string log = one + Frame(two.substr(0, 5), 2);
  WalCheck torn = CheckWalBytes(log + Frame(two.substr(5), 4).substr(0, 9));
  EXPECT_EQ(torn.verdict, WalCheck::Verdict::kTornTail);
  EXPECT_EQ(torn.valid_bytes, one.size());

  WalCheck whole = CheckWalBytes(log + Frame(two.substr(5), 4));
  EXPECT_EQ(whole.verdict, WalCheck::Verdict::kClean);
  EXPECT_EQ(whole.next_sequence, 3u);
}

// Found by fuzz/recovery_fuzzer: a log that ENDS right after a whole First
// (or Middle) fragment was called clean, and RocksDB's strict recovery then
// refused to start ("error reading trailing data"). That is what losing
// power after a 32 KiB block boundary leaves while a large batch is
// written: a torn tail, to be cut before the First fragment.
TEST(WalCheckTest, LogEndingBetweenFragmentsIsATornTail) {
  const std::string one = Frame(Batch(1, "one"));
  const std::string two = Batch(2, "two");
  const std::string log = one + Frame(two.substr(0, 5), 2);
  WalCheck check = CheckWalBytes(log);
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kTornTail);
  EXPECT_EQ(check.valid_bytes, one.size());
  EXPECT_EQ(check.bad_offset, one.size());
  EXPECT_EQ(check.reason, "the log ends inside a record split across blocks");

  const std::string middle =
      log + Frame(two.substr(5, 5), 3) + std::string(30, '\0');
  check = CheckWalBytes(middle);  // Preallocated zeros after a Middle.
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kTornTail);
  EXPECT_EQ(check.valid_bytes, one.size());

  const std::string complete =
      log + Frame(two.substr(5, 5), 3) + Frame(two.substr(10), 4);
  check = CheckWalBytes(complete);
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kClean);
  EXPECT_EQ(check.valid_bytes, complete.size());
}

// Found by fuzz/recovery_fuzzer: a checksum-valid record whose sequence
// number goes backwards made Debian's RocksDB abort on an assertion during
// replay. A crash cannot leave one, so it is damage, refused first.
TEST(WalCheckTest, ChecksumValidButImpossibleBatchesAreDamage) {
  const std::string one = Frame(Batch(5, "one"));
  WalCheck check = CheckWalBytes(one + Frame(Batch(4, "two")));
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kDamaged);
  EXPECT_EQ(check.bad_offset, one.size());
  EXPECT_EQ(check.reason, "a sequence number that goes backwards");

  std::string merge = Batch(6, "two");
  merge[12] = '\x02';  // A Merge: this store never writes one.
  check = CheckWalBytes(one + Frame(merge));
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kDamaged);
  EXPECT_EQ(check.reason, "a write batch this store never writes");

  check = CheckWalBytes(one + Frame(Batch(uint64_t{1} << 56, "two")));
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kDamaged);
  EXPECT_EQ(check.reason, "a sequence number out of range");

  // A log compression record naming no real compression: RocksDB aborted
  // on it (found by recovery_fuzzer); this store never compresses its log.
  check = CheckWalBytes(one + Frame(std::string(4, '\x7f'), 9));
  EXPECT_EQ(check.verdict, WalCheck::Verdict::kDamaged);
  EXPECT_EQ(check.bad_offset, one.size());

  std::string short_count = Batch(6, "two");
  short_count[8] = '\x02';  // Says 2 entries, holds 1.
  EXPECT_EQ(CheckWalBytes(one + Frame(short_count)).verdict,
            WalCheck::Verdict::kDamaged);
}

}  // namespace
}  // namespace bank
