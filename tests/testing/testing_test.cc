// Goal: the test helpers themselves are trustworthy, because every
// integration test's verdict rests on them.
// Method: run small standard programs (/bin/sh, /bin/sleep) as children and
// check what Subprocess reports: lines, exit codes, signals, stderr capture,
// and that a child outliving its timeout is killed and reported, never
// waited for forever. Also parse the server's listening line.

#include <signal.h>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/subprocess.h"

namespace bank::testing {
namespace {

constexpr absl::Duration kWaitTimeout = absl::Seconds(30);
// Long enough that the child is certainly still running when the short
// timeout below runs out; it is killed then, so the test never waits for it.
constexpr char kSleepSecondsLong[] = "600";
constexpr absl::Duration kShortTimeout = absl::Milliseconds(100);

std::unique_ptr<Subprocess> StartShell(const std::string& script,
                                       bool capture_stderr = false) {
  Subprocess::Options options;
  options.capture_stderr = capture_stderr;
  absl::StatusOr<std::unique_ptr<Subprocess>> child =
      Subprocess::Start("/bin/sh", {"-c", script}, options);
  EXPECT_TRUE(child.ok()) << child.status();
  return child.ok() ? *std::move(child) : nullptr;
}

TEST(SubprocessTest, ReadsLinesThenReportsExitCode) {
  std::unique_ptr<Subprocess> child =
      StartShell("echo first; printf 'second\\nrest'; exit 3");
  ASSERT_NE(child, nullptr);
  EXPECT_EQ(child->ReadLine(kWaitTimeout).value_or("?"), "first");
  EXPECT_EQ(child->ReadLine(kWaitTimeout).value_or("?"), "second");
  absl::StatusOr<std::string> no_line = child->ReadLine(kWaitTimeout);
  EXPECT_EQ(no_line.status().code(), absl::StatusCode::kOutOfRange);
  absl::StatusOr<ExitStatus> exit = child->Wait(kWaitTimeout);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->exited);
  EXPECT_EQ(exit->code, 3);
  EXPECT_FALSE(exit->Succeeded());
  EXPECT_EQ(child->stdout_text(), "rest");
}

TEST(SubprocessTest, PassesArgumentsVerbatimWithoutAShell) {
  absl::StatusOr<std::unique_ptr<Subprocess>> child = Subprocess::Start(
      "/bin/sh", {"-c", "printf '%s|' \"$@\"", "sh", "a b", "$HOME", "'"});
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE((*child)->Wait(kWaitTimeout).value_or(ExitStatus()).Succeeded());
  EXPECT_EQ((*child)->stdout_text(), "a b|$HOME|'|");
}

TEST(SubprocessTest, CapturesStderrSeparately) {
  std::unique_ptr<Subprocess> child =
      StartShell("echo out; echo err >&2", /*capture_stderr=*/true);
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(child->Wait(kWaitTimeout).value_or(ExitStatus()).Succeeded());
  EXPECT_EQ(child->stdout_text(), "out\n");
  EXPECT_EQ(child->stderr_text(), "err\n");
}

TEST(SubprocessTest, SignalEndsChild) {
  absl::StatusOr<std::unique_ptr<Subprocess>> child =
      Subprocess::Start("/bin/sleep", {kSleepSecondsLong});
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE((*child)->Signal(SIGTERM).ok());
  absl::StatusOr<ExitStatus> exit = (*child)->Wait(kWaitTimeout);
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_FALSE(exit->exited);
  EXPECT_EQ(exit->signal, SIGTERM);
  // Reaped: the pid may be reused, so no more signals.
  EXPECT_EQ((*child)->Signal(SIGTERM).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(SubprocessTest, WaitPastTimeoutKillsAndFails) {
  absl::StatusOr<std::unique_ptr<Subprocess>> child =
      Subprocess::Start("/bin/sleep", {kSleepSecondsLong});
  ASSERT_TRUE(child.ok()) << child.status();
  absl::StatusOr<ExitStatus> exit = (*child)->Wait(kShortTimeout);
  EXPECT_EQ(exit.status().code(), absl::StatusCode::kDeadlineExceeded);
  // It was killed and reaped: a second Wait answers at once.
  absl::StatusOr<ExitStatus> again = (*child)->Wait(kShortTimeout);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->signal, SIGKILL);
}

TEST(SubprocessTest, ReadLinePastTimeoutFailsWithoutLosingOutput) {
  std::unique_ptr<Subprocess> child = StartShell(
      std::string("printf partial; exec sleep ") + kSleepSecondsLong);
  ASSERT_NE(child, nullptr);
  absl::StatusOr<std::string> line = child->ReadLine(kShortTimeout);
  EXPECT_EQ(line.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(child->Signal(SIGKILL).ok());
  ASSERT_TRUE(child->Wait(kWaitTimeout).ok());
  EXPECT_EQ(child->stdout_text(), "partial");
}

TEST(SubprocessTest, MissingBinaryIsAnError) {
  absl::StatusOr<std::unique_ptr<Subprocess>> child =
      Subprocess::Start("/nonexistent/binary", {});
  // glibc's posix_spawn reports exec failure to the caller.
  EXPECT_FALSE(child.ok());
}

TEST(SubprocessTest, ManyLinesDoNotBlockTheChild) {
  // More than a pipe holds (64 KiB): Wait must read while it waits.
  std::unique_ptr<Subprocess> child = StartShell(
      "i=0; while [ $i -lt 20000 ]; do echo line$i; i=$((i+1)); done");
  ASSERT_NE(child, nullptr);
  ASSERT_TRUE(child->Wait(kWaitTimeout).value_or(ExitStatus()).Succeeded());
  EXPECT_GT(child->stdout_text().size(), size_t{64 * 1024});
}

TEST(ParseListeningLineTest, AcceptsServerLineOnly) {
  EXPECT_EQ(ParseListeningLine(
                "bank_server listening on 127.0.0.1:43210 engine=queue")
                .value_or("?"),
            "127.0.0.1:43210");
  EXPECT_EQ(
      ParseListeningLine("bank_server listening on [::1]:5").value_or("?"),
      "[::1]:5");
  EXPECT_FALSE(ParseListeningLine("hello").ok());
  EXPECT_FALSE(ParseListeningLine("bank_server listening on ").ok());
}

}  // namespace
}  // namespace bank::testing
