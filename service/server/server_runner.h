// Server wiring: from a configuration and an engine to a running gRPC server
// that stops cleanly on SIGINT/SIGTERM.
//
// Startup (RunServer): the standard health service and the reflection plugin
// are enabled, BankService is registered, the port is bound (by
// ConnectionListener, which hands connections to gRPC) with requests capped
// at kBatchRequestBytesMax (ApplyBatch's cap; single-operation handlers
// refuse anything over kRequestBytesMax), and once the server accepts
// connections one line is printed on stdout and flushed:
//
//   bank_server listening on 127.0.0.1:43210 engine=queue
//
// (kListeningLinePrefix, the bound address with the port the kernel chose
// for port 0, and the engine name). Tests and scripts wait for that line.
// With metrics_listen_address set, the /metrics endpoint (MetricsHttpServer)
// starts first and the line ends in " metrics=HOST:PORT", its bound address.
//
// Shutdown: SIGINT and SIGTERM are blocked in every thread (see
// BlockShutdownSignals) and the main thread takes them with sigwait(), so no
// work happens in a signal handler. Then health turns NOT_SERVING, the
// server stops accepting RPCs and gives in-flight ones up to the grace
// period to finish (cancelling any still running after it), and finally the
// engine drains: every accepted operation completes, so every accepted RPC
// is answered.

#ifndef BANK_SERVICE_SERVER_SERVER_RUNNER_H_
#define BANK_SERVICE_SERVER_SERVER_RUNNER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/engine/account_engine.h"
#include "service/server/bank_service_impl.h"
#include "service/server/peer_rate_limiter.h"
#include "service/server/server_limits.h"
#include "service/server/server_security.h"

namespace grpc {
class Service;
}  // namespace grpc

namespace bank {

// kListeningLinePrefix starts the line printed once the server is up; the
// bound address follows it, then " engine=NAME".
inline constexpr char kListeningLinePrefix[] = "bank_server listening on ";

// kShutdownGraceDefault: how long in-flight RPCs may run after SIGTERM.
inline constexpr absl::Duration kShutdownGraceDefault = absl::Seconds(5);

struct ServerConfig {
  std::string listen_address = "127.0.0.1:50051";  // host:port; 0 = any port.
  bool log_ops = false;  // One stdout line per applied operation.
  absl::Duration shutdown_grace = kShutdownGraceDefault;
  // security: TLS credentials and authz policy (server_security.h);
  // default plaintext, every call allowed.
  ServerSecurity security;
  // engine_stop_max: the longest the engine's Shutdown may take (about one
  // operation, its injected latency included). gRPC cancels what is still
  // open only this long after the grace, once the engine has answered every
  // RPC it holds: see ServeUntilSignal.
  absl::Duration engine_stop_max = absl::Seconds(1);
  // HOST:PORT for Prometheus's /metrics over HTTP; "" (default): none.
  std::string metrics_listen_address;
  ServerLimits limits;         // Connection, stream and memory limits.
  PeerRate open_account_rate;  // OpenAccount calls per client address.
};

// InitialAccount: an account the server opens before it starts serving.
struct InitialAccount {
  std::string account_id;
  int64_t balance = 0;  // Minor units, >= 0.
};

// ParseAccounts parses --accounts: "" (none) or comma-separated
// ACCOUNT_ID:BALANCE pairs such as "main:80,b:10". Answers
// kInvalidArgument naming the bad item for anything else (the engine
// checks the ids and balances themselves when they are opened).
absl::StatusOr<std::vector<InitialAccount>> ParseAccounts(
    absl::string_view text);

// OpenAccounts opens each account on `engine`, in order, waiting for each;
// answers the first failure (e.g. kAlreadyExists for a repeated id) with
// the account named. For startup only, before the server serves.
absl::Status OpenAccounts(AccountEngine& engine,
                          const std::vector<InitialAccount>& accounts);

// BlockShutdownSignals blocks SIGINT and SIGTERM in the calling thread. Call
// it first thing in main, before any thread (engine or gRPC) starts, so
// every thread inherits the mask and the signals wait for RunServer's
// sigwait(). Answers kInternal if the mask cannot be set.
absl::Status BlockShutdownSignals();

// RunServer serves `engine` as configured until SIGINT or SIGTERM, then
// shuts down as described above (including engine.Shutdown()) and returns
// OK. Answers an error, without serving, if the address (or the metrics
// address) cannot be bound.
// Requires BlockShutdownSignals() to have run on the main thread first.
absl::Status RunServer(const ServerConfig& config, AccountEngine& engine);

// ServeUntilSignal is RunServer's wiring for any implementation of
// bank.v1.BankService (bank_floor_server serves its engine-less one through
// it, so that it differs from bank_server only by the engine): it serves
// `service` as configured (config.log_ops is the service's business), prints
// the listening line with `engine_name`, waits for SIGINT or SIGTERM, shuts
// the server down with the grace period, and then calls `after_stop`.
// `listening_suffix` is appended to the listening line.
//
// `healthy`, when given, is polled every kHealthPollInterval while serving:
// false turns the health status NOT_SERVING (both "" and the bank service),
// true turns it back to SERVING (RunServer passes engine.Healthy()).
inline constexpr absl::Duration kHealthPollInterval = absl::Milliseconds(250);
absl::Status ServeUntilSignal(const ServerConfig& config,
                              grpc::Service& service,
                              absl::string_view engine_name,
                              absl::FunctionRef<void()> after_stop,
                              absl::string_view listening_suffix = "",
                              std::function<bool()> healthy = nullptr);

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_SERVER_RUNNER_H_
