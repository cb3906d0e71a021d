// Goal: PrometheusTextWriter writes what Prometheus's text format (0.0.4)
// requires: valid names, one HELP and TYPE line per family, escaped HELP
// texts and label values, Go-style values, and histograms whose buckets are
// cumulative, ascend, end in le="+Inf" equal to _count, with _sum.
// Method: write small families and compare the exact text; check the
// naming rules and escapes one by one.

#include "service/server/prometheus_text.h"

#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace bank {
namespace {

TEST(PrometheusTextTest, MetricNamesFollowTheFormat) {
  EXPECT_TRUE(IsValidMetricName("bank_rpcs_total"));
  EXPECT_TRUE(IsValidMetricName("_x"));
  EXPECT_TRUE(IsValidMetricName("a:b_c9"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("9lives"));
  EXPECT_FALSE(IsValidMetricName("bank-rpcs"));
  EXPECT_FALSE(IsValidMetricName("bank rpcs"));
  EXPECT_FALSE(IsValidMetricName("bänk"));
}

TEST(PrometheusTextTest, LabelNamesFollowTheFormat) {
  EXPECT_TRUE(IsValidLabelName("method"));
  EXPECT_TRUE(IsValidLabelName("_private"));
  EXPECT_TRUE(IsValidLabelName("le"));
  EXPECT_FALSE(IsValidLabelName("__reserved"));
  EXPECT_FALSE(IsValidLabelName("a:b"));  // Colons are for metric names.
  EXPECT_FALSE(IsValidLabelName("1a"));
  EXPECT_FALSE(IsValidLabelName(""));
}

TEST(PrometheusTextTest, LabelValuesEscapeBackslashQuoteAndNewline) {
  EXPECT_EQ(EscapeLabelValue("plain 马伊琍"), "plain 马伊琍");
  EXPECT_EQ(EscapeLabelValue("a\\b"), "a\\\\b");
  EXPECT_EQ(EscapeLabelValue("say \"hi\""), "say \\\"hi\\\"");
  EXPECT_EQ(EscapeLabelValue("two\nlines"), "two\\nlines");
}

TEST(PrometheusTextTest, HelpEscapesBackslashAndNewlineButNotQuotes) {
  EXPECT_EQ(EscapeHelp("a \"quoted\" \\ help\nline"),
            "a \"quoted\" \\\\ help\\nline");
}

TEST(PrometheusTextTest, ValuesAreGoStyleFloats) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(42), "42");
  EXPECT_EQ(FormatValue(-3), "-3");
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(2.5e-05), "2.5e-05");
  EXPECT_EQ(FormatValue(0.1), "0.1");  // Shortest round-tripping form.
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::quiet_NaN()), "NaN");
  // Integers beyond 2^53 are not exact as doubles: printed as floats.
  EXPECT_EQ(FormatValue(1e20), "1e+20");
}

TEST(PrometheusTextTest, FamilyWritesHelpAndTypeThenSamples) {
  PrometheusTextWriter out;
  out.Family("bank_rpcs_total", "RPCs.\nBy method.", MetricType::kCounter);
  out.Sample("bank_rpcs_total", {{"method", "Withdraw"}, {"code", "OK"}},
             uint64_t{7});
  out.Sample("bank_rpcs_total", {{"method", "a\"b"}, {"code", "OK"}},
             uint64_t{18446744073709551615u});
  out.Family("bank_rpcs_in_flight", "In flight.", MetricType::kGauge);
  out.Sample("bank_rpcs_in_flight", {}, 3.0);
  EXPECT_EQ(out.text(),
            "# HELP bank_rpcs_total RPCs.\\nBy method.\n"
            "# TYPE bank_rpcs_total counter\n"
            "bank_rpcs_total{method=\"Withdraw\",code=\"OK\"} 7\n"
            "bank_rpcs_total{method=\"a\\\"b\",code=\"OK\"} "
            "18446744073709551615\n"
            "# HELP bank_rpcs_in_flight In flight.\n"
            "# TYPE bank_rpcs_in_flight gauge\n"
            "bank_rpcs_in_flight 3\n");
}

TEST(PrometheusTextTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  HistogramSnapshot histogram;
  histogram.upper_bounds = {0.001, 0.01, 1};
  histogram.bucket_counts = {2, 0, 3, 1};  // Not cumulative; last is > 1.
  histogram.sum = 4.75;
  PrometheusTextWriter out;
  out.Family("x_seconds", "X.", MetricType::kHistogram);
  out.Histogram("x_seconds", {{"method", "Deposit"}}, histogram);
  EXPECT_EQ(out.text(),
            "# HELP x_seconds X.\n"
            "# TYPE x_seconds histogram\n"
            "x_seconds_bucket{method=\"Deposit\",le=\"0.001\"} 2\n"
            "x_seconds_bucket{method=\"Deposit\",le=\"0.01\"} 2\n"
            "x_seconds_bucket{method=\"Deposit\",le=\"1\"} 5\n"
            "x_seconds_bucket{method=\"Deposit\",le=\"+Inf\"} 6\n"
            "x_seconds_sum{method=\"Deposit\"} 4.75\n"
            "x_seconds_count{method=\"Deposit\"} 6\n");
  EXPECT_EQ(histogram.Count(), 6u);
}

TEST(PrometheusTextTest, HistogramWithoutLabelsAndObservations) {
  HistogramSnapshot histogram;
  histogram.upper_bounds = {1};
  histogram.bucket_counts = {0, 0};
  PrometheusTextWriter out;
  out.Histogram("batch_size", {}, histogram);
  EXPECT_EQ(out.text(),
            "batch_size_bucket{le=\"1\"} 0\n"
            "batch_size_bucket{le=\"+Inf\"} 0\n"
            "batch_size_sum 0\n"
            "batch_size_count 0\n");
}

TEST(PrometheusTextDeathTest, InvalidNamesAreOurBug) {
  PrometheusTextWriter out;
  EXPECT_DEATH(out.Family("bad-name", "x", MetricType::kGauge), "");
  EXPECT_DEATH(out.Sample("ok", {{"__bad", "v"}}, uint64_t{1}), "");
}

}  // namespace
}  // namespace bank
