#include "tests/testing/subprocess.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace bank::testing {
namespace {

// Without pidfds the child's exit cannot be poll()ed, so Pump wakes this
// often to check for it. Only a fallback for old kernels.
constexpr absl::Duration kReapPollInterval = absl::Milliseconds(10);
constexpr size_t kReadChunkBytes = 4096;

// Signals a child must see with their default action even when the test
// process ignores or handles them (gtest, or a harness, may).
constexpr std::array<int, 8> kDefaultSignals = {
    SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2};

absl::Status ErrnoError(const char* call, int error_number) {
  return absl::InternalError(
      absl::StrCat(call, ": ", std::strerror(error_number)));
}

void CloseIfOpen(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

ExitStatus DecodeWaitStatus(int wait_status) {
  ExitStatus status;
  if (WIFEXITED(wait_status)) {
    status.exited = true;
    status.code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    status.signal = WTERMSIG(wait_status);
  }
  return status;
}

// ReadAvailable appends what `pipe_fd` holds without blocking (the fd is
// non-blocking) and closes it at EOF.
void ReadAvailable(int& pipe_fd, std::string& buffer) {
  char chunk[kReadChunkBytes];
  while (pipe_fd >= 0) {
    const ssize_t n = read(pipe_fd, chunk, sizeof chunk);
    if (n > 0) {
      buffer.append(chunk, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      CloseIfOpen(pipe_fd);  // EOF, or an error we cannot recover from.
    }
  }
}

// SpawnAttributes: default dispositions and an empty mask for the child, so
// that what the test process blocks or ignores never leaks into it.
class SpawnAttributes {
 public:
  SpawnAttributes() {
    posix_spawnattr_init(&attributes_);
    sigset_t mask;
    sigemptyset(&mask);
    posix_spawnattr_setsigmask(&attributes_, &mask);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int signal_number : kDefaultSignals) {
      sigaddset(&defaults, signal_number);
    }
    posix_spawnattr_setsigdefault(&attributes_, &defaults);
    posix_spawnattr_setflags(&attributes_,
                             POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  ~SpawnAttributes() { posix_spawnattr_destroy(&attributes_); }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;

  const posix_spawnattr_t* get() const { return &attributes_; }

 private:
  posix_spawnattr_t attributes_;
};

// MakePipe: a close-on-exec pipe whose read end is non-blocking.
absl::Status MakePipe(int (&fds)[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0) return ErrnoError("pipe2", errno);
  const int flags = fcntl(fds[0], F_GETFL);
  if (flags < 0 || fcntl(fds[0], F_SETFL, flags | O_NONBLOCK) != 0) {
    const int error_number = errno;
    close(fds[0]);
    close(fds[1]);
    return ErrnoError("fcntl", error_number);
  }
  return absl::OkStatus();
}

}  // namespace

std::string ExitStatus::ToString() const {
  if (exited) return absl::StrCat("exit ", code);
  return absl::StrCat("signal ", signal);
}

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(
    const std::string& path, const std::vector<std::string>& args) {
  return Start(path, args, Options());
}

absl::StatusOr<std::unique_ptr<Subprocess>> Subprocess::Start(
    const std::string& path, const std::vector<std::string>& args,
    const Options& options) {
  if (options.descriptor_limit > 0) {
    std::vector<std::string> wrapped = {
        absl::StrCat("--nofile=", options.descriptor_limit, ":",
                     options.descriptor_limit),
        "--", path};
    wrapped.insert(wrapped.end(), args.begin(), args.end());
    Options plain = options;
    plain.descriptor_limit = 0;
    return Start("/usr/bin/prlimit", wrapped, plain);
  }
  int out[2] = {-1, -1};
  int err[2] = {-1, -1};
  absl::Status status = MakePipe(out);
  if (status.ok() && options.capture_stderr) status = MakePipe(err);
  if (!status.ok()) {
    for (int& fd : out) CloseIfOpen(fd);
    return status;
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // dup2 clears close-on-exec on the child's 1 and 2; every other descriptor
  // of ours is close-on-exec and so stays out of the child.
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  if (err[1] >= 0) posix_spawn_file_actions_adddup2(&actions, err[1], 2);

  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(path.c_str()));
  for (const std::string& arg : args) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);

  SpawnAttributes attributes;
  pid_t pid = -1;
  const int spawn_error = posix_spawn(&pid, path.c_str(), &actions,
                                      attributes.get(), argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  CloseIfOpen(out[1]);
  CloseIfOpen(err[1]);
  if (spawn_error != 0) {
    CloseIfOpen(out[0]);
    CloseIfOpen(err[0]);
    return absl::InternalError(
        absl::StrCat("posix_spawn ", path, ": ", std::strerror(spawn_error)));
  }
  // pidfd_open answers a descriptor that poll() reports readable once the
  // child exits; it is close-on-exec by default.
  const int pid_fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  return std::unique_ptr<Subprocess>(
      new Subprocess(pid, pid_fd, out[0], err[0]));
}

Subprocess::Subprocess(pid_t pid, int pid_fd, int stdout_fd, int stderr_fd)
    : pid_(pid), pid_fd_(pid_fd) {
  stdout_.fd = stdout_fd;
  stderr_.fd = stderr_fd;
}

Subprocess::~Subprocess() {
  KillAndReap();
  CloseIfOpen(stdout_.fd);
  CloseIfOpen(stderr_.fd);
}

bool Subprocess::Pump(absl::Time deadline) {
  for (;;) {
    std::array<pollfd, 3> fds;
    nfds_t count = 0;
    for (int fd : {stdout_.fd, stderr_.fd, pid_fd_}) {
      if (fd >= 0) fds[count++] = pollfd{fd, POLLIN, 0};
    }
    absl::Duration wait =
        std::max(deadline - absl::Now(), absl::ZeroDuration());
    if (pid_fd_ < 0 && !exit_status_) wait = std::min(wait, kReapPollInterval);
    const int timeout_ms = static_cast<int>(
        absl::ToInt64Milliseconds(absl::Ceil(wait, absl::Milliseconds(1))));
    const int ready = poll(fds.data(), count, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    ReadAvailable(stdout_.fd, stdout_.buffer);
    ReadAvailable(stderr_.fd, stderr_.buffer);
    Reap();
    if (ready > 0) return true;
    if (absl::Now() >= deadline) return false;
    if (count == 0 && exit_status_) return false;  // Nothing left to wait on.
  }
}

void Subprocess::Reap() {
  if (exit_status_) return;
  int wait_status = 0;
  pid_t reaped = waitpid(pid_, &wait_status, WNOHANG);
  if (reaped == pid_) {
    exit_status_ = DecodeWaitStatus(wait_status);
    CloseIfOpen(pid_fd_);
  }
}

void Subprocess::KillAndReap() {
  if (exit_status_) return;
  kill(pid_, SIGKILL);
  int wait_status = 0;
  while (waitpid(pid_, &wait_status, 0) < 0 && errno == EINTR) {
  }
  exit_status_ = DecodeWaitStatus(wait_status);
  CloseIfOpen(pid_fd_);
}

absl::StatusOr<std::string> Subprocess::ReadLine(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    const size_t end = stdout_.buffer.find('\n');
    if (end != std::string::npos) {
      std::string line = stdout_.buffer.substr(0, end);
      stdout_.buffer.erase(0, end + 1);
      return line;
    }
    if (stdout_.fd < 0) {
      return absl::OutOfRangeError(absl::StrCat(
          "stdout closed before a whole line; unterminated rest: \"",
          stdout_.buffer, "\""));
    }
    if (!Pump(deadline)) {
      return absl::DeadlineExceededError(absl::StrCat(
          "no whole line on stdout within ", absl::FormatDuration(timeout)));
    }
  }
}

absl::Status Subprocess::Signal(int signal_number) {
  // Until it is reaped, pid_ is still our child (at worst a zombie), so the
  // signal cannot reach an unrelated process.
  if (exit_status_) {
    return absl::FailedPreconditionError("the child was already reaped");
  }
  if (kill(pid_, signal_number) != 0) return ErrnoError("kill", errno);
  return absl::OkStatus();
}

bool Subprocess::WaitForExit(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!exit_status_) {
    if (!Pump(deadline) && absl::Now() >= deadline) break;
  }
  return exit_status_.has_value();
}

absl::StatusOr<ExitStatus> Subprocess::Wait(absl::Duration timeout) {
  if (!WaitForExit(timeout)) {
    KillAndReap();
    return absl::DeadlineExceededError(
        absl::StrCat("the child did not exit within ",
                     absl::FormatDuration(timeout), "; killed it"));
  }
  // The child has exited, so all it wrote is already in the pipes.
  ReadAvailable(stdout_.fd, stdout_.buffer);
  ReadAvailable(stderr_.fd, stderr_.buffer);
  return *exit_status_;
}

}  // namespace bank::testing
