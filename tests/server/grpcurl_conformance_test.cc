// Goal: a user with the real grpcurl (v1.8.7, from ../shared/tools/grpcurl)
// and no .proto files can list, describe and call everything bank_server
// offers, and sees exactly what README.md and docs/SERVER.md show: every
// service listed and described through reflection, health Check, every RPC,
// every documented error with grpcurl's exit code (64 + the gRPC code), and
// the README's walk-through with its outputs verbatim.
// Method: each test starts a fresh bank_server on 127.0.0.1 port 0
// (ServerProcess) and runs grpcurl as a child process (Subprocess), waiting
// boundedly for it to exit; it compares grpcurl's exit code, stdout and
// stderr. Skips (GTEST_SKIP, with the path it looked at) when grpcurl is not
// there: the path comes from the CMake cache variable BANK_GRPCURL.

#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/server_process.h"
#include "tests/testing/subprocess.h"

namespace bank::testing {
namespace {

using ::testing::HasSubstr;

// kGrpcurlTimeout bounds one grpcurl run (a few reflection round trips);
// generous for sanitizer builds on a loaded machine, never asserted.
constexpr absl::Duration kGrpcurlTimeout = absl::Seconds(60);

// grpcurl exits 64 + the gRPC status code when an RPC fails.
constexpr int kGrpcurlStatusExitBase = 64;
constexpr int kInvalidArgumentExit = kGrpcurlStatusExitBase + 3;
constexpr int kNotFoundExit = kGrpcurlStatusExitBase + 5;
constexpr int kAlreadyExistsExit = kGrpcurlStatusExitBase + 6;
constexpr int kResourceExhaustedExit = kGrpcurlStatusExitBase + 8;
constexpr int kFailedPreconditionExit = kGrpcurlStatusExitBase + 9;
constexpr int kOutOfRangeExit = kGrpcurlStatusExitBase + 11;
constexpr int kUnimplementedExit = kGrpcurlStatusExitBase + 12;

// GrpcurlRun: how one grpcurl run ended and what it printed.
struct GrpcurlRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string ErrorText(const std::string& code, const std::string& message) {
  return absl::StrCat("ERROR:\n  Code: ", code, "\n  Message: ", message, "\n");
}

class GrpcurlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(BANK_GRPCURL_PATH, X_OK) != 0) {
      GTEST_SKIP() << "grpcurl not found at " << BANK_GRPCURL_PATH
                   << " (set -DBANK_GRPCURL=/path/to/grpcurl; see README.md "
                      "for how to get it)";
    }
  }

  void TearDown() override {
    if (server_ == nullptr) return;
    absl::StatusOr<ExitStatus> exit = server_->Stop();
    ASSERT_TRUE(exit.ok()) << exit.status();
    EXPECT_TRUE(exit->Succeeded()) << exit->ToString();
  }

  void StartServer(const std::vector<std::string>& flags) {
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(BANK_SERVER_PATH, flags);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
  }

  // Grpcurl runs `grpcurl -plaintext [-d data] [options] ADDRESS args...`,
  // where options are the leading elements of `args` that start with '-'
  // and the value after each.
  GrpcurlRun Grpcurl(const std::vector<std::string>& args,
                     const std::string& data = "") {
    std::vector<std::string> argv = {"-plaintext"};
    if (!data.empty()) argv.insert(argv.end(), {"-d", data});
    size_t i = 0;
    for (; i + 1 < args.size() && args[i].rfind('-', 0) == 0; i += 2) {
      argv.insert(argv.end(), {args[i], args[i + 1]});
    }
    argv.push_back(server_->address());
    argv.insert(argv.end(), args.begin() + i, args.end());
    Subprocess::Options options;
    options.capture_stderr = true;
    GrpcurlRun run;
    absl::StatusOr<std::unique_ptr<Subprocess>> child =
        Subprocess::Start(BANK_GRPCURL_PATH, argv, options);
    if (!child.ok()) {
      ADD_FAILURE() << child.status();
      return run;
    }
    absl::StatusOr<ExitStatus> exit = (*child)->Wait(kGrpcurlTimeout);
    if (!exit.ok() || !exit->exited) {
      ADD_FAILURE() << "grpcurl did not exit: "
                    << (exit.ok() ? exit->ToString()
                                  : exit.status().ToString());
      return run;
    }
    run.exit_code = exit->code;
    run.out = (*child)->stdout_text();
    run.err = (*child)->stderr_text();
    return run;
  }

  // ExpectOk: the call succeeded and printed exactly `out`.
  void ExpectOk(const GrpcurlRun& run, const std::string& out) {
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(run.out, out);
  }

  // ExpectError: the call failed with `exit_code` and grpcurl's error block.
  void ExpectError(const GrpcurlRun& run, int exit_code,
                   const std::string& code, const std::string& message) {
    EXPECT_EQ(run.exit_code, exit_code) << run.out << run.err;
    EXPECT_EQ(run.err, ErrorText(code, message));
    EXPECT_EQ(run.out, "");
  }

  std::unique_ptr<ServerProcess> server_;
};

