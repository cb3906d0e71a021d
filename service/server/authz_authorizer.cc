#include "service/server/authz_authorizer.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpc/grpc_security_constants.h"
#include "service/server/grpc_status.h"

namespace bank {
namespace {

void AddProperties(const grpc::AuthContext& context, const char* name,
                   std::vector<std::string>& names) {
  for (const grpc::string_ref& value : context.FindPropertyValues(name)) {
    names.emplace_back(value.data(), value.size());
  }
}

}  // namespace

absl::StatusOr<AuthzPolicy> ReadAuthzPolicyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read \"", path, "\""));
  }
  std::string text(kAuthzPolicyBytesMax + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read \"", path, "\""));
  }
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kAuthzPolicyBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", path, "\" is larger than ", kAuthzPolicyBytesMax, " bytes"));
  }
  absl::StatusOr<AuthzPolicy> policy = ParseAuthzPolicy(text);
  if (!policy.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", path, "\" is not a valid policy: ", policy.status().message()));
  }
  return policy;
}

AuthzPeer PeerOf(const grpc::AuthContext& context) {
  AuthzPeer peer;
  peer.authenticated = context.IsPeerAuthenticated();
  AddProperties(context, GRPC_PEER_URI_PROPERTY_NAME, peer.names);
  AddProperties(context, GRPC_PEER_DNS_PROPERTY_NAME, peer.names);
  AddProperties(context, GRPC_X509_SUBJECT_PROPERTY_NAME, peer.names);
  return peer;
}

absl::StatusOr<std::shared_ptr<AuthzAuthorizer>> AuthzAuthorizer::Create(
    const std::string& path, absl::Duration reload_interval) {
  absl::StatusOr<AuthzPolicy> policy = ReadAuthzPolicyFile(path);
  if (!policy.ok()) return policy.status();
  return std::shared_ptr<AuthzAuthorizer>(
      new AuthzAuthorizer(path, reload_interval, *std::move(policy)));
}

AuthzAuthorizer::AuthzAuthorizer(std::string path,
                                 absl::Duration reload_interval,
                                 AuthzPolicy policy)
    : path_(std::move(path)),
      reload_interval_(reload_interval),
      policy_(std::make_shared<const AuthzPolicy>(std::move(policy))) {
  reloader_ = std::thread([this] { ReloadLoop(); });
}

AuthzAuthorizer::~AuthzAuthorizer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  reloader_.join();
}

std::shared_ptr<const AuthzPolicy> AuthzAuthorizer::CurrentPolicy() {
  absl::MutexLock lock(&mu_);
  return policy_;
}

void AuthzAuthorizer::ReloadLoop() {
  std::string last_error;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), reload_interval_);
      if (stopping_) return;
    }
    // Read and parse outside the lock: calls keep using the current policy.
    absl::StatusOr<AuthzPolicy> policy = ReadAuthzPolicyFile(path_);
    if (!policy.ok()) {
      // Once per distinct error, not once per interval.
      if (policy.status().message() != last_error) {
        last_error = std::string(policy.status().message());
        std::fprintf(stderr,
                     "bank_server: --authz_policy reload failed, keeping the "
                     "previous policy: %s\n",
                     last_error.c_str());
      }
      continue;
    }
    last_error.clear();
    auto fresh = std::make_shared<const AuthzPolicy>(*std::move(policy));
    absl::MutexLock lock(&mu_);
    policy_ = std::move(fresh);
  }
}

grpc::Status AuthzAuthorizer::Process(const InputMetadata& auth_metadata,
                                      grpc::AuthContext* context,
                                      OutputMetadata* /*consumed*/,
                                      OutputMetadata* /*response*/) {
  const auto path = auth_metadata.find(":path");
  if (path == auth_metadata.end() || context == nullptr) {
    // Fail closed: a call we cannot name is a call we cannot allow.
    return ToGrpcStatus(absl::PermissionDeniedError(
        "authorization: the call has no method path"));
  }
  const std::string method(path->second.data(), path->second.size());
  return ToGrpcStatus(Authorize(*CurrentPolicy(), PeerOf(*context), method));
}

}  // namespace bank
