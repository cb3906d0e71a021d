#include "loadgen/config.h"

#include <unistd.h>

#include "absl/algorithm/container.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace bank::loadgen {
namespace {

constexpr const char* kDefaultMix = "withdraw:45,deposit:45,transfer:10";
constexpr const char* kSingleAccountMix = "withdraw:50,deposit:50";

absl::Status Invalid(absl::string_view flag, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", why));
}

absl::Status CheckRange(absl::string_view flag, int64_t value, int64_t min,
                        int64_t max) {
  if (value < min || value > max) {
    return Invalid(flag,
                   absl::StrCat(value, " is not in [", min, ", ", max, "]"));
  }
  return absl::OkStatus();
}

absl::Status CheckDuration(absl::string_view flag, absl::Duration value,
                           absl::Duration min, absl::Duration max) {
  if (value < min || value > max) {
    return Invalid(flag, absl::StrCat(absl::FormatDuration(value),
                                      " is not in [", absl::FormatDuration(min),
                                      ", ", absl::FormatDuration(max), "]"));
  }
  return absl::OkStatus();
}

absl::Status CheckPrefix(const std::string& prefix) {
  if (prefix.empty() || prefix.size() > kAccountPrefixBytesMax) {
    return Invalid(
        "account_prefix",
        absl::StrCat("must be 1 to ", kAccountPrefixBytesMax, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status FillScenario(const FlagValues& flags, LoadgenConfig& config) {
  if (flags.scenario == "load") {
    config.scenario = Scenario::kLoad;
  } else if (flags.scenario == "article") {
    config.scenario = Scenario::kArticle;
  } else {
    return Invalid("scenario",
                   absl::StrCat("unknown scenario '", flags.scenario,
                                "' (choose load or article)"));
  }
  if (flags.target.empty()) return Invalid("target", "must not be empty");
  // Any gRPC target is allowed (dns:///..., unix:...); a numeric port at
  // the end must be one, so that 70000 is refused rather than wrapped.
  const size_t colon = flags.target.rfind(':');
  const std::string port =
      colon == std::string::npos ? "" : flags.target.substr(colon + 1);
  uint64_t port_number = 0;
  if (!port.empty() && absl::c_all_of(port, absl::ascii_isdigit) &&
      (!absl::SimpleAtoi(port, &port_number) || port_number > 65535)) {
    return Invalid("target", absl::StrCat("port ", port, " is not in 0-65535"));
  }
  config.target = flags.target;
  return absl::OkStatus();
}

absl::Status FillLoadShape(const FlagValues& flags, LoadgenConfig& config) {
  absl::Status status =
      CheckRange("concurrency", flags.concurrency, 1, kConcurrencyMax);
  if (status.ok()) {
    status = CheckRange("connections", flags.connections, 1,
                        std::min(flags.concurrency, kConnectionsMax));
  }
  if (status.ok()) status = CheckRange("rps", flags.rps, 0, kRpsMax);
  if (status.ok()) status = CheckRange("total", flags.total, 0, kRpcsMax);
  if (status.ok()) {
    status = CheckDuration("duration", flags.duration, absl::ZeroDuration(),
                           kDurationMax);
  }
  if (status.ok()) {
    status = CheckDuration("warmup", flags.warmup, absl::ZeroDuration(),
                           kDurationMax);
  }
  if (status.ok() && flags.total > 0 && flags.duration > absl::ZeroDuration()) {
    status = Invalid("total", "set --total or --duration, not both");
  }
  if (!status.ok()) return status;
  config.concurrency = flags.concurrency;
  config.connections = flags.connections;
  config.rps = flags.rps;
  config.duration = flags.duration;
  config.total = flags.duration > absl::ZeroDuration()
                     ? 0
                     : (flags.total > 0 ? flags.total : kTotalDefault);
  config.warmup = flags.warmup;
  return absl::OkStatus();
}

absl::Status FillAccounts(const FlagValues& flags, LoadgenConfig& config) {
  config.account_prefix = flags.account_prefix.empty() ? DefaultAccountPrefix()
                                                       : flags.account_prefix;
  absl::Status status = CheckPrefix(config.account_prefix);
  if (status.ok()) {
    status = CheckRange("initial_balance", flags.initial_balance, 0,
                        kInitialBalanceMax);
  }
  if (!status.ok()) return status;
  config.initial_balance = flags.initial_balance;
  if (!flags.use_existing.empty()) {
    config.use_existing = true;
    for (absl::string_view id : absl::StrSplit(flags.use_existing, ',')) {
      if (id.empty()) return Invalid("use_existing", "empty account id");
      config.account_ids.emplace_back(id);
    }
    return CheckRange("use_existing",
                      static_cast<int64_t>(config.account_ids.size()), 1,
                      kAccountsMax);
  }
  status = CheckRange("accounts", flags.accounts, 1, kAccountsMax);
  if (!status.ok()) return status;
  config.account_ids.reserve(flags.accounts);
  for (int64_t i = 0; i < flags.accounts; ++i) {
    config.account_ids.push_back(absl::StrCat(config.account_prefix, "-", i));
  }
  return absl::OkStatus();
}

absl::Status FillOperations(const FlagValues& flags, LoadgenConfig& config) {
  const bool single = config.account_ids.size() == 1;
  absl::string_view mix_text = flags.mix;
  if (mix_text.empty()) mix_text = single ? kSingleAccountMix : kDefaultMix;
  absl::StatusOr<Mix> mix = ParseMix(mix_text);
  if (!mix.ok()) return Invalid("mix", mix.status().message());
  if (single && mix->weight(RpcKind::kTransfer) > 0) {
    return Invalid("mix", "transfer needs at least two accounts");
  }
  absl::StatusOr<AmountRange> amount = ParseAmountRange(flags.amount);
  if (!amount.ok()) return Invalid("amount", amount.status().message());
  absl::Status status = CheckDuration("deadline", flags.deadline,
                                      absl::Milliseconds(1), kDeadlineMax);
  if (status.ok()) {
    status =
        CheckDuration("settle", flags.settle, absl::ZeroDuration(), kSettleMax);
  }
  if (!status.ok()) return status;
  config.mix = *mix;
  config.amount = *amount;
  config.deadline = flags.deadline;
  config.settle = flags.settle;
  status = CheckDuration("retry_for", flags.retry_for, absl::ZeroDuration(),
                         kRetryForMax);
  if (!status.ok()) return status;
  if (!(flags.indeterminate_max >= 0 && flags.indeterminate_max <= 1)) {
    return Invalid("indeterminate_max", "must be a share from 0 to 1");
  }
  // Also with several servers: replicas share one PostgreSQL, which keeps
  // the request ids (bank_request_ids), so a retry that fails over to
  // another replica replays instead of applying twice.
  config.request_ids = flags.request_ids;
  config.retry_for = flags.retry_for;
  config.indeterminate_max = flags.indeterminate_max;
  config.seed = flags.seed;
  config.json_path = flags.json;
  config.html_path = flags.html;
  if (flags.batch < 0 || flags.batch > kBatchMax) {
    return Invalid("batch", absl::StrCat("must be 0 (single-operation RPCs) "
                                         "to ",
                                         kBatchMax, "; got ", flags.batch));
  }
  config.batch = flags.batch;
  return absl::OkStatus();
}

}  // namespace

const char* RpcKindName(RpcKind kind) {
  switch (kind) {
    case RpcKind::kWithdraw:
      return "withdraw";
    case RpcKind::kDeposit:
      return "deposit";
    case RpcKind::kTransfer:
      return "transfer";
    case RpcKind::kBalance:
      return "balance";
  }
  return "unknown";
}

int64_t Mix::Total() const {
  int64_t total = 0;
  for (int64_t weight : weights) total += weight;
  return total;
}

absl::StatusOr<Mix> ParseMix(absl::string_view text) {
  Mix mix;
  std::array<bool, kRpcKindCount> seen{};
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    std::pair<absl::string_view, absl::string_view> parts =
        absl::StrSplit(item, absl::MaxSplits(':', 1));
    size_t index = kRpcKindCount;
    for (size_t k = 0; k < kRpcKindCount; ++k) {
      if (parts.first == RpcKindName(static_cast<RpcKind>(k))) index = k;
    }
    int64_t weight = 0;
    if (index == kRpcKindCount || !absl::SimpleAtoi(parts.second, &weight) ||
        weight < 0 || weight > kMixWeightMax) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", item, "' is not KIND:WEIGHT with KIND one of withdraw, ",
          "deposit, transfer, balance and WEIGHT in [0, ", kMixWeightMax, "]"));
    }
    if (seen[index]) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", parts.first, "' appears twice"));
    }
    seen[index] = true;
    mix.weights[index] = weight;
  }
  if (mix.Total() <= 0) {
    return absl::InvalidArgumentError("at least one weight must be above 0");
  }
  return mix;
}

