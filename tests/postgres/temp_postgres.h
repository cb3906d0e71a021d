// TempPostgres: a throw-away PostgreSQL server for tests. Start() runs initdb
// into a fresh temporary directory and pg_ctl start on a free 127.0.0.1
// port (Unix socket in that directory too); the destructor stops it and
// removes the directory. PostgreSQL refuses to run as root, so when the test
// runs as root every PostgreSQL program runs as the `postgres` system user
// through runuser (the directory is handed to that user).
//
// Every command is a child process with a bounded wait (pg_ctl -w -t), never
// a sleep. fsync is off: these databases hold test data only.
//
// Thread safety: one thread at a time.

#ifndef BANK_TESTS_POSTGRES_TEMP_POSTGRES_H_
#define BANK_TESTS_POSTGRES_TEMP_POSTGRES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace bank::testing {

inline constexpr absl::Duration kPostgresCommandTimeout = absl::Seconds(120);

class TempPostgres {
 public:
  static absl::StatusOr<std::unique_ptr<TempPostgres>> Start();
  ~TempPostgres();
  TempPostgres(const TempPostgres&) = delete;
  TempPostgres& operator=(const TempPostgres&) = delete;

  // dsn: a libpq connection string to the `postgres` database as the
  // superuser `postgres` (trust authentication, no password).
  std::string dsn() const;
  // DsnForSchema: dsn() whose search_path is `schema` (see CreateSchema).
  std::string DsnForSchema(const std::string& schema) const;
  int port() const { return port_; }

  // Stop stops the server (fast shutdown: sessions are closed); Resume
  // starts it again on the same port and data.
  absl::Status Stop();
  absl::Status Resume();

  // Exec runs `sql` on a fresh connection and answers the first row's
  // first value ("" when none).
  absl::StatusOr<std::string> Exec(const std::string& sql) const;
  // CreateSchema creates a new empty schema and answers its name.
  absl::StatusOr<std::string> CreateSchema();

 private:
  TempPostgres() = default;
  absl::Status Run(const std::string& program,
                   const std::vector<std::string>& args) const;

  std::string bin_dir_;
  std::string dir_;
  int port_ = 0;
  bool running_ = false;
  int schemas_ = 0;
};

}  // namespace bank::testing

#endif  // BANK_TESTS_POSTGRES_TEMP_POSTGRES_H_
