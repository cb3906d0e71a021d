// LoadgenConfig: everything bank_loadgen was asked to do, read once from the
// command line and validated before any RPC is sent.
//
// The flags themselves live in main.cc; FlagValues carries their raw values so
// that MakeConfig (all parsing and range checks) is a pure, testable function.
// Every bound is a named constant below, with its unit last.

#ifndef BANK_LOADGEN_CONFIG_H_
#define BANK_LOADGEN_CONFIG_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace bank::loadgen {

// RpcKind: the operations the load mixes. Values index per-kind arrays.
enum class RpcKind { kWithdraw = 0, kDeposit = 1, kTransfer = 2, kBalance = 3 };
inline constexpr size_t kRpcKindCount = 4;
// RpcKindName: the lower-case name used by --mix and in reports.
const char* RpcKindName(RpcKind kind);

// Limits. They keep every sum of money far from int64 overflow:
// kAccountsMax * kInitialBalanceMax + kRpcsMax * kAmountMax < 2^62.
inline constexpr int64_t kConcurrencyMax = 10'000;
inline constexpr int64_t kConnectionsMax = 256;
inline constexpr int64_t kAccountsMax = 1'000'000;
inline constexpr int64_t kInitialBalanceMax = 1'000'000'000'000;
inline constexpr int64_t kAmountMax = 1'000'000'000;
// kRpcsMax bounds the RPCs of one run, warmup included, in every mode.
inline constexpr int64_t kRpcsMax = 1'000'000'000;
inline constexpr int64_t kRpsMax = 10'000'000;
inline constexpr int64_t kMixWeightMax = 1'000'000;
inline constexpr int64_t kTotalDefault = 10'000;
// kBatchMax: --batch's upper bound, the server's kBatchOperationsMax.
inline constexpr int64_t kBatchMax = 8'190;
inline constexpr size_t kAccountPrefixBytesMax = 64;
inline constexpr absl::Duration kDurationMax = absl::Hours(24);
inline constexpr absl::Duration kDeadlineMax = absl::Minutes(10);
inline constexpr absl::Duration kSettleMax = absl::Seconds(60);
inline constexpr absl::Duration kRetryForMax = absl::Hours(1);
inline constexpr absl::Duration kRetryForDefault = absl::Seconds(30);
inline constexpr double kIndeterminateMaxDefault = 0.01;

// Mix: relative weights of each RpcKind (0 = never sent).
struct Mix {
  std::array<int64_t, kRpcKindCount> weights{};

  int64_t Total() const;
  int64_t weight(RpcKind kind) const {
    return weights[static_cast<size_t>(kind)];
  }
};

// ParseMix reads "withdraw:45,deposit:45,transfer:10[,balance:N]": each kind
// at most once, weights 0..kMixWeightMax, at least one weight above zero.
absl::StatusOr<Mix> ParseMix(absl::string_view text);
// FormatMix is ParseMix's inverse (kinds with weight 0 are left out).
std::string FormatMix(const Mix& mix);

// AmountRange: every amount is drawn uniformly from [min, max].
struct AmountRange {
  int64_t min = 1;
  int64_t max = 100;
};

// ParseAmountRange reads "LO-HI" or a single "N", 1 <= LO <= HI <= kAmountMax.
absl::StatusOr<AmountRange> ParseAmountRange(absl::string_view text);

enum class Scenario { kLoad, kArticle };

// FlagValues: the raw command line, one field per flag (see main.cc).
struct FlagValues {
  std::string target = "127.0.0.1:50051";
  std::string scenario = "load";
  int64_t concurrency = 50;
  int64_t connections = 1;
  int64_t total = 0;                               // 0 = not set.
  absl::Duration duration = absl::ZeroDuration();  // Zero = not set.
  absl::Duration warmup = absl::ZeroDuration();
  int64_t rps = 0;
  std::string mix;  // Empty = the default mix (see MakeConfig).
  std::string amount = "1-100";
  int64_t accounts = 100;
  int64_t initial_balance = 100'000;
  std::string use_existing;
  absl::Duration deadline = absl::Seconds(10);
  absl::Duration settle = absl::Milliseconds(250);
  uint64_t seed = 1;
  std::string json;
  std::string html;
  std::string account_prefix;  // Empty = a per-run unique prefix.
  bool request_ids = true;
  absl::Duration retry_for = kRetryForDefault;
  double indeterminate_max = kIndeterminateMaxDefault;
  int64_t batch = 0;           // 0 = single-operation RPCs.
};

struct LoadgenConfig {
  std::string target;
  Scenario scenario = Scenario::kLoad;
  int64_t concurrency = 0;  // RPCs in flight.
  int64_t connections = 0;  // Distinct channels (TCP connections).
  // Exactly one of total (> 0) and duration (> 0) is set; both count only
  // after the warmup.
  int64_t total = 0;
  absl::Duration duration = absl::ZeroDuration();
  absl::Duration warmup = absl::ZeroDuration();
  int64_t rps = 0;  // 0 = as fast as possible.
  Mix mix;
  AmountRange amount;
  // account_ids: the accounts the load acts on, either fresh ones
  // ("<prefix>-<i>") opened with initial_balance, or --use_existing's.
  std::vector<std::string> account_ids;
  bool use_existing = false;
  int64_t initial_balance = 0;
  absl::Duration deadline = absl::ZeroDuration();  // Per load RPC.
  // settle: when some RPCs ended indeterminate, balances are read back this
  // far apart until two reads agree, so late-applying operations land first.
  absl::Duration settle = absl::ZeroDuration();
  uint64_t seed = 0;
  std::string json_path;  // Empty = no JSON report.
  std::string html_path;  // Empty = no HTML report.
  std::string account_prefix;
  // request_ids: every change carries a fresh request id, and an
  // indeterminate outcome (DEADLINE_EXCEEDED, UNAVAILABLE, a broken
  // connection, ...) is retried with the same id for up to retry_for per
  // operation, so that it ends definitively and the check stays exact.
  bool request_ids = true;
  absl::Duration retry_for = kRetryForDefault;
  // indeterminate_max: above this share of operations that ended
  // indeterminate, a passing check is reported INCONCLUSIVE.
  double indeterminate_max = kIndeterminateMaxDefault;
  // batch: operations per ApplyBatch RPC (each drawn from the mix), or 0
  // for one single-operation RPC each. --total counts RPCs either way.
  int64_t batch = 0;
};

// DefaultAccountPrefix: "lg-" plus hex digits unique to this process and
// moment, so that two runs against one server never share an account.
std::string DefaultAccountPrefix();

// MakeConfig validates `flags` into a config, or answers kInvalidArgument
// with a message naming the flag. With no --mix, the mix is
// withdraw:45,deposit:45,transfer:10, or withdraw:50,deposit:50 when there
// is a single account (a transfer needs two).
absl::StatusOr<LoadgenConfig> MakeConfig(const FlagValues& flags);

}  // namespace bank::loadgen

#endif  // BANK_LOADGEN_CONFIG_H_
