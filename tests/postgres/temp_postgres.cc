#include "tests/postgres/temp_postgres.h"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/testing/subprocess.h"

namespace bank::testing {
namespace {

constexpr char kRunuser[] = "/usr/sbin/runuser";
constexpr char kPostgresUser[] = "postgres";

// FindBinDir answers where Debian's PostgreSQL programs are (pg_ctl is not on
// PATH there): BANK_POSTGRES_BIN if set, else the newest
// /usr/lib/postgresql/N/bin holding pg_ctl.
absl::StatusOr<std::string> FindBinDir() {
  if (const char* bin = getenv("BANK_POSTGRES_BIN"); bin != nullptr) {
    return std::string(bin);
  }
  std::string best;
  std::error_code error;
  for (const auto& entry :
       std::filesystem::directory_iterator("/usr/lib/postgresql", error)) {
    const std::string bin = entry.path().string() + "/bin";
    if (std::filesystem::exists(bin + "/pg_ctl") && bin > best) best = bin;
  }
  if (best.empty()) {
    return absl::FailedPreconditionError(
        "no PostgreSQL server found under /usr/lib/postgresql (run "
        "scripts/install-deps.sh: postgresql-15)");
  }
  return best;
}

// FreePort answers a loopback port that was free a moment ago.
absl::StatusOr<int> FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    return absl::InternalError("bind/getsockname on 127.0.0.1:0");
  }
  close(fd);
  return ntohs(address.sin_port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TempPostgres>> TempPostgres::Start() {
  std::unique_ptr<TempPostgres> server(new TempPostgres());
  absl::StatusOr<std::string> bin = FindBinDir();
  if (!bin.ok()) return bin.status();
  server->bin_dir_ = *bin;
  char dir_template[] = "/tmp/bank_pg.XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    return absl::InternalError("mkdtemp failed");
  }
  server->dir_ = dir_template;
  if (geteuid() == 0) {
    const passwd* user = getpwnam(kPostgresUser);
    if (user == nullptr) {
      return absl::FailedPreconditionError(
          "running as root but there is no 'postgres' user to run "
          "PostgreSQL as (install postgresql-15)");
    }
    if (chown(dir_template, user->pw_uid, user->pw_gid) != 0) {
      return absl::InternalError("chown of the temporary directory failed");
    }
  }
  absl::StatusOr<int> port = FreePort();
  if (!port.ok()) return port.status();
  server->port_ = *port;
  absl::Status status =
      server->Run("initdb", {"-D", server->dir_ + "/data", "-A", "trust", "-U",
                             kPostgresUser, "-E", "UTF8", "--no-sync",
                             "--no-instructions"});
  if (!status.ok()) return status;
  status = server->Resume();
  if (!status.ok()) return status;
  return server;
}

TempPostgres::~TempPostgres() {
  if (running_) {
    absl::Status stopped = Stop();
    if (!stopped.ok()) {
      std::fprintf(stderr, "TempPostgres: %s\n",
                   std::string(stopped.message()).c_str());
    }
  }
  if (!dir_.empty()) {
    std::error_code error;
    std::filesystem::remove_all(dir_, error);
  }
}

std::string TempPostgres::dsn() const {
  return absl::StrCat("host=127.0.0.1 port=", port_,
                      " user=postgres dbname=postgres connect_timeout=10");
}

std::string TempPostgres::DsnForSchema(const std::string& schema) const {
  return absl::StrCat(dsn(), " options='-csearch_path=", schema, "'");
}

absl::Status TempPostgres::Stop() {
  absl::Status status = Run(
      "pg_ctl", {"-D", dir_ + "/data", "-m", "fast", "-w", "-t", "60", "stop"});
  if (status.ok()) running_ = false;
  return status;
}

absl::Status TempPostgres::Resume() {
  absl::Status status =
      Run("pg_ctl",
          {"-D", dir_ + "/data", "-l", dir_ + "/log", "-w", "-t", "60", "-o",
           absl::StrCat("-p ", port_, " -k ", dir_,
                        " -c listen_addresses=127.0.0.1 -c fsync=off"
                        " -c max_connections=200"),
           "start"});
  if (status.ok()) running_ = true;
  return status;
}

absl::Status TempPostgres::Run(const std::string& program,
                               const std::vector<std::string>& args) const {
  std::string path = bin_dir_ + "/" + program;
  std::vector<std::string> argv = args;
  if (geteuid() == 0) {
    argv.insert(argv.begin(), {"-u", kPostgresUser, "--", path});
    path = kRunuser;
  }
  Subprocess::Options options;
  options.capture_stderr = true;
  absl::StatusOr<std::unique_ptr<Subprocess>> child =
      Subprocess::Start(path, argv, options);
  if (!child.ok()) return child.status();
  absl::StatusOr<ExitStatus> exit = (*child)->Wait(kPostgresCommandTimeout);
  if (!exit.ok() || !exit->Succeeded()) {
    return absl::InternalError(absl::StrCat(
        program, " ", absl::StrJoin(args, " "), " failed (",
        exit.ok() ? exit->ToString() : std::string(exit.status().message()),
        "): ", (*child)->stdout_text(), (*child)->stderr_text()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> TempPostgres::Exec(const std::string& sql) const {
  PGconn* connection = PQconnectdb(dsn().c_str());
  if (PQstatus(connection) != CONNECTION_OK) {
    absl::Status status = absl::UnavailableError(PQerrorMessage(connection));
    PQfinish(connection);
    return status;
  }
  PGresult* result = PQexec(connection, sql.c_str());
  const ExecStatusType kind = PQresultStatus(result);
  absl::StatusOr<std::string> answer;
  if (kind != PGRES_COMMAND_OK && kind != PGRES_TUPLES_OK) {
    answer = absl::InternalError(
        absl::StrCat(sql, ": ", PQresultErrorMessage(result)));
  } else {
    answer = PQntuples(result) > 0 && PQnfields(result) > 0
                 ? std::string(PQgetvalue(result, 0, 0))
                 : std::string();
  }
  PQclear(result);
  PQfinish(connection);
  return answer;
}

absl::StatusOr<std::string> TempPostgres::CreateSchema() {
  const std::string name = absl::StrCat("test_", ++schemas_);
  absl::StatusOr<std::string> done = Exec(absl::StrCat("CREATE SCHEMA ", name));
  if (!done.ok()) return done.status();
  return name;
}

}  // namespace bank::testing
