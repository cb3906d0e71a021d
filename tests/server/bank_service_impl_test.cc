// Goal: BankServiceImpl turns each request into the right Operation, fills
// each response from the engine's result, passes every engine error through
// unchanged, rejects an over-long actor itself, and finishes an RPC from
// whatever thread the engine completes on, after the handler has returned.
// Method: an in-process gRPC server over a FakeEngine that only records
// operations; the test thread plays the engine, completing each recorded
// operation with a scripted outcome while the client waits. Reaching the
// fake's queue at all proves the handler returned without blocking.

#include "service/server/bank_service_impl.h"

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"

namespace bank {
namespace {

// Bounds a wait that only a bug could make long; never asserted on.
constexpr absl::Duration kWaitTimeout = absl::Seconds(30);

struct PendingOperation {
  Operation operation;
  OperationDone done;
};

struct PendingBatch {
  std::vector<Operation> operations;
  bool atomic = false;
  BatchDone done;
};

// FakeEngine records each operation with its completion; the test completes
// them. Thread-safe: gRPC threads call Execute, the test thread the rest.
class FakeEngine final : public AccountEngine {
 public:
  void Execute(Operation operation, OperationDone done) override {
    absl::MutexLock lock(&mutex_);
    pending_.push_back({std::move(operation), std::move(done)});
  }
  void ExecuteBatch(std::vector<Operation> operations, bool atomic,
                    BatchDone done) override {
    absl::MutexLock lock(&mutex_);
    batches_.push_back({std::move(operations), atomic, std::move(done)});
  }
  void Shutdown() override {}
  const char* Name() const override { return "fake"; }

  // TakeNextBatch waits at most kWaitTimeout for a batch and answers it.
  std::optional<PendingBatch> TakeNextBatch() {
    absl::MutexLock lock(&mutex_);
    if (!mutex_.AwaitWithTimeout(
            absl::Condition(this, &FakeEngine::HasPendingBatch),
            kWaitTimeout)) {
      return std::nullopt;
    }
    PendingBatch next = std::move(batches_.front());
    batches_.pop_front();
    return next;
  }
  bool HasPendingBatch() const ABSL_SHARED_LOCKS_REQUIRED(mutex_) {
    return !batches_.empty();
  }

  // TakeNext waits at most kWaitTimeout for an operation and answers it.
  std::optional<PendingOperation> TakeNext() {
    absl::MutexLock lock(&mutex_);
    if (!mutex_.AwaitWithTimeout(absl::Condition(this, &FakeEngine::HasPending),
                                 kWaitTimeout)) {
      return std::nullopt;
    }
    PendingOperation next = std::move(pending_.front());
    pending_.pop_front();
    return next;
  }

  bool HasPending() const ABSL_SHARED_LOCKS_REQUIRED(mutex_) {
    return !pending_.empty();
  }
  size_t pending_count() {
    absl::MutexLock lock(&mutex_);
    return pending_.size();
  }

 private:
  absl::Mutex mutex_;
  std::deque<PendingOperation> pending_ ABSL_GUARDED_BY(mutex_);
  std::deque<PendingBatch> batches_ ABSL_GUARDED_BY(mutex_);
};

// Call: one asynchronous client call's state.
template <typename Response>
struct Call {
  grpc::ClientContext context;
  Response response;
  grpc::Status status;
  absl::Notification done;

  auto Callback() {
    return [this](grpc::Status result) {
      status = std::move(result);
      done.Notify();
    };
  }
  bool Wait() { return done.WaitForNotificationWithTimeout(kWaitTimeout); }
};

class BankServiceImplTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = bank::v1::BankService::NewStub(
        server_->InProcessChannel(grpc::ChannelArguments()));
  }
  void TearDown() override {
    // Every recorded operation must be completed, or Shutdown would wait.
    EXPECT_EQ(engine_.pending_count(), 0u);
    server_->Shutdown();
  }

  FakeEngine engine_;
  BankServiceImpl service_{engine_, BankServiceImpl::Options()};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<bank::v1::BankService::Stub> stub_;
};

TEST_F(BankServiceImplTest, OpenAccountBuildsOpenAndAnswersAccount) {
  bank::v1::OpenAccountRequest request;
  request.set_account_id("main");
  request.set_initial_balance(80);
  Call<bank::v1::OpenAccountResponse> call;
  stub_->async()->OpenAccount(&call.context, &request, &call.response,
                              call.Callback());
  std::optional<PendingOperation> pending = engine_.TakeNext();
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->operation.kind, OperationKind::kOpen);
  EXPECT_EQ(pending->operation.account_id, "main");
  EXPECT_EQ(pending->operation.amount, 80);
  EXPECT_FALSE(call.done.HasBeenNotified());  // Answered only on completion.
  std::move(pending->done)(OperationResult{80, 0});
  ASSERT_TRUE(call.Wait());
  ASSERT_TRUE(call.status.ok()) << call.status.error_message();
  EXPECT_EQ(call.response.account().account_id(), "main");
  EXPECT_EQ(call.response.account().balance(), 80);
}