std::string FormatMix(const Mix& mix) {
  std::vector<std::string> items;
  for (size_t k = 0; k < kRpcKindCount; ++k) {
    if (mix.weights[k] == 0) continue;
    items.push_back(absl::StrCat(RpcKindName(static_cast<RpcKind>(k)), ":",
                                 mix.weights[k]));
  }
  return absl::StrJoin(items, ",");
}

absl::StatusOr<AmountRange> ParseAmountRange(absl::string_view text) {
  std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits('-', 1));
  if (!absl::StrContains(text, '-')) parts.second = parts.first;
  AmountRange range;
  if (!absl::SimpleAtoi(parts.first, &range.min) ||
      !absl::SimpleAtoi(parts.second, &range.max) || range.min < 1 ||
      range.min > range.max || range.max > kAmountMax) {
    return absl::InvalidArgumentError(absl::StrCat(
        "'", text, "' is not LO-HI or N with 1 <= LO <= HI <= ", kAmountMax));
  }
  return range;
}

std::string DefaultAccountPrefix() {
  const uint64_t now_us =
      static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  const uint64_t pid = static_cast<uint64_t>(getpid());
  return absl::StrCat("lg-", absl::Hex(now_us & 0xffffffffffULL), "-",
                      absl::Hex(pid));
}

absl::StatusOr<LoadgenConfig> MakeConfig(const FlagValues& flags) {
  LoadgenConfig config;
  absl::Status status = FillScenario(flags, config);
  if (status.ok()) status = FillLoadShape(flags, config);
  if (status.ok()) status = FillAccounts(flags, config);
  if (status.ok()) status = FillOperations(flags, config);
  if (!status.ok()) return status;
  return config;
}

}  // namespace bank::loadgen
