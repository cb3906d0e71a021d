// Goal: the client --tls_* options (client/tls_options.h) are plaintext when
// unset and name the flag for every mistake they can see before a
// handshake: a certificate without its key (and the other way round) and a
// file that cannot be read.
// Method: MakeChannelSecurity on option values (this source file stands in
// for a readable PEM file); no network.

#include "client/tls_options.h"
#include "gtest/gtest.h"

namespace bank::client {
namespace {

TEST(ClientTlsTest, NoFlagsIsPlaintext) {
  absl::StatusOr<ChannelSecurity> security =
      MakeChannelSecurity(ClientTlsOptions());
  ASSERT_TRUE(security.ok()) << security.status();
  EXPECT_NE(security->credentials, nullptr);
  EXPECT_TRUE(security->server_name.empty());
}

TEST(ClientTlsTest, MistakesNameTheFlag) {
  ClientTlsOptions cert_only;
  cert_only.cert_path = __FILE__;
  ClientTlsOptions key_only;
  key_only.key_path = __FILE__;
  ClientTlsOptions missing_ca;
  missing_ca.ca_path = "/nonexistent/ca.pem";
  ClientTlsOptions missing_key;
  missing_key.cert_path = __FILE__;
  missing_key.key_path = "/nonexistent/client.key";
  const std::pair<ClientTlsOptions, const char*> cases[] = {
      {cert_only, "--tls_cert"},
      {key_only, "--tls_key"},
      {missing_ca, "--tls_ca"},
      {missing_key, "--tls_key"},
  };
  for (const auto& [options, flag] : cases) {
    absl::StatusOr<ChannelSecurity> security = MakeChannelSecurity(options);
    EXPECT_EQ(security.status().code(), absl::StatusCode::kInvalidArgument)
        << flag;
    EXPECT_NE(security.status().message().find(flag), absl::string_view::npos)
        << security.status();
  }
}

}  // namespace
}  // namespace bank::client
