// Subprocess: runs a program as a child process for integration tests.
//
// The child is started with posix_spawn (no shell, so arguments are passed
// exactly as given), with its stdout (and, on request, its stderr) on a pipe
// that this class reads into a buffer. Tests synchronise with the child only
// through what it prints and through its exit: every wait is a poll() on the
// pipes and on a pidfd with a bounded timeout, never a sleep. A wait that runs
// out of time answers kDeadlineExceeded, so a hung child fails the test
// instead of hanging it.
//
// Typical use:
//   auto child = Subprocess::Start(path, {"--flag=1"});
//   ASSERT_TRUE(child.ok()) << child.status();
//   absl::StatusOr<std::string> line = (*child)->ReadLine(absl::Seconds(30));
//   absl::StatusOr<ExitStatus> exit = (*child)->Wait(absl::Seconds(30));
//   EXPECT_TRUE(exit.ok() && exit->Succeeded()) << (*child)->stdout_text();
//
// Thread safety: a Subprocess is used by one thread at a time (it is the
// test's handle on one child); different Subprocess objects are independent.
// Every descriptor is opened close-on-exec, so children started concurrently
// from several threads never inherit each other's pipes.

#ifndef BANK_TESTS_TESTING_SUBPROCESS_H_
#define BANK_TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace bank::testing {

// ExitStatus: how a child ended.
struct ExitStatus {
  bool exited = false;  // True when the child called exit(); see code.
  int code = -1;        // The exit code, when exited.
  int signal = 0;       // The terminating signal, when !exited.

  // Succeeded: exited with code 0.
  bool Succeeded() const { return exited && code == 0; }
  // ToString: "exit 0", "exit 2" or "signal 9 (Killed)", for test messages.
  std::string ToString() const;
};

class Subprocess {
 public:
  struct Options {
    // Capture stderr into stderr_text() too; otherwise the child writes to
    // the test's own stderr, where CTest shows it on failure.
    bool capture_stderr = false;
    // descriptor_limit, when > 0, runs the program under util-linux's
    // prlimit with soft and hard RLIMIT_NOFILE set to it (prlimit execs the
    // program, so pid() is still the program's).
    int descriptor_limit = 0;
  };

  // Start runs the program at `path` (no PATH lookup) with `args` as
  // argv[1..], the test's environment, default signal dispositions and an
  // empty signal mask. Answers kInternal naming the failing call if the
  // child cannot be started (e.g. no such file).
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::string& path, const std::vector<std::string>& args);
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::string& path, const std::vector<std::string>& args,
      const Options& options);

  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // The destructor kills (SIGKILL) a child that is still running and reaps
  // it, so no test leaves a process behind. Call Wait() first to see how the
  // child ended.
  ~Subprocess();

  pid_t pid() const { return pid_; }

  // ReadLine answers the next whole line of the child's stdout, without its
  // '\n', waiting at most `timeout` for it. Answers kDeadlineExceeded when no
  // whole line arrived in time, kOutOfRange when stdout was closed (the
  // child exited) before another whole line; a line is never lost by either.
  absl::StatusOr<std::string> ReadLine(absl::Duration timeout);

  // Signal sends `signal_number` to the child. Answers kFailedPrecondition
  // once the child has been reaped (its pid may belong to another process).
  absl::Status Signal(int signal_number);

  // WaitForExit waits at most `timeout` for the child to exit, reading its
  // output meanwhile, and answers whether it has exited (then Wait answers
  // at once). Unlike Wait it never kills the child: for callers that
  // interleave waiting with other work.
  bool WaitForExit(absl::Duration timeout);

  // Wait waits at most `timeout` for the child to exit, reading its output
  // meanwhile (so a child that prints a lot never blocks on a full pipe), and
  // answers how it ended. If the child is still running when `timeout`
  // passes, Wait kills it (SIGKILL), reaps it and answers kDeadlineExceeded:
  // a child that does not stop by itself is a test failure. Once the child
  // was reaped, later calls answer the same ExitStatus at once.
  absl::StatusOr<ExitStatus> Wait(absl::Duration timeout);

  // stdout_text is everything read from the child's stdout so far that
  // ReadLine has not consumed. After Wait() this is the rest of its output.
  const std::string& stdout_text() const { return stdout_.buffer; }
  // stderr_text: as stdout_text, for stderr (only with capture_stderr).
  const std::string& stderr_text() const { return stderr_.buffer; }

 private:
  // Pipe: the read end of one of the child's output pipes and what was read.
  struct Pipe {
    int fd = -1;  // -1 once the child closed its end (EOF) or not captured.
    std::string buffer;
  };

  Subprocess(pid_t pid, int pid_fd, int stdout_fd, int stderr_fd);

  // Pump waits until `deadline` for output or the child's exit, whichever
  // comes first, and reads what is there. Answers false on timeout.
  bool Pump(absl::Time deadline);
  // Reap collects the exit status if the child has exited; never blocks.
  void Reap();
  // KillAndReap: SIGKILL and a blocking waitpid, for timeouts and cleanup.
  void KillAndReap();

  pid_t pid_;
  int pid_fd_;  // pidfd_open(pid_): readable once the child exits; -1 if the
                // kernel lacks pidfds (then Pump polls at a short interval).
  Pipe stdout_;
  Pipe stderr_;
  std::optional<ExitStatus> exit_status_;  // Set once reaped.
};

}  // namespace bank::testing

#endif  // BANK_TESTS_TESTING_SUBPROCESS_H_
