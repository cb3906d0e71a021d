// Goal: the authorization policy reads gRPC's policy format strictly and
// decides as gRFC A43 says: deny rules first, then allow rules, otherwise
// deny; principals match only authenticated clients, by URI SAN, DNS SAN
// or subject; patterns are exact, prefix*, *suffix or *.
// Method: parse small policies and evaluate calls against them; pure
// functions, no server. Also the shipped example policy parses.

#include "service/server/authz_policy.h"

#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace bank {
namespace {

constexpr char kOpen[] = "/bank.v1.BankService/OpenAccount";
constexpr char kWithdraw[] = "/bank.v1.BankService/Withdraw";
constexpr char kBalance[] = "/bank.v1.BankService/GetBalance";

AuthzPeer Peer(std::vector<std::string> names) {
  return AuthzPeer{true, std::move(names)};
}

AuthzPolicy Parse(const std::string& json) {
  absl::StatusOr<AuthzPolicy> policy = ParseAuthzPolicy(json);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.value_or(AuthzPolicy());
}

TEST(AuthzPatternTest, ExactPrefixSuffixAndAny) {
  EXPECT_TRUE(MatchesPattern("CN=admin", "CN=admin"));
  EXPECT_FALSE(MatchesPattern("CN=admin", "CN=admin2"));
  EXPECT_TRUE(MatchesPattern("/bank.v1.*", kOpen));
  EXPECT_FALSE(MatchesPattern("/grpc.*", kOpen));
  EXPECT_TRUE(MatchesPattern("*/GetBalance", kBalance));
  EXPECT_FALSE(MatchesPattern("*/GetBalance", kWithdraw));
  EXPECT_TRUE(MatchesPattern("*", ""));
}

TEST(AuthzPolicyTest, AllowRulesByPrincipalAndPath) {
  const AuthzPolicy policy = Parse(R"({
    "name": "p",
    "allow_rules": [
      {"name": "admin_opens", "source": {"principals": ["CN=admin"]},
       "request": {"paths": ["/bank.v1.BankService/OpenAccount"]}},
      {"name": "readers", "source": {"principals": ["*"]},
       "request": {"paths": ["*/GetBalance"]}}
    ]})");
  EXPECT_TRUE(Authorize(policy, Peer({"CN=admin"}), kOpen).ok());
  EXPECT_TRUE(Authorize(policy, Peer({"CN=teller"}), kBalance).ok());
  // A URI or DNS SAN counts as the principal too.
  EXPECT_TRUE(
      Authorize(policy, Peer({"spiffe://bank/x", "CN=admin"}), kOpen).ok());
  const absl::Status denied = Authorize(policy, Peer({"CN=teller"}), kOpen);
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(denied.message().find(kOpen), absl::string_view::npos);
  // "*" needs an authenticated client; a nameless one still counts.
  EXPECT_FALSE(Authorize(policy, AuthzPeer{false, {}}, kBalance).ok());
  EXPECT_TRUE(Authorize(policy, AuthzPeer{true, {}}, kBalance).ok());
  EXPECT_FALSE(Authorize(policy, AuthzPeer{false, {"CN=admin"}}, kOpen).ok());
}

TEST(AuthzPolicyTest, DenyRulesWinAndNoSourceMeansEveryone) {
  const AuthzPolicy policy = Parse(R"({
    "name": "p",
    "deny_rules": [{"name": "no_withdrawals",
                    "request": {"paths": ["*/Withdraw"]}}],
    "allow_rules": [{"name": "everything"}]})");
  EXPECT_TRUE(Authorize(policy, AuthzPeer{false, {}}, kOpen).ok());
  const absl::Status denied = Authorize(policy, Peer({"CN=admin"}), kWithdraw);
  EXPECT_EQ(denied.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(denied.message().find("no_withdrawals"), absl::string_view::npos);
}

TEST(AuthzPolicyTest, RejectsWhatItDoesNotUnderstand) {
  const char* bad[] = {
      "",
      "[]",
      R"({"name": "p"})",                       // No allow_rules.
      R"({"name": "p", "allow_rules": []})",    // Empty.
      R"({"allow_rules": [{"name": "r"}]})",    // No name.
      R"({"name": "p", "allow_rules": [{}]})",  // Rule without name.
      R"({"name": "p", "allow_rules": [{"name": "r", "request":
          {"headers": [{"key": "k", "values": ["v"]}]}}]})",  // Unsupported.
      R"({"name": "p", "allow_rules": [{"name": "r", "source":
          {"principals": [""]}}]})",                          // Empty pattern.
      R"({"name": "p", "allow_rules": [{"name": "r", "source":
          {"principals": "CN=admin"}}]})",                    // Not a list.
      R"({"name": "p", "allow_rules": [{"name": "r"}], "extra": 1})",
  };
  for (const char* json : bad) {
    absl::StatusOr<AuthzPolicy> policy = ParseAuthzPolicy(json);
    EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument)
        << json;
  }
}

TEST(AuthzPolicyTest, ShippedExamplePolicyParses) {
  std::ifstream in(BANK_EXAMPLE_POLICY);
  ASSERT_TRUE(in) << BANK_EXAMPLE_POLICY;
  std::ostringstream text;
  text << in.rdbuf();
  const AuthzPolicy policy = Parse(text.str());
  EXPECT_TRUE(Authorize(policy, Peer({"CN=admin"}), kOpen).ok());
  EXPECT_FALSE(Authorize(policy, Peer({"CN=teller"}), kOpen).ok());
  EXPECT_TRUE(Authorize(policy, Peer({"CN=teller"}), kWithdraw).ok());
  EXPECT_FALSE(Authorize(policy, Peer({"CN=auditor"}), kWithdraw).ok());
  EXPECT_TRUE(Authorize(policy, Peer({"CN=auditor"}), kBalance).ok());
}

}  // namespace
}  // namespace bank