TEST_F(GrpcurlTest, ListsEveryService) {
  StartServer({});
  ExpectOk(Grpcurl({"list"}),
           "bank.v1.BankService\n"
           "grpc.health.v1.Health\n"
           "grpc.reflection.v1alpha.ServerReflection\n");
}

TEST_F(GrpcurlTest, DescribesEveryService) {
  StartServer({});
  GrpcurlRun bank = Grpcurl({"describe", "bank.v1.BankService"});
  EXPECT_EQ(bank.exit_code, 0) << bank.err;
  EXPECT_THAT(bank.out, HasSubstr("bank.v1.BankService is a service:\n"));
  for (const char* rpc : {"OpenAccount", "Deposit", "Withdraw", "Transfer",
                          "GetBalance", "ApplyBatch"}) {
    EXPECT_THAT(bank.out,
                HasSubstr(absl::StrCat("  rpc ", rpc, " ( .bank.v1.", rpc,
                                       "Request ) returns ( .bank.v1.", rpc,
                                       "Response );\n")));
  }
  // The health service was listed but not describable before its
  // descriptors were linked into the server (issue 12).
  ExpectOk(Grpcurl({"describe", "grpc.health.v1.Health"}),
           "grpc.health.v1.Health is a service:\n"
           "service Health {\n"
           "  rpc Check ( .grpc.health.v1.HealthCheckRequest ) returns ( "
           ".grpc.health.v1.HealthCheckResponse );\n"
           "  rpc Watch ( .grpc.health.v1.HealthCheckRequest ) returns ( "
           "stream .grpc.health.v1.HealthCheckResponse );\n"
           "}\n");
  ExpectOk(Grpcurl({"describe", "grpc.reflection.v1alpha.ServerReflection"}),
           "grpc.reflection.v1alpha.ServerReflection is a service:\n"
           "service ServerReflection {\n"
           "  rpc ServerReflectionInfo ( stream "
           ".grpc.reflection.v1alpha.ServerReflectionRequest ) returns ( "
           "stream .grpc.reflection.v1alpha.ServerReflectionResponse );\n"
           "}\n");
  GrpcurlRun message = Grpcurl({"describe", "bank.v1.WithdrawRequest"});
  EXPECT_EQ(message.exit_code, 0) << message.err;
  EXPECT_THAT(message.out, HasSubstr("int64 amount = 2;"));
}

// gRPC 1.51 serves reflection v1alpha only: a v1 request (described here
// from Debian's grpc-proto, since the server cannot describe it) answers
// UNIMPLEMENTED, which is what makes grpcurl 1.8.8+ fall back to v1alpha.
TEST_F(GrpcurlTest, ReflectionV1IsUnimplemented) {
  StartServer({});
  ExpectError(Grpcurl({"-import-path", BANK_GRPC_PROTO_DIR, "-proto",
                       "grpc/reflection/v1/reflection.proto",
                       "grpc.reflection.v1.ServerReflection/"
                       "ServerReflectionInfo"},
                      R"({"list_services":""})"),
              kUnimplementedExit, "Unimplemented", "");
}

TEST_F(GrpcurlTest, HealthCheck) {
  StartServer({});
  const std::string serving = "{\n  \"status\": \"SERVING\"\n}\n";
  ExpectOk(Grpcurl({"grpc.health.v1.Health/Check"}), serving);
  ExpectOk(Grpcurl({"grpc.health.v1.Health/Check"},
                   R"({"service":"bank.v1.BankService"})"),
           serving);
  ExpectError(
      Grpcurl({"grpc.health.v1.Health/Check"}, R"({"service":"nope.v1.X"})"),
      kNotFoundExit, "NotFound", "service name unknown");
}

