// Server transport security and authorization: TLS, mutual TLS and an
// authorization policy in gRPC's policy format, all from files that are
// watched on disk.
//
// Plaintext is the default (a ServerSecurityConfig with no paths). With a
// certificate and key the server speaks TLS; with a client CA too it
// demands a client certificate signed by that CA (mutual TLS) and refuses
// the handshake otherwise. An authorization policy (gRPC's JSON "authz
// policy" format, see authz_policy.h and docs/SERVER.md) then decides per
// RPC which clients may call which methods; a call it does not allow
// answers PERMISSION_DENIED. The policy needs TLS (its principals are
// client certificates, and gRPC runs it only on secure ports).
//
// Everything is re-read from disk every reload_interval without a restart,
// by gRPC's own FileWatcherCertificateProvider for the certificates and by
// AuthzAuthorizer (authz_authorizer.h) for the policy: replace the files and
// new connections get the new certificate, new calls the new policy. The key
// and the certificate must change together: gRPC's advice is to keep them
// in a directory reached through a symlink and to swap the symlink (see
// docs/SERVER.md). A policy that turns invalid later is logged by gRPC and
// the last valid one stays in force.
//
// Thread safety: the functions are pure or read files; a ServerSecurity is
// immutable once made and shared with the gRPC server it is given to.

#ifndef BANK_SERVICE_SERVER_SERVER_SECURITY_H_
#define BANK_SERVICE_SERVER_SERVER_SECURITY_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class ServerCredentials;
}  // namespace grpc

namespace bank {

// kReloadIntervalDefault: how often the certificate, key, client CA and
// policy files are re-read. A rotated certificate is served at most this
// long after it was written.
inline constexpr absl::Duration kReloadIntervalDefault = absl::Seconds(60);
// kReloadIntervalMin: gRPC's watchers count in whole seconds.
inline constexpr absl::Duration kReloadIntervalMin = absl::Seconds(1);
// kReloadIntervalMax: a day; past that a rotation would wait too long.
inline constexpr absl::Duration kReloadIntervalMax = absl::Hours(24);
// kSecurityFileBytesMax caps each PEM or policy file we read at start;
// real ones are a few KiB.
inline constexpr size_t kSecurityFileBytesMax = 1024 * 1024;

inline constexpr char kPlaintextDescription[] =
    "plaintext (no TLS): keep this port off untrusted networks";

// ServerSecurityConfig: the file paths as given on the command line
// (--tls_cert, --tls_key, --tls_client_ca, --authz_policy); "" = not set.
struct ServerSecurityConfig {
  std::string tls_cert_path;       // PEM certificate chain the server shows.
  std::string tls_key_path;        // PEM private key of that certificate.
  std::string tls_client_ca_path;  // PEM CA(s) client certificates must chain
                                   // to; set = mutual TLS.
  std::string authz_policy_path;   // gRPC authz policy (JSON).
  absl::Duration reload_interval = kReloadIntervalDefault;
};

// ServerSecurity: what BuildServer hands to gRPC. Default = plaintext, no
// policy.
struct ServerSecurity {
  // credentials for the listening port; null = plaintext.
  std::shared_ptr<grpc::ServerCredentials> credentials;
  // description: one line for the operator's log, e.g. "mutual TLS
  // (certificate c.pem, client CA ca.pem), authz policy p.json, files
  // re-read every 1m", or kPlaintextDescription.
  std::string description = kPlaintextDescription;
};

// ValidateServerSecurityConfig checks the flags without starting anything:
// --tls_cert and --tls_key come together; --tls_client_ca and
// --authz_policy need them; every
// given file is a readable, non-empty file of at most kSecurityFileBytesMax
// bytes; the interval is in [kReloadIntervalMin, kReloadIntervalMax] and a
// whole number of seconds. Answers kInvalidArgument naming the flag.
absl::Status ValidateServerSecurityConfig(const ServerSecurityConfig& config);

// MakeServerSecurity builds the credentials, with the policy enforcer set
// on them (both start file-watching threads: call it after
// BlockShutdownSignals). Runs ValidateServerSecurityConfig first; an invalid
// policy answers kInvalidArgument "--authz_policy: ..." with the reason.
absl::StatusOr<ServerSecurity> MakeServerSecurity(
    const ServerSecurityConfig& config);

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_SERVER_SECURITY_H_
