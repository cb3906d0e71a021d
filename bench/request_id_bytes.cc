// request_id_bytes: the heap one remembered request id costs.
//
// Method: wrap a mutex engine in an IdempotentEngine, open 8-byte account
// ids, then run kIds deposits, each with a fresh 36-byte UUID-shaped
// request id, and divide the growth of glibc's in-use heap (mallinfo2's
// uordblks) by kIds. The engine's own state does not grow (the accounts
// exist before the first sample), so the growth is the table's: hash nodes,
// keys, copied parameters, outcomes, the eviction queue. Prints one line.

#include <malloc.h>

#include <cstdio>
#include <memory>

#include "absl/strings/str_format.h"
#include "service/engine/engine_factory.h"
#include "service/engine/idempotent_engine.h"

namespace {

constexpr int kIds = 200'000;
constexpr int kAccounts = 16;

size_t HeapInUseBytes() { return mallinfo2().uordblks; }

}  // namespace

int main() {
  bank::EngineOptions options;
  options.engine = "mutex";
  options.request_ids.entries_max = kIds;
  auto engine = bank::CreateEngine(options);
  if (!engine.ok()) return 1;
  for (int i = 0; i < kAccounts; ++i) {
    bank::Operation open{bank::OperationKind::kOpen,
                         absl::StrFormat("acct%04d", i), "", 1'000'000'000};
    if (!bank::ExecuteAndWait(**engine, open).ok()) return 1;
  }
  const size_t before = HeapInUseBytes();
  for (int i = 0; i < kIds; ++i) {
    bank::Operation deposit{bank::OperationKind::kDeposit,
                            absl::StrFormat("acct%04d", i % kAccounts), "", 1};
    deposit.request_id =
        absl::StrFormat("%08x-0000-4000-8000-%012x", i, i * 7919);
    if (!bank::ExecuteAndWait(**engine, deposit).ok()) return 1;
  }
  const size_t after = HeapInUseBytes();
  std::printf("%d request ids: %.0f bytes each (heap in use %zu -> %zu)\n",
              kIds, static_cast<double>(after - before) / kIds, before, after);
  return 0;
}
