// bench_closed_loop: the plain closed-loop callback client that bank_loadgen
// is measured against (issue 5: "bank_loadgen drives the floor server at
// least as hard as a plain closed-loop callback client would").
//
// It keeps --concurrency Deposit RPCs on one account in flight over
// --connections channels for --duration, each slot issuing its next RPC from
// the previous one's completion, and records nothing per RPC. It prints one
// JSON object on stdout:
//   {"rpcs":N,"failed":N,"seconds":S,"rps":R,"cpu_seconds":C,
//    "cpu_us_per_rpc":U}
// where cpu_seconds is this process's user+system CPU time over the run
// (getrusage), so cpu_us_per_rpc is the client's own cost per RPC.
//
// It sets its process up exactly as bank_loadgen's main does (Abseil
// deadlock detection off, glibc keeps freed heap), so that the comparison
// is between the two clients' per-RPC work, not their process settings.

#include <sys/resource.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "service/engine/process_tuning.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bank/v1/bank.grpc.pb.h"
#include "bench/rpc_loop.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "host:port of the server");
ABSL_FLAG(int, concurrency, 64, "RPCs in flight at once");
ABSL_FLAG(int, connections, 1, "channels (TCP connections) to use");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(5), "how long to run");
ABSL_FLAG(std::string, account, "hot", "the account every Deposit targets");

namespace bank {
namespace {

constexpr int kConcurrencyMax = 65'536;
constexpr int kConnectionsMax = 64;
constexpr absl::Duration kDurationMax = absl::Minutes(10);
constexpr absl::Duration kConnectTimeout = absl::Seconds(5);
// As in loadgen/main.cc.

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

int Main() {
  const int concurrency = absl::GetFlag(FLAGS_concurrency);
  const int connections = absl::GetFlag(FLAGS_connections);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  if (concurrency < 1 || concurrency > kConcurrencyMax || connections < 1 ||
      connections > kConnectionsMax || duration <= absl::ZeroDuration() ||
      duration > kDurationMax) {
    std::fprintf(stderr, "bench_closed_loop: bad flag value\n");
    return 2;
  }
  const std::string target = absl::GetFlag(FLAGS_target);
  auto channels = MakeChannels(target, connections);
  std::vector<std::unique_ptr<v1::BankService::Stub>> stubs;
  for (const auto& channel : channels) {
    if (!channel->WaitForConnected(
            absl::ToChronoTime(absl::Now() + kConnectTimeout))) {
      std::fprintf(stderr, "bench_closed_loop: cannot connect to %s\n",
                   target.c_str());
      return 2;
    }
    stubs.push_back(v1::BankService::NewStub(channel));
  }
  const std::string account = absl::GetFlag(FLAGS_account);
  const double cpu_start = CpuSeconds();
  const absl::Time start = absl::Now();
  RpcLoop<v1::DepositRequest, v1::DepositResponse> loop(
      concurrency, stubs.size(), /*total=*/-1, start + duration,
      [&](int64_t /*sequence*/, v1::DepositRequest* request) {
        request->set_account_id(account);
        request->set_amount(1);
      },
      [&](size_t channel, grpc::ClientContext* context,
          const v1::DepositRequest* request, v1::DepositResponse* response,
          std::function<void(grpc::Status)> done) {
        stubs[channel]->async()->Deposit(context, request, response,
                                         std::move(done));
      });
  const RpcLoopResult result = loop.Run();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const double cpu_seconds = CpuSeconds() - cpu_start;
  std::printf(
      "{\"rpcs\":%lld,\"failed\":%lld,\"seconds\":%.3f,\"rps\":%.1f,"
      "\"cpu_seconds\":%.3f,\"cpu_us_per_rpc\":%.3f}\n",
      static_cast<long long>(result.completed),
      static_cast<long long>(result.failed), seconds,
      result.completed / seconds, cpu_seconds,
      result.completed > 0 ? cpu_seconds * 1e6 / result.completed : 0.0);
  return result.failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace bank

int main(int argc, char** argv) {
  bank::TuneProcessForThroughput();  // As bank_loadgen and bank_server.
  absl::SetProgramUsageMessage(
      "Closed-loop Deposit client: the yardstick for bank_loadgen.");
  absl::ParseCommandLine(argc, argv);
  return bank::Main();
}
