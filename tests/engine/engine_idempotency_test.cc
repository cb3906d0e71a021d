// Goal: every engine keeps the request-id contract of idempotent_engine.h:
// a repeat with the same id and parameters answers the first outcome and
// changes nothing; other parameters are INVALID_ARGUMENT naming the id;
// undecided outcomes are not remembered; repeats that race the first attach
// to it (the same id from kThreads threads applies exactly once); the table
// keeps at most request_ids_max entries, oldest evicted first, and forgets
// entries after the ttl (an injected clock, no sleeping).
// Method: one value-parameterised suite over IdempotencyEngineConfigs(),
// defined per binary: every in-memory engine configuration (mutex, queue,
// queue_tiny, unsafe, model), each wrapped in an IdempotentEngine as
// CreateEngine does (engine_idempotency_configs.cc), and the postgres
// engine, which keeps ids in its database (tests/postgres). The TEST()s at
// the end exercise IdempotentEngine itself and are filtered out of the
// postgres binary.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/engine/idempotent_engine.h"
#include "tests/engine/engine_test_util.h"

namespace bank::testing {
namespace {

using ::testing::HasSubstr;

constexpr size_t kAccountsMaxForTest = 8;
constexpr int kThreads = 16;
constexpr int kRacesPerEngine = 20;

class EngineIdempotencyTest
    : public ::testing::TestWithParam<IdempotencyConfig> {
 protected:
  void SetUp() override { Rebuild(kRequestIdsMaxDefault, absl::Hours(24)); }

  void Rebuild(size_t entries_max, absl::Duration ttl) {
    RequestIdOptions options;
    options.entries_max = entries_max;
    options.ttl = ttl;
    options.clock = [this] { return clock_.Now(); };
    engine_.reset();
    IdempotentEngineUnderTest made =
        GetParam().make(kAccountsMaxForTest, options);
    ASSERT_NE(made.engine, nullptr);
    engine_ = std::move(made.engine);
    remembered_ids_ = std::move(made.remembered_ids);
    const absl::Status main_opened = Open(*engine_, "main", 80).status();
    ASSERT_TRUE(main_opened.ok()) << main_opened;
    ASSERT_TRUE(Open(*engine_, "other", 0).ok());
  }

  size_t RememberedIds() const { return remembered_ids_(); }

  absl::StatusOr<OperationResult> Run(const Operation& operation) {
    return ExecuteAndWait(*engine_, operation);
  }

  ManualClock clock_;
  std::unique_ptr<AccountEngine> engine_;
  std::function<size_t()> remembered_ids_;
};

TEST_P(EngineIdempotencyTest, RepeatAnswersTheFirstResultAndChangesNothing) {
  const Operation deposit =
      ChangeWithId(OperationKind::kDeposit, "main", 20, "deposit-1");
  absl::StatusOr<OperationResult> first = Run(deposit);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->balance, 100);
  ASSERT_TRUE(Deposit(*engine_, "main", 5).ok());  // No id: applies.
  absl::StatusOr<OperationResult> repeat = Run(deposit);
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_EQ(repeat->balance, 100);  // The first answer, not today's balance.
  EXPECT_FALSE(first->replayed);
  EXPECT_TRUE(repeat->replayed);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 105);
}

TEST_P(EngineIdempotencyTest, EveryChangeKindReplays) {
  const Operation changes[] = {
      ChangeWithId(OperationKind::kOpen, "third", 7, "open-1"),
      ChangeWithId(OperationKind::kWithdraw, "main", 30, "withdraw-1"),
      ChangeWithId(OperationKind::kTransfer, "main", 10, "transfer-1",
                   "other")};
  for (const Operation& change : changes) {
    absl::StatusOr<OperationResult> first = Run(change);
    ASSERT_TRUE(first.ok()) << first.status();
    absl::StatusOr<OperationResult> repeat = Run(change);
    ASSERT_TRUE(repeat.ok()) << repeat.status();
    EXPECT_EQ(repeat->balance, first->balance);
    EXPECT_EQ(repeat->to_balance, first->to_balance);
  }
  EXPECT_EQ(BalanceOf(*engine_, "third"), 7);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 40);
  EXPECT_EQ(BalanceOf(*engine_, "other"), 10);
}

