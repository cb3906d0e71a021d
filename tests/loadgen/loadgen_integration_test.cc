// Goal: bank_loadgen, run as a user runs it against a real bank_server,
// passes the safe engines (one hot account; many accounts with transfers;
// RPCs cut short by their deadline), catches the unsafe engine's lost
// update, exits 2 on a dead port, and writes a JSON report that parses.
// Method: ServerProcess starts bank_server on 127.0.0.1:0; Subprocess runs
// bank_loadgen with a bounded --total and waits for its exit status; the
// only synchronisation is the server's listening line and process exits.

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/subprocess.h"

namespace bank::testing {
namespace {

// kLoadgenTimeout bounds one bank_loadgen run; the runs below take well
// under a few seconds, so only a hung run ever reaches it.
constexpr absl::Duration kLoadgenTimeout = absl::Seconds(60);

struct LoadgenRun {
  ExitStatus exit;
  std::string out;
  std::string err;
};

LoadgenRun RunLoadgen(const std::string& target,
                      std::vector<std::string> args) {
  args.push_back("--target=" + target);
  Subprocess::Options options;
  options.capture_stderr = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> child =
      Subprocess::Start(BANK_LOADGEN_PATH, args, options);
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return {};
  absl::StatusOr<ExitStatus> exit = (*child)->Wait(kLoadgenTimeout);
  EXPECT_TRUE(exit.ok()) << exit.status();
  return LoadgenRun{exit.ok() ? *exit : ExitStatus(), (*child)->stdout_text(),
                    (*child)->stderr_text()};
}

std::unique_ptr<ServerProcess> StartServer(std::vector<std::string> flags) {
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(BANK_SERVER_PATH, flags);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// ExpectCleanStop: the server must exit 0 on SIGTERM after the load, so a
// sanitizer finding in the server under load fails the test too.
void ExpectCleanStop(ServerProcess& server) {
  absl::StatusOr<ExitStatus> exit = server.Stop();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->Succeeded()) << exit->ToString();
}

std::string Describe(const LoadgenRun& run) {
  return absl::StrCat(run.exit.ToString(), "\nstdout:\n", run.out,
                      "\nstderr:\n", run.err);
}

void ExpectPass(const LoadgenRun& run) {
  EXPECT_TRUE(run.exit.exited && run.exit.code == 0) << Describe(run);
  EXPECT_TRUE(absl::StrContains(run.out, "Invariant: PASS")) << Describe(run);
}

const google::protobuf::Value& Field(const google::protobuf::Struct& object,
                                     const std::string& name) {
  static const google::protobuf::Value kMissing;
  auto it = object.fields().find(name);
  EXPECT_NE(it, object.fields().end()) << "missing " << name;
  return it == object.fields().end() ? kMissing : it->second;
}

google::protobuf::Struct ReadJson(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  google::protobuf::Struct json;
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(text.str(), &json);
  EXPECT_TRUE(parsed.ok()) << parsed.ToString() << "\n" << text.str();
  return json;
}

// ReportedRun: a bank_loadgen run and the JSON report it wrote.
struct ReportedRun {
  LoadgenRun run;
  google::protobuf::Struct json;
};

// RunLoadgenWithJson runs bank_loadgen with `args` and --json=NAME.json in
// the test's temporary directory, then reads the report back.
ReportedRun RunLoadgenWithJson(const std::string& target,
                               const std::string& name,
                               std::vector<std::string> args) {
  const std::string json_path =
      absl::StrCat(::testing::TempDir(), "/", name, ".json");
  args.push_back("--json=" + json_path);
  ReportedRun reported;
  reported.run = RunLoadgen(target, std::move(args));
  reported.json = ReadJson(json_path);
  return reported;
}

// ExpectExactCheck: retries by request id left no outcome indeterminate
// (some were retried), so the total's range is a single value.
void ExpectExactCheck(const ReportedRun& reported) {
  const google::protobuf::Struct& invariant =
      Field(reported.json, "invariant").struct_value();
  EXPECT_EQ(Field(invariant, "indeterminate").number_value(), 0)
      << Describe(reported.run);
  EXPECT_GT(Field(invariant, "retried_operations").number_value(), 0)
      << Describe(reported.run);
  EXPECT_EQ(Field(invariant, "total_expected_min").number_value(),
            Field(invariant, "total_expected_max").number_value());
}

class SafeEngineTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SafeEngineTest, HotAccountPasses) {
  std::unique_ptr<ServerProcess> server =
      StartServer({"--engine=" + GetParam()});
  ASSERT_NE(server, nullptr);
  ExpectPass(RunLoadgen(server->address(),
                        {"--accounts=1", "--total=3000", "--concurrency=32",
                         "--connections=2", "--initial_balance=1000"}));
  ExpectCleanStop(*server);
}

TEST_P(SafeEngineTest, ManyAccountsWithTransfersPass) {
  std::unique_ptr<ServerProcess> server =
      StartServer({"--engine=" + GetParam()});
  ASSERT_NE(server, nullptr);
  ExpectPass(RunLoadgen(server->address(),
                        {"--accounts=50", "--total=5000", "--concurrency=64",
                         "--mix=withdraw:30,deposit:30,transfer:30,balance:10",
                         "--initial_balance=500"}));
  ExpectCleanStop(*server);
}

TEST_P(SafeEngineTest, ArticleScenarioEndsWithForty) {
  std::unique_ptr<ServerProcess> server =
      StartServer({"--engine=" + GetParam(), "--apply_latency=0-100ms"});
  ASSERT_NE(server, nullptr);
  const ReportedRun reported = RunLoadgenWithJson(
      server->address(), "article_" + GetParam(), {"--scenario=article"});
  const LoadgenRun& run = reported.run;
  EXPECT_TRUE(run.exit.exited && run.exit.code == 0) << Describe(run);
  EXPECT_TRUE(absl::StartsWith(run.out, "初始化余额 80\n")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "[-] 30 马伊琍\n")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "[-] 10 姚笛\n")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "剩余余额 40\n")) << run.out;
  const google::protobuf::Struct& json = reported.json;
  EXPECT_EQ(Field(json, "schema").string_value(), "bank_loadgen.article.v1");
  EXPECT_EQ(Field(json, "final_balance").number_value(), 40);
  EXPECT_EQ(Field(json, "withdrawals").list_value().values_size(), 2);
  EXPECT_EQ(
      Field(Field(json, "invariant").struct_value(), "verdict").string_value(),
      "PASS");
  ExpectCleanStop(*server);
}

