// Goal: every flag is validated into LoadgenConfig with a message naming
// the flag, and the mix and amount syntaxes accept exactly what the docs
// say; a connect failure is worded for people. Method: MakeConfig,
// ParseMix, ParseAmountRange and ConnectFailureReason on raw inputs.

#include "loadgen/config.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "loadgen/control.h"

namespace bank::loadgen {
namespace {

TEST(ParseMixTest, AcceptsWeightsPerKind) {
  absl::StatusOr<Mix> mix = ParseMix("withdraw:45,deposit:45,transfer:10");
  ASSERT_TRUE(mix.ok()) << mix.status();
  EXPECT_EQ(mix->weight(RpcKind::kWithdraw), 45);
  EXPECT_EQ(mix->weight(RpcKind::kDeposit), 45);
  EXPECT_EQ(mix->weight(RpcKind::kTransfer), 10);
  EXPECT_EQ(mix->weight(RpcKind::kBalance), 0);
  EXPECT_EQ(FormatMix(*mix), "withdraw:45,deposit:45,transfer:10");

  mix = ParseMix("balance:3,withdraw:0");
  ASSERT_TRUE(mix.ok()) << mix.status();
  EXPECT_EQ(mix->Total(), 3);
  EXPECT_EQ(FormatMix(*mix), "balance:3");
}

TEST(ParseMixTest, RejectsMalformedMixes) {
  for (const char* text :
       {"", "withdraw", "withdraw:", "withdraw:x", "steal:5", "withdraw:-1",
        "withdraw:1,withdraw:2", "withdraw:0,deposit:0", "withdraw:5000000",
        "withdraw:1,,deposit:1"}) {
    EXPECT_FALSE(ParseMix(text).ok()) << text;
  }
}

TEST(ParseAmountRangeTest, AcceptsRangesAndSingleAmounts) {
  absl::StatusOr<AmountRange> range = ParseAmountRange("1-100");
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->min, 1);
  EXPECT_EQ(range->max, 100);
  range = ParseAmountRange("7");
  ASSERT_TRUE(range.ok());
  EXPECT_EQ(range->min, 7);
  EXPECT_EQ(range->max, 7);
  for (const char* text : {"0-5", "10-5", "x", "1-", "-3", "1-2000000000"}) {
    EXPECT_FALSE(ParseAmountRange(text).ok()) << text;
  }
}

TEST(MakeConfigTest, DefaultsAreATotalRunOnFreshPrefixedAccounts) {
  absl::StatusOr<LoadgenConfig> config = MakeConfig(FlagValues());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->scenario, Scenario::kLoad);
  EXPECT_EQ(config->total, kTotalDefault);
  EXPECT_EQ(config->account_ids.size(), 100u);
  EXPECT_TRUE(absl::StartsWith(config->account_prefix, "lg-"));
  EXPECT_EQ(config->account_ids[7], config->account_prefix + "-7");
  EXPECT_EQ(FormatMix(config->mix), "withdraw:45,deposit:45,transfer:10");
  EXPECT_FALSE(config->use_existing);
}

// Issue 13 (5): a numeric port at the end of --target must be a port;
// other gRPC target forms pass through.
TEST(MakeConfigTest, TargetPortMustBeInRange) {
  FlagValues flags;
  for (const char* bad : {"127.0.0.1:70000", "localhost:4294967297"}) {
    flags.target = bad;
    absl::StatusOr<LoadgenConfig> config = MakeConfig(flags);
    ASSERT_FALSE(config.ok()) << bad;
    EXPECT_NE(config.status().message().find("--target"), std::string::npos)
        << config.status().message();
  }
  for (const char* good :
       {"127.0.0.1:50051", "dns:///bank:50051", "unix:/tmp/bank.sock"}) {
    flags.target = good;
    EXPECT_TRUE(MakeConfig(flags).ok()) << good;
  }
}

