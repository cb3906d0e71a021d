// bank_loadgen: fires Withdraw/Deposit/Transfer load at a bank server,
// reports like ghz and checks that no money went missing.
//
// Exit status: 0 the invariant holds (PASS), 1 it is violated (FAIL), 2 bad
// usage, an unreachable target or accounts that could not be opened, 3
// INCONCLUSIVE: no violation found, but too many outcomes were indeterminate
// (--indeterminate_max) or the balances could not be read back. Whenever the
// load ran, the report is printed (and --json written). See docs/LOADGEN.md.

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "client/tls_options.h"
#include "loadgen/article.h"
#include "loadgen/config.h"
#include "loadgen/control.h"
#include "loadgen/ledger.h"
#include "loadgen/load_runner.h"
#include "loadgen/report.h"
#include "loadgen/run_stats.h"
#include "service/engine/process_tuning.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051",
          "host:port of bank_server; several replicas as "
          "host:port,host:port or dns:///name:port (RPCs spread round-robin)");
ABSL_FLAG(std::string, scenario, "load",
          "load (the configured load) or article (the article's two "
          "concurrent withdrawals from 80)");
ABSL_FLAG(int64_t, concurrency, 50, "RPCs in flight at once");
ABSL_FLAG(int64_t, connections, 1, "gRPC channels (TCP connections) used");
ABSL_FLAG(int64_t, total, 0,
          "measured RPCs to send (default 10000 unless --duration is set)");
ABSL_FLAG(absl::Duration, duration, absl::ZeroDuration(),
          "send for this long instead of --total, e.g. 10s");
ABSL_FLAG(absl::Duration, warmup, absl::ZeroDuration(),
          "send for this long first, excluded from the statistics");
ABSL_FLAG(int64_t, rps, 0, "target RPCs per second; 0 = as fast as possible");
ABSL_FLAG(std::string, mix, "",
          "weights, e.g. withdraw:45,deposit:45,transfer:10,balance:0 "
          "(default that, or withdraw:50,deposit:50 for one account)");
ABSL_FLAG(std::string, amount, "1-100", "amount range in cents, LO-HI or N");
ABSL_FLAG(int64_t, accounts, 100,
          "accounts to open and load (1 = one hot account)");
ABSL_FLAG(int64_t, initial_balance, 100000, "each new account's balance");
ABSL_FLAG(std::string, use_existing, "",
          "comma-separated existing accounts to load instead of new ones");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(10), "deadline of each RPC");
ABSL_FLAG(absl::Duration, settle, absl::Milliseconds(250),
          "after indeterminate outcomes, re-read balances this far apart "
          "until they stop changing");
ABSL_FLAG(uint64_t, seed, 1, "seed of the operation streams");
ABSL_FLAG(std::string, json, "", "also write the report as JSON to this file");
ABSL_FLAG(std::string, html, "",
          "also write a self-contained HTML report page to this file");
ABSL_FLAG(int64_t, batch, 0,
          "operations per ApplyBatch RPC (1 to 8190, each drawn from --mix); "
          "0 = one single-operation RPC each");
ABSL_FLAG(std::string, account_prefix, "",
          "prefix of the new accounts' ids (default: unique per run)");
ABSL_FLAG(bool, ride_over_restarts, false,
          "keep going while the server restarts (the crash test): every RPC "
          "waits for the connection (gRPC wait_for_ready) instead of failing "
          "fast, channels reconnect within 500ms; an RPC cut by the crash "
          "still counts as indeterminate");
ABSL_FLAG(bool, request_ids, true,
          "give every change a fresh request_id and retry indeterminate "
          "outcomes with it, so the check is exact");
ABSL_FLAG(absl::Duration, retry_for, bank::loadgen::kRetryForDefault,
          "with --request_ids, how long one operation is retried (jittered "
          "exponential backoff); also how long the load rides over a "
          "server that answers nothing");
ABSL_FLAG(double, indeterminate_max, bank::loadgen::kIndeterminateMaxDefault,
          "share of operations (0-1) that may end indeterminate before a "
          "passing check is reported INCONCLUSIVE (exit 3)");

