// Goal: the invariant checker passes every history a correct bank can
// produce and fails every history that lost, created or overdrew money,
// naming the account with its expected range and actual balance.
// Method: hand-made histories (including the article's lost update) with
// final balances chosen inside, on the edge of, and outside the range.

#include "loadgen/ledger.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace bank::loadgen {
namespace {

constexpr Outcome kApplied = Outcome::kApplied;
constexpr Outcome kNotApplied = Outcome::kNotApplied;
constexpr Outcome kIndeterminate = Outcome::kIndeterminate;

TEST(ClassifyStatusTest, SortsCodesByWhetherTheServerDecided) {
  EXPECT_EQ(ClassifyStatus(grpc::StatusCode::OK), kApplied);
  EXPECT_EQ(ClassifyStatus(grpc::StatusCode::FAILED_PRECONDITION), kNotApplied);
  EXPECT_EQ(ClassifyStatus(grpc::StatusCode::INVALID_ARGUMENT), kNotApplied);
  EXPECT_EQ(ClassifyStatus(grpc::StatusCode::NOT_FOUND), kNotApplied);
  EXPECT_EQ(ClassifyStatus(grpc::StatusCode::OUT_OF_RANGE), kNotApplied);
  EXPECT_EQ(ClassifyStatus(grpc::StatusCode::RESOURCE_EXHAUSTED), kNotApplied);
  EXPECT_EQ(ClassifyStatus(grpc::StatusCode::DEADLINE_EXCEEDED),
            kIndeterminate);
  EXPECT_EQ(ClassifyStatus(grpc::StatusCode::UNAVAILABLE), kIndeterminate);
  EXPECT_EQ(ClassifyStatus(grpc::StatusCode::CANCELLED), kIndeterminate);
  EXPECT_EQ(ClassifyStatus(grpc::StatusCode::UNKNOWN), kIndeterminate);
  EXPECT_EQ(ClassifyStatus(grpc::StatusCode::INTERNAL), kIndeterminate);
}

TEST(LedgerTest, ExactHistoryPassesOnlyWithTheExactBalances) {
  Ledger ledger({100, 50});
  ledger.RecordDeposit(0, 20, kApplied);
  ledger.RecordWithdraw(1, 30, kApplied);
  ledger.RecordTransfer(0, 1, 15, kApplied);
  ledger.RecordWithdraw(1, 500, kNotApplied);  // Insufficient funds.
  ledger.RecordRead(kApplied);
  const OutcomeCounts counts = ledger.Counts();
  EXPECT_EQ(counts.applied, 4u);
  EXPECT_EQ(counts.not_applied, 1u);
  EXPECT_EQ(counts.indeterminate, 0u);

  const Verdict pass = ledger.Check({105, 35});
  EXPECT_TRUE(pass.pass);
  EXPECT_EQ(pass.total_expected_min, 140);
  EXPECT_EQ(pass.total_expected_max, 140);
  EXPECT_EQ(pass.total_actual, 140);

  const Verdict fail = ledger.Check({105, 36});
  ASSERT_FALSE(fail.pass);
  ASSERT_EQ(fail.violations.size(), 2u);  // Account 1, and the total.
  EXPECT_EQ(fail.violations[0].kind, Violation::Kind::kBalanceOutOfRange);
  EXPECT_EQ(fail.violations[0].account, 1u);
  EXPECT_EQ(fail.violations[0].expected_min, 35);
  EXPECT_EQ(fail.violations[0].expected_max, 35);
  EXPECT_EQ(fail.violations[0].actual, 36);
  EXPECT_EQ(fail.violations[1].kind, Violation::Kind::kTotalOutOfRange);
}

TEST(LedgerTest, TheArticlesLostUpdateFails) {
  Ledger ledger({80});
  ledger.RecordWithdraw(0, 30, kApplied);
  ledger.RecordWithdraw(0, 10, kApplied);
  EXPECT_TRUE(ledger.Check({40}).pass);
  const Verdict verdict = ledger.Check({70});
  ASSERT_FALSE(verdict.pass);
  EXPECT_EQ(verdict.violations[0].account, 0u);
  EXPECT_EQ(verdict.violations[0].expected_min, 40);
  EXPECT_EQ(verdict.violations[0].expected_max, 40);
  EXPECT_EQ(verdict.violations[0].actual, 70);
}

TEST(LedgerTest, IndeterminateOperationsWidenTheRange) {
  Ledger ledger({100});
  ledger.RecordDeposit(0, 5, kIndeterminate);
  ledger.RecordWithdraw(0, 3, kIndeterminate);
  ledger.RecordDeposit(0, 10, kApplied);
  EXPECT_EQ(ledger.Counts().indeterminate, 2u);
  for (int64_t balance : {107, 110, 112, 115}) {
    EXPECT_TRUE(ledger.Check({balance}).pass) << balance;
  }
  for (int64_t balance : {106, 116}) {
    const Verdict verdict = ledger.Check({balance});
    ASSERT_FALSE(verdict.pass) << balance;
    EXPECT_EQ(verdict.violations[0].expected_min, 107);
    EXPECT_EQ(verdict.violations[0].expected_max, 115);
  }
}

TEST(LedgerTest, AHalfAppliedTransferBreaksConservation) {
  Ledger ledger({100, 100});
  ledger.RecordTransfer(0, 1, 40, kIndeterminate);
  // Each account alone may or may not have moved 40, but together the
  // transfer applied wholly or not at all.
  EXPECT_TRUE(ledger.Check({100, 100}).pass);
  EXPECT_TRUE(ledger.Check({60, 140}).pass);
  const Verdict debit_only = ledger.Check({60, 100});
  ASSERT_FALSE(debit_only.pass);
  ASSERT_EQ(debit_only.violations.size(), 1u);
  EXPECT_EQ(debit_only.violations[0].kind, Violation::Kind::kTotalOutOfRange);
  EXPECT_EQ(debit_only.violations[0].expected_min, 200);
  EXPECT_EQ(debit_only.violations[0].expected_max, 200);
  EXPECT_EQ(debit_only.violations[0].actual, 160);
}

TEST(LedgerTest, MoneyCreatedByAnAppliedTransferFails) {
  Ledger ledger({100, 0});
  ledger.RecordTransfer(0, 1, 30, kApplied);
  EXPECT_TRUE(ledger.Check({70, 30}).pass);
  const Verdict verdict = ledger.Check({100, 30});
  EXPECT_FALSE(verdict.pass);
  EXPECT_EQ(verdict.total_actual, 130);
}

TEST(LedgerTest, ANegativeFinalBalanceFailsEvenInsideTheRange) {
  Ledger ledger({0});
  ledger.RecordWithdraw(0, 5, kIndeterminate);
  EXPECT_TRUE(ledger.Check({0}).pass);
  const Verdict verdict = ledger.Check({-5});
  ASSERT_FALSE(verdict.pass);
  ASSERT_EQ(verdict.violations.size(), 1u);
  EXPECT_EQ(verdict.violations[0].kind, Violation::Kind::kNegativeBalance);
  EXPECT_EQ(verdict.violations[0].actual, -5);
}

TEST(LedgerTest, ANegativeBalanceInAReplyFails) {
  Ledger ledger({10});
  ledger.ObserveBalance(0, 3);
  EXPECT_TRUE(ledger.Check({10}).pass);
  ledger.ObserveBalance(0, -7);
  const Verdict verdict = ledger.Check({10});
  ASSERT_FALSE(verdict.pass);
  EXPECT_EQ(verdict.negative_replies, 1u);
  ASSERT_EQ(verdict.violations.size(), 1u);
  EXPECT_EQ(verdict.violations[0].kind, Violation::Kind::kNegativeReply);
  EXPECT_EQ(verdict.violations[0].actual, -7);
}

TEST(LedgerTest, ConcurrentRecordingIsExact) {
  constexpr int kThreadCount = 4;
  constexpr int kOperationsPerThread = 10'000;
  Ledger ledger({0, 0});
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreadCount; ++t) {
    threads.emplace_back([&ledger] {
      for (int i = 0; i < kOperationsPerThread; ++i) {
        ledger.RecordDeposit(0, 2, kApplied);
        ledger.RecordTransfer(0, 1, 1, kApplied);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const int64_t each = int64_t{kThreadCount} * kOperationsPerThread;
  EXPECT_TRUE(ledger.Check({each, each}).pass);
  EXPECT_FALSE(ledger.Check({each + 1, each - 1}).pass);
}

}  // namespace
}  // namespace bank::loadgen
