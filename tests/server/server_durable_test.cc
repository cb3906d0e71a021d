// Goal: bank_server --data_dir keeps acknowledged money across kill -9,
// refuses a second writer and a damaged log, refuses --engine=unsafe, and
// closes cleanly on SIGTERM.
// Method: real bank_server processes on 127.0.0.1 port 0 over one data
// directory under $TMPDIR; SIGKILL for the crash, a flipped byte for damage.

#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/rpc_helpers.h"
#include "tests/testing/server_process.h"

namespace bank::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

class ServerDurableTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr ? tmp : "/tmp") + "/bank-durable-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    scratch_ = pattern;
    data_dir_ = scratch_ + "/data";
  }
  void TearDown() override { std::filesystem::remove_all(scratch_); }

  std::vector<std::string> Flags() const {
    return {"--engine=" + GetParam(), "--data_dir=" + data_dir_};
  }
  absl::StatusOr<std::unique_ptr<ServerProcess>> Start() {
    Subprocess::Options options;
    options.capture_stderr = true;
    return ServerProcess::Start(BANK_SERVER_PATH, Flags(), options);
  }
  // RunExpectingExit runs bank_server with `flags` until it exits by itself.
  ExitStatus RunExpectingExit(const std::vector<std::string>& flags,
                              std::string* stderr_text) {
    Subprocess::Options options;
    options.capture_stderr = true;
    std::vector<std::string> args = flags;
    args.push_back("--listen=127.0.0.1:0");
    auto server = Subprocess::Start(BANK_SERVER_PATH, args, options);
    EXPECT_TRUE(server.ok()) << server.status();
    if (!server.ok()) return ExitStatus();
    absl::StatusOr<ExitStatus> exit = (*server)->Wait(kServerStopTimeout);
    *stderr_text = (*server)->stderr_text();
    return exit.value_or(ExitStatus());
  }

  std::string scratch_;
  std::string data_dir_;
};

TEST_P(ServerDurableTest, KillNineKeepsAcknowledgedBalances) {
  {
    auto server = Start();
    ASSERT_TRUE(server.ok()) << server.status();
    BankClient client((*server)->NewStub());
    ASSERT_TRUE(client.Open("main", 80).status.ok());
    ASSERT_TRUE(client.Open("b", 0).status.ok());
    ASSERT_TRUE(client.Deposit("main", 20).status.ok());
    ASSERT_TRUE(client.Transfer("main", "b", 30).status.ok());
    ASSERT_TRUE((*server)->process().Signal(SIGKILL).ok());
    ASSERT_TRUE((*server)->process().Wait(kServerStopTimeout).ok());
  }
  auto server = Start();
  ASSERT_TRUE(server.ok()) << server.status();
  BankClient client((*server)->NewStub());
  auto main_balance = client.GetBalance("main");
  ASSERT_TRUE(main_balance.status.ok()) << main_balance.status.error_message();
  EXPECT_EQ(main_balance.response.balance(), 70);
  EXPECT_EQ(client.GetBalance("b").response.balance(), 30);
  absl::StatusOr<ExitStatus> exit = (*server)->Stop();
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(exit->Succeeded()) << exit->ToString();
  EXPECT_THAT(
      (*server)->process().stderr_text(),
      AllOf(HasSubstr("recovered 2 accounts"), HasSubstr("synced and closed")));
}

