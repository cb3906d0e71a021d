#include "tests/engine/engine_test_util.h"

#include <utility>

#include "gtest/gtest.h"
#include "service/engine/mutex_engine.h"
#include "service/engine/queue_engine.h"
#include "service/engine/unsafe_engine.h"
#include "service/storage/memory_store.h"

namespace bank::testing {

std::ostream& operator<<(std::ostream& out, const EngineConfig& config) {
  return out << config.label;
}

namespace {

// DurableEngine: an engine together with the MemoryStore it commits to
// (the store must outlive the engine).
class DurableEngine final : public AccountEngine {
 public:
  explicit DurableEngine(std::unique_ptr<MemoryStore> store)
      : store_(std::move(store)) {}
  void set_engine(std::unique_ptr<AccountEngine> engine) {
    engine_ = std::move(engine);
  }
  ~DurableEngine() override { engine_.reset(); }

  void Execute(Operation operation, OperationDone done) override {
    engine_->Execute(std::move(operation), std::move(done));
  }
  void ExecuteBatch(std::vector<Operation> operations, bool atomic,
                    BatchDone done) override {
    engine_->ExecuteBatch(std::move(operations), atomic, std::move(done));
  }
  void Shutdown() override { engine_->Shutdown(); }
  const char* Name() const override { return engine_->Name(); }
  EngineStats Stats() const override { return engine_->Stats(); }

