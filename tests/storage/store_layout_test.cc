// Goal: recovery's decoding of the stored layout (store_layout.h) accepts
// exactly what RocksDbStore writes and refuses damaged values with
// kDataLoss; other keys are skipped.
// Method: hand-built keys and values; round trips through the encoders.

#include "service/storage/store_layout.h"

#include <string>

#include "gtest/gtest.h"

namespace bank {
namespace {

TEST(StoreLayoutTest, DecodesBalancesEntriesAndTheRecordCount) {
  RecoveredState recovered;
  ASSERT_TRUE(DecodeStoredKeyValue(StoredAccountKey("alice"),
                                   EncodeStoredFixed64(42), &recovered)
                  .ok());
  ASSERT_TRUE(
      DecodeStoredKeyValue(StoredEntryKey("request_id/0"), "value", &recovered)
          .ok());
  ASSERT_TRUE(DecodeStoredKeyValue(kStoredRecordsKey, EncodeStoredFixed64(7),
                                   &recovered)
                  .ok());
  ASSERT_TRUE(DecodeStoredKeyValue("zz", "not ours", &recovered).ok());
  ASSERT_TRUE(DecodeStoredKeyValue("", "", &recovered).ok());
  EXPECT_EQ(recovered.balances.size(), 1u);
  EXPECT_EQ(recovered.balances.at("alice"), 42);
  ASSERT_EQ(recovered.entries.size(), 1u);
  EXPECT_EQ(recovered.entries[0].first, "request_id/0");
  EXPECT_EQ(recovered.entries[0].second, "value");
  EXPECT_EQ(recovered.records_committed, 7u);
}

TEST(StoreLayoutTest, RefusesDamagedValues) {
  RecoveredState recovered;
  for (const std::string& bad :
       {std::string(), std::string("1234567"), std::string("123456789"),
        EncodeStoredFixed64(static_cast<uint64_t>(int64_t{-1}))}) {
    const absl::Status status =
        DecodeStoredKeyValue(StoredAccountKey("bob"), bad, &recovered);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(status.message().find("'bob'"), absl::string_view::npos);
  }
  EXPECT_EQ(
      DecodeStoredKeyValue(kStoredRecordsKey, "1234567", &recovered).code(),
      absl::StatusCode::kDataLoss);
  EXPECT_TRUE(recovered.balances.empty());
  EXPECT_EQ(recovered.records_committed, 0u);
}

TEST(StoreLayoutTest, Fixed64RoundTripsAndIsLittleEndian) {
  EXPECT_EQ(EncodeStoredFixed64(0x0102030405060708u),
            std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
  for (uint64_t value : {uint64_t{0}, uint64_t{1}, ~uint64_t{0}}) {
    EXPECT_EQ(DecodeStoredFixed64(EncodeStoredFixed64(value)), value);
  }
  EXPECT_EQ(DecodeStoredFixed64("short"), std::nullopt);
}

}  // namespace
}  // namespace bank
