#include "client/tls_options.h"

#include <fstream>
#include <iterator>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificate(s) that sign the server's certificate; turns TLS "
          "on (so does any --tls_* flag; without --tls_ca the system's roots "
          "are used)");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM client certificate for mutual TLS (needs --tls_key)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_server_name, "",
          "name the server's certificate must carry, if not the target's "
          "host (e.g. when dialing an IP address)");

namespace bank::client {
namespace {

// ReadPemFile answers the contents of `path` (given as --`flag`).
absl::StatusOr<std::string> ReadPemFile(const char* flag,
                                        const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", flag, ": cannot read \"", path, "\""));
  }
  std::string text;
  char buffer[4096];
  while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kTlsFileBytesMax) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": \"", path, "\" is larger than ",
                       kTlsFileBytesMax, " bytes"));
    }
  }
  if (in.bad() || text.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, ": \"", path, "\" could not be read or is empty"));
  }
  return text;
}

}  // namespace

void ChannelSecurity::ApplyTo(grpc::ChannelArguments& args) const {
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
}

ClientTlsOptions ReadClientTlsFlags() {
  ClientTlsOptions options;
  options.ca_path = absl::GetFlag(FLAGS_tls_ca);
  options.cert_path = absl::GetFlag(FLAGS_tls_cert);
  options.key_path = absl::GetFlag(FLAGS_tls_key);
  options.server_name = absl::GetFlag(FLAGS_tls_server_name);
  return options;
}

absl::StatusOr<ChannelSecurity> MakeChannelSecurity(
    const ClientTlsOptions& options) {
  ChannelSecurity security;
  if (!options.enabled()) return security;
  if (options.cert_path.empty() != options.key_path.empty()) {
    return absl::InvalidArgumentError(
        options.cert_path.empty()
            ? "--tls_key needs --tls_cert (the certificate it belongs to)"
            : "--tls_cert needs --tls_key (the certificate's private key)");
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_path.empty()) {
    absl::StatusOr<std::string> ca = ReadPemFile("tls_ca", options.ca_path);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!options.cert_path.empty()) {
    absl::StatusOr<std::string> cert =
        ReadPemFile("tls_cert", options.cert_path);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPemFile("tls_key", options.key_path);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  security.credentials = grpc::SslCredentials(ssl);
  security.server_name = options.server_name;
  return security;
}

}  // namespace bank::client
