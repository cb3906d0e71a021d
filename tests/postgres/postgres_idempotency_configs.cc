// postgres_idempotency_test: the shared idempotency suite
// (tests/engine/engine_idempotency_test.cc) run against the postgres engine,
// which keeps request ids in its database table bank_request_ids rather
// than in an IdempotentEngine; each test on a fresh schema of one
// PostgreSQL started for this binary.

#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "tests/engine/engine_test_util.h"
#include "tests/postgres/postgres_environment.h"

namespace bank::testing {

const ::testing::Environment* const kPostgres =
    ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);

std::vector<IdempotencyConfig> IdempotencyEngineConfigs() {
  IdempotencyConfig config;
  config.label = "postgres";
  config.count_bounded = false;
  config.make = [](size_t accounts_max, const RequestIdOptions& ids) {
    IdempotentEngineUnderTest made;
    absl::StatusOr<std::string> schema =
        PostgresEnvironment::server().CreateSchema();
    EXPECT_TRUE(schema.ok()) << schema.status();
    if (!schema.ok()) return made;
    PostgresOptions options;
    options.accounts_max = accounts_max;
    options.connections = 2;
    options.request_id_ttl = ids.ttl;
    options.clock = ids.clock;
    made.engine = PostgresEnvironment::NewEngineWith(*schema, options);
    made.remembered_ids = [schema = *schema]() -> size_t {
      absl::StatusOr<std::string> count = PostgresEnvironment::server().Exec(
          "SELECT count(*) FROM " + schema + ".bank_request_ids");
      size_t rows = 0;
      EXPECT_TRUE(count.ok() && absl::SimpleAtoi(*count, &rows))
          << count.status();
      return rows;
    };
    return made;
  };
  return {config};
}

}  // namespace bank::testing
