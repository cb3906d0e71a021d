// bank_health: a gRPC health probe for bank_server, shipped in the image so
// a container healthcheck needs no grpcurl. It asks
// grpc.health.v1.Health/Check at --target once, under a short deadline, and
// exits 0 when the answer is SERVING, 1 otherwise (not serving, unreachable,
// deadline passed, bad usage) with one line saying why. Docker reads 0 as
// healthy and 1 as unhealthy; it reserves 2, so the probe never uses it.
//
//   bank_health --target=127.0.0.1:50051 --deadline=2s
//   bank_health --target=bank:50051 --tls_ca=ca.pem --tls_cert=probe.pem
//       --tls_key=probe.key        (TLS; mutual TLS with --tls_cert/key)
//
// The --tls_* flags are client/tls_options.h's, shared with bank_loadgen.

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/tls_options.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/status.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051",
          "host:port of the server to probe.");
ABSL_FLAG(absl::Duration, deadline, absl::Seconds(2),
          "How long the probe waits for the answer (connecting included), "
          "e.g. '500ms'. Keep it below the healthcheck's timeout.");
ABSL_FLAG(std::string, service, "",
          "Service name to ask about; empty means the server as a whole.");

namespace bank {
namespace {

constexpr int kExitServing = 0;
constexpr int kExitNotServing = 1;
// A deadline past this is a mistake: a probe that hangs hides a dead server.
constexpr absl::Duration kDeadlineMax = absl::Seconds(60);

// StatusCodeName names a gRPC status code the way grpcurl and the docs do
// (gRPC's and Abseil's codes share their values and names).
std::string StatusCodeName(grpc::StatusCode code) {
  std::string name =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? absl::StrCat("code ", static_cast<int>(code)) : name;
}

// Probe asks once and answers the exit code, printing one line either way.
int Probe(const std::string& target, absl::Duration deadline,
          const std::string& service, const client::ChannelSecurity& security) {
  grpc::ChannelArguments args;
  security.ApplyTo(args);
  auto channel = grpc::CreateCustomChannel(target, security.credentials, args);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) {
    std::fprintf(stderr, "bank_health: %s is not healthy: Check failed: %s\n",
                 target.c_str(),
                 absl::StrCat(StatusCodeName(status.error_code()), ": ",
                              status.error_message())
                     .c_str());
    return kExitNotServing;
  }
  const std::string state =
      grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
          response.status());
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    std::fprintf(stderr, "bank_health: %s is not healthy: %s\n", target.c_str(),
                 state.c_str());
    return kExitNotServing;
  }
  std::printf("bank_health: %s is %s\n", target.c_str(), state.c_str());
  return kExitServing;
}

}  // namespace
}  // namespace bank

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Asks a gRPC server's grpc.health.v1.Health/Check once; exits 0 when "
      "SERVING, 1 otherwise.\nUsage: bank_health [--target=HOST:PORT] "
      "[--deadline=2s] [--service=NAME]\n"
      "       [--tls_ca=FILE [--tls_cert=FILE --tls_key=FILE] "
      "[--tls_server_name=NAME]]");
  const std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    std::fprintf(stderr, "bank_health: unexpected argument '%s'\n",
                 positional[1]);
    return bank::kExitNotServing;
  }
  const absl::Duration deadline = absl::GetFlag(FLAGS_deadline);
  if (deadline <= absl::ZeroDuration() || deadline > bank::kDeadlineMax) {
    std::fprintf(stderr, "bank_health: --deadline must be in (0, %s]\n",
                 absl::FormatDuration(bank::kDeadlineMax).c_str());
    return bank::kExitNotServing;
  }
  absl::StatusOr<bank::client::ChannelSecurity> security =
      bank::client::MakeChannelSecurity(bank::client::ReadClientTlsFlags());
  if (!security.ok()) {
    std::fprintf(stderr, "bank_health: %s\n",
                 std::string(security.status().message()).c_str());
    return bank::kExitNotServing;
  }
  return bank::Probe(absl::GetFlag(FLAGS_target), deadline,
                     absl::GetFlag(FLAGS_service), *security);
}
