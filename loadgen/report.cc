#include "loadgen/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace bank::loadgen {
namespace {

constexpr int kBarWidthMax = 40;  // Characters of the longest histogram bar.

double Ms(double ns) { return ns / 1e6; }

std::string CodeName(size_t code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

const char* ViolationKindName(Violation::Kind kind) {
  switch (kind) {
    case Violation::Kind::kBalanceOutOfRange:
      return "balance_out_of_range";
    case Violation::Kind::kNegativeBalance:
      return "negative_balance";
    case Violation::Kind::kNegativeReply:
      return "negative_reply";
    case Violation::Kind::kTotalOutOfRange:
      return "total_out_of_range";
  }
  return "unknown";
}

std::string Range(int64_t min, int64_t max) {
  if (min == max) return absl::StrCat(min);
  return absl::StrCat("[", min, ", ", max, "]");
}

// JsonString quotes `text` for JSON (ids are UTF-8; control bytes escaped).
std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string JsonNumber(double value) {
  if (!std::isfinite(value)) return "0";
  return absl::StrFormat("%.6g", value);
}

std::string LatencyJson(const LatencySummary& l) {
  return absl::StrCat("{\"count\": ", l.count,
                      ", \"min\": ", JsonNumber(Ms(l.min_ns)),
                      ", \"mean\": ", JsonNumber(Ms(l.mean_ns)),
                      ", \"p50\": ", JsonNumber(Ms(l.p50_ns)),
                      ", \"p90\": ", JsonNumber(Ms(l.p90_ns)),
                      ", \"p99\": ", JsonNumber(Ms(l.p99_ns)),
                      ", \"p999\": ", JsonNumber(Ms(l.p999_ns)),
                      ", \"max\": ", JsonNumber(Ms(l.max_ns)), "}");
}

std::string StatusJson(const StatusCounts& counts) {
  std::string out = "{";
  for (size_t c = 0; c < kStatusCodeCount; ++c) {
    if (counts[c] == 0) continue;
    absl::StrAppend(&out, out.size() > 1 ? ", " : "", JsonString(CodeName(c)),
                    ": ", counts[c]);
  }
  return out + "}";
}

std::string ConfigJson(const LoadgenConfig& c) {
  return absl::StrCat(
      "{\"target\": ", JsonString(c.target),
      ", \"concurrency\": ", c.concurrency,
      ", \"connections\": ", c.connections, ", \"rps_target\": ", c.rps,
      ", \"total\": ", c.total,
      ", \"duration_s\": ", JsonNumber(absl::ToDoubleSeconds(c.duration)),
      ", \"warmup_s\": ", JsonNumber(absl::ToDoubleSeconds(c.warmup)),
      ", \"mix\": ", JsonString(FormatMix(c.mix)),
      ", \"amount_min\": ", c.amount.min, ", \"amount_max\": ", c.amount.max,
      ", \"accounts\": ", c.account_ids.size(),
      ", \"initial_balance\": ", c.initial_balance,
      ", \"use_existing\": ", c.use_existing ? "true" : "false",
      ", \"deadline_ms\": ", JsonNumber(absl::ToDoubleMilliseconds(c.deadline)),
      ", \"seed\": ", c.seed,
      ", \"account_prefix\": ", JsonString(c.account_prefix), "}");
}

std::string InvariantJson(const InvariantReport& v) {
  std::string violations = "[";
  for (const ViolationReport& item : v.violations) {
    absl::StrAppend(&violations, violations.size() > 1 ? ", " : "",
                    "{\"kind\": ", JsonString(item.kind),
                    ", \"account\": ", JsonString(item.account_id),
                    ", \"expected_min\": ", item.expected_min,
                    ", \"expected_max\": ", item.expected_max,
                    ", \"actual\": ", item.actual, "}");
  }
  return absl::StrCat(
      "{\"verdict\": ", JsonString(VerdictName(v)),
      ", \"inconclusive_reason\": ", JsonString(v.inconclusive_reason),
      ", \"stopped_reason\": ", JsonString(v.stopped_reason),
      ", \"balances_read\": ", v.balances_read ? "true" : "false",
      ", \"indeterminate_share\": ", JsonNumber(v.indeterminate_share),
      ", \"indeterminate_max\": ", JsonNumber(v.indeterminate_max),
      ", \"retried_operations\": ", v.retried_operations,
      ", \"retries_max\": ", v.retries_max, ", \"accounts\": ", v.accounts,
      ", \"applied\": ", v.outcomes.applied,
      ", \"not_applied\": ", v.outcomes.not_applied,
      ", \"indeterminate\": ", v.outcomes.indeterminate,
      ", \"total_expected_min\": ", v.total_expected_min,
      ", \"total_expected_max\": ", v.total_expected_max,
      ", \"total_actual\": ", v.total_actual,
      ", \"negative_replies\": ", v.negative_replies,
      ", \"settle_reads\": ", v.settle_reads, ", \"violations\": ", violations,
      "]}");
}

std::string HistogramText(const LatencySummary& latency) {
  uint64_t widest = 1;
  for (const LatencyHistogram::Bar& bar : latency.bars) {
    widest = std::max(widest, bar.count);
  }
  std::string out = "Response time histogram:\n";
  for (const LatencyHistogram::Bar& bar : latency.bars) {
    const int width = static_cast<int>(bar.count * kBarWidthMax / widest);
    std::string marks;
    for (int i = 0; i < width; ++i) marks += "\xe2\x88\x8e";  // U+220E, ∎.
    absl::StrAppendFormat(&out, "  %10.3f [%d]\t|%s\n", Ms(bar.mark_ns),
                          bar.count, marks);
  }
  return out;
}

std::string SummaryText(const LoadReport& r) {
  const LoadgenConfig& c = r.config;
  std::string out = "Summary:\n";
  absl::StrAppendFormat(&out, "  Target:\t%s\n", c.target);
  absl::StrAppendFormat(
      &out, "  Load:\t\tconcurrency %d, connections %d, rps %s, mix %s,\n",
      c.concurrency, c.connections,
      c.rps == 0 ? "unlimited" : absl::StrCat(c.rps), FormatMix(c.mix));
  absl::StrAppendFormat(
      &out, "  \t\tamount %d-%d, %d accounts, deadline %s, seed %d\n",
      c.amount.min, c.amount.max, c.account_ids.size(),
      absl::FormatDuration(c.deadline), c.seed);
  if (r.batch > 0) {
    absl::StrAppendFormat(
        &out, "  Count:\t%d operations in %d RPCs of %d (plus %d warmup)\n",
        r.count, r.rpc_count, r.batch, r.warmup_count);
  } else {
    absl::StrAppendFormat(&out, "  Count:\t%d (plus %d warmup)\n", r.count,
                          r.warmup_count);
  }
  absl::StrAppendFormat(&out, "  Total:\t%.2f s\n", r.duration_s);
  absl::StrAppendFormat(&out, "  Slowest:\t%.3f ms\n", Ms(r.latency.max_ns));
  absl::StrAppendFormat(&out, "  Fastest:\t%.3f ms\n", Ms(r.latency.min_ns));
  absl::StrAppendFormat(&out, "  Average:\t%.3f ms\n", Ms(r.latency.mean_ns));
  if (r.batch > 0) {
    absl::StrAppendFormat(&out, "  Requests/sec:\t%.2f\n", r.rpcs_per_s);
    absl::StrAppendFormat(&out, "  Operations/sec:\t%.2f\n", r.rps);
  } else {
    absl::StrAppendFormat(&out, "  Requests/sec:\t%.2f\n", r.rps);
  }
  return out;
}

std::string DistributionText(const LoadReport& r) {
  const LatencySummary& l = r.latency;
  std::string out = "Latency distribution:\n";
  absl::StrAppendFormat(&out, "  p50 in %.3f ms\n  p90 in %.3f ms\n",
                        Ms(l.p50_ns), Ms(l.p90_ns));
  absl::StrAppendFormat(&out, "  p99 in %.3f ms\n  p99.9 in %.3f ms\n",
                        Ms(l.p99_ns), Ms(l.p999_ns));
  out += "\nStatus code distribution:\n";
  for (size_t c = 0; c < kStatusCodeCount; ++c) {
    if (r.status_counts[c] == 0) continue;
    // With --batch each operation counts with its own status.
    absl::StrAppendFormat(
        &out, "  %-22s %d %s\n", absl::StrCat("[", CodeName(c), "]"),
        r.status_counts[c], r.batch > 0 ? "operations" : "responses");
  }
  return out;
}

std::string KindsText(const LoadReport& r) {
  std::string out = r.batch > 0 ? "Per operation kind (rps: operations/s):\n"
                                : "Per RPC kind:\n";
  absl::StrAppendFormat(&out, "  %-9s %10s %10s %10s %10s %10s %8s\n", "kind",
                        "count", "rps", "mean ms", "p50 ms", "p99 ms",
                        "errors");
  for (const KindReport& k : r.kinds) {
    absl::StrAppendFormat(&out, "  %-9s %10d %10.1f %10.3f %10.3f %10.3f %8d\n",
                          RpcKindName(k.kind), k.count, k.rps,
                          Ms(k.latency.mean_ns), Ms(k.latency.p50_ns),
                          Ms(k.latency.p99_ns), k.errors);
  }
  return out;
}

}  // namespace

LatencySummary Summarize(const LatencyHistogram& histogram) {
  LatencySummary s;
  s.count = histogram.Count();
  s.min_ns = histogram.MinNs();
  s.mean_ns = histogram.MeanNs();
  s.p50_ns = histogram.ValueAtPercentileNs(50);
  s.p90_ns = histogram.ValueAtPercentileNs(90);
  s.p99_ns = histogram.ValueAtPercentileNs(99);
  s.p999_ns = histogram.ValueAtPercentileNs(99.9);
  s.max_ns = histogram.MaxNs();
  s.bars = histogram.LinearBars(kHistogramBarCount);
  return s;
}

std::vector<ViolationReport> NameViolations(
    const Verdict& verdict, const std::vector<std::string>& account_ids) {
  std::vector<ViolationReport> out;
  for (const Violation& v : verdict.violations) {
    const bool total = v.kind == Violation::Kind::kTotalOutOfRange;
    out.push_back(ViolationReport{ViolationKindName(v.kind),
                                  total ? "" : account_ids[v.account],
                                  v.expected_min, v.expected_max, v.actual});
  }
  return out;
}

LoadReport BuildReport(const LoadgenConfig& config, const LoadTiming& timing,
                       const RunStats& stats, const Ledger& ledger,
                       const Verdict& verdict, int settle_reads) {
  LoadReport r;
  r.config = config;
  r.warmup_count = timing.warmup_operations;
  r.timeline = timing.timeline;
  r.batch = config.batch;
  r.rpc_count = timing.measured_rpcs;
  r.duration_s = absl::ToDoubleSeconds(timing.measured);
  LatencyHistogram all;
  for (size_t k = 0; k < kRpcKindCount; ++k) {
    const RpcKind kind = static_cast<RpcKind>(k);
    if (config.mix.weight(kind) == 0) continue;
    LatencyHistogram histogram;
    stats.MergeLatency(kind, histogram);
    all.MergeFrom(histogram);
    KindReport kr;
    kr.kind = kind;
    kr.latency = Summarize(histogram);
    kr.count = kr.latency.count;
    kr.status_counts = stats.MergedStatusCounts(kind);
    kr.errors = kr.count - kr.status_counts[0];
    kr.rps =
        r.duration_s > 0 ? static_cast<double>(kr.count) / r.duration_s : 0;
    for (size_t c = 0; c < kStatusCodeCount; ++c) {
      r.status_counts[c] += kr.status_counts[c];
    }
    r.errors += kr.errors;
    r.kinds.push_back(kr);
  }
  r.latency = Summarize(all);
  r.count = r.latency.count;
  r.rps = r.duration_s > 0 ? static_cast<double>(r.count) / r.duration_s : 0;
  r.rpcs_per_s =
      r.duration_s > 0 ? static_cast<double>(r.rpc_count) / r.duration_s : 0;
  r.cpu_user_s = absl::ToDoubleSeconds(timing.cpu_user);
  r.cpu_system_s = absl::ToDoubleSeconds(timing.cpu_system);
  const uint64_t rpcs = timing.measured_rpcs + timing.warmup_rpcs;
  r.cpu_us_per_rpc =
      rpcs > 0 ? (r.cpu_user_s + r.cpu_system_s) * 1e6 / rpcs : 0;
  const uint64_t operations =
      timing.measured_operations + timing.warmup_operations;
  r.cpu_us_per_operation =
      operations > 0 ? (r.cpu_user_s + r.cpu_system_s) * 1e6 / operations : 0;
  InvariantReport& inv = r.invariant;
  inv.pass = verdict.pass;
  inv.accounts = ledger.account_count();
  inv.outcomes = ledger.Counts();
  inv.total_expected_min = verdict.total_expected_min;
  inv.total_expected_max = verdict.total_expected_max;
  inv.total_actual = verdict.total_actual;
  inv.negative_replies = verdict.negative_replies;
  inv.settle_reads = settle_reads;
  inv.retried_operations = timing.retried_operations;
  inv.retries_max = timing.retries_max;
  inv.indeterminate_max = config.indeterminate_max;
  inv.stopped_reason = timing.stopped_reason;
  inv.violations = NameViolations(verdict, config.account_ids);
  return r;
}

std::string FormatInvariantJson(const InvariantReport& invariant) {
  return InvariantJson(invariant);
}

std::string JsonQuote(const std::string& text) { return JsonString(text); }

const char* VerdictName(const InvariantReport& invariant) {
  if (!invariant.pass) return "FAIL";
  return invariant.inconclusive ? "INCONCLUSIVE" : "PASS";
}

void DecideVerdict(const std::string& balances_error,
                   InvariantReport& invariant) {
  const OutcomeCounts& o = invariant.outcomes;
  const uint64_t all = o.applied + o.not_applied + o.indeterminate;
  invariant.indeterminate_share =
      all == 0 ? 0 : static_cast<double>(o.indeterminate) / all;
  if (!balances_error.empty()) {
    invariant.balances_read = false;
    invariant.inconclusive = true;
    invariant.inconclusive_reason = balances_error;
  } else if (invariant.indeterminate_share > invariant.indeterminate_max) {
    invariant.inconclusive = true;
    invariant.inconclusive_reason = absl::StrFormat(
        "%.2f%% of operations ended indeterminate (limit %.2f%%, "
        "--indeterminate_max): the ranges may hide lost or doubled updates",
        100 * invariant.indeterminate_share, 100 * invariant.indeterminate_max);
  }
}

std::string FormatInvariant(const InvariantReport& v) {
  std::string out = absl::StrFormat(
      "Invariant: %s (%d account%s; %d applied, %d not applied, %d "
      "indeterminate)\n",
      VerdictName(v), v.accounts, v.accounts == 1 ? "" : "s",
      v.outcomes.applied, v.outcomes.not_applied, v.outcomes.indeterminate);
  if (!v.stopped_reason.empty()) {
    absl::StrAppendFormat(&out, "  stopped early: %s\n", v.stopped_reason);
  }
  if (v.inconclusive) {
    absl::StrAppendFormat(&out, "  inconclusive: %s\n", v.inconclusive_reason);
  }
  absl::StrAppendFormat(&out,
                        "  indeterminate share %.2f%% (limit %.2f%%); %d "
                        "operations retried, at most %d retries each\n",
                        100 * v.indeterminate_share, 100 * v.indeterminate_max,
                        v.retried_operations, v.retries_max);
  if (v.balances_read) {
    absl::StrAppendFormat(&out, "  total %d, expected %s\n", v.total_actual,
                          Range(v.total_expected_min, v.total_expected_max));
  }
  for (const ViolationReport& item : v.violations) {
    if (item.kind == "total_out_of_range") {
      absl::StrAppendFormat(&out, "  total: expected %s, actual %d\n",
                            Range(item.expected_min, item.expected_max),
                            item.actual);
    } else if (item.kind == "balance_out_of_range") {
      absl::StrAppendFormat(
          &out, "  account %s: expected %s, actual %d\n", item.account_id,
          Range(item.expected_min, item.expected_max), item.actual);
    } else {
      absl::StrAppendFormat(&out, "  account %s: %s %d\n", item.account_id,
                            item.kind, item.actual);
    }
  }
  if (v.negative_replies > 0) {
    absl::StrAppendFormat(&out, "  %d replies carried a negative balance\n",
                          v.negative_replies);
  }
  return out;
}

std::string FormatText(const LoadReport& r) {
  std::string out = SummaryText(r);
  out += "\n" + HistogramText(r.latency);
  out += "\n" + DistributionText(r);
  out += "\n" + KindsText(r);
  absl::StrAppendFormat(
      &out,
      "\nLoad generator CPU: %.1f us per RPC (user %.2f s, system %.2f s)\n",
      r.cpu_us_per_rpc, r.cpu_user_s, r.cpu_system_s);
  out += "\n" + FormatInvariant(r.invariant);
  return out;
}

std::string FormatJson(const LoadReport& r) {
  std::string histogram = "[";
  for (const LatencyHistogram::Bar& bar : r.latency.bars) {
    absl::StrAppend(&histogram, histogram.size() > 1 ? ", " : "",
                    "{\"mark_ms\": ", JsonNumber(Ms(bar.mark_ns)),
                    ", \"count\": ", bar.count, "}");
  }
  std::string kinds = "{";
  for (const KindReport& k : r.kinds) {
    absl::StrAppend(&kinds, kinds.size() > 1 ? ", " : "",
                    JsonString(RpcKindName(k.kind)), ": {\"count\": ", k.count,
                    ", \"errors\": ", k.errors,
                    ", \"rps\": ", JsonNumber(k.rps),
                    ", \"latency_ms\": ", LatencyJson(k.latency),
                    ", \"status_codes\": ", StatusJson(k.status_counts), "}");
  }
  return absl::StrCat(
      "{\"schema\": \"bank_loadgen.report.v1\", \"config\": ",
      ConfigJson(r.config), ", \"summary\": {\"count\": ", r.count,
      ", \"warmup_count\": ", r.warmup_count, ", \"errors\": ", r.errors,
      ", \"duration_s\": ", JsonNumber(r.duration_s),
      ", \"rps\": ", JsonNumber(r.rps), ", \"batch\": ", r.batch,
      ", \"rpcs\": ", r.rpc_count,
      ", \"rpcs_per_s\": ", JsonNumber(r.rpcs_per_s),
      "}, \"latency_ms\": ", LatencyJson(r.latency),
      ", \"histogram\": ", histogram,
      "], \"status_codes\": ", StatusJson(r.status_counts),
      ", \"kinds\": ", kinds,
      "}, \"cpu\": {\"user_s\": ", JsonNumber(r.cpu_user_s),
      ", \"system_s\": ", JsonNumber(r.cpu_system_s),
      ", \"us_per_rpc\": ", JsonNumber(r.cpu_us_per_rpc),
      ", \"us_per_operation\": ", JsonNumber(r.cpu_us_per_operation),
      "}, \"invariant\": ", InvariantJson(r.invariant), "}\n");
}

}  // namespace bank::loadgen
