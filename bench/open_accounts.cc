// bench_open_accounts: opens many accounts on a bank server, fast, for the
// memory figure of bench/e2e.sh (bank_server's RSS with 1,000,000 open
// accounts). A million ids do not fit on bank_server's --accounts command
// line, and opening them one blocking RPC at a time would take minutes, so
// this keeps --in_flight OpenAccount RPCs going over --connections channels.
//
// Like bank_loadgen, it turns off Abseil's deadlock detection and keeps
// freed heap, so that the client is never what limits the opening rate.
//
// Account ids are --prefix followed by a zero-padded number (ten digits, the
// width a real account number might have). Exits 0 when every account
// opened, 1 otherwise (with the count of failures), 2 on bad flags.


#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "service/engine/process_tuning.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bank/v1/bank.grpc.pb.h"
#include "bench/rpc_loop.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "host:port of the server");
ABSL_FLAG(int64_t, count, 1'000'000, "accounts to open");
ABSL_FLAG(int, in_flight, 256, "OpenAccount RPCs in flight at once");
ABSL_FLAG(int, connections, 2, "channels (TCP connections) to use");
ABSL_FLAG(std::string, prefix, "m", "account id prefix");
ABSL_FLAG(int64_t, initial_balance, 100, "each account's initial balance");

namespace bank {
namespace {

// kInFlightMax, kConnectionsMax: sanity bounds on the flags.
constexpr int kInFlightMax = 65'536;
constexpr int kConnectionsMax = 64;
// As in loadgen/main.cc.

int Main() {
  const int64_t count = absl::GetFlag(FLAGS_count);
  const int in_flight = absl::GetFlag(FLAGS_in_flight);
  const int connections = absl::GetFlag(FLAGS_connections);
  if (count < 0 || in_flight < 1 || in_flight > kInFlightMax ||
      connections < 1 || connections > kConnectionsMax) {
    std::fprintf(stderr,
                 "bench_open_accounts: bad --count, --in_flight or "
                 "--connections\n");
    return 2;
  }
  const std::string prefix = absl::GetFlag(FLAGS_prefix);
  const int64_t initial_balance = absl::GetFlag(FLAGS_initial_balance);
  auto channels = MakeChannels(absl::GetFlag(FLAGS_target), connections);
  std::vector<std::unique_ptr<v1::BankService::Stub>> stubs;
  for (const auto& channel : channels) {
    stubs.push_back(v1::BankService::NewStub(channel));
  }
  const absl::Time start = absl::Now();
  RpcLoop<v1::OpenAccountRequest, v1::OpenAccountResponse> loop(
      in_flight, stubs.size(), count, absl::InfiniteFuture(),
      [&](int64_t sequence, v1::OpenAccountRequest* request) {
        request->set_account_id(absl::StrFormat("%s%010d", prefix, sequence));
        request->set_initial_balance(initial_balance);
      },
      [&](size_t channel, grpc::ClientContext* context,
          const v1::OpenAccountRequest* request,
          v1::OpenAccountResponse* response,
          std::function<void(grpc::Status)> done) {
        stubs[channel]->async()->OpenAccount(context, request, response,
                                             std::move(done));
      });
  const RpcLoopResult result = loop.Run();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf("opened %lld of %lld accounts in %.2f s (%.0f/s), %lld failed\n",
              static_cast<long long>(result.completed - result.failed),
              static_cast<long long>(count), seconds,
              (result.completed - result.failed) / seconds,
              static_cast<long long>(result.failed));
  return result.failed == 0 && result.completed == count ? 0 : 1;
}

}  // namespace
}  // namespace bank

int main(int argc, char** argv) {
  bank::TuneProcessForThroughput();  // As bank_loadgen and bank_server.
  absl::SetProgramUsageMessage(
      "Opens --count accounts on a bank server with many RPCs in flight.");
  absl::ParseCommandLine(argc, argv);
  return bank::Main();
}