// Deadlines shorter than the injected latency: many RPCs end
// DEADLINE_EXCEEDED while their operation still applies (or not) on the
// server. Without request ids the range check must still hold (a limit of
// 100% indeterminate keeps the verdict from turning INCONCLUSIVE).
TEST_P(SafeEngineTest, IndeterminateOutcomesStillPassTheRanges) {
  std::unique_ptr<ServerProcess> server =
      StartServer({"--engine=" + GetParam(), "--apply_latency=1ms-4ms"});
  ASSERT_NE(server, nullptr);
  const ReportedRun reported = RunLoadgenWithJson(
      server->address(), "indeterminate_" + GetParam(),
      {"--accounts=4", "--total=300", "--concurrency=8", "--deadline=2ms",
       "--mix=withdraw:40,deposit:40,transfer:20", "--request_ids=false",
       "--indeterminate_max=1"});
  ExpectPass(reported.run);
  const google::protobuf::Struct& invariant =
      Field(reported.json, "invariant").struct_value();
  EXPECT_EQ(Field(invariant, "verdict").string_value(), "PASS");
  EXPECT_GT(Field(invariant, "indeterminate").number_value(), 0)
      << Describe(reported.run);
  ExpectCleanStop(*server);
}

// The same cut-short load with request ids (the default): every
// indeterminate outcome is retried with its id until it ends definitively,
// so nothing stays indeterminate and the check is exact (min == max).
TEST_P(SafeEngineTest, RetriesByRequestIdMakeTheCheckExact) {
  std::unique_ptr<ServerProcess> server =
      StartServer({"--engine=" + GetParam(), "--apply_latency=1ms-4ms"});
  ASSERT_NE(server, nullptr);
  const ReportedRun reported = RunLoadgenWithJson(
      server->address(), "exact_" + GetParam(),
      {"--accounts=4", "--total=300", "--concurrency=8", "--deadline=2ms",
       "--mix=withdraw:40,deposit:40,transfer:20"});
  ExpectPass(reported.run);
  ExpectExactCheck(reported);
  const google::protobuf::Struct& invariant =
      Field(reported.json, "invariant").struct_value();
  EXPECT_GE(Field(invariant, "retries_max").number_value(), 1);
  ExpectCleanStop(*server);
}

