// Goal: a request that does not parse answers INVALID_ARGUMENT with a
// message saying so, never UNIMPLEMENTED (which would claim the method does
// not exist) and never a crash (issue 13, item 3); and protobuf's own log
// lines about such requests are rate-limited, so no client can flood the
// server's stderr.
// Method: the real bank_server; a generic stub sends hand-made bytes (the
// issue's malformed encodings) to every method, then the test checks the
// status, the stderr line count, and that a well-formed call still works.

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/server/rpc_helpers.h"
#include "tests/testing/server_process.h"

namespace bank::testing {
namespace {

// The malformed encodings.
std::vector<std::pair<std::string, std::string>> MalformedRequests() {
  std::string deep_groups;
  for (int i = 0; i < 200; ++i) deep_groups += '\x0b';  // Field 1, group.
  return {
      {"truncated varint", std::string("\x10\xff\xff", 3)},
      {"length past the end", std::string("\x0a\x10\x61", 3)},
      {"wire type 6", std::string("\x0e\x00", 2)},
      {"wire type 7", std::string("\x0f\x00", 2)},
      {"invalid UTF-8 in a string", std::string("\x0a\x02\xff\xfe", 4)},
      {"field number 0", std::string("\x00\x01", 2)},
      {"deep groups", deep_groups},
  };
}

TEST(ServerMalformedTest, UnparsableRequestsAnswerInvalidArgument) {
  Subprocess::Options options;
  options.capture_stderr = true;
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(BANK_SERVER_PATH, {"--accounts=main:100"}, options);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::vector<std::string> methods = {"OpenAccount", "Deposit",
                                            "Withdraw",    "Transfer",
                                            "GetBalance",  "ApplyBatch"};
  for (const std::string& method : methods) {
    for (const auto& [what, bytes] : MalformedRequests()) {
      const grpc::Status status = CallRaw(
          (*server)->channel(), "/bank.v1.BankService/" + method, bytes);
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << method << ", " << what << ": " << status.error_message();
      EXPECT_TRUE(absl::StrContains(
          status.error_message(),
          absl::StrCat("request could not be parsed as bank.v1.", method,
                       "Request")))
          << method << ", " << what << ": " << status.error_message();
    }
  }
  // A well-formed request through the same path still works.
  BankClient client((*server)->NewStub());
  auto balance = client.GetBalance("main");
  EXPECT_TRUE(balance.status.ok()) << balance.status.error_message();
  EXPECT_EQ(balance.response.balance(), 100);
}

TEST(ServerMalformedTest, ProtobufLogLinesAreRateLimited) {
  constexpr int kRequests = 200;
  Subprocess::Options options;
  options.capture_stderr = true;
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(BANK_SERVER_PATH, {}, options);
  ASSERT_TRUE(server.ok()) << server.status();
  for (int i = 0; i < kRequests; ++i) {
    const grpc::Status status =
        CallRaw((*server)->channel(), "/bank.v1.BankService/Deposit",
                std::string("\x0a\x02\xff\xfe", 4));
    ASSERT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  absl::StatusOr<ExitStatus> exit = (*server)->Stop();
  ASSERT_TRUE(exit.ok()) << exit.status();
  const std::string& text = (*server)->process().stderr_text();
  int protobuf_lines = 0;
  for (size_t at = text.find("libprotobuf"); at != std::string::npos;
       at = text.find("libprotobuf", at + 1)) {
    ++protobuf_lines;
  }
  // Each invalid-UTF-8 request would log a line; a minute's budget does.
  EXPECT_GT(protobuf_lines, 0) << text;
  EXPECT_LE(protobuf_lines, 10) << text;  // kProtobufLogLinesPerMinute.
}

}  // namespace
}  // namespace bank::testing
