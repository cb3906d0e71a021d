// PostgresEnvironment: one TempPostgres for a whole test binary, started
// before the first test and stopped after the last. Register it in each test
// binary's own file:
//   const ::testing::Environment* const kPostgres =
//       ::testing::AddGlobalTestEnvironment(new PostgresEnvironment);
// and reach it with PostgresEnvironment::server() from tests.

#ifndef BANK_TESTS_POSTGRES_POSTGRES_ENVIRONMENT_H_
#define BANK_TESTS_POSTGRES_POSTGRES_ENVIRONMENT_H_

#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "service/postgres/postgres_engine.h"
#include "tests/postgres/temp_postgres.h"

namespace bank::testing {

class PostgresEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;

  // server: the running database (a test fails, not crashes, without it).
  static TempPostgres& server();

  // NewEngine builds a postgres engine on a fresh, empty schema.
  static std::unique_ptr<PostgresEngine> NewEngine(
      size_t accounts_max, size_t connections = 2,
      size_t pipeline_depth_max = kPipelineDepthMaxDefault);
  // NewEngineOn builds one more engine (another "replica") on `schema`.
  static std::unique_ptr<PostgresEngine> NewEngineOn(
      const std::string& schema, size_t accounts_max, size_t connections = 2,
      size_t pipeline_depth_max = kPipelineDepthMaxDefault);
  // NewEngineWith builds an engine on `schema` with `options`, whose dsn it
  // sets to the schema's.
  static std::unique_ptr<PostgresEngine> NewEngineWith(
      const std::string& schema, PostgresOptions options);
};

}  // namespace bank::testing

#endif  // BANK_TESTS_POSTGRES_POSTGRES_ENVIRONMENT_H_
