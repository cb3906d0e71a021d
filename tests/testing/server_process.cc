#include "tests/testing/server_process.h"

#include <signal.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "service/server/server_runner.h"

namespace bank::testing {
namespace {

// While stopping, how long the channel is watched between two checks of
// the server's exit.
constexpr absl::Duration kStopPollInterval = absl::Milliseconds(20);

}  // namespace

absl::StatusOr<std::string> ParseListeningLine(const std::string& line) {
  absl::string_view rest = line;
  if (!absl::ConsumePrefix(&rest, kListeningLinePrefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a listening line: \"", line, "\""));
  }
  const size_t end = rest.find(' ');
  absl::string_view address = rest.substr(0, end);
  if (address.empty() || address.find(':') == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("no host:port in listening line: \"", line, "\""));
  }
  return std::string(address);
}

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& server_path, const std::vector<std::string>& flags,
    const Subprocess::Options& options) {
  std::vector<std::string> args = {"--listen=127.0.0.1:0"};
  args.insert(args.end(), flags.begin(), flags.end());
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(server_path, args, options);
  if (!process.ok()) return process.status();

  absl::StatusOr<std::string> line = (*process)->ReadLine(kServerStartTimeout);
  absl::StatusOr<std::string> address =
      line.ok() ? ParseListeningLine(*line) : line.status();
  if (!address.ok()) {
    // Kill (or reap) it now so the message can say how it ended.
    (*process)->Signal(SIGKILL).IgnoreError();
    absl::StatusOr<ExitStatus> exit = (*process)->Wait(kServerStopTimeout);
    return absl::UnavailableError(absl::StrCat(
        "bank_server ", absl::StrJoin(args, " "),
        " did not start: ", address.status().message(), "; it ended with ",
        exit.ok() ? exit->ToString() : exit.status().ToString(), "; stdout: \"",
        (*process)->stdout_text(), "\"; stderr: \"", (*process)->stderr_text(),
        "\""));
  }
  return std::unique_ptr<ServerProcess>(new ServerProcess(
      *std::move(process), *std::move(line), *std::move(address)));
}

ServerProcess::ServerProcess(std::unique_ptr<Subprocess> process,
                             std::string line, std::string address)
    : process_(std::move(process)),
      listening_line_(std::move(line)),
      address_(std::move(address)),
      channel_(
          grpc::CreateChannel(address_, grpc::InsecureChannelCredentials())) {}

ServerProcess::~ServerProcess() { Stop().IgnoreError(); }

std::unique_ptr<bank::v1::BankService::Stub> ServerProcess::NewStub() const {
  return bank::v1::BankService::NewStub(channel_);
}

absl::StatusOr<ExitStatus> ServerProcess::Stop(absl::Duration timeout) {
  // Signal fails only once the child was reaped; Wait then answers at once.
  process_->Signal(SIGTERM).IgnoreError();
  // The server finishes shutting down once its clients have closed their
  // connections after its GOAWAY. A channel with no call in flight has no
  // thread reading its socket except gRPC's backup poller (every 5s), so
  // this process would see the GOAWAY late and every stop would last about
  // 5s. Watching the channel's state makes this thread read the socket;
  // kStopPollInterval only bounds how often the exit is checked meanwhile.
  const absl::Time deadline = absl::Now() + timeout;
  grpc_connectivity_state state = channel_->GetState(false);
  while (!process_->WaitForExit(absl::ZeroDuration()) &&
         absl::Now() < deadline) {
    if (channel_->WaitForStateChange(
            state, absl::ToChronoTime(absl::Now() + kStopPollInterval))) {
      state = channel_->GetState(false);
    }
  }
  return process_->Wait(std::max(deadline - absl::Now(), absl::ZeroDuration()));
}

}  // namespace bank::testing
