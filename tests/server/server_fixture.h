// ServerFixture: the shared fixture of the server integration tests that run
// one real bank_server per test, parameterised by its engine's name: it
// starts the server on 127.0.0.1 port 0 (ServerProcess) with a BankClient
// on it, and in TearDown stops it and checks it exited cleanly (a sanitizer
// build exits non-zero on any error or leak it found in the server).
//
// Thread safety: a gtest fixture; used from the test's own thread.

#ifndef BANK_TESTS_SERVER_SERVER_FIXTURE_H_
#define BANK_TESTS_SERVER_SERVER_FIXTURE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "gtest/gtest.h"
#include "tests/server/rpc_helpers.h"
#include "tests/testing/server_process.h"

namespace bank::testing {

class ServerFixture : public ::testing::TestWithParam<std::string> {
 protected:
  // StartServer starts bank_server with this test's engine (the parameter)
  // and `flags`; a failure to start fails the test (from SetUp, wrap it in
  // ASSERT_NO_FATAL_FAILURE so the test body does not run).
  void StartServer(const std::vector<std::string>& flags = {}) {
    std::vector<std::string> all = {"--engine=" + GetParam()};
    all.insert(all.end(), flags.begin(), flags.end());
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(BANK_SERVER_PATH, all);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = std::make_unique<BankClient>(server_->NewStub());
  }

  // Every server must also stop cleanly: exit 0 on SIGTERM.
  void TearDown() override {
    if (server_ == nullptr) return;
    absl::StatusOr<ExitStatus> exit = server_->Stop();
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_TRUE(exit->Succeeded()) << exit->ToString();
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<BankClient> client_;
};

}  // namespace bank::testing

#endif  // BANK_TESTS_SERVER_SERVER_FIXTURE_H_
