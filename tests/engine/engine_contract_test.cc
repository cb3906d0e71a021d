// Goal: every engine (and the test model) keeps the AccountEngine contract:
// each operation's result, and every error the API promises, with nothing
// changed by a failed operation.
// Method: one value-parameterised suite over ContractEngineConfigs(): in
// engine_contract_test mutex, queue (default depth and a depth-1 queue),
// unsafe and the model; in postgres_contract_test the postgres engine. Each
// is driven from one thread with ExecuteAndWait (so even the unsafe engine
// must be right here).

#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/engine_test_util.h"

namespace bank::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
// Small enough to reach quickly, large enough to hold every test's accounts.
constexpr size_t kAccountsMaxForTest = 8;

class EngineContractTest : public ::testing::TestWithParam<EngineConfig> {
 protected:
  void SetUp() override {
    engine_ = MakeEngine(GetParam(), kAccountsMaxForTest);
  }

  std::unique_ptr<AccountEngine> engine_;
};

TEST_P(EngineContractTest, NameIsTheFlagValue) {
  EXPECT_EQ(std::string(engine_->Name()), GetParam().engine);
}

// Stats() (the metrics layer's pull hook) counts accounts that exist: every
// real engine reports it; the test model has nothing to report.
TEST_P(EngineContractTest, StatsCountOpenAccounts) {
  // The model keeps no stats; the postgres engine leaves the count to the
  // database its replicas share (counting would be a query per scrape).
  if (GetParam().engine == "model" || GetParam().engine == "postgres") {
    EXPECT_FALSE(engine_->Stats().accounts_open.has_value());
    return;
  }
  ASSERT_TRUE(engine_->Stats().accounts_open.has_value());
  EXPECT_EQ(*engine_->Stats().accounts_open, 0u);
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  ASSERT_TRUE(Open(*engine_, "b", 0).ok());
  EXPECT_EQ(Open(*engine_, "b", 0).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(engine_->Stats().accounts_open, 2u);
  EXPECT_EQ(engine_->Stats().queue.has_value(), GetParam().engine == "queue");
}

TEST_P(EngineContractTest, OpenAnswersInitialBalance) {
  absl::StatusOr<OperationResult> opened = Open(*engine_, "main", 80);
  ASSERT_TRUE(opened.ok()) << opened.status();
  EXPECT_EQ(opened->balance, 80);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 80);
  ASSERT_TRUE(Open(*engine_, "empty", 0).ok());
  EXPECT_EQ(BalanceOf(*engine_, "empty"), 0);
}

TEST_P(EngineContractTest, OpenExistingIsAlreadyExistsAndKeepsBalance) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  absl::StatusOr<OperationResult> again = Open(*engine_, "main", 5);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(), HasSubstr("main"));
  EXPECT_EQ(BalanceOf(*engine_, "main"), 80);
}

TEST_P(EngineContractTest, NegativeInitialBalanceIsInvalid) {
  EXPECT_EQ(Open(*engine_, "main", -1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetBalance(*engine_, "main").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(EngineContractTest, EmptyAccountIdIsInvalidForEveryOperation) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  const absl::StatusCode invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(Open(*engine_, "", 1).status().code(), invalid);
  EXPECT_EQ(Deposit(*engine_, "", 1).status().code(), invalid);
  EXPECT_EQ(Withdraw(*engine_, "", 1).status().code(), invalid);
  EXPECT_EQ(GetBalance(*engine_, "").status().code(), invalid);
  EXPECT_EQ(Transfer(*engine_, "", "main", 1).status().code(), invalid);
  EXPECT_EQ(Transfer(*engine_, "main", "", 1).status().code(), invalid);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 80);
}

TEST_P(EngineContractTest, AccountIdOver128BytesIsInvalid) {
  const std::string longest(kAccountIdBytesMax, 'x');
  const std::string too_long(kAccountIdBytesMax + 1, 'x');
  ASSERT_TRUE(Open(*engine_, longest, 10).ok());
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  const absl::StatusCode invalid = absl::StatusCode::kInvalidArgument;
  absl::Status status = Open(*engine_, too_long, 1).status();
  EXPECT_EQ(status.code(), invalid);
  EXPECT_THAT(status.message(), AllOf(HasSubstr("129"), HasSubstr("128")));
  EXPECT_EQ(Deposit(*engine_, too_long, 1).status().code(), invalid);
  EXPECT_EQ(Withdraw(*engine_, too_long, 1).status().code(), invalid);
  EXPECT_EQ(GetBalance(*engine_, too_long).status().code(), invalid);
  EXPECT_EQ(Transfer(*engine_, "main", too_long, 1).status().code(), invalid);
  EXPECT_EQ(Transfer(*engine_, too_long, "main", 1).status().code(), invalid);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 80);
  EXPECT_EQ(BalanceOf(*engine_, longest), 10);
}

