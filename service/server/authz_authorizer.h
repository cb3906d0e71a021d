// AuthzAuthorizer: enforces an AuthzPolicy (authz_policy.h) read from a
// file on every call of a TLS server, and re-reads the file while serving.
//
// It is a grpc::AuthMetadataProcessor set on the server's TLS credentials:
// gRPC calls Process() for each call, after the handshake and before the
// call reaches the service, with the connection's AuthContext (the
// verified client certificate's names) and the call's metadata (its
// ":path"). A call the policy does not allow ends there with
// PERMISSION_DENIED and the reason. Because gRPC calls processors only on
// secure ports, --authz_policy needs TLS (server_security.cc checks).
//
// Reloads: a thread of its own reads the file every reload interval; a
// changed file that parses replaces the policy for the calls that follow
// (calls already authorized are not re-checked), one that does not parse
// is reported on stderr and the previous policy stays in force.
//
// Thread safety: Process() may run on any number of gRPC threads at once;
// it copies a shared_ptr to the current policy under a mutex and evaluates
// outside it. The destructor stops the reload thread.

#ifndef BANK_SERVICE_SERVER_AUTHZ_AUTHORIZER_H_
#define BANK_SERVICE_SERVER_AUTHZ_AUTHORIZER_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/security/auth_context.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "service/server/authz_policy.h"

namespace bank {

// kAuthzPolicyBytesMax caps the policy file; real ones are a few KiB.
inline constexpr size_t kAuthzPolicyBytesMax = 1024 * 1024;

// ReadAuthzPolicyFile reads and parses the policy at `path`. Answers
// kInvalidArgument with the reason (unreadable, too large, invalid).
absl::StatusOr<AuthzPolicy> ReadAuthzPolicyFile(const std::string& path);

// PeerOf answers who the caller is: authenticated when the TLS handshake
// verified a client certificate; its URI SANs, DNS SANs and subject.
AuthzPeer PeerOf(const grpc::AuthContext& context);

class AuthzAuthorizer final : public grpc::AuthMetadataProcessor {
 public:
  // Create reads the policy (an error if it cannot be read or parsed) and
  // starts the reload thread.
  static absl::StatusOr<std::shared_ptr<AuthzAuthorizer>> Create(
      const std::string& path, absl::Duration reload_interval);

  AuthzAuthorizer(const AuthzAuthorizer&) = delete;
  AuthzAuthorizer& operator=(const AuthzAuthorizer&) = delete;
  ~AuthzAuthorizer() override;

  // IsBlocking: false, Process never blocks (no I/O, a short mutex hold),
  // so gRPC runs it inline rather than on another thread.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& auth_metadata,
                       grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  AuthzAuthorizer(std::string path, absl::Duration reload_interval,
                  AuthzPolicy policy);

  // ReloadLoop runs on reloader_ until the destructor sets stopping_.
  void ReloadLoop() ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<const AuthzPolicy> CurrentPolicy() ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  const std::string path_;
  const absl::Duration reload_interval_;

  absl::Mutex mu_;
  std::shared_ptr<const AuthzPolicy> policy_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::thread reloader_;  // Started last, joined in the destructor.
};

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_AUTHZ_AUTHORIZER_H_