TEST_F(BankServiceImplTest, DepositAndWithdrawAnswerBalance) {
  bank::v1::DepositRequest deposit;
  deposit.set_account_id("main");
  deposit.set_amount(50);
  deposit.set_actor("姚笛");
  Call<bank::v1::DepositResponse> deposit_call;
  stub_->async()->Deposit(&deposit_call.context, &deposit,
                          &deposit_call.response, deposit_call.Callback());
  std::optional<PendingOperation> pending = engine_.TakeNext();
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->operation.kind, OperationKind::kDeposit);
  EXPECT_EQ(pending->operation.amount, 50);
  std::move(pending->done)(OperationResult{130, 0});
  ASSERT_TRUE(deposit_call.Wait());
  EXPECT_TRUE(deposit_call.status.ok());
  EXPECT_EQ(deposit_call.response.balance(), 130);

  bank::v1::WithdrawRequest withdraw;
  withdraw.set_account_id("main");
  withdraw.set_amount(30);
  withdraw.set_actor("马伊琍");
  Call<bank::v1::WithdrawResponse> withdraw_call;
  stub_->async()->Withdraw(&withdraw_call.context, &withdraw,
                           &withdraw_call.response, withdraw_call.Callback());
  pending = engine_.TakeNext();
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->operation.kind, OperationKind::kWithdraw);
  EXPECT_EQ(pending->operation.account_id, "main");
  EXPECT_EQ(pending->operation.amount, 30);
  std::move(pending->done)(OperationResult{100, 0});
  ASSERT_TRUE(withdraw_call.Wait());
  EXPECT_TRUE(withdraw_call.status.ok());
  EXPECT_EQ(withdraw_call.response.balance(), 100);
}

TEST_F(BankServiceImplTest, TransferAnswersBothBalances) {
  bank::v1::TransferRequest request;
  request.set_from_account_id("a");
  request.set_to_account_id("b");
  request.set_amount(20);
  Call<bank::v1::TransferResponse> call;
  stub_->async()->Transfer(&call.context, &request, &call.response,
                           call.Callback());
  std::optional<PendingOperation> pending = engine_.TakeNext();
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->operation.kind, OperationKind::kTransfer);
  EXPECT_EQ(pending->operation.account_id, "a");
  EXPECT_EQ(pending->operation.to_account_id, "b");
  EXPECT_EQ(pending->operation.amount, 20);
  std::move(pending->done)(OperationResult{60, 30});
  ASSERT_TRUE(call.Wait());
  EXPECT_TRUE(call.status.ok());
  EXPECT_EQ(call.response.from_balance(), 60);
  EXPECT_EQ(call.response.to_balance(), 30);
}

TEST_F(BankServiceImplTest, GetBalanceAnswersBalance) {
  bank::v1::GetBalanceRequest request;
  request.set_account_id("main");
  Call<bank::v1::GetBalanceResponse> call;
  stub_->async()->GetBalance(&call.context, &request, &call.response,
                             call.Callback());
  std::optional<PendingOperation> pending = engine_.TakeNext();
  ASSERT_TRUE(pending.has_value());
  EXPECT_EQ(pending->operation.kind, OperationKind::kGetBalance);
  EXPECT_EQ(pending->operation.account_id, "main");
  std::move(pending->done)(OperationResult{40, 0});
  ASSERT_TRUE(call.Wait());
  EXPECT_TRUE(call.status.ok());
  EXPECT_EQ(call.response.balance(), 40);
}

TEST_F(BankServiceImplTest, EngineErrorPassesThroughUnchanged) {
  bank::v1::WithdrawRequest request;
  request.set_account_id("main");
  request.set_amount(81);
  Call<bank::v1::WithdrawResponse> call;
  stub_->async()->Withdraw(&call.context, &request, &call.response,
                           call.Callback());
  std::optional<PendingOperation> pending = engine_.TakeNext();
  ASSERT_TRUE(pending.has_value());
  std::move(pending->done)(
      absl::FailedPreconditionError("balance 80 is less than 81"));
  ASSERT_TRUE(call.Wait());
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(call.status.error_message(), "balance 80 is less than 81");
  EXPECT_EQ(call.response.balance(), 0);  // Not filled on failure.
}

