#include "tests/postgres/postgres_environment.h"

#include <utility>

namespace bank::testing {
namespace {

std::unique_ptr<TempPostgres>& Server() {
  static std::unique_ptr<TempPostgres>* server =
      new std::unique_ptr<TempPostgres>();
  return *server;
}

}  // namespace

void PostgresEnvironment::SetUp() {
  absl::StatusOr<std::unique_ptr<TempPostgres>> server = TempPostgres::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  Server() = *std::move(server);
}

void PostgresEnvironment::TearDown() { Server().reset(); }

TempPostgres& PostgresEnvironment::server() {
  // Tests only run after SetUp succeeded (gtest skips them otherwise).
  return *Server();
}

std::unique_ptr<PostgresEngine> PostgresEnvironment::NewEngine(
    size_t accounts_max, size_t connections, size_t pipeline_depth_max) {
  absl::StatusOr<std::string> schema = server().CreateSchema();
  EXPECT_TRUE(schema.ok()) << schema.status();
  if (!schema.ok()) return nullptr;
  return NewEngineOn(*schema, accounts_max, connections, pipeline_depth_max);
}

std::unique_ptr<PostgresEngine> PostgresEnvironment::NewEngineOn(
    const std::string& schema, size_t accounts_max, size_t connections,
    size_t pipeline_depth_max) {
  PostgresOptions options;
  options.accounts_max = accounts_max;
  options.connections = connections;
  options.pipeline_depth_max = pipeline_depth_max;
  // No background sweep of expired request ids: it takes a pipeline slot
  // at start, which races tests that count slots (a 1 x 1 pipeline). The
  // sweep's own tests (postgres_request_id_test) turn it on.
  options.request_id_sweep_interval = absl::ZeroDuration();
  return NewEngineWith(schema, std::move(options));
}

std::unique_ptr<PostgresEngine> PostgresEnvironment::NewEngineWith(
    const std::string& schema, PostgresOptions options) {
  options.dsn = server().DsnForSchema(schema);
  absl::StatusOr<std::unique_ptr<PostgresEngine>> engine =
      PostgresEngine::Create(options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return nullptr;
  return *std::move(engine);
}

}  // namespace bank::testing