TEST_P(EngineIdempotencyTest, DecidedErrorsAreReplayedWithTheSameMessage) {
  const Operation withdraw =
      ChangeWithId(OperationKind::kWithdraw, "main", 100, "too-much");
  const Operation missing =
      ChangeWithId(OperationKind::kDeposit, "later", 5, "not-yet");
  const Operation reopen =
      ChangeWithId(OperationKind::kOpen, "main", 1, "reopen");
  const absl::Status first_withdraw = Run(withdraw).status();
  const absl::Status first_missing = Run(missing).status();
  const absl::Status first_reopen = Run(reopen).status();
  EXPECT_EQ(first_withdraw.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(first_missing.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(first_reopen.code(), absl::StatusCode::kAlreadyExists);
  // The world changes so that a second application would now succeed...
  ASSERT_TRUE(Deposit(*engine_, "main", 1000).ok());
  ASSERT_TRUE(Open(*engine_, "later", 0).ok());
  // ...yet each repeat answers the first, decided outcome.
  EXPECT_EQ(Run(withdraw).status(), first_withdraw);
  EXPECT_EQ(Run(missing).status(), first_missing);
  EXPECT_EQ(Run(reopen).status(), first_reopen);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 1080);
  EXPECT_EQ(BalanceOf(*engine_, "later"), 0);
}

TEST_P(EngineIdempotencyTest, SameIdOtherParametersIsInvalidNamingTheId) {
  ASSERT_TRUE(
      Run(ChangeWithId(OperationKind::kDeposit, "main", 20, "id-7")).ok());
  const Operation others[] = {
      ChangeWithId(OperationKind::kDeposit, "main", 21, "id-7"),
      ChangeWithId(OperationKind::kDeposit, "other", 20, "id-7"),
      ChangeWithId(OperationKind::kWithdraw, "main", 20, "id-7"),
      ChangeWithId(OperationKind::kTransfer, "main", 20, "id-7", "other")};
  for (const Operation& other : others) {
    const absl::Status status = Run(other).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("'id-7'"));
  }
  EXPECT_EQ(BalanceOf(*engine_, "main"), 100);
  EXPECT_EQ(BalanceOf(*engine_, "other"), 0);
}

