#include "service/server/prometheus_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/engine/check.h"

namespace bank {
namespace {

// kExactIntegerMax: doubles below 2^53 hold every integer exactly, so they
// print without an exponent or a fraction.
constexpr double kExactIntegerMax = 9007199254740992.0;

bool IsNameChar(char c, bool first, bool colon_allowed) {
  if (absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_') {
    return true;
  }
  if (colon_allowed && c == ':') return true;
  return !first && absl::ascii_isdigit(static_cast<unsigned char>(c));
}

bool IsValidName(absl::string_view name, bool colon_allowed) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, colon_allowed)) return false;
  }
  return true;
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

bool IsValidMetricName(absl::string_view name) {
  return IsValidName(name, /*colon_allowed=*/true);
}

bool IsValidLabelName(absl::string_view name) {
  return IsValidName(name, /*colon_allowed=*/false) &&
         !absl::StartsWith(name, "__");
}

std::string EscapeLabelValue(absl::string_view value) {
  std::string escaped;
  escaped.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '"') {
      escaped += "\\\"";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

std::string EscapeHelp(absl::string_view help) {
  std::string escaped;
  escaped.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      escaped += "\\\\";
    } else if (c == '\n') {
      escaped += "\\n";
    } else {
      escaped += c;
    }
  }
  return escaped;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (std::trunc(value) == value && std::fabs(value) < kExactIntegerMax) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  // The shortest of %.15g..%.17g that reads back as the same double.
  char buffer[32];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", precision, value);
    if (std::strtod(buffer, nullptr) == value) break;
  }
  return buffer;
}

void PrometheusTextWriter::Family(absl::string_view name,
                                  absl::string_view help, MetricType type) {
  BANK_CHECK(IsValidMetricName(name));
  absl::StrAppend(&text_, "# HELP ", name, " ", EscapeHelp(help), "\n",
                  "# TYPE ", name, " ", TypeName(type), "\n");
}

void PrometheusTextWriter::Line(absl::string_view name, const Labels& labels,
                                absl::string_view value) {
  BANK_CHECK(IsValidMetricName(name));
  absl::StrAppend(&text_, name);
  if (!labels.empty()) {
    text_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      BANK_CHECK(IsValidLabelName(labels[i].first));
      absl::StrAppend(&text_, i == 0 ? "" : ",", labels[i].first, "=\"",
                      EscapeLabelValue(labels[i].second), "\"");
    }
    text_ += '}';
  }
  absl::StrAppend(&text_, " ", value, "\n");
}

void PrometheusTextWriter::Sample(absl::string_view name, const Labels& labels,
                                  double value) {
  Line(name, labels, FormatValue(value));
}

void PrometheusTextWriter::Sample(absl::string_view name, const Labels& labels,
                                  uint64_t value) {
  Line(name, labels, absl::StrCat(value));
}

void PrometheusTextWriter::Histogram(absl::string_view name,
                                     const Labels& labels,
                                     const HistogramSnapshot& histogram) {
  BANK_CHECK(histogram.bucket_counts.size() ==
             histogram.upper_bounds.size() + 1);
  const std::string bucket_name = absl::StrCat(name, "_bucket");
  Labels bucket_labels = labels;
  bucket_labels.emplace_back("le", "");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < histogram.upper_bounds.size(); ++i) {
    BANK_CHECK(i == 0 ||
               histogram.upper_bounds[i - 1] < histogram.upper_bounds[i]);
    cumulative += histogram.bucket_counts[i];
    bucket_labels.back().second = FormatValue(histogram.upper_bounds[i]);
    Sample(bucket_name, bucket_labels, cumulative);
  }
  cumulative += histogram.bucket_counts.back();
  bucket_labels.back().second = "+Inf";
  Sample(bucket_name, bucket_labels, cumulative);
  Sample(absl::StrCat(name, "_sum"), labels, histogram.sum);
  Sample(absl::StrCat(name, "_count"), labels, cumulative);
}

}  // namespace bank
