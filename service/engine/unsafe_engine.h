// UnsafeEngine: the article's SimpleAccount, kept to DEMONSTRATE the lost
// update. Never a default; the server warns loudly when it is chosen.
//
// Each change reads the balance, spends the configured latency, then writes
// the balance it computed from what it read. Two concurrent withdrawals of 30
// and 10 from 80 can therefore both read 80 and leave 50 or 70, not 40. A
// transfer is two such legs, not atomic either.
//
// It is wrong on purpose but free of undefined behaviour: the read and the
// write are SEPARATE std::atomic<int64_t> load and store, a logical race and
// not a C++ data race, so the test suite stays clean under ThreadSanitizer.
// The account table itself is properly locked, and accounts are never
// removed, so the per-account atomics have stable addresses.
//
// Validation is the same as every engine's: insufficient funds and overflow
// are reported from the balance that was read (possibly stale already).
//
// Batches: a non-atomic batch applies its operations one by one, each as
// Execute() would. An atomic batch reads every balance it needs, checks all
// its operations against those reads (PlanAtomicBatch), then writes the
// results back: a lone atomic batch is all-or-nothing, but concurrent
// operations can be lost under it exactly like under a transfer, and an
// account opened by someone else between the read and the write stays
// theirs (the batch's open of it is silently lost).
//
// Thread safety: all public methods may be called from any thread at once
// (that is the point); completions run on the caller's thread.

#ifndef BANK_SERVICE_ENGINE_UNSAFE_ENGINE_H_
#define BANK_SERVICE_ENGINE_UNSAFE_ENGINE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "service/engine/account_engine.h"
#include "service/engine/account_table.h"
#include "service/engine/engine_factory.h"
#include "service/engine/latency_injector.h"
#include "service/engine/operation_gate.h"

namespace bank {

class UnsafeEngine final : public AccountEngine {
 public:
  // Uses options.accounts_max and options.latency. `hook` (tests) runs
  // between the read and the write of every deposit, withdrawal and
  // transfer, so a test can make two operations both read before either
  // writes, deterministically.
  explicit UnsafeEngine(const EngineOptions& options,
                        OperationHook hook = nullptr);
  ~UnsafeEngine() override;

  UnsafeEngine(const UnsafeEngine&) = delete;
  UnsafeEngine& operator=(const UnsafeEngine&) = delete;

  void Execute(Operation operation, OperationDone done) override;
  void ExecuteBatch(std::vector<Operation> operations, bool atomic,
                    BatchDone done) override;
  void Shutdown() override;
  const char* Name() const override { return "unsafe"; }
  EngineStats Stats() const override;

 private:
  using Balance = std::atomic<int64_t>;

  // The handlers AccountTable::Apply calls.
  friend class AccountTable<Balance>;
  std::unique_ptr<Balance> NewAccount(int64_t balance);
  absl::StatusOr<OperationResult> GetBalance(const Operation& operation,
                                             Balance& balance);
  absl::StatusOr<OperationResult> ChangeBalance(const Operation& operation,
                                                Balance& balance);
  absl::StatusOr<OperationResult> Transfer(const Operation& operation,
                                           Balance& from, Balance& to);

  BatchResults ApplyAtomic(const std::vector<Operation>& operations);

  // Constant after construction.
  const LatencyInjector latency_;

  OperationGate gate_;
  AccountTable<Balance> balances_;
};

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_UNSAFE_ENGINE_H_
