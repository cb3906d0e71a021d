// Goal: bank_server's TLS, mutual TLS and authorization policy do what
// docs/SERVER.md says, against the real binaries: TLS serves and refuses
// plaintext; mutual TLS refuses a client without a certificate or with one
// from another CA; grpcurl works with -cacert/-cert/-key; a certificate
// replaced on disk is served without a restart; the policy allows and
// denies (PERMISSION_DENIED) as written and a policy edit takes effect;
// bank_loadgen and bank_health work with their --tls_* flags; bad flags
// exit 2 naming the flag.
// Method: a throwaway CA and certificates made with openssl at test time
// (TestPki, a temporary directory); bank_server on 127.0.0.1:0 with
// --reload_interval=1s; gRPC clients built here. Changes on disk are
// observed by polling what a fresh connection sees, bounded by
// kReloadWaitMax; nothing sleeps to synchronise.

#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bank/v1/bank.grpc.pb.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/server/rpc_helpers.h"
#include "tests/testing/server_process.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_pki.h"

namespace bank::testing {
namespace {

constexpr int kExitUsage = 2;  // server_main.cc: a bad flag value.
// kReloadWaitMax bounds the wait for a change on disk to show (the server
// re-reads every second); generous for a loaded machine, never asserted.
constexpr absl::Duration kReloadWaitMax = absl::Seconds(60);
// kPollInterval: between two looks at what the server serves.
constexpr absl::Duration kPollInterval = absl::Milliseconds(100);
constexpr absl::Duration kChildTimeout = absl::Seconds(60);
constexpr char kServerName[] = "localhost";  // In the server's certificate.

constexpr char kPolicy[] = R"json({
  "name": "bank-test",
  "allow_rules": [
    {"name": "admin_opens_accounts",
     "source": {"principals": ["CN=admin"]},
     "request": {"paths": ["/bank.v1.BankService/OpenAccount"]}},
    {"name": "tellers_move_money",
     "source": {"principals": ["CN=teller", "CN=admin"]},
     "request": {"paths": ["/bank.v1.BankService/Deposit",
                           "/bank.v1.BankService/Withdraw",
                           "/bank.v1.BankService/Transfer"]}},
    {"name": "any_client_reads",
     "source": {"principals": ["*"]},
     "request": {"paths": ["/bank.v1.BankService/GetBalance",
                           "/grpc.health.v1.Health/*"]}}
  ]
})json";

// The same, with a deny rule that takes balances away from "reader".
constexpr char kPolicyDenyingReader[] = R"json({
  "name": "bank-test-2",
  "deny_rules": [
    {"name": "reader_is_suspended", "source": {"principals": ["CN=reader"]}}
  ],
  "allow_rules": [
    {"name": "any_client_reads", "source": {"principals": ["*"]},
     "request": {"paths": ["/bank.v1.BankService/GetBalance"]}}
  ]
})json";

