// WAL check: reads a RocksDB write-ahead log file's framing before RocksDB
// replays it, to tell a torn tail from damage and to say WHERE.
//
// RocksDB's log format (leveldb's): 32 KiB blocks of records, each with a
// 7-byte header (masked CRC32C of type+payload, 16-bit length, type). A
// process or power failure in the middle of a write leaves an incomplete or
// checksum-failing LAST record: a torn tail, which was never acknowledged
// (its sync had not returned). Anything bad before the last record is
// damage: acknowledged records may follow it.
//
// RocksDB's kTolerateCorruptedTailRecords drops an incomplete tail silently
// and refuses any checksum failure, even in the last record, without saying
// at which offset. CheckWalFile gives both cases a precise, logged answer:
// the store truncates a torn tail (keeping a copy) and refuses damage with a
// message naming the file and byte offset. Each whole record must also parse
// as a write batch of Puts and Deletes (all this store writes) with sequence
// numbers that never go backwards: a checksum-valid record that breaks this
// was not left by a crash, and RocksDB's replay can abort on it.
//
// Thread safety: pure functions of the file's bytes.

#ifndef BANK_SERVICE_STORAGE_WAL_CHECK_H_
#define BANK_SERVICE_STORAGE_WAL_CHECK_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace bank {

struct WalCheck {
  enum class Verdict {
    kClean,     // Every record is whole and its checksum matches.
    kTornTail,  // Only the last record is bad, or the log ends inside a
                // record split across blocks: drop [valid_bytes, size).
    kDamaged,   // A bad record is followed by more data, or a whole record
                // is one no crash can leave (see above).
  };
  Verdict verdict = Verdict::kClean;
  uint64_t valid_bytes = 0;  // Bytes up to the end of the last good record.
  uint64_t bad_offset = 0;   // kTornTail/kDamaged: the bad record's offset.
  std::string reason;        // kTornTail/kDamaged: what is wrong there.
  // The sequence numbers of the whole write batches up to valid_bytes: the
  // first one's, and the one after the last (0 and 0: no batch).
  uint64_t first_sequence = 0;
  uint64_t next_sequence = 0;
};

// CheckWalBytes checks the contents of one WAL file.
WalCheck CheckWalBytes(absl::string_view contents);

// CheckWalFile reads `path` and checks it; kNotFound/kInternal if unreadable.
absl::StatusOr<WalCheck> CheckWalFile(const std::string& path);

// Crc32c: the Castagnoli CRC of `data` (RocksDB's record checksum before
// masking), exposed for tests.
uint32_t Crc32c(absl::string_view data, uint32_t init = 0);

}  // namespace bank

#endif  // BANK_SERVICE_STORAGE_WAL_CHECK_H_
