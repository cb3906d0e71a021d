#include "tests/testing/test_pki.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "tests/testing/subprocess.h"

namespace bank::testing {
namespace {

// kOpensslTimeout bounds one openssl run (key generation included); generous
// for a loaded machine, never asserted.
constexpr absl::Duration kOpensslTimeout = absl::Seconds(60);
constexpr char kValidDays[] = "2";

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// SubjectAltNames: "DNS:a,IP:1.2.3.4,URI:x" for the spec, or "".
std::string SubjectAltNames(const CertSpec& spec) {
  std::vector<std::string> names;
  for (const std::string& name : spec.dns_names) {
    names.push_back(absl::StrCat("DNS:", name));
  }
  for (const std::string& ip : spec.ips)
    names.push_back(absl::StrCat("IP:", ip));
  for (const std::string& uri : spec.uris) {
    names.push_back(absl::StrCat("URI:", uri));
  }
  return absl::StrJoin(names, ",");
}

}  // namespace

TestPki::TestPki(std::string openssl_path, std::string dir)
    : openssl_path_(std::move(openssl_path)), dir_(std::move(dir)) {}

TestPki::~TestPki() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

absl::StatusOr<std::unique_ptr<TestPki>> TestPki::Create(
    const std::string& openssl_path) {
  const char* tmp = getenv("TMPDIR");
  std::string pattern = absl::StrCat(
      tmp != nullptr && *tmp != '\0' ? tmp : "/tmp", "/bank_pki_XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(
        absl::StrCat("mkdtemp ", pattern, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<TestPki>(new TestPki(openssl_path, pattern));
}

absl::Status TestPki::RunOpenssl(const std::vector<std::string>& args) {
  Subprocess::Options options;
  options.capture_stderr = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> child =
      Subprocess::Start(openssl_path_, args, options);
  if (!child.ok()) return child.status();
  absl::StatusOr<ExitStatus> exit = (*child)->Wait(kOpensslTimeout);
  if (!exit.ok()) return exit.status();
  if (!exit->Succeeded()) {
    return absl::InternalError(
        absl::StrCat("openssl ", absl::StrJoin(args, " "), ": ",
                     exit->ToString(), ": ", (*child)->stderr_text()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TestPki::PrepareDir(const std::string& subdir) {
  const std::string path = subdir.empty() ? dir_ : dir_ + "/" + subdir;
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("mkdir ", path, ": ", error.message()));
  }
  return path;
}

absl::StatusOr<CertFiles> TestPki::MakeCa(const std::string& name,
                                          const std::string& subdir) {
  absl::StatusOr<std::string> path = PrepareDir(subdir);
  if (!path.ok()) return path.status();
  CertFiles ca{*path + "/" + name + ".pem", *path + "/" + name + ".key", ""};
  absl::Status status =
      RunOpenssl({"req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                  ca.key_path, "-out", ca.cert_path, "-days", kValidDays,
                  "-subj", absl::StrCat("/CN=", name, " test CA"), "-addext",
                  "basicConstraints=critical,CA:TRUE", "-addext",
                  "keyUsage=critical,keyCertSign,cRLSign"});
  if (!status.ok()) return status;
  absl::StatusOr<std::string> pem = ReadWholeFile(ca.cert_path);
  if (!pem.ok()) return pem.status();
  ca.cert_pem = *std::move(pem);
  return ca;
}

absl::StatusOr<CertFiles> TestPki::Issue(const CertFiles& ca,
                                         const std::string& name,
                                         const CertSpec& spec,
                                         const std::string& subdir) {
  absl::StatusOr<std::string> path = PrepareDir(subdir);
  if (!path.ok()) return path.status();
  const std::string base = *path + "/" + name;
  CertFiles leaf{base + ".pem", base + ".key", ""};
  absl::Status status = RunOpenssl(
      {"req", "-new", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", leaf.key_path,
       "-out", base + ".csr", "-subj", absl::StrCat("/CN=", spec.common_name)});
  if (!status.ok()) return status;
  std::string extensions = absl::StrCat(
      "basicConstraints=critical,CA:FALSE\n",
      "keyUsage=critical,digitalSignature,keyEncipherment\n",
      "extendedKeyUsage=", spec.server ? "serverAuth" : "clientAuth", "\n");
  const std::string names = SubjectAltNames(spec);
  if (!names.empty())
    absl::StrAppend(&extensions, "subjectAltName=", names, "\n");
  absl::StatusOr<std::string> extfile =
      WriteFile(absl::StrCat(subdir.empty() ? "" : subdir + "/", name, ".ext"),
                extensions);
  if (!extfile.ok()) return extfile.status();
  const int64_t serial = spec.serial != 0 ? spec.serial : next_serial_++;
  status = RunOpenssl({"x509", "-req", "-in", base + ".csr", "-CA",
                       ca.cert_path, "-CAkey", ca.key_path, "-set_serial",
                       absl::StrCat(serial), "-days", kValidDays, "-out",
                       leaf.cert_path, "-extfile", *extfile});
  if (!status.ok()) return status;
  absl::StatusOr<std::string> pem = ReadWholeFile(leaf.cert_path);
  if (!pem.ok()) return pem.status();
  leaf.cert_pem = *std::move(pem);
  return leaf;
}

absl::StatusOr<std::string> TestPki::WriteFile(const std::string& relative_path,
                                               const std::string& text) {
  const std::string path = dir_ + "/" + relative_path;
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out)
      return absl::InternalError(absl::StrCat("cannot write ", temporary));
  }
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("rename ", temporary, ": ", std::strerror(errno)));
  }
  return path;
}

absl::Status TestPki::PointSymlink(const std::string& link,
                                   const std::string& target) {
  const std::string path = dir_ + "/" + link;
  const std::string temporary = path + ".new";
  unlink(temporary.c_str());
  if (symlink(target.c_str(), temporary.c_str()) != 0 ||
      rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("symlink ", path, " -> ", target,
                                            ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace bank::testing