// --batch with request ids (the default): each change of a batch carries
// its own id, and a batch cut short by its deadline is resent whole with the
// same ids until every operation ended definitively, so the check is exact
// with batches too.
TEST_P(SafeEngineTest, BatchRetriesByRequestIdMakeTheCheckExact) {
  std::unique_ptr<ServerProcess> server =
      StartServer({"--engine=" + GetParam(), "--apply_latency=1ms-2ms"});
  ASSERT_NE(server, nullptr);
  const ReportedRun reported = RunLoadgenWithJson(
      server->address(), "batch_exact_" + GetParam(),
      {"--accounts=4", "--total=30", "--batch=10", "--concurrency=4",
       "--deadline=5ms", "--mix=withdraw:40,deposit:40,transfer:20"});
  ExpectPass(reported.run);
  ExpectExactCheck(reported);
  const google::protobuf::Struct& invariant =
      Field(reported.json, "invariant").struct_value();
  EXPECT_EQ(Field(invariant, "applied").number_value() +
                Field(invariant, "not_applied").number_value(),
            300)
      << Describe(reported.run);
  ExpectCleanStop(*server);
}

// Without request ids, a verdict that rests on indeterminate outcomes says
// so: INCONCLUSIVE, exit 3, with the share printed.
TEST_P(SafeEngineTest, MostlyIndeterminateIsInconclusive) {
  std::unique_ptr<ServerProcess> server =
      StartServer({"--engine=" + GetParam(), "--apply_latency=5ms"});
  ASSERT_NE(server, nullptr);
  const LoadgenRun run = RunLoadgen(
      server->address(), {"--accounts=4", "--total=100", "--concurrency=8",
                          "--deadline=1ms", "--request_ids=false"});
  EXPECT_TRUE(run.exit.exited && run.exit.code == 3) << Describe(run);
  EXPECT_TRUE(absl::StrContains(run.out, "Invariant: INCONCLUSIVE"))
      << Describe(run);
  EXPECT_TRUE(absl::StrContains(run.out, "indeterminate share")) << run.out;
  ExpectCleanStop(*server);
}

// --batch: every operation of every ApplyBatch goes to the ledger with its
// own outcome (insufficient funds fail alone, on a small initial balance),
// and the report counts operations next to RPCs.
TEST_P(SafeEngineTest, BatchedOperationsPassAndAreCounted) {
  std::unique_ptr<ServerProcess> server =
      StartServer({"--engine=" + GetParam()});
  ASSERT_NE(server, nullptr);
  const ReportedRun reported = RunLoadgenWithJson(
      server->address(), "batch_" + GetParam(),
      {"--accounts=20", "--total=60", "--batch=100", "--concurrency=4",
       "--mix=withdraw:40,deposit:30,transfer:30", "--initial_balance=50"});
  const LoadgenRun& run = reported.run;
  const google::protobuf::Struct& json = reported.json;
  ExpectPass(run);
  EXPECT_TRUE(absl::StrContains(run.out, "Operations/sec:")) << run.out;
  // The status code distribution counts operations, and says so.
  EXPECT_TRUE(absl::StrContains(run.out, " operations\n")) << run.out;
  EXPECT_FALSE(absl::StrContains(run.out, " responses\n")) << run.out;
  const google::protobuf::Struct& summary =
      Field(json, "summary").struct_value();
  EXPECT_EQ(Field(summary, "batch").number_value(), 100);
  EXPECT_EQ(Field(summary, "rpcs").number_value(), 60);
  EXPECT_EQ(Field(summary, "count").number_value(), 6000);
  const google::protobuf::Struct& invariant =
      Field(json, "invariant").struct_value();
  EXPECT_EQ(Field(invariant, "verdict").string_value(), "PASS");
  // Some withdrawals and transfers ran out of money, each alone.
  const google::protobuf::Struct& codes =
      Field(json, "status_codes").struct_value();
  EXPECT_GT(Field(codes, "FAILED_PRECONDITION").number_value(), 0) << run.out;
  EXPECT_GT(Field(codes, "OK").number_value(), 0) << run.out;
  ExpectCleanStop(*server);
}

