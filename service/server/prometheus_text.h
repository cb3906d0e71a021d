// PrometheusTextWriter: writes metrics in Prometheus's text exposition
// format, version 0.0.4 (the format every Prometheus server scrapes).
//
// The rules it keeps (tested in tests/server/prometheus_text_test.cc):
//   - metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names
//     [a-zA-Z_][a-zA-Z0-9_]* and never start with "__"; a bad name is our
//     bug, so it trips a check rather than becoming a status;
//   - each family is introduced once by "# HELP name text" (text escapes
//     '\' and newline) and "# TYPE name counter|gauge|histogram", and all of
//     its samples follow together;
//   - label values escape '\', '"' and newline as \\, \" and \n;
//   - values are Go-style floats: integers print exactly, +Inf, -Inf, NaN;
//   - a histogram is cumulative: name_bucket{le="b"} counts every
//     observation <= b, bounds ascend, the last bucket is le="+Inf" and
//     equals name_count; name_sum is the sum of the observations.
//
// Thread safety: a writer is used by one thread (one scrape) at a time.

#ifndef BANK_SERVICE_SERVER_PROMETHEUS_TEXT_H_
#define BANK_SERVICE_SERVER_PROMETHEUS_TEXT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "service/engine/engine_stats.h"

namespace bank {

// kPrometheusTextContentType: the HTTP Content-Type of the format.
inline constexpr char kPrometheusTextContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

// Labels: name="value" pairs, in the order they are written.
using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kCounter, kGauge, kHistogram };

class PrometheusTextWriter {
 public:
  // Family starts a metric family: its HELP and TYPE lines. Every sample
  // written until the next Family belongs to it.
  void Family(absl::string_view name, absl::string_view help, MetricType type);

  // Sample writes one line "name{labels} value" (no braces without labels).
  void Sample(absl::string_view name, const Labels& labels, double value);
  void Sample(absl::string_view name, const Labels& labels, uint64_t value);

  // Histogram writes the _bucket (cumulative, with le="+Inf"), _sum and
  // _count samples of `histogram` under `name` with `labels`.
  void Histogram(absl::string_view name, const Labels& labels,
                 const HistogramSnapshot& histogram);

  // text answers everything written so far.
  const std::string& text() const { return text_; }

 private:
  void Line(absl::string_view name, const Labels& labels,
            absl::string_view value);

  std::string text_;
};

// IsValidMetricName, IsValidLabelName: the format's naming rules.
bool IsValidMetricName(absl::string_view name);
bool IsValidLabelName(absl::string_view name);

// EscapeLabelValue escapes '\', '"' and newline for a label value.
std::string EscapeLabelValue(absl::string_view value);

// EscapeHelp escapes '\' and newline for a HELP text.
std::string EscapeHelp(absl::string_view help);

// FormatValue answers a sample value as the format writes it: "+Inf",
// "-Inf", "NaN", an exact integer for integral values below 2^53, and the
// shortest round-tripping decimal otherwise.
std::string FormatValue(double value);

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_PROMETHEUS_TEXT_H_
