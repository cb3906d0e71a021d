// Store layout: how RocksDbStore keeps an AccountStore's state as keys and
// values, and how recovery decodes them. Separate from rocksdb_store.cc so
// that the decoding, which runs on whatever a data directory holds, can be
// tested and fuzzed without opening RocksDB (fuzz/store_recovery_fuzzer.cc).
//
//   "a" + account_id  -> balance, 8 bytes little-endian two's complement
//   "e" + entry key   -> opaque entry value (StoreRecord::entries)
//   "m:records"       -> records ever committed, 8 bytes little-endian
//
// Thread safety: pure functions.

#ifndef BANK_SERVICE_STORAGE_STORE_LAYOUT_H_
#define BANK_SERVICE_STORAGE_STORE_LAYOUT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "service/storage/account_store.h"

namespace bank {

inline constexpr char kStoredAccountPrefix = 'a';
inline constexpr char kStoredEntryPrefix = 'e';
inline constexpr absl::string_view kStoredRecordsKey = "m:records";

// StoredAccountKey / StoredEntryKey: the keys of a balance and an entry.
std::string StoredAccountKey(absl::string_view account_id);
std::string StoredEntryKey(absl::string_view entry_key);

// EncodeStoredFixed64 / DecodeStoredFixed64: 8 bytes, little-endian;
// Decode answers nullopt for any other length.
std::string EncodeStoredFixed64(uint64_t value);
std::optional<uint64_t> DecodeStoredFixed64(absl::string_view bytes);

// DecodeStoredKeyValue adds one stored key and value to `recovered`: a
// balance, an entry or the record count; other keys are not the store's
// and are skipped. kDataLoss for a balance that is not 8 bytes or is
// negative, and for a record count that is not 8 bytes (counting on from 0
// would hide the damage). Keys arrive once each (a database holds one
// value per key); a repeated balance key keeps the first value.
absl::Status DecodeStoredKeyValue(absl::string_view key,
                                  absl::string_view value,
                                  RecoveredState* recovered);

}  // namespace bank

#endif  // BANK_SERVICE_STORAGE_STORE_LAYOUT_H_
