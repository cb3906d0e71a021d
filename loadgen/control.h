// Control-plane calls of bank_loadgen: connecting, opening the accounts
// before the load and reading every balance back after it.
//
// These run outside the measured load, so they favour simplicity over speed:
// the calling thread issues the calls (at most kControlInFlightMax at once)
// and blocks until they all ended. Each helper answers an absl::Status whose
// message a person can act on.

#ifndef BANK_LOADGEN_CONTROL_H_
#define BANK_LOADGEN_CONTROL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bank/v1/bank.grpc.pb.h"
#include "client/tls_options.h"
#include "grpcpp/channel.h"

namespace bank::loadgen {

inline constexpr int64_t kControlInFlightMax = 256;
// kControlDeadline bounds each control call; generous, because a queue
// engine with injected latency may still be draining the load's backlog.
inline constexpr absl::Duration kControlDeadline = absl::Seconds(60);
// kConnectDeadline bounds the reachability probe.
inline constexpr absl::Duration kConnectDeadline = absl::Seconds(5);
inline constexpr absl::Duration kSetupRetryFor = absl::Seconds(60);
inline constexpr absl::Duration kSetupBackoffInitial = absl::Milliseconds(5);
inline constexpr absl::Duration kSetupBackoffMax = absl::Seconds(1);

// ChannelTarget turns --target into a gRPC target: one "host:port" or any
// gRPC URI (e.g. "dns:///bank:50051", every address of the name) is used as
// is; several comma-separated "host:port" (e.g. replicas
// "bank1:50051,bank2:50051") are resolved once, now, into one
// "ipv4:ip:port,..." target. kInvalidArgument for an empty item or a host
// that does not resolve to an IPv4 address.
absl::StatusOr<std::string> ChannelTarget(const std::string& target);

// SetRideOverRestarts (--ride_over_restarts, for the crash test): when on,
// MakeChannels' channels reconnect within kReconnectBackoffMax and every RPC
// that PrepareContext prepared waits for a connection (gRPC's
// wait_for_ready) instead of failing fast while the server is down. An RPC
// cut by the server's death still ends UNAVAILABLE: indeterminate. Call it
// once, before any channel or RPC exists.
inline constexpr absl::Duration kReconnectBackoffMax = absl::Milliseconds(500);
void SetRideOverRestarts(bool ride);
bool RideOverRestarts();
// With restart riding, SIGUSR1 ends the load early (the crash test sends it
// after its last cycle); the run then reads the balances and checks its
// ledger as after --duration. StopRequested is async-signal-safe to set.
bool StopRequested();
// PrepareContext applies the restart riding to one RPC's context.
void PrepareContext(grpc::ClientContext& context);

// MakeChannels answers `count` channels to `target` that never share a TCP
// connection (each has its own subchannel pool and a distinct channel arg),
// plaintext or TLS as `security` says. Each channel spreads its RPCs over
// every address of the target with gRPC's round_robin policy, which leaves
// out a server it cannot reach (RPCs in flight to a server that dies fail
// UNAVAILABLE: indeterminate).
std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(
    const std::string& target, int64_t count,
    const client::ChannelSecurity& security);

// CheckReachable sends one GetBalance for `probe_account_id` (any answer
// from a bank server will do, NOT_FOUND included). Answers kUnavailable with
// "cannot connect to TARGET: REASON" when no server answers.
absl::Status CheckReachable(bank::v1::BankService::Stub& stub,
                            const std::string& target,
                            const std::string& probe_account_id);

// ConnectFailureReason turns gRPC's connect error ("failed to connect to all
// addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Failed to connect to
// remote host: Connection refused") into its last clause, lower-cased
// ("connection refused").
std::string ConnectFailureReason(const std::string& grpc_message);

// OpenAccounts opens every id with `initial_balance`. An id that already
// exists is an error (the run's accounts must start from a known balance).
// RESOURCE_EXHAUSTED (a full queue) decided nothing: those accounts are
// opened again after a backoff (kSetupBackoffInitial, doubling up to
// kSetupBackoffMax) for up to kSetupRetryFor.
absl::Status OpenAccounts(bank::v1::BankService::Stub& stub,
                          const std::vector<std::string>& account_ids,
                          int64_t initial_balance);

// ReadBalances answers every account's balance, in order; like
// OpenAccounts it reads again what a full queue turned away.
absl::StatusOr<std::vector<int64_t>> ReadBalances(
    bank::v1::BankService::Stub& stub,
    const std::vector<std::string>& account_ids);

// kSettleReadsMax bounds ReadSettledBalances' read-backs.
inline constexpr int kSettleReadsMax = 40;

// ReadSettledBalances reads every balance; when `settle` (some operation's
// outcome is unknown, so it may still be applying on the server) it reads
// again every `interval` until two reads agree, at most kSettleReadsMax
// times. `reads` receives how many read-backs it took.
absl::StatusOr<std::vector<int64_t>> ReadSettledBalances(
    bank::v1::BankService::Stub& stub,
    const std::vector<std::string>& account_ids, bool settle,
    absl::Duration interval, int& reads);

// ToAbslStatus keeps a gRPC status's code and message.
absl::Status ToAbslStatus(const grpc::Status& status);

}  // namespace bank::loadgen

#endif  // BANK_LOADGEN_CONTROL_H_
