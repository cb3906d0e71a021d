// ServerProcess: a real bank_server child process for integration tests.
//
// Start() runs the bank_server binary with --listen=127.0.0.1:0 (the kernel
// picks a free loopback port) plus the test's flags, then reads the one line
// the server prints once it accepts connections (see kListeningLinePrefix in
// service/server/server_runner.h) to learn the bound address. From then on the test
// talks to the server through channel()/NewStub(). The destructor stops the
// server with SIGTERM and reaps it (SIGKILL if it does not exit in time), so
// a failing test never leaves a server behind.
//
// The binary's path comes from the test target, e.g. in CMake
//   target_compile_definitions(my_test PRIVATE
//       BANK_SERVER_PATH="$<TARGET_FILE:bank_server>")
//   add_dependencies(my_test bank_server)
// and in the test: ServerProcess::Start(BANK_SERVER_PATH, {"--engine=mutex"}).
//
// Thread safety: Start/Stop/process() from one thread; channel() and the
// stubs it makes may be used from any number of threads (gRPC's guarantee).

#ifndef BANK_TESTS_TESTING_SERVER_PROCESS_H_
#define BANK_TESTS_TESTING_SERVER_PROCESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "bank/v1/bank.grpc.pb.h"
#include "grpcpp/channel.h"
#include "tests/testing/subprocess.h"

namespace bank::testing {

// Bounds on how long a healthy server takes to start and to stop. Generous,
// because sanitizer builds on a loaded 2-core machine are slow; they only
// bound how long a broken server can hang a test, they are never asserted.
inline constexpr absl::Duration kServerStartTimeout = absl::Seconds(30);
inline constexpr absl::Duration kServerStopTimeout = absl::Seconds(30);

class ServerProcess {
 public:
  // Start runs `server_path --listen=127.0.0.1:0 <flags...>` and waits at
  // most kServerStartTimeout for its listening line. On failure (the server
  // exited, e.g. on a bad flag, or printed something else) the status says
  // what the server printed and how it ended.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& server_path, const std::vector<std::string>& flags,
      const Subprocess::Options& options = Subprocess::Options());

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // The destructor stops a server that is still running, as Stop() does.
  ~ServerProcess();

  // address is the bound "127.0.0.1:PORT".
  const std::string& address() const { return address_; }
  // listening_line is the whole line the server printed on start.
  const std::string& listening_line() const { return listening_line_; }

  // channel is an insecure channel to address(), shared by every stub.
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  std::unique_ptr<bank::v1::BankService::Stub> NewStub() const;

  // process gives access to the child: ReadLine() for --log_ops lines,
  // Signal(), stderr_text() (with Options::capture_stderr).
  Subprocess& process() { return *process_; }

  // Stop sends SIGTERM and waits at most `timeout` for the server to exit
  // (Subprocess::Wait: killed and kDeadlineExceeded if it does not). While
  // waiting it drives channel(), so the server sees this process close its
  // connection promptly; a connection made through another channel and left
  // idle holds the server's shutdown up to its --shutdown_grace.
  absl::StatusOr<ExitStatus> Stop(absl::Duration timeout = kServerStopTimeout);

 private:
  ServerProcess(std::unique_ptr<Subprocess> process, std::string line,
                std::string address);

  std::unique_ptr<Subprocess> process_;
  std::string listening_line_;
  std::string address_;
  std::shared_ptr<grpc::Channel> channel_;
};

// ParseListeningLine answers the address in a line such as
// "bank_server listening on 127.0.0.1:43210 engine=queue", or
// kInvalidArgument for any other line.
absl::StatusOr<std::string> ParseListeningLine(const std::string& line);

}  // namespace bank::testing

#endif  // BANK_TESTS_TESTING_SERVER_PROCESS_H_