INSTANTIATE_TEST_SUITE_P(Engines, SafeEngineTest,
                         ::testing::Values("mutex", "queue"));

TEST(UnsafeEngineTest, LostUpdateFailsTheInvariant) {
  // Deposits only, so lost updates can never cancel each other out, and
  // 5-10 ms between each one's read and write, so with 16 in flight they
  // overlap even when a loaded machine runs the server's threads late.
  std::unique_ptr<ServerProcess> server =
      StartServer({"--engine=unsafe", "--apply_latency=5ms-10ms"});
  ASSERT_NE(server, nullptr);
  const LoadgenRun run = RunLoadgen(
      server->address(), {"--accounts=1", "--total=300", "--concurrency=16",
                          "--mix=deposit:100", "--initial_balance=1000000"});
  EXPECT_TRUE(run.exit.exited && run.exit.code == 1) << Describe(run);
  EXPECT_TRUE(absl::StrContains(run.out, "Invariant: FAIL")) << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "  account lg-")) << run.out;
  ExpectCleanStop(*server);
}

TEST(UnsafeEngineTest, ArticleScenarioCatchesTheLostUpdate) {
  // Every withdrawal waits at least 50 ms between its read and its write,
  // and both are sent at once, so both read 80.
  std::unique_ptr<ServerProcess> server =
      StartServer({"--engine=unsafe", "--apply_latency=50ms-100ms"});
  ASSERT_NE(server, nullptr);
  const LoadgenRun run = RunLoadgen(server->address(), {"--scenario=article"});
  EXPECT_TRUE(run.exit.exited && run.exit.code == 1) << Describe(run);
  EXPECT_TRUE(absl::StrContains(run.out, "剩余余额 70\n") ||
              absl::StrContains(run.out, "剩余余额 50\n"))
      << run.out;
  EXPECT_TRUE(absl::StrContains(run.out, "expected 40")) << run.out;
  ExpectCleanStop(*server);
}

// DeadPort answers a loopback port nothing listens on: bound by the kernel,
// then closed.
int DeadPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  EXPECT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)),
            0);
  socklen_t length = sizeof(address);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  close(fd);
  return ntohs(address.sin_port);
}

TEST(LoadgenExitTest, UnreachableTargetExitsTwo) {
  const std::string target = absl::StrCat("127.0.0.1:", DeadPort());
  const LoadgenRun run = RunLoadgen(target, {"--total=10"});
  EXPECT_TRUE(run.exit.exited && run.exit.code == 2) << Describe(run);
  EXPECT_TRUE(absl::StrContains(run.err, "cannot connect to " + target))
      << run.err;
}

// A server killed mid-run: without request ids the load generator stops
// soon after (not at the end of its 300 s), prints and writes the report so
// far, and answers INCONCLUSIVE (exit 3): the balances cannot be read.
TEST(LoadgenExitTest, ServerDeathStopsTheRunAndKeepsTheReport) {
  std::unique_ptr<ServerProcess> server =
      StartServer({"--engine=mutex", "--log_ops"});
  ASSERT_NE(server, nullptr);
  const std::string json_path = ::testing::TempDir() + "/died.json";
  Subprocess::Options options;
  options.capture_stderr = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> loadgen = Subprocess::Start(
      BANK_LOADGEN_PATH,
      {"--target=" + server->address(), "--duration=300s", "--concurrency=4",
       "--accounts=4", "--request_ids=false", "--json=" + json_path},
      options);
  ASSERT_TRUE(loadgen.ok()) << loadgen.status();
  // The load is running once the server logs a change that is not an open.
  while (true) {
    absl::StatusOr<std::string> line =
        server->process().ReadLine(kLoadgenTimeout);
    ASSERT_TRUE(line.ok()) << line.status();
    if (absl::StartsWith(*line, "[+]") || absl::StartsWith(*line, "[-]")) break;
  }
  ASSERT_TRUE(server->process().Signal(SIGKILL).ok());
  absl::StatusOr<ExitStatus> exit = (*loadgen)->Wait(kLoadgenTimeout);
  ASSERT_TRUE(exit.ok()) << exit.status() << " (did not stop early)";
  const std::string out = (*loadgen)->stdout_text();
  EXPECT_TRUE(exit->exited && exit->code == 3) << exit->ToString() << out;
  EXPECT_TRUE(absl::StrContains(out, "stopped early")) << out;
  EXPECT_TRUE(absl::StrContains(out, "Invariant: INCONCLUSIVE")) << out;
  const google::protobuf::Struct json = ReadJson(json_path);
  const auto& invariant = Field(json, "invariant").struct_value();
  EXPECT_EQ(Field(invariant, "verdict").string_value(), "INCONCLUSIVE");
  EXPECT_FALSE(Field(invariant, "balances_read").bool_value());
  // The report keeps what the load did before the server died.
  EXPECT_GT(Field(invariant, "applied").number_value() +
                Field(invariant, "indeterminate").number_value(),
            0);
}