TEST_P(EngineIdempotencyTest, UndecidedOutcomesAreNotRemembered) {
  // INVALID_ARGUMENT decided nothing: the corrected request may use the id.
  EXPECT_EQ(Run(ChangeWithId(OperationKind::kDeposit, "main", 0, "fix-me"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(
      Run(ChangeWithId(OperationKind::kDeposit, "main", 5, "fix-me")).ok());
  // RESOURCE_EXHAUSTED (the account limit) decided nothing either.
  for (int i = 2; i < static_cast<int>(kAccountsMaxForTest); ++i) {
    ASSERT_TRUE(Open(*engine_, "filler" + std::to_string(i), 0).ok());
  }
  EXPECT_EQ(Run(ChangeWithId(OperationKind::kOpen, "extra", 0, "busy"))
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(
      Run(ChangeWithId(OperationKind::kDeposit, "main", 5, "busy")).ok());
  EXPECT_EQ(BalanceOf(*engine_, "main"), 90);
}

TEST_P(EngineIdempotencyTest, MalformedRequestIdIsInvalidAndChangesNothing) {
  const std::string too_long(kRequestIdBytesMax + 1, 'x');
  const std::string longest(kRequestIdBytesMax, 'x');
  EXPECT_EQ(Run(ChangeWithId(OperationKind::kDeposit, "main", 1, too_long))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Run(ChangeWithId(OperationKind::kDeposit, "main", 1, "tab\there"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 80);
  ASSERT_TRUE(
      Run(ChangeWithId(OperationKind::kDeposit, "main", 1, longest)).ok());
  EXPECT_EQ(BalanceOf(*engine_, "main"), 81);
}

TEST_P(EngineIdempotencyTest, SameIdFromManyThreadsAppliesExactlyOnce) {
  for (int race = 0; race < kRacesPerEngine; ++race) {
    const Operation deposit = ChangeWithId(OperationKind::kDeposit, "main", 1,
                                           "race-" + std::to_string(race));
    std::atomic<bool> go{false};
    std::vector<absl::StatusOr<OperationResult>> answers(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        answers[t] = ExecuteAndWait(*engine_, deposit);
      });
    }
    go.store(true);
    for (std::thread& thread : threads) thread.join();
    for (const absl::StatusOr<OperationResult>& answer : answers) {
      ASSERT_TRUE(answer.ok()) << answer.status();
      EXPECT_EQ(answer->balance, 80 + race + 1);  // All see the one result.
    }
    ASSERT_EQ(BalanceOf(*engine_, "main"), 80 + race + 1);
  }
}

TEST_P(EngineIdempotencyTest, KeepsAtMostTheLimitEvictingTheOldestFirst) {
  if (!GetParam().count_bounded) {
    GTEST_SKIP() << "ids live in the database, bounded by the ttl only";
  }
  constexpr size_t kLimit = 4;
  Rebuild(kLimit, absl::Hours(24));
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(Run(ChangeWithId(OperationKind::kDeposit, "main", 1,
                                 "bounded-" + std::to_string(i)))
                    .ok());
    EXPECT_LE(RememberedIds(), kLimit);
  }
  EXPECT_EQ(RememberedIds(), kLimit);
  EXPECT_EQ(BalanceOf(*engine_, "main"), 86);
  // The newest four replay...
  ASSERT_TRUE(
      Run(ChangeWithId(OperationKind::kDeposit, "main", 1, "bounded-5")).ok());
  ASSERT_TRUE(
      Run(ChangeWithId(OperationKind::kDeposit, "main", 1, "bounded-2")).ok());
  EXPECT_EQ(BalanceOf(*engine_, "main"), 86);
  // ...the oldest was evicted first, so it runs again.
  ASSERT_TRUE(
      Run(ChangeWithId(OperationKind::kDeposit, "main", 1, "bounded-0")).ok());
  EXPECT_EQ(BalanceOf(*engine_, "main"), 87);
  EXPECT_EQ(RememberedIds(), kLimit);
}

TEST_P(EngineIdempotencyTest, ForgetsAfterTheTtl) {
  Rebuild(kRequestIdsMaxDefault, absl::Hours(1));
  const Operation deposit =
      ChangeWithId(OperationKind::kDeposit, "main", 1, "ttl");
  ASSERT_TRUE(Run(deposit).ok());
  clock_.Advance(absl::Minutes(59));
  ASSERT_TRUE(Run(deposit).ok());
  EXPECT_EQ(BalanceOf(*engine_, "main"), 81);  // Still remembered.
  clock_.Advance(absl::Minutes(1));
  absl::StatusOr<OperationResult> again = Run(deposit);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->balance, 82);  // Forgotten: ran as a new operation.
}

TEST_P(EngineIdempotencyTest, GetBalanceIgnoresTheRequestId) {
  Operation read{OperationKind::kGetBalance, "main", "", 0};
  read.request_id = "read-1";
  ASSERT_TRUE(Run(read).ok());
  ASSERT_TRUE(Deposit(*engine_, "main", 1).ok());
  absl::StatusOr<OperationResult> again = Run(read);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->balance, 81);
  EXPECT_EQ(RememberedIds(), 0u);
}

// ParkedEngine holds every operation until the test releases it, so a
// repeat provably arrives while the first is in flight.
class ParkedEngine final : public AccountEngine {
 public:
  void Execute(Operation operation, OperationDone done) override {
    absl::MutexLock lock(&mu_);
    ++executed_;
    parked_.push_back(std::move(done));
    (void)operation;
  }
  void ExecuteBatch(std::vector<Operation>, bool, BatchDone done) override {
    std::move(done)(absl::UnimplementedError("no batches"));
  }
  void Shutdown() override {}
  const char* Name() const override { return "parked"; }
  int Executed() {
    absl::MutexLock lock(&mu_);
    return executed_;
  }
  void ReleaseAll(absl::StatusOr<OperationResult> outcome) {
    std::vector<OperationDone> parked;
    {
      absl::MutexLock lock(&mu_);
      parked.swap(parked_);
    }
    for (OperationDone& done : parked) std::move(done)(outcome);
  }

 private:
  absl::Mutex mu_;
  int executed_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<OperationDone> parked_ ABSL_GUARDED_BY(mu_);
};

TEST(IdempotentEngineTest, RepeatWhileInFlightAttachesToTheFirst) {
  auto parked_owned = std::make_unique<ParkedEngine>();
  ParkedEngine& parked = *parked_owned;
  IdempotentEngine engine(std::move(parked_owned), RequestIdOptions{});
  const Operation deposit =
      ChangeWithId(OperationKind::kDeposit, "main", 1, "slow");
  std::vector<absl::StatusOr<OperationResult>> answers;
  for (int i = 0; i < 3; ++i) {
    engine.Execute(deposit, [&answers](absl::StatusOr<OperationResult> r) {
      answers.push_back(std::move(r));
    });
  }
  EXPECT_EQ(parked.Executed(), 1);  // The repeats did not run.
  EXPECT_TRUE(answers.empty());     // Nor were they answered early.
  parked.ReleaseAll(OperationResult{42, 0});
  ASSERT_EQ(answers.size(), 3u);
  for (const absl::StatusOr<OperationResult>& answer : answers) {
    ASSERT_TRUE(answer.ok());
    EXPECT_EQ(answer->balance, 42);
  }
}

TEST(IdempotentEngineTest, RepeatsOfAnUndecidedFirstShareItsAnswerAndRetry) {
  auto parked_owned = std::make_unique<ParkedEngine>();
  ParkedEngine& parked = *parked_owned;
  IdempotentEngine engine(std::move(parked_owned), RequestIdOptions{});
  const Operation deposit =
      ChangeWithId(OperationKind::kDeposit, "main", 1, "full");
  std::vector<absl::Status> answers;
  for (int i = 0; i < 2; ++i) {
    engine.Execute(deposit, [&answers](absl::StatusOr<OperationResult> r) {
      answers.push_back(r.status());
    });
  }
  parked.ReleaseAll(absl::ResourceExhaustedError("queue full"));
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0].code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(answers[1].code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(engine.RememberedIds(), 0u);
  engine.Execute(deposit, [](absl::StatusOr<OperationResult>) {});
  EXPECT_EQ(parked.Executed(), 2);  // Not remembered: the retry ran.
  parked.ReleaseAll(OperationResult{1, 0});
}

TEST(IdempotentEngineTest, AllEntriesInFlightAnswersResourceExhausted) {
  auto parked_owned = std::make_unique<ParkedEngine>();
  ParkedEngine& parked = *parked_owned;
  RequestIdOptions options;
  options.entries_max = 2;
  IdempotentEngine engine(std::move(parked_owned), options);
  std::vector<absl::Status> answers;
  for (const char* id : {"a", "b", "c"}) {
    engine.Execute(ChangeWithId(OperationKind::kDeposit, "main", 1, id),
                   [&answers](absl::StatusOr<OperationResult> r) {
                     answers.push_back(r.status());
                   });
  }
  ASSERT_EQ(answers.size(), 1u);  // "c" answered at once.
  EXPECT_EQ(answers[0].code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(answers[0].message(), HasSubstr("request_ids_max"));
  EXPECT_EQ(parked.Executed(), 2);
  parked.ReleaseAll(OperationResult{1, 0});
  EXPECT_EQ(engine.RememberedIds(), 2u);
}

// CreateEngine (what bank_server uses) wraps every engine, and rejects
// request-id limits of zero.
TEST(CreateEngineTest, EveryEngineHonoursRequestIds) {
  for (const char* name : {"mutex", "queue", "unsafe"}) {
    EngineOptions options;
    options.engine = name;
    absl::StatusOr<std::unique_ptr<AccountEngine>> engine =
        CreateEngine(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    EXPECT_STREQ((*engine)->Name(), name);
    ASSERT_TRUE(Open(**engine, "main", 10).ok());
    const Operation deposit =
        ChangeWithId(OperationKind::kDeposit, "main", 5, "d");
    ASSERT_TRUE(ExecuteAndWait(**engine, deposit).ok());
    ASSERT_TRUE(ExecuteAndWait(**engine, deposit).ok());
    EXPECT_EQ(BalanceOf(**engine, "main"), 15) << name;
  }
  EngineOptions zero;
  zero.request_ids.entries_max = 0;
  EXPECT_EQ(CreateEngine(zero).status().code(),
            absl::StatusCode::kInvalidArgument);
  EngineOptions off = zero;
  off.request_ids_enabled = false;
  EXPECT_TRUE(CreateEngine(off).ok());
}

INSTANTIATE_TEST_SUITE_P(
    AllEngines, EngineIdempotencyTest,
    ::testing::ValuesIn(IdempotencyEngineConfigs()),
    [](const ::testing::TestParamInfo<IdempotencyConfig>& info) {
      return info.param.label;
    });

}  // namespace
}  // namespace bank::testing
