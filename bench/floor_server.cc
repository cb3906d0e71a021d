// bank_floor_server: the cost of gRPC itself, for the benchmarks only.
//
// It serves the same bank.v1 BankService as bank_server, through the same
// callback API, but every handler answers at once with a fixed response and
// touches no engine and no shared state. So whatever an end-to-end run costs
// on this server is the floor any engine's server pays on the same machine
// in the same run; bench/e2e.sh states every engine's figures as ratios to
// it. Never shipped: it keeps no balances (OpenAccount echoes its request,
// every other RPC answers kFloorBalance), so bank_loadgen's invariant check
// does not apply to it.
//
// Its process is set up exactly as bank_server's (TuneProcessForThroughput)
// and it is served by the same wiring (ServeUntilSignal: health, reflection,
// request cap, listening line, signals), so the floor differs from an
// engine's server only by the engine.
//
// Flags: --listen (port 0 picks a free port). Once serving it prints the
// same line bank_server prints (kListeningLinePrefix, the bound address,
// " engine=floor"), and it stops on SIGINT/SIGTERM like bank_server.

#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/time.h"
#include "bank/v1/bank.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "service/engine/process_tuning.h"
#include "service/server/server_runner.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "host:port to listen on; port 0 picks a free port");

namespace bank {
namespace {

// kFloorBalance: the balance every balance-carrying response reports.
constexpr int64_t kFloorBalance = 1'000'000;
// kFloorShutdownGrace: in-flight RPCs finish instantly here, so a short
// grace suffices.
constexpr absl::Duration kFloorShutdownGrace = absl::Seconds(1);

// FloorService answers every RPC on the calling gRPC thread, before the
// handler returns: no engine, no lock, no allocation of its own.
class FloorService final : public v1::BankService::CallbackService {
 public:
  grpc::ServerUnaryReactor* OpenAccount(
      grpc::CallbackServerContext* context,
      const v1::OpenAccountRequest* request,
      v1::OpenAccountResponse* response) override {
    response->mutable_account()->set_account_id(request->account_id());
    response->mutable_account()->set_balance(request->initial_balance());
    return Done(context);
  }

  grpc::ServerUnaryReactor* Deposit(grpc::CallbackServerContext* context,
                                    const v1::DepositRequest* /*request*/,
                                    v1::DepositResponse* response) override {
    response->set_balance(kFloorBalance);
    return Done(context);
  }

  grpc::ServerUnaryReactor* Withdraw(grpc::CallbackServerContext* context,
                                     const v1::WithdrawRequest* /*request*/,
                                     v1::WithdrawResponse* response) override {
    response->set_balance(kFloorBalance);
    return Done(context);
  }

  grpc::ServerUnaryReactor* Transfer(grpc::CallbackServerContext* context,
                                     const v1::TransferRequest* /*request*/,
                                     v1::TransferResponse* response) override {
    response->set_from_balance(kFloorBalance);
    response->set_to_balance(kFloorBalance);
    return Done(context);
  }

  grpc::ServerUnaryReactor* GetBalance(
      grpc::CallbackServerContext* context,
      const v1::GetBalanceRequest* /*request*/,
      v1::GetBalanceResponse* response) override {
    response->set_balance(kFloorBalance);
    return Done(context);
  }

 private:
  static grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* context) {
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

int Serve(const std::string& listen_address) {
  FloorService service;
  ServerConfig config;
  config.listen_address = listen_address;
  config.shutdown_grace = kFloorShutdownGrace;
  const absl::Status status =
      ServeUntilSignal(config, service, "floor", [] {});
  if (!status.ok()) {
    std::fprintf(stderr, "bank_floor_server: %s\n",
                 std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace bank

int main(int argc, char** argv) {
  bank::TuneProcessForThroughput();  // Set up exactly as bank_server.
  absl::SetProgramUsageMessage(
      "Benchmark-only BankService that answers every RPC at once with a "
      "fixed response (the gRPC floor).");
  // Before any thread starts, so every thread inherits the blocked mask.
  if (!bank::BlockShutdownSignals().ok()) return 1;
  absl::ParseCommandLine(argc, argv);
  return bank::Serve(absl::GetFlag(FLAGS_listen));
}
