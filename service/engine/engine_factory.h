// Engine selection and the options every engine shares.

#ifndef BANK_SERVICE_ENGINE_ENGINE_FACTORY_H_
#define BANK_SERVICE_ENGINE_ENGINE_FACTORY_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "service/engine/account_engine.h"
#include "service/engine/request_id_journal.h"
#include "service/engine/request_id_table.h"
#include "service/storage/account_store.h"

namespace bank {

// LatencyRange: the article's add_some_latency. Each engine spends a uniformly
// random duration in [min, max] inside its critical section (under the
// account lock; inside the queue consumer; between the unsafe engine's read
// and write). Zero/zero means off.
struct LatencyRange {
  absl::Duration min = absl::ZeroDuration();
  absl::Duration max = absl::ZeroDuration();

  bool enabled() const { return max > absl::ZeroDuration(); }
};

// ParseLatencyRange accepts "" or "0" (off), a single duration such as "5ms"
// (fixed), or a range such as "0-100ms" / "2ms-5ms" (uniform). Units are
// absl::ParseDuration's (ns, us, ms, s, m, h); a bare range end takes the
// unit of the other end. Answers kInvalidArgument for anything else, for
// min > max, and for a max above kLatencyMax.
inline constexpr absl::Duration kLatencyMax = absl::Seconds(10);
absl::StatusOr<LatencyRange> ParseLatencyRange(std::string_view text);

// Limits, with their defaults.
inline constexpr size_t kAccountsMaxDefault = 1'000'000;
inline constexpr size_t kQueueDepthMaxDefault = 65'536;

struct EngineOptions {
  std::string engine = "queue";  // "mutex", "queue" or "unsafe".
  // Opening more accounts than this answers kResourceExhausted.
  size_t accounts_max = kAccountsMaxDefault;
  // Queue engine only: operations waiting for the consumer; a full queue
  // answers kResourceExhausted at once.
  size_t queue_depth_max = kQueueDepthMaxDefault;
  LatencyRange latency;
  // Durability (mutex and queue engines; the unsafe engine refuses it).
  // When set, an operation is acknowledged only once its change is durable
  // in this store (see account_store.h and each engine's header), and the
  // engine starts from `recovered_balances`. The store must outlive the
  // engine. Null: balances live in memory only, as before.
  AccountStore* store = nullptr;
  absl::flat_hash_map<std::string, int64_t> recovered_balances;
  // Request ids (idempotent_engine.h): every engine is wrapped in an
  // IdempotentEngine unless request_ids_enabled is false.
  bool request_ids_enabled = true;
  RequestIdOptions request_ids;
  // With a store and request ids: the store's recovered opaque entries, from
  // which remembered outcomes are reloaded (request_id_journal.h).
  std::vector<std::pair<std::string, std::string>> recovered_entries;
  // Set by CreateEngine, not by callers: where a durable engine journals
  // remembered outcomes with their changes (null: not journaled).
  RequestIdJournal* journal = nullptr;
};

// CreateEngine answers the engine named by options.engine (wrapped in an
// IdempotentEngine when options.request_ids_enabled), or kInvalidArgument
// naming the valid choices (or refusing a store for the unsafe engine);
// kDataLoss for a damaged recovered request-id journal entry;
// kFailedPrecondition when recovered_balances holds more accounts than
// accounts_max.
absl::StatusOr<std::unique_ptr<AccountEngine>> CreateEngine(
    const EngineOptions& options);

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_ENGINE_FACTORY_H_
