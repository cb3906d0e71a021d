#include "service/engine/engine_factory.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "service/engine/idempotent_engine.h"
#include "service/engine/mutex_engine.h"
#include "service/engine/queue_engine.h"
#include "service/engine/unsafe_engine.h"

namespace bank {
namespace {

// UnitSuffix answers the trailing letters of `text` ("ms" of "100ms"), or ""
// for a bare number.
absl::string_view UnitSuffix(absl::string_view text) {
  size_t start = text.size();
  while (start > 0 && absl::ascii_isalpha(text[start - 1])) --start;
  return text.substr(start);
}

bool IsBareNumber(absl::string_view text) {
  return !text.empty() && UnitSuffix(text).empty();
}

absl::StatusOr<absl::Duration> ParseOneDuration(absl::string_view text,
                                                absl::string_view whole) {
  absl::Duration duration;
  // "inf" parses as a duration but is no latency anyone means.
  if (!absl::ParseDuration(text, &duration) ||
      duration == absl::InfiniteDuration() || duration < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "latency '", whole,
        "' is not a duration such as 5ms or a range such as 0-100ms"));
  }
  return duration;
}

// SplitRange splits "a-b" into its two ends, giving a bare end the unit of
// the other one ("0-100ms" -> "0ms", "100ms").
void SplitRange(absl::string_view text, std::string* min_text,
                std::string* max_text) {
  const size_t dash = text.find('-');
  *min_text = std::string(absl::StripAsciiWhitespace(text.substr(0, dash)));
  *max_text = std::string(absl::StripAsciiWhitespace(text.substr(dash + 1)));
  if (IsBareNumber(*min_text)) absl::StrAppend(min_text, UnitSuffix(*max_text));
  if (IsBareNumber(*max_text)) absl::StrAppend(max_text, UnitSuffix(*min_text));
}

}  // namespace

absl::StatusOr<LatencyRange> ParseLatencyRange(std::string_view text_in) {
  const absl::string_view text = absl::StripAsciiWhitespace(
      absl::string_view(text_in.data(), text_in.size()));
  if (text.empty() || text == "0") return LatencyRange{};
  std::string min_text(text);
  std::string max_text(text);
  if (text.find('-') != absl::string_view::npos) {
    SplitRange(text, &min_text, &max_text);
  }
  absl::StatusOr<absl::Duration> min = ParseOneDuration(min_text, text);
  if (!min.ok()) return min.status();
  absl::StatusOr<absl::Duration> max = ParseOneDuration(max_text, text);
  if (!max.ok()) return max.status();
  if (*min > *max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "latency '", text, "': the minimum is larger than the maximum"));
  }
  if (*max > kLatencyMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("latency '", text, "' exceeds the limit of ",
                     absl::FormatDuration(kLatencyMax)));
  }
  return LatencyRange{*min, *max};
}

namespace {

absl::StatusOr<std::unique_ptr<AccountEngine>> CreateBareEngine(
    const EngineOptions& options) {
  if (options.accounts_max == 0) {
    return absl::InvalidArgumentError("accounts_max must be at least 1");
  }
  // A data directory may hold more accounts than a restart's limit allows
  // (the limit was lowered): refuse to start rather than exceed the limit
  // or drop accounts, and say how to start.
  if (options.recovered_balances.size() > options.accounts_max) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to start: the store holds ",
        options.recovered_balances.size(),
        " accounts, more than the account limit of ", options.accounts_max,
        " (--accounts_max); start with a limit of at least ",
        options.recovered_balances.size()));
  }
  if (options.latency.min < absl::ZeroDuration() ||
      options.latency.min > options.latency.max ||
      options.latency.max > kLatencyMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("latency range must satisfy 0 <= min <= max <= ",
                     absl::FormatDuration(kLatencyMax)));
  }
  if (options.engine == "mutex")
    return {std::make_unique<MutexEngine>(options)};
  if (options.engine == "unsafe") {
    if (options.store != nullptr) {
      return absl::InvalidArgumentError(
          "the unsafe engine loses updates on purpose and cannot be durable");
    }
    return {std::make_unique<UnsafeEngine>(options)};
  }
  if (options.engine == "queue") {
    if (options.queue_depth_max == 0) {
      return absl::InvalidArgumentError("queue_depth_max must be at least 1");
    }
    return {std::make_unique<QueueEngine>(options)};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown engine '", options.engine,
                   "'; choose one of: mutex, queue, unsafe"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<AccountEngine>> CreateEngine(
    const EngineOptions& options) {
  if (options.request_ids_enabled) {
    if (options.request_ids.entries_max == 0) {
      return absl::InvalidArgumentError("request_ids_max must be at least 1");
    }
    if (options.request_ids.ttl <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError("request_id_ttl must be positive");
    }
  }
  if (!options.request_ids_enabled || options.store == nullptr) {
    absl::StatusOr<std::unique_ptr<AccountEngine>> engine =
        CreateBareEngine(options);
    if (!engine.ok() || !options.request_ids_enabled) return engine;
    return {std::make_unique<IdempotentEngine>(*std::move(engine),
                                               options.request_ids)};
  }
  // Durable: remembered outcomes are journaled with their changes and
  // reloaded from what the store recovered.
  auto journal = std::make_unique<RequestIdJournal>(
      options.request_ids.entries_max, options.request_ids.clock);
  absl::StatusOr<std::vector<JournalEntry>> remembered =
      journal->Recover(options.recovered_entries, options.request_ids.ttl);
  if (!remembered.ok()) return remembered.status();
  EngineOptions journaled = options;
  journaled.recovered_entries.clear();
  journaled.journal = journal.get();
  absl::StatusOr<std::unique_ptr<AccountEngine>> engine =
      CreateBareEngine(journaled);
  if (!engine.ok()) return engine;
  return {std::make_unique<IdempotentEngine>(
      *std::move(engine), options.request_ids, std::move(journal),
      *std::move(remembered))};
}

}  // namespace bank
