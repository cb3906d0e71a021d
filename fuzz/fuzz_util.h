// Helpers shared by the storage fuzz targets (recovery_fuzzer,
// store_recovery_fuzzer): a reader of the input's bytes, the write-ahead
// log's framing (RocksDB's log format, as wal_check.h describes it), and
// wal_check's own invariants.

#ifndef BANK_FUZZ_FUZZ_UTIL_H_
#define BANK_FUZZ_FUZZ_UTIL_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "fuzz/fuzz_check.h"
#include "service/storage/wal_check.h"

namespace bank_fuzz {

// Reader: the fuzzer input, front to back; past the end it reads zeros.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  std::string Bytes(size_t count) {
    count = std::min(count, size_ - std::min(pos_, size_));
    std::string bytes(reinterpret_cast<const char*>(data_ + pos_), count);
    pos_ += count;
    return bytes;
  }
  std::string Rest() { return Bytes(size_); }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// The log format's framing (RocksDB db/log_format.h).
inline constexpr size_t kBlockBytes = 32768;
inline constexpr size_t kHeaderBytes = 7;

inline uint32_t RecordCrc(const std::string& wal, size_t offset,
                          size_t length) {
  const uint32_t type_crc =
      bank::Crc32c(absl::string_view(wal).substr(offset + 6, 1));
  return bank::Crc32c(
      absl::string_view(wal).substr(offset + kHeaderBytes, length), type_crc);
}

inline uint32_t Mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

inline uint32_t Fixed32At(const std::string& bytes, size_t offset) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    value |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[offset + i]))
             << (8 * i);
  }
  return value;
}

// ForEachRecord calls `visit(offset, length)` for each physical record whose
// header and body lie within the file and its block, from `start` (a record
// boundary), until `visit` answers false or the framing ends.
template <typename Visit>
void ForEachRecord(const std::string& wal, Visit visit, size_t start = 0) {
  size_t offset = start;
  while (offset < wal.size()) {
    const size_t block_left = kBlockBytes - offset % kBlockBytes;
    if (block_left < kHeaderBytes) {
      offset += block_left;
      continue;
    }
    if (wal.size() - offset < kHeaderBytes) return;
    const size_t length =
        static_cast<uint8_t>(wal[offset + 4]) |
        (static_cast<size_t>(static_cast<uint8_t>(wal[offset + 5])) << 8);
    if (length > block_left - kHeaderBytes ||
        offset + kHeaderBytes + length > wal.size()) {
      return;
    }
    if (!visit(offset, length)) return;
    offset += kHeaderBytes + length;
  }
}

// FixChecksums recomputes the checksum of every framed record from `start`
// (a record boundary), so that the batch parsing behind the framing is
// reached.
inline void FixChecksums(std::string& wal, size_t start = 0) {
  ForEachRecord(
      wal,
      [&wal](size_t offset, size_t length) {
        const uint32_t masked = Mask(RecordCrc(wal, offset, length));
        for (int i = 0; i < 4; ++i)
          wal[offset + i] = static_cast<char>(masked >> (8 * i));
        return true;
      },
      start);
}

inline bool SameCheck(const bank::WalCheck& a, const bank::WalCheck& b) {
  return a.verdict == b.verdict && a.valid_bytes == b.valid_bytes &&
         a.bad_offset == b.bad_offset && a.reason == b.reason &&
         a.first_sequence == b.first_sequence &&
         a.next_sequence == b.next_sequence;
}

// CheckWalChecker: wal_check's own invariants on any bytes. Above all, the
// part it keeps ([0, valid_bytes): what a torn tail's cut leaves) must
// check clean with the same sequence numbers, or the next start would
// refuse what this one accepted.
inline bank::WalCheck CheckWalChecker(absl::string_view wal) {
  using Verdict = bank::WalCheck::Verdict;
  const bank::WalCheck check = bank::CheckWalBytes(wal);
  FUZZ_CHECK(SameCheck(check, bank::CheckWalBytes(wal)));  // Deterministic.
  FUZZ_CHECK(check.valid_bytes <= wal.size());
  FUZZ_CHECK(check.first_sequence <= check.next_sequence);
  if (check.verdict == Verdict::kClean) {
    FUZZ_CHECK(check.reason.empty());
  } else {
    FUZZ_CHECK(!check.reason.empty());
    FUZZ_CHECK(check.bad_offset >= check.valid_bytes);
    FUZZ_CHECK(check.bad_offset < wal.size());
  }
  const bank::WalCheck kept =
      bank::CheckWalBytes(absl::string_view(wal).substr(0, check.valid_bytes));
  FUZZ_CHECK(kept.verdict == Verdict::kClean);
  FUZZ_CHECK(kept.valid_bytes == check.valid_bytes);
  FUZZ_CHECK(kept.first_sequence == check.first_sequence);
  FUZZ_CHECK(kept.next_sequence == check.next_sequence);
  return check;
}

}  // namespace bank_fuzz

#endif  // BANK_FUZZ_FUZZ_UTIL_H_
