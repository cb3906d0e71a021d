// Client-side TLS for bank's client binaries (bank_loadgen, bank_health):
// one set of flags, parsed in one place, turned into gRPC channel
// credentials.
//
// Flags (defined in tls_options.cc; a binary that calls
// ReadClientTlsFlags() gets them):
//   --tls_ca=FILE           PEM CA(s) the server's certificate must chain to.
//   --tls_cert=FILE         PEM client certificate, for mutual TLS
//   --tls_key=FILE          ... and its private key (both or neither).
//   --tls_server_name=NAME  name the server's certificate must carry, when it
//                           differs from the target's host (e.g. dialing an
//                           IP address).
// TLS is on as soon as any of them is set; with none, the channel is
// plaintext. Without --tls_ca the server is checked against gRPC's default
// roots (the system's CA bundle).
//
// Thread safety: ReadClientTlsFlags reads absl flags (after parsing); the
// rest are pure or read files; a ChannelSecurity is immutable and may be
// shared by any number of channels and threads.

#ifndef BANK_CLIENT_TLS_OPTIONS_H_
#define BANK_CLIENT_TLS_OPTIONS_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace bank::client {

// kClientTlsFlagNames: the flags above, for binaries that list or accept
// flags by name (bank_loadgen's own parser and --help).
inline constexpr const char* kClientTlsFlagNames[] = {
    "tls_ca", "tls_cert", "tls_key", "tls_server_name"};

// kTlsFileBytesMax caps each PEM file read; real ones are a few KiB.
inline constexpr size_t kTlsFileBytesMax = 1024 * 1024;

// ClientTlsOptions: the flags' values; "" = not set.
struct ClientTlsOptions {
  std::string ca_path;
  std::string cert_path;
  std::string key_path;
  std::string server_name;

  bool enabled() const {
    return !ca_path.empty() || !cert_path.empty() || !key_path.empty() ||
           !server_name.empty();
  }
};

// ChannelSecurity: what a channel needs. Default-constructed = plaintext.
struct ChannelSecurity {
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::InsecureChannelCredentials();
  std::string server_name;  // Overrides the name checked; "" = target host.

  // ApplyTo adds the server name override (if any) to `args`.
  void ApplyTo(grpc::ChannelArguments& args) const;
};

// ReadClientTlsFlags answers the flags' values.
ClientTlsOptions ReadClientTlsFlags();

// MakeChannelSecurity reads the PEM files and builds the credentials.
// Answers kInvalidArgument naming the flag when --tls_cert and --tls_key
// are not given together, or a file cannot be read, is empty or larger than
// kTlsFileBytesMax. (gRPC itself checks the PEM contents at the handshake.)
absl::StatusOr<ChannelSecurity> MakeChannelSecurity(
    const ClientTlsOptions& options);

}  // namespace bank::client

#endif  // BANK_CLIENT_TLS_OPTIONS_H_