namespace bank::loadgen {
namespace {

constexpr int kExitPass = 0;
constexpr int kExitViolated = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInconclusive = 3;

constexpr const char* kFlagNames[] = {
    "target",       "scenario",  "concurrency",
    "connections",  "total",     "duration",
    "warmup",       "rps",       "mix",
    "amount",       "accounts",  "initial_balance",
    "use_existing", "deadline",  "settle",
    "seed",         "json",      "account_prefix",
    "batch",        "html",      "ride_over_restarts",
    "request_ids",  "retry_for", "indeterminate_max"};

bool IsOurFlag(absl::string_view name) {
  for (const char* known : kFlagNames) {
    if (name == known) return true;
  }
  for (const char* known : client::kClientTlsFlagNames) {
    if (name == known) return true;
  }
  return false;
}

void PrintFlagHelp(const char* name) {
  const absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  std::printf("  --%s  %s (default: \"%s\")\n", name, flag->Help().c_str(),
              flag->DefaultValue().c_str());
}

void PrintHelp() {
  std::printf("%s\n\nFlags:\n", absl::ProgramUsageMessage().data());
  for (const char* name : kFlagNames) PrintFlagHelp(name);
  for (const char* name : client::kClientTlsFlagNames) PrintFlagHelp(name);
}

// ParseArgs sets our flags from argv ("--name=value" or "--name value").
// absl::ParseCommandLine would exit with status 1 on a bad flag; bad usage
// must exit with 2, so the few flag forms we accept are parsed here.
absl::Status ParseArgs(int argc, char** argv, bool& help) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h" || arg == "--helpfull") {
      help = true;
      return absl::OkStatus();
    }
    if (!absl::ConsumePrefix(&arg, "--")) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument '", arg, "'"));
    }
    const size_t equals = arg.find('=');
    absl::string_view name = arg.substr(0, equals);
    std::string value;
    if (equals != absl::string_view::npos) {
      value = std::string(arg.substr(equals + 1));
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " needs a value"));
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr || !IsOurFlag(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", error));
    }
  }
  return absl::OkStatus();
}

FlagValues ReadFlags() {
  FlagValues f;
  f.target = absl::GetFlag(FLAGS_target);
  f.scenario = absl::GetFlag(FLAGS_scenario);
  f.concurrency = absl::GetFlag(FLAGS_concurrency);
  f.connections = absl::GetFlag(FLAGS_connections);
  f.total = absl::GetFlag(FLAGS_total);
  f.duration = absl::GetFlag(FLAGS_duration);
  f.warmup = absl::GetFlag(FLAGS_warmup);
  f.rps = absl::GetFlag(FLAGS_rps);
  f.mix = absl::GetFlag(FLAGS_mix);
  f.amount = absl::GetFlag(FLAGS_amount);
  f.accounts = absl::GetFlag(FLAGS_accounts);
  f.initial_balance = absl::GetFlag(FLAGS_initial_balance);
  f.use_existing = absl::GetFlag(FLAGS_use_existing);
  f.deadline = absl::GetFlag(FLAGS_deadline);
  f.settle = absl::GetFlag(FLAGS_settle);
  f.seed = absl::GetFlag(FLAGS_seed);
  f.json = absl::GetFlag(FLAGS_json);
  f.account_prefix = absl::GetFlag(FLAGS_account_prefix);
  f.request_ids = absl::GetFlag(FLAGS_request_ids);
  f.retry_for = absl::GetFlag(FLAGS_retry_for);
  f.indeterminate_max = absl::GetFlag(FLAGS_indeterminate_max);
  f.batch = absl::GetFlag(FLAGS_batch);
  f.html = absl::GetFlag(FLAGS_html);
  return f;
}

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "bank_loadgen: %s\n",
               std::string(status.message()).c_str());
  return kExitUsage;
}

absl::Status WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

int RunArticleScenario(const LoadgenConfig& config,
                       bank::v1::BankService::Stub& stub) {
  absl::StatusOr<ArticleResult> result = RunArticle(config, stub);
  if (!result.ok()) return Fail(result.status());
  std::fputs(result->text.c_str(), stdout);
  std::fflush(stdout);
  if (!config.json_path.empty()) {
    absl::Status written = WriteFile(config.json_path, result->json);
    if (!written.ok()) return Fail(written);
  }
  if (!result->invariant.pass) return kExitViolated;
  return result->invariant.inconclusive ? kExitInconclusive : kExitPass;
}

