#include "service/server/server_security.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "service/server/authz_authorizer.h"

namespace bank {
namespace {

// CheckReadableFile: `path` (given as --`flag`) is a regular, non-empty
// file we can open, of at most kSecurityFileBytesMax bytes. gRPC's watchers
// would only log an unreadable file and then fail every handshake, so a
// typo must stop the server at start instead.
absl::Status CheckReadableFile(const std::string& flag,
                               const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, ": cannot read \"", path, "\": ", std::strerror(errno)));
  }
  if (!S_ISREG(info.st_mode) || info.st_size == 0 ||
      static_cast<size_t>(info.st_size) > kSecurityFileBytesMax) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, ": \"", path, "\" is not a non-empty file of at most ",
        kSecurityFileBytesMax, " bytes"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": cannot open \"", path, "\""));
  }
  return absl::OkStatus();
}

absl::Status CheckPairing(const ServerSecurityConfig& config) {
  const bool has_cert = !config.tls_cert_path.empty();
  const bool has_key = !config.tls_key_path.empty();
  if (has_cert && !has_key) {
    return absl::InvalidArgumentError(
        "--tls_cert needs --tls_key (the certificate's private key)");
  }
  if (has_key && !has_cert) {
    return absl::InvalidArgumentError(
        "--tls_key needs --tls_cert (the certificate it belongs to)");
  }
  if (!config.tls_client_ca_path.empty() && !has_cert) {
    return absl::InvalidArgumentError(
        "--tls_client_ca needs --tls_cert and --tls_key (mutual TLS is TLS "
        "first)");
  }
  if (!config.authz_policy_path.empty() && !has_cert) {
    return absl::InvalidArgumentError(
        "--authz_policy needs --tls_cert and --tls_key (and --tls_client_ca "
        "for its principals): a policy is enforced on TLS ports only");
  }
  return absl::OkStatus();
}

absl::Status CheckReloadInterval(absl::Duration interval) {
  if (interval < kReloadIntervalMin || interval > kReloadIntervalMax ||
      absl::Trunc(interval, absl::Seconds(1)) != interval) {
    return absl::InvalidArgumentError(
        absl::StrCat("--reload_interval must be whole seconds in [",
                     absl::FormatDuration(kReloadIntervalMin), ", ",
                     absl::FormatDuration(kReloadIntervalMax), "]"));
  }
  return absl::OkStatus();
}

unsigned int ReloadSeconds(const ServerSecurityConfig& config) {
  return static_cast<unsigned int>(
      absl::ToInt64Seconds(config.reload_interval));
}

std::shared_ptr<grpc::ServerCredentials> MakeTlsCredentials(
    const ServerSecurityConfig& config) {
  const bool mutual = !config.tls_client_ca_path.empty();
  // One watcher for all three files: gRPC reads the key and the
  // certificate together, so a pair that changes between reads is retried.
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          config.tls_key_path, config.tls_cert_path, config.tls_client_ca_path,
          ReloadSeconds(config));
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (mutual) {
    options.watch_root_certs();
    options.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

std::string Describe(const ServerSecurityConfig& config) {
  std::string text;
  if (config.tls_cert_path.empty()) {
    text = kPlaintextDescription;
  } else if (config.tls_client_ca_path.empty()) {
    text = absl::StrCat("TLS (certificate ", config.tls_cert_path, ")");
  } else {
    text = absl::StrCat("mutual TLS (certificate ", config.tls_cert_path,
                        ", client CA ", config.tls_client_ca_path, ")");
  }
  if (!config.authz_policy_path.empty()) {
    absl::StrAppend(&text, ", authz policy ", config.authz_policy_path);
  }
  if (!config.tls_cert_path.empty() || !config.authz_policy_path.empty()) {
    absl::StrAppend(&text, ", files re-read every ",
                    absl::FormatDuration(config.reload_interval));
  }
  return text;
}

}  // namespace

absl::Status ValidateServerSecurityConfig(const ServerSecurityConfig& config) {
  absl::Status status = CheckPairing(config);
  if (!status.ok()) return status;
  const std::pair<const char*, const std::string*> files[] = {
      {"tls_cert", &config.tls_cert_path},
      {"tls_key", &config.tls_key_path},
      {"tls_client_ca", &config.tls_client_ca_path},
      {"authz_policy", &config.authz_policy_path},
  };
  for (const auto& [flag, path] : files) {
    if (path->empty()) continue;
    status = CheckReadableFile(flag, *path);
    if (!status.ok()) return status;
  }
  return CheckReloadInterval(config.reload_interval);
}

absl::StatusOr<ServerSecurity> MakeServerSecurity(
    const ServerSecurityConfig& config) {
  absl::Status status = ValidateServerSecurityConfig(config);
  if (!status.ok()) return status;
  ServerSecurity security;
  security.description = Describe(config);
  if (!config.tls_cert_path.empty()) {
    security.credentials = MakeTlsCredentials(config);
  }
  if (!config.authz_policy_path.empty()) {
    absl::StatusOr<std::shared_ptr<AuthzAuthorizer>> authorizer =
        AuthzAuthorizer::Create(config.authz_policy_path,
                                config.reload_interval);
    if (!authorizer.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--authz_policy: ", authorizer.status().message()));
    }
    security.credentials->SetAuthMetadataProcessor(*std::move(authorizer));
  }
  return security;
}

}  // namespace bank