// Client: who a test client is; empty paths = no client certificate.
struct Client {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
};

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (std::string(BANK_OPENSSL_PATH).empty()) return;  // SetUp skips.
    absl::StatusOr<std::unique_ptr<TestPki>> pki =
        TestPki::Create(BANK_OPENSSL_PATH);
    ASSERT_TRUE(pki.ok()) << pki.status();
    pki_ = pki->release();
    ca_ = Make(pki_->MakeCa("ca"));
    other_ca_ = Make(pki_->MakeCa("other_ca"));
    server_ = Make(pki_->Issue(
        ca_, "server",
        {"bank-server", {kServerName}, {"127.0.0.1"}, {}, true, 0}, "live1"));
    admin_ = Make(pki_->Issue(ca_, "admin", {"admin", {}, {}, {}, false, 0}));
    teller_ =
        Make(pki_->Issue(ca_, "teller", {"teller", {}, {}, {}, false, 0}));
    reader_ =
        Make(pki_->Issue(ca_, "reader", {"reader", {}, {}, {}, false, 0}));
    // Same name as admin, wrong CA: must be refused at the handshake.
    stranger_ = Make(
        pki_->Issue(other_ca_, "stranger", {"admin", {}, {}, {}, false, 0}));
  }

  void SetUp() override {
    if (pki_ == nullptr) {
      GTEST_SKIP() << "no test certificates: openssl was not found when "
                      "CMake ran (scripts/install-deps.sh installs it; then "
                      "re-run cmake), or making them failed (see above)";
    }
  }

  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }

  static CertFiles Make(absl::StatusOr<CertFiles> files) {
    EXPECT_TRUE(files.ok()) << files.status();
    return files.value_or(CertFiles());
  }

  static std::string ReadFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }

  static Client As(const CertFiles& cert) {
    return Client{ca_.cert_pem, cert.cert_pem, ReadFile(cert.key_path)};
  }
  static Client Anonymous() { return Client{ca_.cert_pem, "", ""}; }

  static std::vector<std::string> TlsFlags(const std::string& live = "live1") {
    const std::string dir = pki_->dir() + "/" + live;
    return {"--tls_cert=" + dir + "/server.pem",
            "--tls_key=" + dir + "/server.key", "--reload_interval=1s"};
  }

  static std::vector<std::string> MutualTlsFlags(
      const std::string& live = "live1") {
    std::vector<std::string> flags = TlsFlags(live);
    flags.push_back("--tls_client_ca=" + ca_.cert_path);
    return flags;
  }

  // Channel: a new channel with its own connection (so its own handshake).
  static std::shared_ptr<grpc::Channel> Channel(const std::string& address,
                                                const Client& client) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = client.ca_pem;
    ssl.pem_cert_chain = client.cert_pem;
    ssl.pem_private_key = client.key_pem;
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(kServerName);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
  }

  static std::unique_ptr<bank::v1::BankService::Stub> NewStub(
      const std::string& address, const Client& client) {
    return bank::v1::BankService::NewStub(Channel(address, client));
  }

  // GetBalance answers the status of one GetBalance of "main" and, in
  // `peer_cert`, the certificate the server showed.
  static grpc::Status GetBalance(const std::shared_ptr<grpc::Channel>& channel,
                                 std::string* peer_cert = nullptr) {
    auto stub = bank::v1::BankService::NewStub(channel);
    grpc::ClientContext context;
    SetTestDeadline(context);
    bank::v1::GetBalanceRequest request;
    request.set_account_id("main");
    bank::v1::GetBalanceResponse response;
    grpc::Status status = stub->GetBalance(&context, request, &response);
    if (peer_cert != nullptr) {
      peer_cert->clear();
      for (const grpc::string_ref& value :
           context.auth_context()->FindPropertyValues(
               GRPC_X509_PEM_CERT_PROPERTY_NAME)) {
        peer_cert->assign(value.data(), value.size());
      }
    }
    return status;
  }

  static std::unique_ptr<ServerProcess> Start(std::vector<std::string> flags) {
    flags.push_back("--accounts=main:80");
    Subprocess::Options options;
    options.capture_stderr = true;
    absl::StatusOr<std::unique_ptr<ServerProcess>> server =
        ServerProcess::Start(BANK_SERVER_PATH, flags, options);
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  // Run runs a binary to its exit and answers it, with its output.
  static ExitStatus Run(const std::string& path,
                        const std::vector<std::string>& args, std::string* out,
                        std::string* err) {
    Subprocess::Options options;
    options.capture_stderr = true;
    absl::StatusOr<std::unique_ptr<Subprocess>> child =
        Subprocess::Start(path, args, options);
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return ExitStatus();
    absl::StatusOr<ExitStatus> exit = (*child)->Wait(kChildTimeout);
    EXPECT_TRUE(exit.ok()) << exit.status();
    *out = (*child)->stdout_text();
    *err = (*child)->stderr_text();
    return exit.value_or(ExitStatus());
  }

  static TestPki* pki_;
  static CertFiles ca_, other_ca_, server_, admin_, teller_, reader_, stranger_;
};

TestPki* TlsTest::pki_ = nullptr;
CertFiles TlsTest::ca_, TlsTest::other_ca_, TlsTest::server_, TlsTest::admin_,
    TlsTest::teller_, TlsTest::reader_, TlsTest::stranger_;

TEST_F(TlsTest, BadFlagsExitTwoNamingTheFlag) {
  const std::string cert = "--tls_cert=" + server_.cert_path;
  const std::string key = "--tls_key=" + server_.key_path;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{cert}, "--tls_cert"},
      {{key}, "--tls_key"},
      {{"--tls_cert=/nonexistent/server.pem", key}, "--tls_cert"},
      {{cert, "--tls_key=/nonexistent/server.key"}, "--tls_key"},
      {{cert, key, "--tls_client_ca=" + pki_->dir()}, "--tls_client_ca"},
      {{"--tls_client_ca=" + ca_.cert_path}, "--tls_client_ca"},
      {{"--authz_policy=" + ca_.cert_path}, "--authz_policy"},  // No TLS.
      {{cert, key, "--authz_policy=" + ca_.cert_path}, "--authz_policy"},
      {{cert, key, "--reload_interval=0s"}, "--reload_interval"},
      {{cert, key, "--reload_interval=1500ms"}, "--reload_interval"},
  };
  for (const auto& [flags, named] : cases) {
    std::vector<std::string> args = {"--listen=127.0.0.1:0"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::string out, err;
    const ExitStatus exit = Run(BANK_SERVER_PATH, args, &out, &err);
    EXPECT_TRUE(exit.exited && exit.code == kExitUsage)
        << flags[0] << ": " << exit.ToString() << " " << err;
    EXPECT_TRUE(absl::StrContains(err, named)) << flags[0] << ": " << err;
  }
}

