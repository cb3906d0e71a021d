#include "service/server/server_limits.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "grpc/grpc.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/server_builder.h"

namespace bank {
namespace {

absl::Status CheckDuration(const char* flag, absl::Duration value) {
  if (value < kDurationLimitMin || value > kDurationLimitMax) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, "=", absl::FormatDuration(value), " is out of range [",
        absl::FormatDuration(kDurationLimitMin), ", ",
        absl::FormatDuration(kDurationLimitMax), "]"));
  }
  return absl::OkStatus();
}

// Milliseconds for a channel argument; ValidateServerLimits keeps every
// duration under a year, which fits an int.
int ToMillis(absl::Duration duration) {
  return static_cast<int>(absl::ToInt64Milliseconds(duration));
}

}  // namespace

absl::Status ValidateServerLimits(const ServerLimits& limits) {
  if (limits.concurrent_streams_max < 1 ||
      limits.concurrent_streams_max > kConcurrentStreamsMaxMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_concurrent_streams=", limits.concurrent_streams_max,
                     " is out of range [1, ", kConcurrentStreamsMaxMax, "]"));
  }
  const std::pair<const char*, absl::Duration> durations[] = {
      {"--max_connection_idle", limits.connection_idle_max},
      {"--max_connection_age", limits.connection_age_max},
      {"--max_connection_age_grace", limits.connection_age_grace},
      {"--min_ping_interval", limits.ping_interval_min},
      {"--handshake_timeout", limits.handshake_timeout},
  };
  for (const auto& [flag, value] : durations) {
    absl::Status status = CheckDuration(flag, value);
    if (!status.ok()) return status;
  }
  if (limits.grpc_memory_bytes_max < kGrpcMemoryBytesMaxMin ||
      limits.grpc_memory_bytes_max > kGrpcMemoryBytesMaxMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("--grpc_memory_max_bytes=", limits.grpc_memory_bytes_max,
                     " is out of range [", kGrpcMemoryBytesMaxMin, ", ",
                     kGrpcMemoryBytesMaxMax, "]"));
  }
  if (limits.connections_max < 0 ||
      limits.connections_max > kConnectionsMaxMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_connections=", limits.connections_max,
                     " is out of range [0 (auto), ", kConnectionsMaxMax, "]"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> RaiseDescriptorLimit(int connections_max) {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return absl::InternalError(
        absl::StrCat("getrlimit(RLIMIT_NOFILE): ", std::strerror(errno)));
  }
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    // Failure leaves the soft limit as it was; the cap below follows it.
    (void)setrlimit(RLIMIT_NOFILE, &limit);
    (void)getrlimit(RLIMIT_NOFILE, &limit);
  }
  const rlim_t descriptors =
      std::min<rlim_t>(limit.rlim_cur, rlim_t{kConnectionsMaxMax} * 2);
  const int available = static_cast<int>(descriptors) - kDescriptorsReserved;
  if (connections_max == 0) {
    if (available < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--max_connections: the descriptor limit (ulimit -n) is ",
          descriptors, "; bank_server needs more than ", kDescriptorsReserved));
    }
    return std::min(available, kConnectionsMaxAuto);
  }
  if (connections_max > available) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--max_connections=", connections_max,
        " leaves too few descriptors: the limit (ulimit -n) is ", descriptors,
        " and ", kDescriptorsReserved, " are kept for the rest"));
  }
  return connections_max;
}

void ApplyServerLimits(const ServerLimits& limits,
                       grpc::ServerBuilder& builder) {
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             limits.concurrent_streams_max);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                             ToMillis(limits.connection_idle_max));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             ToMillis(limits.connection_age_max));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             ToMillis(limits.connection_age_grace));
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      ToMillis(limits.ping_interval_min));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, kPingStrikesMax);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                             ToMillis(limits.handshake_timeout));
  grpc::ResourceQuota quota("bank_server");
  quota.Resize(static_cast<size_t>(limits.grpc_memory_bytes_max));
  builder.SetResourceQuota(quota);
}

}  // namespace bank
