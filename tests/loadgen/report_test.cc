// Goal: the text and JSON reports carry the documented fields with the
// values of the run, and the JSON is valid.
// Method: a report built from hand-recorded statistics and a ledger; the
// JSON is parsed with protobuf's JSON parser into a google.protobuf.Struct
// and its fields are checked one by one.

#include "loadgen/report.h"

#include <string>

#include "absl/strings/match.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace bank::loadgen {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

const Value& Field(const Struct& object, const std::string& name) {
  static const Value kMissing;
  auto it = object.fields().find(name);
  EXPECT_NE(it, object.fields().end()) << "missing field " << name;
  return it == object.fields().end() ? kMissing : it->second;
}

class ReportTest : public ::testing::Test {
 protected:
  ReportTest() {
    FlagValues flags;
    flags.accounts = 2;
    flags.total = 4;
    flags.account_prefix = "t";
    config_ = *MakeConfig(flags);
    stats_.Record(RpcKind::kWithdraw, 0, 1'000'000);
    stats_.Record(RpcKind::kWithdraw, 9, 3'000'000);  // FAILED_PRECONDITION
    stats_.Record(RpcKind::kDeposit, 0, 2'000'000);
    stats_.Record(RpcKind::kTransfer, 4, 9'000'000);  // DEADLINE_EXCEEDED
    timing_.measured = absl::Seconds(2);
    timing_.measured_rpcs = 4;
    timing_.cpu_user = absl::Milliseconds(3);
    timing_.cpu_system = absl::Milliseconds(1);
  }

  LoadgenConfig config_;
  RunStats stats_;
  LoadTiming timing_;
};

TEST_F(ReportTest, JsonParsesAndHoldsTheDocumentedFields) {
  Ledger ledger({100, 100});
  ledger.RecordWithdraw(0, 10, Outcome::kApplied);
  ledger.RecordWithdraw(0, 500, Outcome::kNotApplied);
  ledger.RecordDeposit(1, 5, Outcome::kApplied);
  ledger.RecordTransfer(0, 1, 7, Outcome::kIndeterminate);
  const Verdict verdict = ledger.Check({90, 105});
  ASSERT_TRUE(verdict.pass);
  const LoadReport report =
      BuildReport(config_, timing_, stats_, ledger, verdict, 2);

  Struct json;
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(FormatJson(report), &json);
  ASSERT_TRUE(parsed.ok()) << parsed.ToString() << "\n" << FormatJson(report);
  EXPECT_EQ(Field(json, "schema").string_value(), "bank_loadgen.report.v1");
  const Struct& config = Field(json, "config").struct_value();
  EXPECT_EQ(Field(config, "accounts").number_value(), 2);
  EXPECT_EQ(Field(config, "account_prefix").string_value(), "t");
  const Struct& summary = Field(json, "summary").struct_value();
  EXPECT_EQ(Field(summary, "count").number_value(), 4);
  EXPECT_EQ(Field(summary, "errors").number_value(), 2);
  EXPECT_EQ(Field(summary, "rps").number_value(), 2);
  const Struct& latency = Field(json, "latency_ms").struct_value();
  EXPECT_NEAR(Field(latency, "min").number_value(), 1, 1e-9);
  EXPECT_NEAR(Field(latency, "max").number_value(), 9, 1e-9);
  EXPECT_NEAR(Field(latency, "mean").number_value(), 3.75, 1e-9);
  EXPECT_GT(Field(latency, "p99").number_value(), 8.8);
  EXPECT_EQ(Field(json, "histogram").list_value().values_size(),
            kHistogramBarCount);
  const Struct& codes = Field(json, "status_codes").struct_value();
  EXPECT_EQ(Field(codes, "OK").number_value(), 2);
  EXPECT_EQ(Field(codes, "FAILED_PRECONDITION").number_value(), 1);
  EXPECT_EQ(Field(codes, "DEADLINE_EXCEEDED").number_value(), 1);
  const Struct& kinds = Field(json, "kinds").struct_value();
  const Struct& withdraw = Field(kinds, "withdraw").struct_value();
  EXPECT_EQ(Field(withdraw, "count").number_value(), 2);
  EXPECT_EQ(Field(withdraw, "errors").number_value(), 1);
  EXPECT_EQ(
      Field(Field(json, "cpu").struct_value(), "us_per_rpc").number_value(),
      1000);
  const Struct& invariant = Field(json, "invariant").struct_value();
  EXPECT_EQ(Field(invariant, "verdict").string_value(), "PASS");
  EXPECT_EQ(Field(invariant, "indeterminate").number_value(), 1);
  EXPECT_EQ(Field(invariant, "not_applied").number_value(), 1);
  EXPECT_EQ(Field(invariant, "total_actual").number_value(), 195);
  EXPECT_EQ(Field(invariant, "settle_reads").number_value(), 2);
  EXPECT_EQ(Field(invariant, "violations").list_value().values_size(), 0);
}

