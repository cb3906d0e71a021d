// ServerLimits: every bound bank_server puts on what one client may hold,
// gathered so that one abusive client cannot take the service down (see
// docs/SERVER.md, "Limits and abuse", for what a client sees at each).
//
// gRPC 1.51 enforces most of them itself once ApplyServerLimits has turned
// them into channel arguments and a ResourceQuota on the ServerBuilder:
//   concurrent_streams_max  HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS; a stream
//                           over it is refused (RST_STREAM REFUSED_STREAM).
//   connection_idle_max     a connection with no RPC for this long gets a
//                           GOAWAY and is closed.
//   connection_age_max      a connection this old gets a GOAWAY; its RPCs
//   connection_age_grace    then have the grace period to finish.
//   ping_interval_min       keepalive enforcement: pings closer than this, or
//                           any ping while no RPC runs, count as strikes;
//                           after kPingStrikesMax the connection is closed
//                           with GOAWAY ENHANCE_YOUR_CALM "too_many_pings".
//   handshake_timeout       a connection that has not completed the HTTP/2
//                           handshake (client SETTINGS) by then is closed.
//   grpc_memory_bytes_max   the ResourceQuota: memory gRPC's transports may
//                           use for buffers; under pressure it shrinks its
//                           read buffers and flow-control windows.
// gRPC 1.51 has no cap on connections (GRPC_ARG_MAX_ALLOWED_INCOMING_-
// CONNECTIONS arrived in 2024, grpc/grpc#36088), and its accept loop stops
// for good after one EMFILE (CVE-2023-4785; Debian's 1.51.1-3 is not
// patched). So bank_server accepts connections itself (ConnectionListener)
// and refuses those over connections_max, which RaiseDescriptorLimit keeps
// well under the descriptor limit.
//
// Thread safety: plain values; the functions are called once at start.

#ifndef BANK_SERVICE_SERVER_SERVER_LIMITS_H_
#define BANK_SERVICE_SERVER_SERVER_LIMITS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class ServerBuilder;
}  // namespace grpc

namespace bank {

// Defaults, also the flags' defaults (server_main.cc).
inline constexpr int kConcurrentStreamsMaxDefault = 100;
inline constexpr absl::Duration kConnectionIdleMaxDefault = absl::Minutes(5);
inline constexpr absl::Duration kConnectionAgeMaxDefault = absl::Hours(1);
inline constexpr absl::Duration kConnectionAgeGraceDefault = absl::Seconds(30);
inline constexpr absl::Duration kPingIntervalMinDefault = absl::Seconds(60);
inline constexpr absl::Duration kHandshakeTimeoutDefault = absl::Seconds(20);
inline constexpr int64_t kGrpcMemoryBytesMaxDefault = int64_t{128} << 20;
// kConnectionsMaxDefault: 0 means "as many as the descriptor limit allows":
// the limit minus kDescriptorsReserved, at most kConnectionsMaxAuto.
inline constexpr int kConnectionsMaxDefault = 0;
inline constexpr int kConnectionsMaxAuto = 10'000;

// Ranges each flag is checked against (ValidateServerLimits).
inline constexpr int kConcurrentStreamsMaxMax = 10'000;
inline constexpr absl::Duration kDurationLimitMin = absl::Seconds(1);
inline constexpr absl::Duration kDurationLimitMax = absl::Hours(24 * 365);
inline constexpr int64_t kGrpcMemoryBytesMaxMin = int64_t{4} << 20;
inline constexpr int64_t kGrpcMemoryBytesMaxMax = int64_t{64} << 30;
inline constexpr int kConnectionsMaxMax = 1'000'000;
inline constexpr int kPingStrikesMax = 2;
// kDescriptorsReserved: descriptors kept free of connections for
// everything else the process opens (stdio, the engine, gRPC's own
// eventfds and epoll, log and storage files).
inline constexpr int kDescriptorsReserved = 256;

struct ServerLimits {
  int concurrent_streams_max = kConcurrentStreamsMaxDefault;
  absl::Duration connection_idle_max = kConnectionIdleMaxDefault;
  absl::Duration connection_age_max = kConnectionAgeMaxDefault;
  absl::Duration connection_age_grace = kConnectionAgeGraceDefault;
  absl::Duration ping_interval_min = kPingIntervalMinDefault;
  absl::Duration handshake_timeout = kHandshakeTimeoutDefault;
  int64_t grpc_memory_bytes_max = kGrpcMemoryBytesMaxDefault;
  int connections_max = kConnectionsMaxDefault;  // 0: auto.
};

// ValidateServerLimits answers kInvalidArgument naming the flag
// ("--max_concurrent_streams ...") of the first value out of its range.
absl::Status ValidateServerLimits(const ServerLimits& limits);

// RaiseDescriptorLimit raises the soft RLIMIT_NOFILE to the hard limit and
// answers the connection cap to use: `connections_max` (0: auto, see
// kConnectionsMaxDefault) if it leaves kDescriptorsReserved descriptors
// free, else kInvalidArgument naming --max_connections and the limit.
absl::StatusOr<int> RaiseDescriptorLimit(int connections_max);

// ApplyServerLimits sets the channel arguments and the ResourceQuota above
// on `builder`. `limits` must have passed ValidateServerLimits.
void ApplyServerLimits(const ServerLimits& limits,
                       grpc::ServerBuilder& builder);

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_SERVER_LIMITS_H_
