// Goal: a real bank_server started with --metrics_listen serves Prometheus
// text on /metrics whose values match the RPCs it answered (by method and
// code), its accounts and its engine; serves nothing else; listens for
// metrics only when asked; and refuses to start when the metrics port is
// taken.
// Method: start bank_server on 127.0.0.1 port 0 for both gRPC and metrics
// (the listening line names the metrics address), make a known set of RPCs
// through the generated stubs, scrape with a minimal HTTP GET (bounded by a
// deadline) and compare sample lines exactly. Each engine that keeps money
// right is covered.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/server/server_runner.h"
#include "tests/server/rpc_helpers.h"
#include "tests/server/server_fixture.h"
#include "tests/testing/http_get.h"
#include "tests/testing/server_process.h"
#include "tests/testing/subprocess.h"

namespace bank::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kScrapeTimeout = absl::Seconds(30);
constexpr int kExitFailure = 1;  // server_main.cc: cannot start serving.

// MetricsAddress answers the "metrics=HOST:PORT" of a listening line.
std::string MetricsAddress(const std::string& listening_line) {
  const size_t at = listening_line.find(" metrics=");
  if (at == std::string::npos) return "";
  return listening_line.substr(at + std::string(" metrics=").size());
}

class MetricsTest : public ServerFixture {
 protected:
  HttpResponse Scrape(const std::string& path) {
    absl::StatusOr<HttpResponse> response = HttpGet(
        MetricsAddress(server_->listening_line()), path, kScrapeTimeout);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.value_or(HttpResponse());
  }
};

