// postgres_contract_test: the shared engine contract suite
// (tests/engine/engine_contract_test.cc) run against the postgres engine,
// each test on a fresh schema of one PostgreSQL started for this binary.

#include "tests/engine/engine_test_util.h"
#include "tests/postgres/postgres_environment.h"

namespace bank::testing {

const ::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

std::vector<EngineConfig> ContractEngineConfigs() {
  EngineConfig postgres{"postgres", "postgres"};
  postgres.make = [](size_t accounts_max) -> std::unique_ptr<AccountEngine> {
    return PostgresEnvironment::NewEngine(accounts_max);
  };
  return {postgres};
}

}  // namespace bank::testing
