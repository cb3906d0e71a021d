#include "service/server/server_runner.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpc/grpc.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "service/server/bank_service_impl.h"
#include "service/server/connection_listener.h"
#include "service/server/metrics.h"
#include "service/server/metrics_http.h"
#include "service/server/server_limits.h"

namespace bank {
namespace {

constexpr char kServiceName[] = "bank.v1.BankService";

sigset_t ShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  return signals;
}

// WaitForShutdownSignal blocks the main thread until SIGINT or SIGTERM is
// pending and takes it. Because both are blocked in every thread, they are
// never delivered to a handler: shutdown runs here, in ordinary code.
int WaitForShutdownSignal() {
  const sigset_t signals = ShutdownSignals();
  int signal_number = 0;
  while (sigwait(&signals, &signal_number) != 0) {
  }
  return signal_number;
}

// BoundAddress replaces the port of `listen_address` (host:port, where the
// host may be a bracketed IPv6 address) with the port actually bound.
std::string BoundAddress(const std::string& listen_address, int port) {
  const size_t colon = listen_address.rfind(':');
  const std::string host = colon == std::string::npos
                               ? listen_address
                               : listen_address.substr(0, colon);
  return absl::StrCat(host, ":", port);
}

// LinkHealthDescriptors puts grpc/health/v1/health.proto into the generated
// descriptor pool that the reflection service reads. gRPC's built-in health
// service encodes its messages without protobuf's C++ classes, so without
// this the server lists grpc.health.v1.Health but reflection cannot describe
// it, and reflection-driven clients (grpcurl) fail to call it. Naming a
// descriptor here is what makes the linker keep health.pb.cc's object (and
// with it the static initializer that registers the file).
void LinkHealthDescriptors() {
  const google::protobuf::Descriptor* descriptor =
      grpc::health::v1::HealthCheckRequest::descriptor();
  if (descriptor == nullptr) std::abort();
}

// BuildServer builds the server without a listening port of its own:
// connections arrive through `acceptor` from ConnectionListener (see
// connection_listener.h for why), which also binds without SO_REUSEPORT so
// that a second server cannot share a taken port and split the clients.
std::unique_ptr<grpc::Server> BuildServer(
    const ServerConfig& config, grpc::Service& service,
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor>& acceptor) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  acceptor = builder.experimental().AddExternalConnectionAcceptor(
      grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
      config.security.credentials != nullptr
          ? config.security.credentials
          : grpc::InsecureServerCredentials());
  // ApplyBatch's cap; the single-operation handlers check their own 4 KiB.
  builder.SetMaxReceiveMessageSize(kBatchRequestBytesMax);
  ApplyServerLimits(config.limits, builder);
  builder.RegisterService(&service);
  return builder.BuildAndStart();
}

}  // namespace

absl::StatusOr<std::vector<InitialAccount>> ParseAccounts(
    absl::string_view text) {
  std::vector<InitialAccount> accounts;
  if (text.empty()) return accounts;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    const size_t colon = item.rfind(':');
    InitialAccount account;
    if (colon == absl::string_view::npos || colon == 0 ||
        !absl::SimpleAtoi(item.substr(colon + 1), &account.balance)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--accounts item \"", item,
                       "\" is not ACCOUNT_ID:BALANCE (e.g. main:80)"));
    }
    account.account_id = std::string(item.substr(0, colon));
    accounts.push_back(std::move(account));
  }
  return accounts;
}

absl::Status OpenAccounts(AccountEngine& engine,
                          const std::vector<InitialAccount>& accounts) {
  for (const InitialAccount& account : accounts) {
    absl::StatusOr<OperationResult> result = ExecuteAndWait(
        engine, Operation{OperationKind::kOpen, account.account_id, "",
                          account.balance});
    if (!result.ok()) {
      return absl::Status(
          result.status().code(),
          absl::StrCat("cannot open account \"", account.account_id,
                       "\": ", result.status().message()));
    }
  }
  return absl::OkStatus();
}

absl::Status BlockShutdownSignals() {
  const sigset_t signals = ShutdownSignals();
  const int error_number = pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  if (error_number != 0) {
    return absl::InternalError(
        absl::StrCat("pthread_sigmask: ", std::strerror(error_number)));
  }
  return absl::OkStatus();
}