TEST_P(MetricsTest, ScrapeCountsTheRpcsAnswered) {
  StartServer({"--metrics_listen=127.0.0.1:0", "--accounts=main:80"});
  ASSERT_THAT(MetricsAddress(server_->listening_line()),
              HasSubstr("127.0.0.1:"));
  ASSERT_TRUE(client_->Withdraw("main", 30).status.ok());
  ASSERT_TRUE(client_->Withdraw("main", 10).status.ok());
  EXPECT_EQ(client_->Withdraw("main", 1000).status.error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(client_->GetBalance("nobody").status.error_code(),
            grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(client_->Open("b", 0).status.ok());
  ASSERT_TRUE(client_->Transfer("main", "b", 5).status.ok());

  const HttpResponse response = Scrape("/metrics");
  EXPECT_EQ(response.status, 200) << response.headers;
  EXPECT_THAT(response.headers,
              HasSubstr("Content-Type: text/plain; version=0.0.4"));
  const std::string& page = response.body;
  EXPECT_THAT(page, HasSubstr("\nbank_rpcs_total{method=\"Withdraw\",code="
                              "\"OK\"} 2\n"));
  EXPECT_THAT(page, HasSubstr("\nbank_rpcs_total{method=\"Withdraw\",code="
                              "\"FAILED_PRECONDITION\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("\nbank_rpcs_total{method=\"GetBalance\","
                              "code=\"NOT_FOUND\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("\nbank_rpcs_total{method=\"OpenAccount\","
                              "code=\"OK\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("\nbank_rpcs_total{method=\"Transfer\",code="
                              "\"OK\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("\nbank_rpcs_total{method=\"Deposit\",code="
                              "\"OK\"} 0\n"));
  EXPECT_THAT(page, HasSubstr("\nbank_rpc_duration_seconds_count{method="
                              "\"Withdraw\"} 3\n"));
  EXPECT_THAT(page, HasSubstr("\nbank_rpc_duration_seconds_bucket{method="
                              "\"Withdraw\",le=\"+Inf\"} 3\n"));
  EXPECT_THAT(page, HasSubstr("\nbank_rpcs_in_flight 0\n"));
  // main from --accounts, and b.
  EXPECT_THAT(page, HasSubstr("\nbank_accounts_open 2\n"));
  EXPECT_THAT(page, HasSubstr("\nbank_build_info{version=\""));
  EXPECT_THAT(page,
              HasSubstr(absl::StrCat(",engine=\"", GetParam(), "\"} 1\n")));
  EXPECT_EQ(absl::StrContains(page, "bank_engine_queue_depth "),
            GetParam() == "queue");
  if (GetParam() == "queue") {
    // --accounts' open, six RPCs: seven operations through the queue.
    EXPECT_THAT(page, HasSubstr("\nbank_engine_queue_batch_size_sum 7\n"));
  }
}

// Refusals made before the engine sees a request still count: a request
// that does not parse (every method, ApplyBatch too), a single-operation
// request over 4 KiB, and an OpenAccount the per-address limit refuses.
TEST_P(MetricsTest, RefusalsBeforeTheEngineAreCounted) {
  StartServer({"--metrics_listen=127.0.0.1:0", "--accounts=main:80",
               "--open_account_rps_per_peer=0.001",
               "--open_account_burst_per_peer=1"});
  const std::string garbage("\x0f\x00", 2);  // Wire type 7: never parses.
  EXPECT_EQ(CallRaw(server_->channel(), "/bank.v1.BankService/Deposit", garbage)
                .error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(
      CallRaw(server_->channel(), "/bank.v1.BankService/ApplyBatch", garbage)
          .error_code(),
      grpc::StatusCode::INVALID_ARGUMENT);
  const auto oversized =
      client_->Deposit("main", 1, std::string(5 * 1024, 'a'));
  EXPECT_EQ(oversized.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << oversized.status.error_message();
  ASSERT_TRUE(client_->Open("b", 0).status.ok());
  EXPECT_EQ(client_->Open("c", 0).status.error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  const std::string page = Scrape("/metrics").body;
  EXPECT_THAT(page, HasSubstr("\nbank_rpcs_total{method=\"Deposit\",code="
                              "\"INVALID_ARGUMENT\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("\nbank_rpcs_total{method=\"ApplyBatch\","
                              "code=\"INVALID_ARGUMENT\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("\nbank_rpcs_total{method=\"Deposit\",code="
                              "\"RESOURCE_EXHAUSTED\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("\nbank_rpcs_total{method=\"OpenAccount\","
                              "code=\"OK\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("\nbank_rpcs_total{method=\"OpenAccount\","
                              "code=\"RESOURCE_EXHAUSTED\"} 1\n"));
  EXPECT_THAT(page, HasSubstr("\nbank_rpcs_in_flight 0\n"));
}

TEST_P(MetricsTest, ServesOnlyMetrics) {
  StartServer({"--metrics_listen=127.0.0.1:0"});
  EXPECT_EQ(Scrape("/").status, 404);
  EXPECT_EQ(Scrape("/metrics/extra").status, 404);
  EXPECT_EQ(Scrape("/index.html").status, 404);
}

TEST_P(MetricsTest, NoMetricsUnlessAsked) {
  StartServer({});
  EXPECT_EQ(server_->listening_line(),
            absl::StrCat(kListeningLinePrefix, server_->address(),
                         " engine=", GetParam()));
}

TEST_P(MetricsTest, TakenMetricsPortFailsToStart) {
  StartServer({"--metrics_listen=127.0.0.1:0"});
  const std::string taken = MetricsAddress(server_->listening_line());
  Subprocess::Options options;
  options.capture_stderr = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> second = Subprocess::Start(
      BANK_SERVER_PATH,
      {"--listen=127.0.0.1:0", absl::StrCat("--metrics_listen=", taken)},
      options);
  ASSERT_TRUE(second.ok()) << second.status();
  absl::StatusOr<ExitStatus> exit = (*second)->Wait(kServerStopTimeout);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->exited && exit->code == kExitFailure) << exit->ToString();
  EXPECT_THAT((*second)->stderr_text(),
              HasSubstr(absl::StrCat("cannot serve metrics on ", taken)));
  EXPECT_THAT((*second)->stdout_text(), Not(HasSubstr("listening on")));
}

INSTANTIATE_TEST_SUITE_P(SafeEngines, MetricsTest,
                         ::testing::Values("mutex", "queue"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace bank::testing