// Setup retries RESOURCE_EXHAUSTED: more accounts than the queue holds.
TEST(LoadgenExitTest, SetupRidesOverAFullQueue) {
  std::unique_ptr<ServerProcess> server = StartServer(
      {"--engine=queue", "--queue_depth_max=16", "--apply_latency=1ms"});
  ASSERT_NE(server, nullptr);
  ExpectPass(RunLoadgen(server->address(),
                        {"--accounts=40", "--total=100", "--concurrency=8"}));
  ExpectCleanStop(*server);
}

TEST(LoadgenExitTest, BadFlagExitsTwo) {
  const LoadgenRun run = RunLoadgen("127.0.0.1:1", {"--mix=steal:5"});
  EXPECT_TRUE(run.exit.exited && run.exit.code == 2) << Describe(run);
  EXPECT_TRUE(absl::StrContains(run.err, "--mix")) << run.err;
}

TEST(LoadgenJsonTest, ReportParsesAndHoldsTheDocumentedFields) {
  std::unique_ptr<ServerProcess> server = StartServer({"--engine=queue"});
  ASSERT_NE(server, nullptr);
  const std::string json_path = ::testing::TempDir() + "/report.json";
  const LoadgenRun run = RunLoadgen(
      server->address(), {"--accounts=10", "--total=1000", "--concurrency=16",
                          "--mix=withdraw:40,deposit:40,transfer:10,balance:10",
                          "--json=" + json_path});
  ExpectPass(run);
  const google::protobuf::Struct json = ReadJson(json_path);
  EXPECT_EQ(Field(json, "schema").string_value(), "bank_loadgen.report.v1");
  const auto& summary = Field(json, "summary").struct_value();
  EXPECT_EQ(Field(summary, "count").number_value(), 1000);
  EXPECT_GT(Field(summary, "rps").number_value(), 0);
  const auto& latency = Field(json, "latency_ms").struct_value();
  for (const char* name : {"min", "mean", "p50", "p90", "p99", "p999", "max"}) {
    EXPECT_GT(Field(latency, name).number_value(), 0) << name;
  }
  EXPECT_LE(Field(latency, "p50").number_value(),
            Field(latency, "p99").number_value());
  const auto& kinds = Field(json, "kinds").struct_value();
  double kind_total = 0;
  for (const char* kind : {"withdraw", "deposit", "transfer", "balance"}) {
    kind_total +=
        Field(Field(kinds, kind).struct_value(), "count").number_value();
  }
  EXPECT_EQ(kind_total, 1000);
  EXPECT_GT(
      Field(Field(json, "status_codes").struct_value(), "OK").number_value(),
      0);
  EXPECT_GT(
      Field(Field(json, "cpu").struct_value(), "us_per_rpc").number_value(), 0);
  const auto& invariant = Field(json, "invariant").struct_value();
  EXPECT_EQ(Field(invariant, "verdict").string_value(), "PASS");
  EXPECT_EQ(Field(invariant, "accounts").number_value(), 10);
  ExpectCleanStop(*server);
}

}  // namespace
}  // namespace bank::testing