// The README's walk-through, command by command, with its outputs.
TEST_F(GrpcurlTest, ReadmeExamples) {
  StartServer({"--accounts=main:80"});
  ExpectOk(Grpcurl({"bank.v1.BankService/Withdraw"},
                   R"({"account_id":"main","amount":30,"actor":"马伊琍"})"),
           "{\n  \"balance\": \"50\"\n}\n");
  ExpectOk(Grpcurl({"bank.v1.BankService/Deposit"},
                   R"({"account_id":"main","amount":50,"actor":"姚笛"})"),
           "{\n  \"balance\": \"100\"\n}\n");
  ExpectOk(Grpcurl({"bank.v1.BankService/OpenAccount"},
                   R"({"account_id":"b","initial_balance":0})"),
           "{\n  \"account\": {\n    \"account_id\": \"b\"\n  }\n}\n");
  ExpectOk(
      Grpcurl(
          {"bank.v1.BankService/Transfer"},
          R"({"from_account_id":"main","to_account_id":"b","amount":20,"actor":"马伊琍"})"),
      "{\n  \"from_balance\": \"80\",\n  \"to_balance\": \"20\"\n}\n");
  ExpectOk(
      Grpcurl({"bank.v1.BankService/GetBalance"}, R"({"account_id":"main"})"),
      "{\n  \"balance\": \"80\"\n}\n");
  ExpectError(
      Grpcurl({"bank.v1.BankService/Withdraw"},
              R"({"account_id":"main","amount":1000,"actor":"马伊琍"})"),
      kFailedPreconditionExit, "FailedPrecondition",
      "insufficient funds in account 'main': balance 80, amount 1000");
  ExpectError(
      Grpcurl({"bank.v1.BankService/GetBalance"}, R"({"account_id":"nobody"})"),
      kNotFoundExit, "NotFound", "account 'nobody' does not exist");
  // Request fields may be written in lowerCamelCase too (docs/SERVER.md).
  ExpectOk(Grpcurl({"bank.v1.BankService/GetBalance"}, R"({"accountId":"b"})"),
           "{\n  \"balance\": \"20\"\n}\n");
  // The README's two batches: one failure among successes, then an atomic
  // batch that applies nothing.
  ExpectOk(Grpcurl({"bank.v1.BankService/ApplyBatch"},
                   R"({"operations":[
    {"deposit":{"account_id":"main","amount":10,"actor":"姚笛"}},
    {"withdraw":{"account_id":"b","amount":1000}},
    {"transfer":{"from_account_id":"main","to_account_id":"b","amount":5}}]})"),
           R"json({
  "results": [
    {
      "deposit": {
        "balance": "90"
      }
    },
    {
      "status": {
        "code": 9,
        "message": "insufficient funds in account 'b': balance 20, amount 1000"
      }
    },
    {
      "transfer": {
        "from_balance": "85",
        "to_balance": "25"
      }
    }
  ]
}
)json");
  ExpectOk(Grpcurl({"bank.v1.BankService/ApplyBatch"},
                   R"({"atomic":true,"operations":[
    {"deposit":{"account_id":"main","amount":10}},
    {"withdraw":{"account_id":"b","amount":1000}}]})"),
           R"json({
  "results": [
    {
      "status": {
        "code": 10,
        "message": "not applied: the atomic batch failed at operation 1 (FAILED_PRECONDITION: insufficient funds in account 'b': balance 25, amount 1000)"
      }
    },
    {
      "status": {
        "code": 9,
        "message": "insufficient funds in account 'b': balance 25, amount 1000"
      }
    }
  ]
}
)json");
}

// Every documented error code, each with grpcurl's exit code; nothing
// changes on an error.
TEST_F(GrpcurlTest, EveryDocumentedErrorAndItsExitCode) {
  StartServer(
      {"--accounts=main:80,full:9223372036854775807", "--accounts_max=2"});
  GrpcurlRun zero = Grpcurl({"bank.v1.BankService/Withdraw"},
                            R"({"account_id":"main","amount":0})");
  EXPECT_EQ(zero.exit_code, kInvalidArgumentExit) << zero.err;
  EXPECT_THAT(zero.err, HasSubstr("Code: InvalidArgument\n"));
  GrpcurlRun same = Grpcurl(
      {"bank.v1.BankService/Transfer"},
      R"({"from_account_id":"main","to_account_id":"main","amount":1})");
  EXPECT_EQ(same.exit_code, kInvalidArgumentExit) << same.err;

  ExpectError(Grpcurl({"bank.v1.BankService/Deposit"},
                      R"({"account_id":"nobody","amount":1})"),
              kNotFoundExit, "NotFound", "account 'nobody' does not exist");

  GrpcurlRun again =
      Grpcurl({"bank.v1.BankService/OpenAccount"}, R"({"account_id":"main"})");
  EXPECT_EQ(again.exit_code, kAlreadyExistsExit) << again.err;
  EXPECT_THAT(again.err, HasSubstr("Code: AlreadyExists\n"));

  GrpcurlRun overflow = Grpcurl({"bank.v1.BankService/Deposit"},
                                R"({"account_id":"full","amount":1})");
  EXPECT_EQ(overflow.exit_code, kOutOfRangeExit) << overflow.err;
  EXPECT_THAT(overflow.err, HasSubstr("Code: OutOfRange\n"));

  GrpcurlRun third =
      Grpcurl({"bank.v1.BankService/OpenAccount"}, R"({"account_id":"third"})");
  EXPECT_EQ(third.exit_code, kResourceExhaustedExit) << third.err;
  EXPECT_THAT(third.err, HasSubstr("Code: ResourceExhausted\n"));

  // A request over kRequestBytesMax (4 KiB) is refused before the engine.
  const std::string actor(5000, 'x');
  GrpcurlRun large =
      Grpcurl({"bank.v1.BankService/Deposit"},
              absl::StrCat(R"({"account_id":"main","amount":1,"actor":")",
                           actor, R"("})"));
  EXPECT_EQ(large.exit_code, kResourceExhaustedExit) << large.err;
  EXPECT_THAT(large.err, HasSubstr("Code: ResourceExhausted\n"));

  GrpcurlRun poor = Grpcurl({"bank.v1.BankService/Withdraw"},
                            R"({"account_id":"main","amount":81})");
  EXPECT_EQ(poor.exit_code, kFailedPreconditionExit) << poor.err;

  // None of the failures above changed a balance.
  ExpectOk(
      Grpcurl({"bank.v1.BankService/GetBalance"}, R"({"account_id":"main"})"),
      "{\n  \"balance\": \"80\"\n}\n");
}

}  // namespace
}  // namespace bank::testing
