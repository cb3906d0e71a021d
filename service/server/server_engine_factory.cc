#include "service/server/server_engine_factory.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

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
    // Request ids live in the database (bank_request_ids), written in the
    // same transaction as the change, so they hold across replicas and
    // restarts; no in-memory IdempotentEngine in front (docs/SERVER.md).
    with_limits.request_ids_enabled = options.request_ids_enabled;
    with_limits.request_id_ttl = options.request_ids.ttl;
    absl::StatusOr<std::unique_ptr<PostgresEngine>> engine =
        PostgresEngine::Create(with_limits);
    if (!engine.ok()) return engine.status();
    return std::unique_ptr<AccountEngine>(*std::move(engine));
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