absl::Status RunServer(const ServerConfig& config, AccountEngine& engine) {
  PeerRateLimiter open_account_limiter(config.open_account_rate);
  // Declared before the HTTP server, so it outlives every scrape.
  RpcMetrics rpc_metrics;
  std::unique_ptr<MetricsHttpServer> metrics_http;
  std::string listening_suffix;
  if (!config.metrics_listen_address.empty()) {
    const BuildInfo build{BankVersion(), engine.Name()};
    const absl::Time started = absl::Now();
    absl::StatusOr<std::unique_ptr<MetricsHttpServer>> http =
        MetricsHttpServer::Start(config.metrics_listen_address,
                                 [&rpc_metrics, &engine, build, started] {
                                   return RenderMetrics(rpc_metrics, engine,
                                                        build, started);
                                 });
    if (!http.ok()) return http.status();
    metrics_http = *std::move(http);
    listening_suffix = absl::StrCat(" metrics=", metrics_http->address());
  }
  BankServiceImpl::Options options;
  options.log_ops = config.log_ops;
  options.metrics = metrics_http != nullptr ? &rpc_metrics : nullptr;
  options.open_account_limiter = &open_account_limiter;
  BankServiceImpl service(engine, options);
  // Once no RPC can reach the engine any more, drain what it still holds.
  return ServeUntilSignal(
      config, service, engine.Name(), [&engine] { engine.Shutdown(); },
      listening_suffix, [&engine] { return engine.Healthy(); });
}

absl::Status ServeUntilSignal(const ServerConfig& config,
                              grpc::Service& service,
                              absl::string_view engine_name,
                              absl::FunctionRef<void()> after_stop,
                              absl::string_view listening_suffix,
                              std::function<bool()> healthy) {
  LinkHealthDescriptors();
  absl::StatusOr<int> connections_max =
      RaiseDescriptorLimit(config.limits.connections_max);
  if (!connections_max.ok()) return connections_max.status();
  absl::StatusOr<std::unique_ptr<ConnectionListener>> listener =
      ConnectionListener::Bind(config.listen_address, *connections_max);
  if (!listener.ok()) return listener.status();
  const int port = (*listener)->port();
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor;
  std::unique_ptr<grpc::Server> server = BuildServer(config, service, acceptor);
  if (server == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot start the server on ", config.listen_address));
  }
  (*listener)->Start(std::move(acceptor));
  grpc::HealthCheckServiceInterface* health = server->GetHealthCheckService();
  health->SetServingStatus(kServiceName, true);
  std::printf("%s%s engine=%s%s\n", kListeningLinePrefix,
              BoundAddress(config.listen_address, port).c_str(),
              std::string(engine_name).c_str(),
              std::string(listening_suffix).c_str());
  std::fflush(stdout);

  // The health watcher follows the engine while the main thread waits.
  absl::Notification stop_watching;
  std::thread watcher;
  if (healthy != nullptr) {
    watcher = std::thread([&] {
      bool serving = true;
      while (
          !stop_watching.WaitForNotificationWithTimeout(kHealthPollInterval)) {
        const bool now_serving = healthy();
        if (now_serving == serving) continue;
        serving = now_serving;
        health->SetServingStatus(kServiceName, serving);
        health->SetServingStatus("", serving);
      }
    });
  }
  const int signal_number = WaitForShutdownSignal();
  stop_watching.Notify();
  if (watcher.joinable()) watcher.join();
  std::fprintf(stderr,
               "bank_server (engine=%s): %s received; shutting down "
               "(grace %s)\n",
               std::string(engine_name).c_str(),
               signal_number == SIGINT ? "SIGINT" : "SIGTERM",
               absl::FormatDuration(config.shutdown_grace).c_str());
  // Load balancers and probes see NOT_SERVING first; then no new RPCs are
  // accepted and in-flight ones get the grace period. When it runs out,
  // `after_stop` shuts the engine down *before* gRPC cancels anything: the
  // engine finishes what is applying and answers UNAVAILABLE to what has not
  // started, so every RPC that reached it finishes with its true outcome.
  // Only engine_stop_max later does gRPC cancel what is still open (calls
  // that never reached the engine, watch streams), so a cancelled
  // UNAVAILABLE never hides an applied change, and the exit comes within
  // grace + engine_stop_max.
  health->SetServingStatus(false);
  listener->reset();  // No new connections from here on.
  const absl::Time cancel_at =
      absl::Now() + config.shutdown_grace + config.engine_stop_max;
  absl::Notification drained;
  std::thread stopper([&server, &drained, cancel_at] {
    server->Shutdown(absl::ToChronoTime(cancel_at));
    drained.Notify();
  });
  drained.WaitForNotificationWithTimeout(config.shutdown_grace);
  after_stop();
  stopper.join();
  server->Wait();
  return absl::OkStatus();
}

}  // namespace bank
