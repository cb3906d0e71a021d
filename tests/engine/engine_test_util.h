// Helpers shared by the engine tests: the engine configurations every suite
// runs over, a trivial single-threaded ModelEngine that defines the right
// answers, and one-line wrappers around ExecuteAndWait.

#ifndef BANK_TESTS_ENGINE_ENGINE_TEST_UTIL_H_
#define BANK_TESTS_ENGINE_ENGINE_TEST_UTIL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "service/engine/account_engine.h"
#include "service/engine/engine_factory.h"
#include "service/engine/latency_injector.h"
#include "service/engine/request_id_table.h"

namespace bank::testing {

// A queue so small that every operation takes the ring's wrap-around path.
inline constexpr size_t kTinyQueueDepthMax = 1;

// EngineConfig names one way to build an engine under test.
struct EngineConfig {
  std::string label;   // Test-name suffix: "mutex", "queue_tiny", ...
  std::string engine;  // "mutex", "queue", "unsafe" or "model".
  size_t queue_depth_max = kQueueDepthMaxDefault;
  // Durable: the engine commits to an in-memory AccountStore (MemoryStore),
  // so every answer waits for a group commit as it would on disk.
  bool durable = false;
  // For engines outside service/engine (postgres): builds a fresh, empty
  // engine; MakeEngine calls it instead of choosing by `engine`.
  std::function<std::unique_ptr<AccountEngine>(size_t accounts_max)> make =
      nullptr;
};

std::ostream& operator<<(std::ostream& out, const EngineConfig& config);

// The real engines: mutex, queue, queue_tiny, unsafe, and the durable mutex
// and queue engines.
std::vector<EngineConfig> RealEngineConfigs();
// The engines that must never lose an update: mutex and queue, in memory
// and durable.
std::vector<EngineConfig> SafeEngineConfigs();
// RealEngineConfigs() plus the model, so the model obeys the contract too.
std::vector<EngineConfig> AllEngineConfigs();

// ContractEngineConfigs: the engines the contract suites
// (engine_contract_test.cc, engine_batch_test.cc) run over. Each binary that
// compiles the suite defines it: AllEngineConfigs() for engine_contract_test,
// the postgres engine for postgres_contract_test.
std::vector<EngineConfig> ContractEngineConfigs();
// SafeContractEngineConfigs: likewise, the engines that must never lose an
// update (SafeEngineConfigs() in the engine binaries).
std::vector<EngineConfig> SafeContractEngineConfigs();

// IdempotentEngineUnderTest: an engine that keeps the request-id contract
// of idempotent_engine.h, and how to count the ids it remembers now.
struct IdempotentEngineUnderTest {
  std::unique_ptr<AccountEngine> engine;
  std::function<size_t()> remembered_ids;
};

// IdempotencyConfig names one engine the shared idempotency suite
// (engine_idempotency_test.cc) runs over.
struct IdempotencyConfig {
  std::string label;
  // count_bounded: request_ids_max applies (the in-memory table); false
  // for engines that keep ids in a database, bounded by the ttl only.
  bool count_bounded = true;
  std::function<IdempotentEngineUnderTest(size_t accounts_max,
                                          const RequestIdOptions& options)>
      make;
};

// IdempotencyEngineConfigs: defined by each binary that compiles the suite:
// every in-memory engine wrapped in an IdempotentEngine for
// engine_idempotency_test, the postgres engine for postgres_idempotency_test.
std::vector<IdempotencyConfig> IdempotencyEngineConfigs();

// MakeEngine builds `config`'s engine with the given limits, latency and test
// hook (see latency_injector.h; the model ignores latency and hook).
std::unique_ptr<AccountEngine> MakeEngine(const EngineConfig& config,
                                          size_t accounts_max,
                                          LatencyRange latency = {},
                                          OperationHook hook = nullptr);

// ModelEngine: the obviously-correct reference. Single-threaded only: it has
// no locks at all, so it must never be shared between threads. It uses the
// shared helpers of operation.h, so its error messages are the engines'.
class ModelEngine final : public AccountEngine {
 public:
  explicit ModelEngine(size_t accounts_max) : accounts_max_(accounts_max) {}

  void Execute(Operation operation, OperationDone done) override;
  // An atomic batch copies every balance, applies in order and puts the
  // copy back on the first failure.
  void ExecuteBatch(std::vector<Operation> operations, bool atomic,
                    BatchDone done) override;
  void Shutdown() override { shut_down_ = true; }
  const char* Name() const override { return "model"; }

 private:
  absl::StatusOr<OperationResult> Apply(const Operation& operation);

  const size_t accounts_max_;
  bool shut_down_ = false;
  std::map<std::string, int64_t> balances_;
};

// One-line operations (ExecuteAndWait underneath).
absl::StatusOr<OperationResult> Open(AccountEngine& engine,
                                     const std::string& account_id,
                                     int64_t initial_balance);
absl::StatusOr<OperationResult> Deposit(AccountEngine& engine,
                                        const std::string& account_id,
                                        int64_t amount);
absl::StatusOr<OperationResult> Withdraw(AccountEngine& engine,
                                         const std::string& account_id,
                                         int64_t amount);
absl::StatusOr<OperationResult> Transfer(AccountEngine& engine,
                                         const std::string& from_account_id,
                                         const std::string& to_account_id,
                                         int64_t amount);
absl::StatusOr<OperationResult> GetBalance(AccountEngine& engine,
                                           const std::string& account_id);

// BalanceOf answers the account's balance, failing the test (and answering
// -1) when it cannot be read.
int64_t BalanceOf(AccountEngine& engine, const std::string& account_id);

// ChangeWithId: a change carrying a client request id ("" = none).
Operation ChangeWithId(OperationKind kind, const std::string& account_id,
                       int64_t amount, const std::string& request_id = "",
                       const std::string& to_account_id = "");

// BlockFirstDeposit is a test hook that parks the first deposit at the
// latency point (under the account lock; inside the queue consumer, which
// then parks too; between the unsafe read and write) until the test
// releases it.
struct BlockFirstDeposit {
  absl::Notification entered;
  absl::Notification release;
  std::atomic<bool> taken{false};

  OperationHook Hook() {
    return [this](const Operation& operation) {
      if (operation.kind != OperationKind::kDeposit) return;
      if (taken.exchange(true)) return;
      entered.Notify();
      release.WaitForNotification();
    };
  }
};

// ManualClock: the time a request-id table sees; only the test moves it
// (ttl tests without sleeping).
class ManualClock {
 public:
  absl::Time Now() const {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration by) {
    absl::MutexLock lock(&mu_);
    now_ += by;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::UnixEpoch() + absl::Hours(1);
};

}  // namespace bank::testing

#endif  // BANK_TESTS_ENGINE_ENGINE_TEST_UTIL_H_
