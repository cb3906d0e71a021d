#include "service/server/server_engine_factory.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/engine/idempotent_engine.h"

namespace bank {

absl::StatusOr<std::unique_ptr<AccountEngine>> CreateServerEngine(
    const EngineOptions& options, const PostgresOptions& postgres) {
  if (options.engine == "postgres") {
    if (postgres.dsn.empty()) {
      return absl::InvalidArgumentError(
          "--engine=postgres needs --postgres_dsn (e.g. "
          "'host=127.0.0.1 port=5432 dbname=bank user=bank')");
    }
    absl::Status no_password = CheckDsnHasNoPassword(postgres.dsn);
    if (!no_password.ok()) return no_password;
    PostgresOptions with_limits = postgres;
    with_limits.accounts_max = options.accounts_max;
    absl::StatusOr<std::unique_ptr<PostgresEngine>> engine =
        PostgresEngine::Create(with_limits);
    if (!engine.ok()) return engine.status();
    if (!options.request_ids_enabled) {
      return std::unique_ptr<AccountEngine>(*std::move(engine));
    }
    // Request ids as for every engine; the table is this server's memory, so
    // a repeat must reach the same bank_server (docs/SERVER.md).
    return std::unique_ptr<AccountEngine>(std::make_unique<IdempotentEngine>(
        *std::move(engine), options.request_ids));
  }
  absl::StatusOr<std::unique_ptr<AccountEngine>> engine = CreateEngine(options);
  if (!engine.ok() && engine.status().message().find("unknown engine") !=
                          absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown engine '", options.engine,
                     "'; choose one of: mutex, queue, unsafe, postgres"));
  }
  return engine;
}

}  // namespace bank