TEST_P(EngineContractTest, NonPositiveAmountIsInvalid) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  ASSERT_TRUE(Open(*engine_, "other", 0).ok());
  const absl::StatusCode invalid = absl::StatusCode::kInvalidArgument;
  for (int64_t amount :
       {int64_t{0}, int64_t{-1}, std::numeric_limits<int64_t>::min()}) {
    SCOPED_TRACE(amount);
    EXPECT_EQ(Deposit(*engine_, "main", amount).status().code(), invalid);
    EXPECT_EQ(Withdraw(*engine_, "main", amount).status().code(), invalid);
    EXPECT_EQ(Transfer(*engine_, "main", "other", amount).status().code(),
              invalid);
  }
  EXPECT_EQ(BalanceOf(*engine_, "main"), 80);
  EXPECT_EQ(BalanceOf(*engine_, "other"), 0);
}

TEST_P(EngineContractTest, TransferToSelfIsInvalid) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  absl::Status status = Transfer(*engine_, "main", "main", 10).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("itself"));
  EXPECT_EQ(BalanceOf(*engine_, "main"), 80);
}

TEST_P(EngineContractTest, UnknownAccountIsNotFound) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  const absl::StatusCode not_found = absl::StatusCode::kNotFound;
  EXPECT_EQ(Deposit(*engine_, "nobody", 1).status().code(), not_found);
  EXPECT_EQ(Withdraw(*engine_, "nobody", 1).status().code(), not_found);
  absl::Status status = GetBalance(*engine_, "nobody").status();
  EXPECT_EQ(status.code(), not_found);
  EXPECT_THAT(status.message(), HasSubstr("nobody"));
  EXPECT_EQ(Transfer(*engine_, "nobody", "main", 1).status().code(), not_found);
  // The source exists and has the money: still nothing may leave it.
  EXPECT_EQ(Transfer(*engine_, "main", "nobody", 1).status().code(), not_found);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 80);
}

TEST_P(EngineContractTest, DepositAndWithdrawAnswerTheNewBalance) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  absl::StatusOr<OperationResult> result = Withdraw(*engine_, "main", 30);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->balance, 50);
  result = Deposit(*engine_, "main", 5);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->balance, 55);
  result = Withdraw(*engine_, "main", 55);  // Down to exactly zero is fine.
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->balance, 0);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 0);
}

TEST_P(EngineContractTest, InsufficientFundsNamesBalanceAndAmount) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  absl::Status status = Withdraw(*engine_, "main", 81).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("main"), HasSubstr("balance 80"),
                    HasSubstr("amount 81")));
  EXPECT_EQ(BalanceOf(*engine_, "main"), 80);
}

TEST_P(EngineContractTest, DepositPastInt64MaxIsOutOfRange) {
  ASSERT_TRUE(Open(*engine_, "main", kInt64Max - 5).ok());
  absl::StatusOr<OperationResult> result = Deposit(*engine_, "main", 5);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->balance, kInt64Max);
  absl::Status status = Deposit(*engine_, "main", 1).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Deposit(*engine_, "main", kInt64Max).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(BalanceOf(*engine_, "main"), kInt64Max);
}