TEST_F(ReportTest, AFailingVerdictNamesTheAccountInTextAndJson) {
  Ledger ledger({80, 0});
  ledger.RecordWithdraw(0, 30, Outcome::kApplied);
  ledger.RecordWithdraw(0, 10, Outcome::kApplied);
  const Verdict verdict = ledger.Check({70, 0});
  const LoadReport report =
      BuildReport(config_, timing_, stats_, ledger, verdict, 1);
  const std::string text = FormatText(report);
  EXPECT_TRUE(absl::StrContains(text, "Invariant: FAIL")) << text;
  EXPECT_TRUE(absl::StrContains(text, "account t-0: expected 40, actual 70"))
      << text;
  EXPECT_TRUE(absl::StrContains(text, "Requests/sec:")) << text;
  EXPECT_TRUE(absl::StrContains(text, "[FAILED_PRECONDITION]")) << text;

  Struct json;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(FormatJson(report), &json)
          .ok());
  const Struct& invariant = Field(json, "invariant").struct_value();
  EXPECT_EQ(Field(invariant, "verdict").string_value(), "FAIL");
  const auto& violations = Field(invariant, "violations").list_value();
  ASSERT_GE(violations.values_size(), 1);
  const Struct& first = violations.values(0).struct_value();
  EXPECT_EQ(Field(first, "kind").string_value(), "balance_out_of_range");
  EXPECT_EQ(Field(first, "account").string_value(), "t-0");
  EXPECT_EQ(Field(first, "expected_min").number_value(), 40);
  EXPECT_EQ(Field(first, "actual").number_value(), 70);
}

TEST(DecideVerdictTest, IndeterminateShareAboveTheLimitIsInconclusive) {
  InvariantReport invariant;
  invariant.outcomes = {98, 0, 2};
  invariant.indeterminate_max = 0.01;
  DecideVerdict("", invariant);
  EXPECT_DOUBLE_EQ(invariant.indeterminate_share, 0.02);
  EXPECT_STREQ(VerdictName(invariant), "INCONCLUSIVE");
  EXPECT_TRUE(absl::StrContains(FormatInvariant(invariant), "2.00%"));
}

TEST(DecideVerdictTest, ShareAtTheLimitPasses) {
  InvariantReport invariant;
  invariant.outcomes = {99, 0, 1};
  invariant.indeterminate_max = 0.01;
  DecideVerdict("", invariant);
  EXPECT_STREQ(VerdictName(invariant), "PASS");
}

TEST(DecideVerdictTest, UnreadableBalancesAreInconclusiveAndAViolationFails) {
  InvariantReport unread;
  DecideVerdict("connection refused", unread);
  EXPECT_STREQ(VerdictName(unread), "INCONCLUSIVE");
  EXPECT_FALSE(unread.balances_read);
  InvariantReport failed;
  failed.pass = false;
  failed.outcomes = {0, 0, 10};
  failed.indeterminate_max = 0.01;
  DecideVerdict("", failed);
  EXPECT_STREQ(VerdictName(failed), "FAIL");
}

TEST_F(ReportTest, HtmlIsSelfContainedAndShowsTheVerdictAndCharts) {
  Ledger ledger({80, 0});
  ledger.RecordWithdraw(0, 30, Outcome::kApplied);
  const Verdict verdict = ledger.Check({70, 0});
  config_.target = "<host>&";
  timing_.timeline = {{0.25, 4, 400}, {0.5, 8, 800}};
  const LoadReport report =
      BuildReport(config_, timing_, stats_, ledger, verdict, 1);
  const std::string html = FormatHtml(report);
  EXPECT_TRUE(absl::StrContains(html, "Invariant: FAIL")) << html;
  EXPECT_TRUE(absl::StrContains(html, "class='verdict fail'")) << html;
  // Two inline charts, the throughput one drawn from the two samples.
  EXPECT_EQ(html.find("<svg", html.find("<svg") + 1) != std::string::npos,
            true);
  EXPECT_TRUE(absl::StrContains(html, "<polyline")) << html;
  EXPECT_TRUE(absl::StrContains(html, "p99.9")) << html;
  EXPECT_TRUE(absl::StrContains(html, "FAILED_PRECONDITION")) << html;
  // Escaped, and nothing fetched from anywhere.
  EXPECT_TRUE(absl::StrContains(html, "&lt;host&gt;&amp;")) << html;
  EXPECT_FALSE(absl::StrContains(html, "<host>")) << html;
  EXPECT_FALSE(absl::StrContains(html, "<script")) << html;
  EXPECT_FALSE(absl::StrContains(html, "http")) << html;
}

}  // namespace
}  // namespace bank::loadgen
