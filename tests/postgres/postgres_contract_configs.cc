// postgres_contract_test: the shared engine contract suites
// (tests/engine/engine_contract_test.cc, engine_batch_test.cc) run against
// the postgres engine (the batch file's queue-only tests are filtered out),
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

std::vector<EngineConfig> SafeContractEngineConfigs() {
  return ContractEngineConfigs();
}

}  // namespace bank::testing