absl::StatusOr<std::vector<int64_t>> PrepareAccounts(
    const LoadgenConfig& config, bank::v1::BankService::Stub& stub) {
  if (config.use_existing) return ReadBalances(stub, config.account_ids);
  absl::Status opened =
      OpenAccounts(stub, config.account_ids, config.initial_balance);
  if (!opened.ok()) return opened;
  return std::vector<int64_t>(config.account_ids.size(),
                              config.initial_balance);
}

int RunLoadScenario(const LoadgenConfig& config,
                    const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                    bank::v1::BankService::Stub& stub) {
  absl::StatusOr<std::vector<int64_t>> initial = PrepareAccounts(config, stub);
  if (!initial.ok()) return Fail(initial.status());
  if (RideOverRestarts()) {
    // The crash test waits for this line before its first kill.
    std::printf("bank_loadgen: %zu accounts ready; load running\n",
                initial->size());
    std::fflush(stdout);
  }
  Ledger ledger(*std::move(initial));
  RunStats stats;
  const LoadTiming timing =
      RunLoad(config, channels, ledger, stats, isatty(STDERR_FILENO) == 1);
  int reads = 0;
  absl::StatusOr<std::vector<int64_t>> balances = ReadSettledBalances(
      stub, config.account_ids, ledger.Counts().indeterminate > 0,
      config.settle, reads);
  // Without balances nothing can be checked, but the report so far (the
  // load's statistics and outcomes) is still printed and written.
  const Verdict verdict = balances.ok() ? ledger.Check(*balances) : Verdict{};
  LoadReport report =
      BuildReport(config, timing, stats, ledger, verdict, reads);
  DecideVerdict(balances.ok() ? "" : std::string(balances.status().message()),
                report.invariant);
  std::fputs(FormatText(report).c_str(), stdout);
  std::fflush(stdout);
  if (!config.json_path.empty()) {
    absl::Status written = WriteFile(config.json_path, FormatJson(report));
    if (!written.ok()) return Fail(written);
  }
  if (!config.html_path.empty()) {
    absl::Status written = WriteFile(config.html_path, FormatHtml(report));
    if (!written.ok()) return Fail(written);
  }
  if (!report.invariant.pass) return kExitViolated;
  return report.invariant.inconclusive ? kExitInconclusive : kExitPass;
}

int Main(int argc, char** argv) {
  // Otherwise the load generator would measure itself: see the header.
  TuneProcessForThroughput();
  absl::SetProgramUsageMessage(
      "bank_loadgen: parallel Withdraw/Deposit/Transfer load against "
      "bank_server, a ghz-style report and an exact money invariant check.\n"
      "Usage: bank_loadgen [--flag=value ...]   (exit 0 PASS, 1 FAIL, 2 "
      "usage or unreachable, 3 INCONCLUSIVE)");
  bool help = false;
  absl::Status parsed = ParseArgs(argc, argv, help);
  if (!parsed.ok()) return Fail(parsed);
  if (help) {
    PrintHelp();
    return kExitPass;
  }
  absl::StatusOr<LoadgenConfig> config = MakeConfig(ReadFlags());
  if (!config.ok()) return Fail(config.status());
  absl::StatusOr<client::ChannelSecurity> security =
      client::MakeChannelSecurity(client::ReadClientTlsFlags());
  if (!security.ok()) return Fail(security.status());
  absl::StatusOr<std::string> channel_target = ChannelTarget(config->target);
  if (!channel_target.ok()) return Fail(channel_target.status());
  SetRideOverRestarts(absl::GetFlag(FLAGS_ride_over_restarts));
  const std::vector<std::shared_ptr<grpc::Channel>> channels =
      MakeChannels(*channel_target, config->connections, *security);
  std::unique_ptr<bank::v1::BankService::Stub> stub =
      bank::v1::BankService::NewStub(channels[0]);
  absl::Status reachable =
      CheckReachable(*stub, config->target, config->account_ids[0]);
  if (!reachable.ok()) return Fail(reachable);
  if (config->scenario == Scenario::kArticle) {
    return RunArticleScenario(*config, *stub);
  }
  return RunLoadScenario(*config, channels, *stub);
}

}  // namespace
}  // namespace bank::loadgen

int main(int argc, char** argv) { return bank::loadgen::Main(argc, argv); }
