// LoadReport: everything a load run found, in one plain value, and its two
// renderings: ghz-style text for people (FormatText) and JSON for scripts
// (FormatJson, schema in docs/LOADGEN.md). Both come from the same value, so
// they never disagree.

#ifndef BANK_LOADGEN_REPORT_H_
#define BANK_LOADGEN_REPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "loadgen/config.h"
#include "loadgen/histogram.h"
#include "loadgen/ledger.h"
#include "loadgen/load_runner.h"
#include "loadgen/run_stats.h"

namespace bank::loadgen {

// kHistogramBarCount: lines in the text histogram (ghz shows 11).
inline constexpr int kHistogramBarCount = 11;

struct LatencySummary {
  uint64_t count = 0;
  int64_t min_ns = 0;
  double mean_ns = 0;
  int64_t p50_ns = 0;
  int64_t p90_ns = 0;
  int64_t p99_ns = 0;
  int64_t p999_ns = 0;
  int64_t max_ns = 0;
  std::vector<LatencyHistogram::Bar> bars;
};

LatencySummary Summarize(const LatencyHistogram& histogram);

struct KindReport {
  RpcKind kind = RpcKind::kWithdraw;
  uint64_t count = 0;
  uint64_t errors = 0;  // Any status but OK.
  double rps = 0;
  LatencySummary latency;
  StatusCounts status_counts{};
};

// ViolationReport: a Violation with its account named.
struct ViolationReport {
  std::string kind;        // "balance_out_of_range", "negative_balance", ...
  std::string account_id;  // Empty for the total.
  int64_t expected_min = 0;
  int64_t expected_max = 0;
  int64_t actual = 0;
};

struct InvariantReport {
  bool pass = true;
  size_t accounts = 0;
  OutcomeCounts outcomes;  // Over every RPC of the run, warmup included.
  int64_t total_expected_min = 0;
  int64_t total_expected_max = 0;
  int64_t total_actual = 0;
  uint64_t negative_replies = 0;
  int settle_reads = 0;  // Balance read-backs it took to see them settle.
  std::vector<ViolationReport> violations;
  // Request ids and retries (see LOADGEN.md): operations that needed at
  // least one retry, and the most retries any one operation needed.
  uint64_t retried_operations = 0;
  uint64_t retries_max = 0;
  // indeterminate / every recorded operation, and the --indeterminate_max
  // above which a check without violations is INCONCLUSIVE.
  double indeterminate_share = 0;
  double indeterminate_max = 1;
  // balances_read: false when the final balances could not be read (the
  // server was gone): nothing could be checked.
  bool balances_read = true;
  // inconclusive: no violation was found, but the check cannot claim the
  // money is right; inconclusive_reason says why. `stopped_reason`: why the
  // load ended early (empty when it ran to its end).
  bool inconclusive = false;
  std::string inconclusive_reason;
  std::string stopped_reason;
};

// VerdictName: "FAIL" (a violation), "INCONCLUSIVE" or "PASS".
const char* VerdictName(const InvariantReport& invariant);

// DecideVerdict marks `invariant` INCONCLUSIVE when the balances could not
// be read (`balances_error` non-empty) or when the share of indeterminate
// operations exceeds invariant.indeterminate_max. A violation stays a FAIL:
// it lies outside even the widest range.
void DecideVerdict(const std::string& balances_error,
                   InvariantReport& invariant);

struct LoadReport {
  LoadgenConfig config;
  // count, warmup_count, rps, status counts and the per-kind figures count
  // operations: RPCs without --batch, the operations of the batches with it
  // (latency is still per RPC: each operation carries its RPC's).
  uint64_t count = 0;  // Measured operations.
  uint64_t warmup_count = 0;
  int64_t batch = 0;       // Operations per RPC; 0 = single RPCs.
  uint64_t rpc_count = 0;  // Measured RPCs.
  double rpcs_per_s = 0;   // Measured RPCs per second.
  double cpu_us_per_operation = 0;
  uint64_t errors = 0;
  double duration_s = 0;
  double rps = 0;
  LatencySummary latency;
  StatusCounts status_counts{};
  std::vector<KindReport> kinds;  // Only kinds in the mix.
  double cpu_user_s = 0;
  double cpu_system_s = 0;
  double cpu_us_per_rpc = 0;  // (user + system) / every RPC incl. warmup.
  InvariantReport invariant;
  std::vector<ThroughputSample> timeline;
};

// BuildReport assembles the report of a finished run.
LoadReport BuildReport(const LoadgenConfig& config, const LoadTiming& timing,
                       const RunStats& stats, const Ledger& ledger,
                       const Verdict& verdict, int settle_reads);

// FormatInvariant: the verdict block of the text report (also used by the
// article scenario).
std::string FormatInvariant(const InvariantReport& invariant);
// FormatInvariantJson: the "invariant" object of the JSON report.
std::string FormatInvariantJson(const InvariantReport& invariant);
// JsonQuote: `text` as a JSON string literal.
std::string JsonQuote(const std::string& text);
std::string FormatText(const LoadReport& report);
std::string FormatJson(const LoadReport& report);
// FormatHtml: one self-contained page (inline CSS and SVG, no script, no
// network): verdict, summary, throughput over time, latency histogram and
// percentiles, status codes, per-kind table. See html_report.cc.
std::string FormatHtml(const LoadReport& report);

// NameViolations turns a verdict's violations into reports naming accounts.
std::vector<ViolationReport> NameViolations(
    const Verdict& verdict, const std::vector<std::string>& account_ids);

}  // namespace bank::loadgen

#endif  // BANK_LOADGEN_REPORT_H_
