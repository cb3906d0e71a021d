#include "service/storage/store_layout.h"

#include "absl/strings/str_cat.h"

namespace bank {

std::string StoredAccountKey(absl::string_view account_id) {
  return absl::StrCat(absl::string_view(&kStoredAccountPrefix, 1), account_id);
}

std::string StoredEntryKey(absl::string_view entry_key) {
  return absl::StrCat(absl::string_view(&kStoredEntryPrefix, 1), entry_key);
}

std::string EncodeStoredFixed64(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(value >> (8 * i));
  return bytes;
}

std::optional<uint64_t> DecodeStoredFixed64(absl::string_view bytes) {
  if (bytes.size() != 8) return std::nullopt;
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) {
    value |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
  }
  return value;
}

absl::Status DecodeStoredKeyValue(absl::string_view key,
                                  absl::string_view value,
                                  RecoveredState* recovered) {
  if (key.empty()) return absl::OkStatus();
  if (key[0] == kStoredAccountPrefix) {
    const std::optional<uint64_t> raw = DecodeStoredFixed64(value);
    if (!raw.has_value() || static_cast<int64_t>(*raw) < 0) {
      return absl::DataLossError(
          absl::StrCat("refusing to start: account '", key.substr(1),
                       "' has an invalid stored balance"));
    }
    recovered->balances.emplace(std::string(key.substr(1)),
                                static_cast<int64_t>(*raw));
  } else if (key[0] == kStoredEntryPrefix) {
    recovered->entries.emplace_back(std::string(key.substr(1)),
                                    std::string(value));
  } else if (key == kStoredRecordsKey) {
    const std::optional<uint64_t> count = DecodeStoredFixed64(value);
    if (!count.has_value()) {
      return absl::DataLossError(
          "refusing to start: the stored record count is invalid");
    }
    recovered->records_committed = *count;
  }
  return absl::OkStatus();
}

}  // namespace bank