// A retry after kill -9 gets the original answer and moves no money: the
// remembered outcome was synced with the change (request_id_journal.h).
TEST_P(ServerDurableTest, RetryAfterKillNineGetsTheOriginalOutcome) {
  bank::v1::WithdrawRequest withdraw;
  withdraw.set_account_id("main");
  withdraw.set_amount(30);
  withdraw.set_request_id("3f1c9d1e-0000-4000-8000-000000000001");
  bank::v1::WithdrawRequest too_much = withdraw;
  too_much.set_amount(1000);
  too_much.set_request_id("3f1c9d1e-0000-4000-8000-000000000002");
  std::string first_bytes;
  std::string refused_message;
  {
    auto server = Start();
    ASSERT_TRUE(server.ok()) << server.status();
    BankClient client((*server)->NewStub());
    ASSERT_TRUE(client.Open("main", 80).status.ok());
    auto first =
        client.Invoke(&bank::v1::BankService::Stub::Withdraw, withdraw);
    ASSERT_TRUE(first.status.ok()) << first.status.error_message();
    EXPECT_EQ(first.response.balance(), 50);
    first_bytes = first.response.SerializeAsString();
    auto refused =
        client.Invoke(&bank::v1::BankService::Stub::Withdraw, too_much);
    ASSERT_EQ(refused.status.error_code(), grpc::FAILED_PRECONDITION);
    refused_message = refused.status.error_message();
    ASSERT_TRUE((*server)->process().Signal(SIGKILL).ok());
    ASSERT_TRUE((*server)->process().Wait(kServerStopTimeout).ok());
  }
  auto server = Start();
  ASSERT_TRUE(server.ok()) << server.status();
  BankClient client((*server)->NewStub());
  // Enough money now for the refused one: its retry must still be refused.
  ASSERT_TRUE(client.Deposit("main", 2000).status.ok());
  auto retry = client.Invoke(&bank::v1::BankService::Stub::Withdraw, withdraw);
  ASSERT_TRUE(retry.status.ok()) << retry.status.error_message();
  EXPECT_EQ(retry.response.SerializeAsString(), first_bytes);
  auto refused_again =
      client.Invoke(&bank::v1::BankService::Stub::Withdraw, too_much);
  EXPECT_EQ(refused_again.status.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(refused_again.status.error_message(), refused_message);
  EXPECT_EQ(client.GetBalance("main").response.balance(), 2050);
  EXPECT_THAT((*server)->process().stderr_text(),
              HasSubstr("2 request-id journal entries"));
}

TEST_P(ServerDurableTest, SecondServerOnTheSameDirectoryExitsOne) {
  auto first = Start();
  ASSERT_TRUE(first.ok()) << first.status();
  std::string stderr_text;
  const ExitStatus exit = RunExpectingExit(Flags(), &stderr_text);
  EXPECT_TRUE(exit.exited && exit.code == kExitFailure) << exit.ToString();
  EXPECT_THAT(stderr_text, AllOf(HasSubstr(data_dir_), HasSubstr("in use")));
  // The first server still serves.
  BankClient client((*first)->NewStub());
  EXPECT_TRUE(client.Open("a", 1).status.ok());
}

TEST_P(ServerDurableTest, DamagedLogRefusesToStartNamingFileAndOffset) {
  {
    auto server = Start();
    ASSERT_TRUE(server.ok()) << server.status();
    BankClient client((*server)->NewStub());
    ASSERT_TRUE(client.Open("main", 80).status.ok());
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(client.Deposit("main", 1).status.ok());
    }
    ASSERT_TRUE((*server)->process().Signal(SIGKILL).ok());
    ASSERT_TRUE((*server)->process().Wait(kServerStopTimeout).ok());
  }
  std::string wal;
  for (const auto& entry : std::filesystem::directory_iterator(data_dir_)) {
    if (entry.path().extension() == ".log") wal = entry.path().string();
  }
  ASSERT_FALSE(wal.empty());
  {
    std::fstream file(wal, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(12);
    file.put('\x5a');
  }
  std::string stderr_text;
  const ExitStatus exit = RunExpectingExit(Flags(), &stderr_text);
  EXPECT_TRUE(exit.exited && exit.code == kExitFailure) << exit.ToString();
  EXPECT_THAT(stderr_text, AllOf(HasSubstr("refusing to start"), HasSubstr(wal),
                                 HasSubstr("byte offset 0")));
}

INSTANTIATE_TEST_SUITE_P(Engines, ServerDurableTest,
                         ::testing::Values("mutex", "queue"),
                         [](const auto& info) { return info.param; });

TEST(ServerDurableFlagsTest, DataDirWithUnsafeEngineExitsTwo) {
  Subprocess::Options options;
  options.capture_stderr = true;
  auto server =
      Subprocess::Start(BANK_SERVER_PATH,
                        {"--engine=unsafe", "--data_dir=/nonexistent/bank",
                         "--listen=127.0.0.1:0"},
                        options);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<ExitStatus> exit = (*server)->Wait(kServerStopTimeout);
  ASSERT_TRUE(exit.ok());
  EXPECT_TRUE(exit->exited && exit->code == kExitUsage) << exit->ToString();
  EXPECT_THAT((*server)->stderr_text(),
              AllOf(HasSubstr("--data_dir"), HasSubstr("unsafe")));
}

}  // namespace
}  // namespace bank::testing
