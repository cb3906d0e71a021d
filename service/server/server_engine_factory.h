// CreateServerEngine: the one place that picks an engine by name, including
// the engines that live outside service/engine (postgres), so that engine/
// never depends on them (docs/ARCHITECTURE: server/ -> engine/, postgres/).

#ifndef BANK_SERVICE_SERVER_SERVER_ENGINE_FACTORY_H_
#define BANK_SERVICE_SERVER_SERVER_ENGINE_FACTORY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "service/engine/account_engine.h"
#include "service/engine/engine_factory.h"
#include "service/postgres/postgres_engine.h"

namespace bank {

// CreateServerEngine builds options.engine: "postgres" from `postgres` (with
// options.accounts_max), any other name through engine/'s CreateEngine.
// kInvalidArgument for an unknown name or bad option (naming every engine);
// for postgres also kUnavailable (database unreachable) and
// kFailedPrecondition (schema newer than this binary).
absl::StatusOr<std::unique_ptr<AccountEngine>> CreateServerEngine(
    const EngineOptions& options, const PostgresOptions& postgres);

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_SERVER_ENGINE_FACTORY_H_