TEST_F(TlsTest, TlsServesTlsClientsAndRefusesPlaintext) {
  std::unique_ptr<ServerProcess> server = Start(TlsFlags());
  ASSERT_NE(server, nullptr);
  std::string peer_cert;
  grpc::Status status =
      GetBalance(Channel(server->address(), Anonymous()), &peer_cert);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(peer_cert, server_.cert_pem);
  // ServerProcess's own channel is plaintext.
  status = GetBalance(server->channel());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
}

TEST_F(TlsTest, MutualTlsRefusesClientsWithoutAGoodCertificate) {
  std::unique_ptr<ServerProcess> server = Start(MutualTlsFlags());
  ASSERT_NE(server, nullptr);
  grpc::Status status = GetBalance(Channel(server->address(), As(teller_)));
  EXPECT_TRUE(status.ok()) << status.error_message();

  status = GetBalance(Channel(server->address(), Anonymous()));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << "no client certificate: " << status.error_message();
  Client stranger = As(stranger_);  // Trusts our CA, signed by another.
  status = GetBalance(Channel(server->address(), stranger));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << "another CA's certificate: " << status.error_message();
}

TEST_F(TlsTest, GrpcurlWorksWithCacertCertKey) {
  if (access(BANK_GRPCURL, X_OK) != 0) {
    GTEST_SKIP() << "grpcurl not found at " << BANK_GRPCURL
                 << " (set -DBANK_GRPCURL=/path/to/grpcurl)";
  }
  std::unique_ptr<ServerProcess> server = Start(MutualTlsFlags());
  ASSERT_NE(server, nullptr);
  const std::vector<std::string> call = {"-d", R"({"account_id":"main"})",
                                         server->address(),
                                         "bank.v1.BankService/GetBalance"};
  std::vector<std::string> args = {"-cacert", ca_.cert_path,
                                   "-cert",   teller_.cert_path,
                                   "-key",    teller_.key_path};
  args.insert(args.end(), call.begin(), call.end());
  std::string out, err;
  ExitStatus exit = Run(BANK_GRPCURL, args, &out, &err);
  EXPECT_TRUE(exit.Succeeded()) << exit.ToString() << " " << err;
  EXPECT_TRUE(absl::StrContains(out, R"("balance": "80")")) << out;

  args = {"-cacert", ca_.cert_path};  // No client certificate.
  args.insert(args.end(), call.begin(), call.end());
  exit = Run(BANK_GRPCURL, args, &out, &err);
  EXPECT_FALSE(exit.Succeeded()) << out;
}