TEST_P(EngineContractTest, TransferMovesMoneyAndAnswersBothBalances) {
  ASSERT_TRUE(Open(*engine_, "mayili", 80).ok());
  ASSERT_TRUE(Open(*engine_, "yaodi", 5).ok());
  absl::StatusOr<OperationResult> result =
      Transfer(*engine_, "mayili", "yaodi", 30);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->balance, 50);
  EXPECT_EQ(result->to_balance, 35);
  // The other direction, whole balance.
  result = Transfer(*engine_, "yaodi", "mayili", 35);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->balance, 0);
  EXPECT_EQ(result->to_balance, 85);
  EXPECT_EQ(BalanceOf(*engine_, "mayili"), 85);
  EXPECT_EQ(BalanceOf(*engine_, "yaodi"), 0);
}

TEST_P(EngineContractTest, FailedTransferChangesNeitherAccount) {
  ASSERT_TRUE(Open(*engine_, "poor", 10).ok());
  ASSERT_TRUE(Open(*engine_, "full", kInt64Max - 1).ok());
  ASSERT_TRUE(Open(*engine_, "rich", 100).ok());
  absl::Status status = Transfer(*engine_, "poor", "rich", 11).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("balance 10"), HasSubstr("amount 11")));
  // The source has the money but the target would overflow: neither leg.
  EXPECT_EQ(Transfer(*engine_, "rich", "full", 2).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(BalanceOf(*engine_, "poor"), 10);
  EXPECT_EQ(BalanceOf(*engine_, "rich"), 100);
  EXPECT_EQ(BalanceOf(*engine_, "full"), kInt64Max - 1);
  // Exactly up to the maximum is fine.
  absl::StatusOr<OperationResult> result =
      Transfer(*engine_, "rich", "full", 1);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->to_balance, kInt64Max);
}

TEST_P(EngineContractTest, AccountLimitIsResourceExhausted) {
  for (size_t i = 0; i < kAccountsMaxForTest; ++i) {
    ASSERT_TRUE(Open(*engine_, "account" + std::to_string(i), 1).ok());
  }
  absl::Status status = Open(*engine_, "one_too_many", 1).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("8"));
  // An existing id is still ALREADY_EXISTS, and the accounts still work.
  EXPECT_EQ(Open(*engine_, "account0", 1).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(GetBalance(*engine_, "one_too_many").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(Transfer(*engine_, "account0", "account1", 1).ok());
}

TEST_P(EngineContractTest, AfterShutdownEveryOperationIsUnavailable) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  ASSERT_TRUE(Open(*engine_, "other", 0).ok());
  engine_->Shutdown();
  engine_->Shutdown();  // Idempotent.
  const absl::StatusCode unavailable = absl::StatusCode::kUnavailable;
  EXPECT_EQ(Open(*engine_, "new", 1).status().code(), unavailable);
  EXPECT_EQ(Deposit(*engine_, "main", 1).status().code(), unavailable);
  EXPECT_EQ(Withdraw(*engine_, "main", 1).status().code(), unavailable);
  EXPECT_EQ(Transfer(*engine_, "main", "other", 1).status().code(),
            unavailable);
  EXPECT_EQ(GetBalance(*engine_, "main").status().code(), unavailable);
}

TEST_P(EngineContractTest, CompletionRunsExactlyOnce) {
  ASSERT_TRUE(Open(*engine_, "main", 80).ok());
  // Completions run on the caller's thread (operations rejected up front)
  // and on the engine's own (queue engine), possibly at once: atomic. Read
  // only after Shutdown(), which waits for every completion.
  std::atomic<int> calls{0};
  const Operation operations[] = {
      {OperationKind::kWithdraw, "main", "", 30},      // OK
      {OperationKind::kWithdraw, "main", "", 1000},    // FAILED_PRECONDITION
      {OperationKind::kDeposit, "", "", 1},            // INVALID_ARGUMENT
      {OperationKind::kGetBalance, "nobody", "", 0}};  // NOT_FOUND
  for (const Operation& operation : operations) {
    engine_->Execute(operation,
                     [&calls](absl::StatusOr<OperationResult>) { ++calls; });
  }
  engine_->Shutdown();
  EXPECT_EQ(calls.load(), 4);
}

INSTANTIATE_TEST_SUITE_P(
    AllEngines, EngineContractTest,
    ::testing::ValuesIn(ContractEngineConfigs()),
    [](const ::testing::TestParamInfo<EngineConfig>& info) {
      return info.param.label;
    });

}  // namespace
}  // namespace bank::testing
