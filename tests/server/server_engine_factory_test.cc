// Goal: the server's engine factory knows every engine by name, postgres
// included, and refuses a postgres configuration it cannot use before
// touching any database.

#include "service/server/server_engine_factory.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bank {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ServerEngineFactoryTest, InMemoryEnginesComeFromEngineFactory) {
  EngineOptions options;
  options.engine = "mutex";
  absl::StatusOr<std::unique_ptr<AccountEngine>> engine =
      CreateServerEngine(options, PostgresOptions());
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_STREQ((*engine)->Name(), "mutex");
  EXPECT_TRUE((*engine)->Healthy());
}

TEST(ServerEngineFactoryTest, UnknownEngineNamesPostgresToo) {
  EngineOptions options;
  options.engine = "oracle";
  absl::Status status = CreateServerEngine(options, PostgresOptions()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("postgres"));
  EXPECT_THAT(status.message(), HasSubstr("queue"));
}

TEST(ServerEngineFactoryTest, PostgresNeedsADsnWithoutPassword) {
  EngineOptions options;
  options.engine = "postgres";
  PostgresOptions postgres;
  absl::Status status = CreateServerEngine(options, postgres).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("--postgres_dsn"));

  postgres.dsn = "host=127.0.0.1 port=1 user=bank password=hunter2";
  status = CreateServerEngine(options, postgres).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), Not(HasSubstr("hunter2")));
}

}  // namespace
}  // namespace bank