 private:
  std::unique_ptr<MemoryStore> store_;
  std::unique_ptr<AccountEngine> engine_;
};

}  // namespace

std::vector<EngineConfig> RealEngineConfigs() {
  return {{"mutex", "mutex"},
          {"queue", "queue"},
          {"queue_tiny", "queue", kTinyQueueDepthMax},
          {"unsafe", "unsafe"},
          {"mutex_durable", "mutex", kQueueDepthMaxDefault, true},
          {"queue_durable", "queue", kQueueDepthMaxDefault, true}};
}

std::vector<EngineConfig> SafeEngineConfigs() {
  return {{"mutex", "mutex"},
          {"queue", "queue"},
          {"mutex_durable", "mutex", kQueueDepthMaxDefault, true},
          {"queue_durable", "queue", kQueueDepthMaxDefault, true}};
}

std::vector<EngineConfig> AllEngineConfigs() {
  std::vector<EngineConfig> configs = RealEngineConfigs();
  configs.push_back({"model", "model"});
  return configs;
}

std::unique_ptr<AccountEngine> MakeEngine(const EngineConfig& config,
                                          size_t accounts_max,
                                          LatencyRange latency,
                                          OperationHook hook) {
  if (config.make) return config.make(accounts_max);
  EngineOptions options;
  options.engine = config.engine;
  options.accounts_max = accounts_max;
  options.queue_depth_max = config.queue_depth_max;
  options.latency = latency;
  if (config.durable) {
    auto store = std::make_unique<MemoryStore>();
    options.store = store.get();
    auto durable = std::make_unique<DurableEngine>(std::move(store));
    if (config.engine == "mutex") {
      durable->set_engine(
          std::make_unique<MutexEngine>(options, std::move(hook)));
    } else {
      durable->set_engine(
          std::make_unique<QueueEngine>(options, std::move(hook)));
    }
    return durable;
  }
  if (config.engine == "mutex") {
    return std::make_unique<MutexEngine>(options, std::move(hook));
  }
  if (config.engine == "queue") {
    return std::make_unique<QueueEngine>(options, std::move(hook));
  }
  if (config.engine == "unsafe") {
    return std::make_unique<UnsafeEngine>(options, std::move(hook));
  }
  EXPECT_EQ(config.engine, "model");
  return std::make_unique<ModelEngine>(accounts_max);
}

void ModelEngine::Execute(Operation operation, OperationDone done) {
  std::move(done)(shut_down_
                      ? absl::StatusOr<OperationResult>(EngineShutDownError())
                      : Apply(operation));
}

void ModelEngine::ExecuteBatch(std::vector<Operation> operations, bool atomic,
                               BatchDone done) {
  if (absl::Status size = ValidateBatchSize(operations.size()); !size.ok()) {
    std::move(done)(std::move(size));
    return;
  }
  if (shut_down_) {
    std::move(done)(EngineShutDownError());
    return;
  }
  const std::map<std::string, int64_t> before = balances_;
  BatchResults results;
  for (size_t i = 0; i < operations.size(); ++i) {
    results.push_back(Apply(operations[i]));
    if (atomic && !results.back().ok()) {
      balances_ = before;
      results =
          AbortedBatchResults(operations.size(), i, results.back().status());
      break;
    }
  }
  std::move(done)(std::move(results));
}

absl::StatusOr<OperationResult> ModelEngine::Apply(const Operation& operation) {
  if (absl::Status valid = ValidateOperation(operation); !valid.ok()) {
    return valid;
  }
  const std::string& id = operation.account_id;
  if (operation.kind == OperationKind::kOpen) {
    if (balances_.count(id) > 0) return AccountExistsError(id);
    if (balances_.size() >= accounts_max_) {
      return AccountLimitError(id, accounts_max_);
    }
    return OperationResult{balances_[id] = operation.amount, 0};
  }
  if (balances_.count(id) == 0) return AccountNotFoundError(id);
  int64_t& balance = balances_[id];
  absl::StatusOr<int64_t> changed = balance;
  if (operation.kind == OperationKind::kDeposit) {
    changed = CheckedDeposit(id, balance, operation.amount);
  } else if (operation.kind == OperationKind::kWithdraw) {
    changed = CheckedWithdraw(id, balance, operation.amount);
  } else if (operation.kind == OperationKind::kTransfer) {
    const std::string& to_id = operation.to_account_id;
    if (balances_.count(to_id) == 0) return AccountNotFoundError(to_id);
    int64_t& to_balance = balances_[to_id];
    changed = CheckedWithdraw(id, balance, operation.amount);
    if (!changed.ok()) return changed.status();
    absl::StatusOr<int64_t> to_changed =
        CheckedDeposit(to_id, to_balance, operation.amount);
    if (!to_changed.ok()) return to_changed.status();
    balance = *changed;
    to_balance = *to_changed;
    return OperationResult{balance, to_balance};
  }
  if (!changed.ok()) return changed.status();
  balance = *changed;
  return OperationResult{balance, 0};
}

absl::StatusOr<OperationResult> Open(AccountEngine& engine,
                                     const std::string& account_id,
                                     int64_t initial_balance) {
  return ExecuteAndWait(
      engine, {OperationKind::kOpen, account_id, "", initial_balance});
}

absl::StatusOr<OperationResult> Deposit(AccountEngine& engine,
                                        const std::string& account_id,
                                        int64_t amount) {
  return ExecuteAndWait(engine,
                        {OperationKind::kDeposit, account_id, "", amount});
}

absl::StatusOr<OperationResult> Withdraw(AccountEngine& engine,
                                         const std::string& account_id,
                                         int64_t amount) {
  return ExecuteAndWait(engine,
                        {OperationKind::kWithdraw, account_id, "", amount});
}

absl::StatusOr<OperationResult> Transfer(AccountEngine& engine,
                                         const std::string& from_account_id,
                                         const std::string& to_account_id,
                                         int64_t amount) {
  return ExecuteAndWait(engine, {OperationKind::kTransfer, from_account_id,
                                 to_account_id, amount});
}

absl::StatusOr<OperationResult> GetBalance(AccountEngine& engine,
                                           const std::string& account_id) {
  return ExecuteAndWait(engine,
                        {OperationKind::kGetBalance, account_id, "", 0});
}

int64_t BalanceOf(AccountEngine& engine, const std::string& account_id) {
  absl::StatusOr<OperationResult> result = GetBalance(engine, account_id);
  EXPECT_TRUE(result.ok()) << account_id << ": " << result.status();
  return result.ok() ? result->balance : -1;
}

Operation ChangeWithId(OperationKind kind, const std::string& account_id,
                       int64_t amount, const std::string& request_id,
                       const std::string& to_account_id) {
  Operation operation{kind, account_id, to_account_id, amount};
  operation.request_id = request_id;
  return operation;
}

}  // namespace bank::testing