TEST_F(BankServiceImplTest, OverlongActorIsRejectedBeforeTheEngine) {
  bank::v1::DepositRequest request;
  request.set_account_id("main");
  request.set_amount(1);
  request.set_actor(std::string(kActorBytesMax + 1, 'x'));
  Call<bank::v1::DepositResponse> call;
  stub_->async()->Deposit(&call.context, &request, &call.response,
                          call.Callback());
  ASSERT_TRUE(call.Wait());
  EXPECT_EQ(call.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(call.status.error_message().find("actor"), std::string::npos);
  EXPECT_EQ(engine_.pending_count(), 0u);
}

TEST(ValidateActorTest, AllowsUpToTheLimit) {
  EXPECT_TRUE(ValidateActor("").ok());
  EXPECT_TRUE(ValidateActor(std::string(kActorBytesMax, 'x')).ok());
  EXPECT_EQ(ValidateActor(std::string(kActorBytesMax + 1, 'x')).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FormatOperationLogLineTest, UsesTheArticlesForm) {
  EXPECT_EQ(FormatOperationLogLine(
                Operation{OperationKind::kWithdraw, "main", "", 30}, "马伊琍"),
            "[-] 30 马伊琍\n");
  EXPECT_EQ(FormatOperationLogLine(
                Operation{OperationKind::kDeposit, "main", "", 50}, "姚笛"),
            "[+] 50 姚笛\n");
  EXPECT_EQ(FormatOperationLogLine(
                Operation{OperationKind::kTransfer, "a", "b", 20}, "马伊琍"),
            "[→] 20 a->b 马伊琍\n");
  EXPECT_EQ(FormatOperationLogLine(
                Operation{OperationKind::kOpen, "main", "", 80}, ""),
            "[open] 80 main\n");
  EXPECT_EQ(FormatOperationLogLine(
                Operation{OperationKind::kDeposit, "main", "", 5}, ""),
            "[+] 5\n");
  EXPECT_EQ(FormatOperationLogLine(
                Operation{OperationKind::kGetBalance, "main", "", 0}, "x"),
            "");
}

// The inputs (issue 13, item 4): an actor with a newline that forges
// a second line, ESC sequences that clear the screen or retitle the window,
// CR and NUL. Each must come out as exactly one line with no control byte.
TEST(FormatOperationLogLineTest, EscapesControlBytesSoOneOperationIsOneLine) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"x\n[-] 999999 马伊琍", "x\\n[-] 999999 马伊琍"},
      {"\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"},
      {"\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"},
      {"a\rb", "a\\rb"},
      {std::string("a\0b", 3), "a\\x00b"},
      {"tab\there", "tab\\there"},
      {"back\\slash", "back\\\\slash"},
      {"\x7f", "\\x7f"},
      {"csi\xc2\x9b"
       "2J",
       "csi\\xc2\\x9b2J"},  // U+009B, the C1 CSI.
      {"é马", "é马"},       // Ordinary UTF-8 stays.
  };
  for (const auto& [actor, escaped] : cases) {
    const std::string line = FormatOperationLogLine(
        Operation{OperationKind::kWithdraw, "main", "", 30}, actor);
    EXPECT_EQ(line, "[-] 30 " + escaped + "\n");
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    for (size_t i = 0; i + 1 < line.size(); ++i) {
      const unsigned char byte = static_cast<unsigned char>(line[i]);
      EXPECT_TRUE(byte >= 0x20 && byte != 0x7f) << "byte " << i << ": " << line;
    }
  }
}

TEST(FormatOperationLogLineTest, EscapesAccountIdsToo) {
  EXPECT_EQ(FormatOperationLogLine(
                Operation{OperationKind::kTransfer, "a\nb", "c\x1b", 20}, ""),
            "[→] 20 a\\nb->c\\x1b\n");
  EXPECT_EQ(FormatOperationLogLine(
                Operation{OperationKind::kOpen, "x\r\n", "", 1}, ""),
            "[open] 1 x\\r\\n\n");
}

TEST(EscapeLogFieldTest, WorstCaseIsFourTimesLonger) {
  const std::string controls(kActorBytesMax, '\x01');
  EXPECT_EQ(EscapeLogField(controls).size(), 4 * kActorBytesMax);
  std::string c1;
  for (size_t i = 0; i < kActorBytesMax / 2; ++i) c1 += "\xc2\x85";
  EXPECT_EQ(EscapeLogField(c1).size(), 4 * c1.size());
}

}  // namespace
}  // namespace bank