// gRPC's advice for rotating a key and its certificate together: keep them
// in a directory reached through a symlink and swap the symlink.
TEST_F(TlsTest, RotatedCertificateIsServedWithoutRestart) {
  ASSERT_TRUE(pki_->PointSymlink("live", "live1").ok());
  std::unique_ptr<ServerProcess> server = Start(MutualTlsFlags("live"));
  ASSERT_NE(server, nullptr);
  std::string peer_cert;
  ASSERT_TRUE(
      GetBalance(Channel(server->address(), As(teller_)), &peer_cert).ok());
  ASSERT_EQ(peer_cert, server_.cert_pem);

  const CertFiles rotated = Make(pki_->Issue(
      ca_, "server", {"bank-server", {kServerName}, {"127.0.0.1"}, {}, true, 0},
      "live2"));
  ASSERT_NE(rotated.cert_pem, server_.cert_pem);
  ASSERT_TRUE(pki_->PointSymlink("live", "live2").ok());
  const absl::Time deadline = absl::Now() + kReloadWaitMax;
  while (peer_cert != rotated.cert_pem && absl::Now() < deadline) {
    absl::SleepFor(kPollInterval);
    grpc::Status status =
        GetBalance(Channel(server->address(), As(teller_)), &peer_cert);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_EQ(peer_cert, rotated.cert_pem)
      << "the server still shows the old certificate after "
      << absl::FormatDuration(kReloadWaitMax);
}

TEST_F(TlsTest, PolicyAllowsAndDeniesAsWrittenAndReloads) {
  absl::StatusOr<std::string> policy = pki_->WriteFile("policy.json", kPolicy);
  ASSERT_TRUE(policy.ok()) << policy.status();
  std::vector<std::string> flags = MutualTlsFlags();
  flags.push_back("--authz_policy=" + *policy);
  std::unique_ptr<ServerProcess> server = Start(flags);
  ASSERT_NE(server, nullptr);
  BankClient admin(NewStub(server->address(), As(admin_)));
  BankClient teller(NewStub(server->address(), As(teller_)));
  BankClient reader(NewStub(server->address(), As(reader_)));

  EXPECT_EQ(teller.Open("t", 0).status.error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(admin.Open("t", 0).status.ok());
  EXPECT_TRUE(teller.Deposit("t", 5).status.ok());
  EXPECT_TRUE(teller.Transfer("main", "t", 10).status.ok());
  const auto denied = reader.Withdraw("main", 1);
  EXPECT_EQ(denied.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(denied.status.error_message(),
                                "/bank.v1.BankService/Withdraw"))
      << denied.status.error_message();
  const auto balance = reader.GetBalance("t");
  ASSERT_TRUE(balance.status.ok()) << balance.status.error_message();
  EXPECT_EQ(balance.response.balance(), 15);

  ASSERT_TRUE(pki_->WriteFile("policy.json", kPolicyDenyingReader).ok());
  const absl::Time deadline = absl::Now() + kReloadWaitMax;
  grpc::Status status = grpc::Status::OK;
  while (status.ok() && absl::Now() < deadline) {
    absl::SleepFor(kPollInterval);
    status = reader.GetBalance("t").status;
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "reader_is_suspended"))
      << status.error_message();
  EXPECT_TRUE(teller.GetBalance("t").status.ok());
  // The new policy no longer lets the admin open accounts.
  EXPECT_EQ(admin.Open("u", 0).status.error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  // A broken edit is reported and the last valid policy stays in force.
  ASSERT_TRUE(pki_->WriteFile("policy.json", "{\"name\": \"half").ok());
  const absl::Time reported_by = absl::Now() + kReloadWaitMax;
  while (!absl::StrContains(server->process().stderr_text(), "reload failed") &&
         absl::Now() < reported_by) {
    // Reads the server's stderr while waiting; it must not exit.
    ASSERT_FALSE(server->process().WaitForExit(kPollInterval));
  }
  EXPECT_TRUE(absl::StrContains(server->process().stderr_text(),
                                "keeping the previous policy"))
      << server->process().stderr_text();
  EXPECT_EQ(reader.GetBalance("t").status.error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(teller.GetBalance("t").status.ok());
}

TEST_F(TlsTest, LoadgenAndHealthProbeSpeakTls) {
  std::unique_ptr<ServerProcess> server = Start(MutualTlsFlags());
  ASSERT_NE(server, nullptr);
  const std::vector<std::string> tls = {
      "--tls_ca=" + ca_.cert_path, "--tls_cert=" + teller_.cert_path,
      "--tls_key=" + teller_.key_path,
      std::string("--tls_server_name=") + kServerName};
  std::vector<std::string> args = {"--target=" + server->address(),
                                   "--total=500", "--accounts=4",
                                   "--concurrency=8"};
  args.insert(args.end(), tls.begin(), tls.end());
  std::string out, err;
  ExitStatus exit = Run(BANK_LOADGEN_PATH, args, &out, &err);
  EXPECT_TRUE(exit.Succeeded()) << exit.ToString() << " " << out << err;
  EXPECT_TRUE(absl::StrContains(out, "PASS")) << out;

  args = {"--target=" + server->address()};
  args.insert(args.end(), tls.begin(), tls.end());
  exit = Run(BANK_HEALTH_PATH, args, &out, &err);
  EXPECT_TRUE(exit.Succeeded()) << exit.ToString() << " " << err;
  EXPECT_TRUE(absl::StrContains(out, "SERVING")) << out;

  // Without a client certificate the probe is refused: unhealthy, exit 1.
  args = {"--target=" + server->address(), "--tls_ca=" + ca_.cert_path,
          std::string("--tls_server_name=") + kServerName};
  exit = Run(BANK_HEALTH_PATH, args, &out, &err);
  EXPECT_TRUE(exit.exited && exit.code == 1) << exit.ToString() << " " << err;
  // A flag error names the flag (loadgen: exit 2).
  args = {"--target=" + server->address(), "--tls_cert=" + teller_.cert_path};
  exit = Run(BANK_LOADGEN_PATH, args, &out, &err);
  EXPECT_TRUE(exit.exited && exit.code == 2) << exit.ToString();
  EXPECT_TRUE(absl::StrContains(err, "--tls_cert")) << err;
}

}  // namespace
}  // namespace bank::testing