TEST(MakeConfigTest, OneAccountDefaultsToAMixWithoutTransfers) {
  FlagValues flags;
  flags.accounts = 1;
  absl::StatusOr<LoadgenConfig> config = MakeConfig(flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(FormatMix(config->mix), "withdraw:50,deposit:50");
  flags.mix = "withdraw:1,transfer:1";
  EXPECT_FALSE(MakeConfig(flags).ok());
}

TEST(MakeConfigTest, UseExistingNamesTheAccounts) {
  FlagValues flags;
  flags.use_existing = "main,savings";
  absl::StatusOr<LoadgenConfig> config = MakeConfig(flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->use_existing);
  EXPECT_EQ(config->account_ids, (std::vector<std::string>{"main", "savings"}));
  flags.use_existing = "main,,x";
  EXPECT_FALSE(MakeConfig(flags).ok());
}

TEST(MakeConfigTest, RejectionsNameTheFlag) {
  struct Case {
    const char* flag;
    void (*mutate)(FlagValues&);
  };
  const Case cases[] = {
      {"--concurrency", [](FlagValues& f) { f.concurrency = 0; }},
      {"--concurrency",
       [](FlagValues& f) { f.concurrency = kConcurrencyMax + 1; }},
      {"--connections", [](FlagValues& f) { f.connections = 51; }},
      {"--total", [](FlagValues& f) { f.total = -1; }},
      {"--total",
       [](FlagValues& f) {
         f.duration = absl::Seconds(1);
         f.total = 5;
       }},
      {"--rps", [](FlagValues& f) { f.rps = -1; }},
      {"--accounts", [](FlagValues& f) { f.accounts = kAccountsMax + 1; }},
      {"--initial_balance", [](FlagValues& f) { f.initial_balance = -1; }},
      {"--amount", [](FlagValues& f) { f.amount = "5-1"; }},
      {"--mix", [](FlagValues& f) { f.mix = "withdraw:1:2"; }},
      {"--deadline", [](FlagValues& f) { f.deadline = absl::ZeroDuration(); }},
      {"--scenario", [](FlagValues& f) { f.scenario = "heist"; }},
      {"--duration", [](FlagValues& f) { f.duration = absl::Hours(25); }},
  };
  for (const Case& c : cases) {
    FlagValues flags;
    c.mutate(flags);
    absl::StatusOr<LoadgenConfig> config = MakeConfig(flags);
    ASSERT_FALSE(config.ok()) << c.flag;
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(config.status().message(), c.flag))
        << config.status();
  }
}

TEST(MakeConfigTest, DurationReplacesTotal) {
  FlagValues flags;
  flags.duration = absl::Seconds(3);
  flags.warmup = absl::Seconds(1);
  absl::StatusOr<LoadgenConfig> config = MakeConfig(flags);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->total, 0);
  EXPECT_EQ(config->duration, absl::Seconds(3));
  EXPECT_EQ(config->warmup, absl::Seconds(1));
}

TEST(ConnectFailureReasonTest, KeepsTheLastClauseLowerCased) {
  EXPECT_EQ(ConnectFailureReason(
                "failed to connect to all addresses; last error: UNKNOWN: "
                "ipv4:127.0.0.1:1: Failed to connect to remote host: "
                "Connection refused"),
            "connection refused");
  EXPECT_EQ(ConnectFailureReason("Socket closed"), "socket closed");
  EXPECT_EQ(ConnectFailureReason(""), "");
}

TEST(MakeConfigTest, RequestIdsAreOnAndRetryBoundsAreChecked) {
  absl::StatusOr<LoadgenConfig> config = MakeConfig(FlagValues());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->request_ids);
  EXPECT_EQ(config->retry_for, absl::Seconds(30));
  // Several replicas share their ids in the database: retries stay on.
  FlagValues replicas;
  replicas.target = "127.0.0.1:1,127.0.0.1:2";
  absl::StatusOr<LoadgenConfig> spread = MakeConfig(replicas);
  ASSERT_TRUE(spread.ok()) << spread.status();
  EXPECT_TRUE(spread->request_ids);
  EXPECT_DOUBLE_EQ(config->indeterminate_max, 0.01);
  FlagValues bad_share;
  bad_share.indeterminate_max = 1.5;
  EXPECT_EQ(MakeConfig(bad_share).status().code(),
            absl::StatusCode::kInvalidArgument);
  FlagValues bad_retry;
  bad_retry.retry_for = absl::Hours(2);
  EXPECT_EQ(MakeConfig(bad_retry).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace bank::loadgen
