// AuthzPolicy: per-RPC authorization over the mutual-TLS principal, in
// gRPC's authorization policy format ("SDK authz", gRFC A43):
//
//   {
//     "name": "bank",
//     "deny_rules":  [ RULE, ... ],            (optional)
//     "allow_rules": [ RULE, ... ]             (at least one)
//   }
//   RULE = { "name": "...",
//            "source":  { "principals": [ PATTERN, ... ] },   (optional)
//            "request": { "paths": [ PATTERN, ... ] } }       (optional)
//
// A call is denied when a deny rule matches it; otherwise allowed when an
// allow rule matches it; otherwise denied. A rule matches when its source
// and its request both match (an absent one matches every call). A PATTERN
// is exact ("/bank.v1.BankService/OpenAccount"), a prefix ("/bank.v1.*"), a
// suffix ("*/GetBalance") or "*" (anything). A principal pattern matches an
// authenticated client (one that showed a certificate the server verified)
// whose certificate has a URI SAN, a DNS SAN or the subject (as gRPC prints
// it, e.g. "CN=admin") that the pattern matches, as gRPC's own engine does;
// "*" matches every authenticated client. A path is the RPC's
// "/package.Service/Method".
//
// Why our own evaluator: gRPC 1.51 declares FileWatcherAuthorizationPolicy-
// Provider (grpcpp/security/authorization_policy_provider.h), but Debian's
// libgrpc++ does not contain it (nor the policy translator it needs), so a
// program using it does not link. This evaluator reads the same format, so
// a policy written for gRPC's engine means the same here; the parts of the
// format we do not implement ("headers" in requests) are rejected, never
// ignored.
//
// Thread safety: AuthzPolicy is an immutable value; the functions are pure.

#ifndef BANK_SERVICE_SERVER_AUTHZ_POLICY_H_
#define BANK_SERVICE_SERVER_AUTHZ_POLICY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace bank {

// Limits on a policy, so a huge file cannot make every call slow.
inline constexpr size_t kAuthzRulesMax = 256;
inline constexpr size_t kAuthzPatternsPerRuleMax = 256;

struct AuthzRule {
  std::string name;
  bool any_source = true;               // No "source": every caller.
  std::vector<std::string> principals;  // Else: these patterns.
  bool any_request = true;              // No "request" or no "paths".
  std::vector<std::string> paths;
};

struct AuthzPolicy {
  std::string name;
  std::vector<AuthzRule> deny_rules;
  std::vector<AuthzRule> allow_rules;
};

// AuthzPeer: who is calling, as the TLS handshake established it.
struct AuthzPeer {
  bool authenticated = false;      // Showed a certificate we verified.
  std::vector<std::string> names;  // URI SANs, DNS SANs, subject.
};

// ParseAuthzPolicy parses and checks a policy. Answers kInvalidArgument
// naming the offending field (unknown fields, wrong types, a missing or
// empty allow_rules, a rule without a name, an empty pattern, over the
// limits).
absl::StatusOr<AuthzPolicy> ParseAuthzPolicy(absl::string_view json);

// MatchesPattern: `value` against one PATTERN as described above.
bool MatchesPattern(absl::string_view pattern, absl::string_view value);

// Authorize answers OK when `policy` allows `peer` to call `path`, else
// kPermissionDenied saying which rule denied the call or that none allowed
// it.
absl::Status Authorize(const AuthzPolicy& policy, const AuthzPeer& peer,
                       absl::string_view path);

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_AUTHZ_POLICY_H_
