// FormatHtml: the load report as one self-contained HTML page.
//
// Everything is inline (CSS in <style>, charts as <svg>): no script, no
// font, no image or stylesheet from the network, so the page renders the
// same offline, in a CI artifact, or attached to an issue. It shows what
// ghz's HTML report shows (summary, latency histogram and percentiles,
// status code distribution) plus throughput over time, the per-kind table
// and the money invariant's verdict.

#include <algorithm>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "loadgen/report.h"

namespace bank::loadgen {
namespace {

// Chart geometry, in SVG user units (pixels at 100% zoom).
constexpr int kChartWidth = 720;
constexpr int kChartHeight = 260;
constexpr int kMarginLeft = 80;
constexpr int kMarginBottom = 40;
constexpr int kMarginTop = 16;
constexpr int kMarginRight = 16;

std::string Escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

double Ms(double ns) { return ns / 1e6; }

std::string Row(const std::string& name, const std::string& value) {
  return absl::StrCat("<tr><th>", Escape(name), "</th><td>", Escape(value),
                      "</td></tr>\n");
}

// Axes: a frame with `y_max` labelled at the top and 0 at the bottom.
std::string Axes(double y_max, const std::string& y_label,
                 const std::string& x_left, const std::string& x_right,
                 const std::string& x_label) {
  const int plot_bottom = kChartHeight - kMarginBottom;
  return absl::StrFormat(
      "<line x1='%d' y1='%d' x2='%d' y2='%d' class='axis'/>"
      "<line x1='%d' y1='%d' x2='%d' y2='%d' class='axis'/>"
      "<text x='%d' y='%d' text-anchor='end'>%s</text>"
      "<text x='%d' y='%d' text-anchor='end'>0</text>"
      "<text x='%d' y='%d' text-anchor='start'>%s</text>"
      "<text x='%d' y='%d' text-anchor='end'>%s</text>"
      "<text x='%d' y='%d' text-anchor='middle'>%s</text>"
      "<text x='12' y='%d' transform='rotate(-90 12 %d)' "
      "text-anchor='middle'>%s</text>\n",
      kMarginLeft, kMarginTop, kMarginLeft, plot_bottom, kMarginLeft,
      plot_bottom, kChartWidth - kMarginRight, plot_bottom, kMarginLeft - 6,
      kMarginTop + 10, absl::StrFormat("%.4g", y_max), kMarginLeft - 6,
      plot_bottom, kMarginLeft, plot_bottom + 16, Escape(x_left),
      kChartWidth - kMarginRight, plot_bottom + 16, Escape(x_right),
      (kMarginLeft + kChartWidth - kMarginRight) / 2, plot_bottom + 32,
      Escape(x_label), (kMarginTop + plot_bottom) / 2,
      (kMarginTop + plot_bottom) / 2, Escape(y_label));
}

std::string ThroughputChart(const LoadReport& r) {
  const bool batch = r.batch > 0;
  double y_max = 1;
  double x_max = 1e-9;
  for (const ThroughputSample& s : r.timeline) {
    y_max = std::max(y_max, batch ? s.operations_per_s : s.rpcs_per_s);
    x_max = std::max(x_max, s.elapsed_s);
  }
  const double plot_width = kChartWidth - kMarginLeft - kMarginRight;
  const double plot_height = kChartHeight - kMarginTop - kMarginBottom;
  std::string points;
  for (const ThroughputSample& s : r.timeline) {
    const double y = batch ? s.operations_per_s : s.rpcs_per_s;
    absl::StrAppendFormat(&points, "%.1f,%.1f ",
                          kMarginLeft + plot_width * s.elapsed_s / x_max,
                          kMarginTop + plot_height * (1 - y / y_max));
  }
  return absl::StrCat("<svg class='chart' width='", kChartWidth, "' height='",
                      kChartHeight, "' viewBox='0 0 ", kChartWidth, " ",
                      kChartHeight,
                      "' role='img' aria-label='throughput over time'>",
                      Axes(y_max, batch ? "operations/s" : "RPCs/s", "0 s",
                           absl::StrFormat("%.1f s", x_max),
                           "time since start (warmup included)"),
                      "<polyline class='line' points='", points, "'/></svg>\n");
}

std::string HistogramChart(const LoadReport& r) {
  const auto& bars = r.latency.bars;
  uint64_t count_max = 1;
  for (const auto& bar : bars) count_max = std::max(count_max, bar.count);
  const double plot_width = kChartWidth - kMarginLeft - kMarginRight;
  const double plot_height = kChartHeight - kMarginTop - kMarginBottom;
  const double slot = bars.empty() ? plot_width : plot_width / bars.size();
  std::string rects;
  for (size_t i = 0; i < bars.size(); ++i) {
    const double height = plot_height * bars[i].count / count_max;
    absl::StrAppendFormat(
        &rects,
        "<rect class='bar' x='%.1f' y='%.1f' width='%.1f' height='%.1f'>"
        "<title>%.3f ms: %d</title></rect>"
        "<text x='%.1f' y='%d' text-anchor='middle' class='small'>%.3g</text>",
        kMarginLeft + slot * i + 2, kMarginTop + plot_height - height,
        std::max(1.0, slot - 4), height, Ms(bars[i].mark_ns), bars[i].count,
        kMarginLeft + slot * (i + 0.5), kChartHeight - kMarginBottom + 14,
        Ms(bars[i].mark_ns));
  }
  return absl::StrCat("<svg class='chart' width='", kChartWidth, "' height='",
                      kChartHeight, "' viewBox='0 0 ", kChartWidth, " ",
                      kChartHeight,
                      "' role='img' aria-label='latency histogram'>",
                      Axes(static_cast<double>(count_max),
                           r.batch > 0 ? "operations" : "responses", "", "",
                           "latency (ms), per RPC"),
                      rects, "</svg>\n");
}

std::string SummaryTable(const LoadReport& r) {
  const LoadgenConfig& c = r.config;
  std::string rows;
  rows += Row("Target", c.target);
  rows +=
      Row("Load", absl::StrCat("concurrency ", c.concurrency, ", connections ",
                               c.connections, ", mix ", FormatMix(c.mix), ", ",
                               c.account_ids.size(), " accounts"));
  if (r.batch > 0) {
    rows += Row("Count", absl::StrCat(r.count, " operations in ", r.rpc_count,
                                      " RPCs of ", r.batch));
    rows += Row("RPCs/s", absl::StrFormat("%.2f", r.rpcs_per_s));
    rows += Row("Operations/s", absl::StrFormat("%.2f", r.rps));
  } else {
    rows += Row("Count", absl::StrCat(r.count, " RPCs"));
    rows += Row("RPCs/s", absl::StrFormat("%.2f", r.rps));
  }
  rows += Row("Warmup", absl::StrCat(r.warmup_count));
  rows += Row("Duration", absl::StrFormat("%.2f s", r.duration_s));
  rows += Row("Errors", absl::StrCat(r.errors));
  rows +=
      Row("Loadgen CPU", absl::StrFormat("%.2f us per RPC", r.cpu_us_per_rpc));
  return absl::StrCat("<table>\n", rows, "</table>\n");
}

std::string LatencyTable(const LatencySummary& l) {
  std::string rows;
  const std::pair<const char*, double> cells[] = {
      {"fastest", static_cast<double>(l.min_ns)},
      {"mean", l.mean_ns},
      {"p50", static_cast<double>(l.p50_ns)},
      {"p90", static_cast<double>(l.p90_ns)},
      {"p99", static_cast<double>(l.p99_ns)},
      {"p99.9", static_cast<double>(l.p999_ns)},
      {"slowest", static_cast<double>(l.max_ns)}};
  for (const auto& [name, ns] : cells) {
    rows += Row(name, absl::StrFormat("%.3f ms", Ms(ns)));
  }
  return absl::StrCat("<table>\n", rows, "</table>\n");
}

std::string StatusTable(const LoadReport& r) {
  std::string rows;
  for (size_t c = 0; c < kStatusCodeCount; ++c) {
    if (r.status_counts[c] == 0) continue;
    rows += Row(absl::StatusCodeToString(static_cast<absl::StatusCode>(c)),
                absl::StrCat(r.status_counts[c]));
  }
  return absl::StrCat("<table>\n", rows, "</table>\n");
}

std::string KindsTable(const LoadReport& r) {
  std::string out =
      "<table><tr><th>kind</th><th>count</th><th>per second</th>"
      "<th>mean ms</th><th>p50 ms</th><th>p99 ms</th><th>errors</th></tr>\n";
  for (const KindReport& k : r.kinds) {
    absl::StrAppendFormat(
        &out,
        "<tr><td>%s</td><td>%d</td><td>%.1f</td><td>%.3f</td><td>%.3f</td>"
        "<td>%.3f</td><td>%d</td></tr>\n",
        RpcKindName(k.kind), k.count, k.rps, Ms(k.latency.mean_ns),
        Ms(k.latency.p50_ns), Ms(k.latency.p99_ns), k.errors);
  }
  return out + "</table>\n";
}

constexpr char kStyle[] =
    "body{font-family:sans-serif;margin:24px;color:#222;background:#fff}"
    "h1{font-size:22px}h2{font-size:17px;margin-top:28px}"
    "table{border-collapse:collapse;margin:8px 0}"
    "th,td{border:1px solid #ccc;padding:4px 10px;text-align:left}"
    "th{background:#f3f3f3}"
    ".verdict{font-size:20px;font-weight:bold;padding:10px 16px;"
    "display:inline-block;border-radius:4px;color:#fff}"
    ".pass{background:#2e7d32}.fail{background:#c62828}"
    ".chart text{font-size:12px;fill:#333}.chart .small{font-size:10px}"
    ".axis{stroke:#555;stroke-width:1}"
    ".line{fill:none;stroke:#1565c0;stroke-width:2}"
    ".bar{fill:#1565c0}pre{background:#f7f7f7;padding:8px}";

}  // namespace

std::string FormatHtml(const LoadReport& r) {
  const bool pass = r.invariant.pass && !r.invariant.inconclusive;
  return absl::StrCat(
      "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
      "<title>bank_loadgen report</title><style>",
      kStyle, "</style></head><body>\n<h1>bank_loadgen report</h1>\n",
      "<div class='verdict ", pass ? "pass" : "fail",
      "'>Invariant: ", VerdictName(r.invariant), "</div>\n<pre>",
      Escape(FormatInvariant(r.invariant)), "</pre>\n<h2>Summary</h2>\n",
      SummaryTable(r), "<h2>Throughput over time</h2>\n", ThroughputChart(r),
      "<h2>Latency histogram</h2>\n", HistogramChart(r),
      "<h2>Latency percentiles (per RPC)</h2>\n", LatencyTable(r.latency),
      "<h2>Status code distribution</h2>\n", StatusTable(r),
      r.batch > 0 ? "<h2>Per operation kind</h2>\n" : "<h2>Per RPC kind</h2>\n",
      KindsTable(r), "</body></html>\n");
}

}  // namespace bank::loadgen
