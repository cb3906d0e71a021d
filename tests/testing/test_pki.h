// TestPki: a throwaway certificate authority for the TLS tests, made with
// the openssl command-line tool at test time into a fresh temporary
// directory that the destructor removes. Nothing secret is ever committed.
//
// Keys are ECDSA P-256 (fast to make on a loaded machine); certificates are
// valid for two days. Typical use:
//   auto pki = TestPki::Create(BANK_OPENSSL_PATH);
//   auto ca = (*pki)->MakeCa("ca");
//   auto server = (*pki)->Issue(*ca, "server", {.common_name = "bank-server",
//                               .dns_names = {"localhost"}, .ips =
//                               {"127.0.0.1"}, .server = true});
//   // server->cert_path, server->key_path, ca->cert_path ...
//
// Thread safety: one thread at a time (it runs openssl as a child process).

#ifndef BANK_TESTS_TESTING_TEST_PKI_H_
#define BANK_TESTS_TESTING_TEST_PKI_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace bank::testing {

// CertFiles: one key pair and its certificate, as PEM files.
struct CertFiles {
  std::string cert_path;
  std::string key_path;
  std::string cert_pem;  // The certificate's PEM text, for comparisons.
};

// CertSpec: what a leaf certificate says about its holder.
struct CertSpec {
  std::string common_name;
  std::vector<std::string> dns_names;  // subjectAltName DNS entries.
  std::vector<std::string> ips;        // subjectAltName IP entries.
  std::vector<std::string> uris;       // subjectAltName URI entries.
  bool server = false;  // extendedKeyUsage serverAuth, else clientAuth.
  int64_t serial = 0;   // 0 = the next one of this TestPki.
};

class TestPki {
 public:
  // Create makes the temporary directory (under $TMPDIR, else /tmp).
  static absl::StatusOr<std::unique_ptr<TestPki>> Create(
      const std::string& openssl_path);

  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;
  ~TestPki();  // Removes the directory and everything in it.

  const std::string& dir() const { return dir_; }

  // MakeCa makes a self-signed CA "<name>.pem"/"<name>.key" in
  // dir()/`subdir` ("" = dir() itself).
  absl::StatusOr<CertFiles> MakeCa(const std::string& name,
                                   const std::string& subdir = "");

  // Issue makes "<name>.pem"/"<name>.key" in dir()/`subdir`, signed by `ca`.
  absl::StatusOr<CertFiles> Issue(const CertFiles& ca, const std::string& name,
                                  const CertSpec& spec,
                                  const std::string& subdir = "");

  // WriteFile writes `text` to dir()/`relative_path` through a temporary
  // file and rename(), so a reader never sees half of it. Answers the path.
  absl::StatusOr<std::string> WriteFile(const std::string& relative_path,
                                        const std::string& text);

  // PointSymlink makes dir()/`link` point at `target` (relative to the
  // link's directory) atomically: a new symlink renamed over the old one.
  absl::Status PointSymlink(const std::string& link, const std::string& target);

 private:
  TestPki(std::string openssl_path, std::string dir);

  // RunOpenssl runs openssl with `args` in dir() and fails with its output.
  absl::Status RunOpenssl(const std::vector<std::string>& args);
  absl::StatusOr<std::string> PrepareDir(const std::string& subdir);

  std::string openssl_path_;
  std::string dir_;
  int64_t next_serial_ = 1000;
};

}  // namespace bank::testing

#endif  // BANK_TESTS_TESTING_TEST_PKI_H_
