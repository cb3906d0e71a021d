// Goal: the --accounts flag is parsed strictly and its accounts are opened
// in order, with a clear error for each way it can be wrong.
// Method: ParseAccounts on good and bad text; OpenAccounts on a real engine.

#include "service/server/server_runner.h"

#include <limits>
#include <memory>

#include "gtest/gtest.h"
#include "service/engine/engine_factory.h"

namespace bank {
namespace {

TEST(ParseAccountsTest, EmptyMeansNone) {
  absl::StatusOr<std::vector<InitialAccount>> accounts = ParseAccounts("");
  ASSERT_TRUE(accounts.ok()) << accounts.status();
  EXPECT_TRUE(accounts->empty());
}

TEST(ParseAccountsTest, ParsesPairsInOrder) {
  absl::StatusOr<std::vector<InitialAccount>> accounts =
      ParseAccounts("main:80,b:10,马伊琍:0,big:9223372036854775807");
  ASSERT_TRUE(accounts.ok()) << accounts.status();
  ASSERT_EQ(accounts->size(), 4u);
  EXPECT_EQ((*accounts)[0].account_id, "main");
  EXPECT_EQ((*accounts)[0].balance, 80);
  EXPECT_EQ((*accounts)[1].account_id, "b");
  EXPECT_EQ((*accounts)[1].balance, 10);
  EXPECT_EQ((*accounts)[2].account_id, "马伊琍");
  EXPECT_EQ((*accounts)[3].balance, std::numeric_limits<int64_t>::max());
}

TEST(ParseAccountsTest, RejectsMalformedItems) {
  for (const char* text :
       {"main", ":80", "main:", "main:eighty", "main:80,", "main:80,,b:1",
        "main:9223372036854775808", "main:8 0"}) {
    absl::StatusOr<std::vector<InitialAccount>> accounts = ParseAccounts(text);
    EXPECT_EQ(accounts.status().code(), absl::StatusCode::kInvalidArgument)
        << text;
  }
}

class OpenAccountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineOptions options;
    options.engine = "mutex";
    absl::StatusOr<std::unique_ptr<AccountEngine>> engine =
        CreateEngine(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
  }

  std::unique_ptr<AccountEngine> engine_;
};

TEST_F(OpenAccountsTest, OpensEachAccountWithItsBalance) {
  ASSERT_TRUE(OpenAccounts(*engine_, {{"main", 80}, {"b", 10}}).ok());
  absl::StatusOr<OperationResult> main = ExecuteAndWait(
      *engine_, Operation{OperationKind::kGetBalance, "main", "", 0});
  ASSERT_TRUE(main.ok()) << main.status();
  EXPECT_EQ(main->balance, 80);
  absl::StatusOr<OperationResult> b = ExecuteAndWait(
      *engine_, Operation{OperationKind::kGetBalance, "b", "", 0});
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->balance, 10);
}

TEST_F(OpenAccountsTest, RepeatedIdFailsNamingIt) {
  absl::Status status = OpenAccounts(*engine_, {{"main", 80}, {"main", 1}});
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_NE(status.message().find("main"), absl::string_view::npos);
}

TEST_F(OpenAccountsTest, NegativeBalanceIsInvalid) {
  EXPECT_EQ(OpenAccounts(*engine_, {{"main", -1}}).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace bank
