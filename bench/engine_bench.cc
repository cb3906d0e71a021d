// engine_bench: the account engines in-process, without gRPC.
//
// Goal: measure what each way of sharing the balances costs per operation
// (mutex: a lock per account; queue: one owner thread fed by a bounded
// queue; unsafe: no synchronisation at all, the floor) as producer threads
// are added, on one hot account (the article's case) and spread over
// kSpreadAccounts accounts, for a deposit/withdraw mix and a transfer mix.
//
// Method: every producer thread submits kOpsPerBatch operations
// asynchronously through AccountEngine::Execute; each completion only counts
// itself down. An iteration submits one batch and then waits for the
// previous one (polling, yielding its CPU, not sleeping: see Batch), so
// each producer keeps at most two batches in flight (the
// queue engine's consumer never starves between batches) and the last
// iteration waits for both: every operation counted in items_per_second has
// completed inside the timed region. An operation the queue engine rejects
// as RESOURCE_EXHAUSTED (queue full) is submitted again after a yield and
// counted in the `rejected` counter. Time is wall-clock (UseRealTime), so
// items_per_second is the whole process's throughput.
//
// Each benchmark runs kRepetitionsDefault times (unless
// --benchmark_repetitions says otherwise) and reports its median, mean,
// stddev, min and max: the spread says how far a rerun may land.
//
// Abseil's deadlock detection is off unless --absl_deadlock_detection is
// given (see main). Run: engine_bench --benchmark_min_time=0.2 (bench/e2e.sh
// runs it and writes docs/BENCHMARKS.md).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "bench/engine_stats.h"
#include "benchmark/benchmark.h"
#include "service/engine/check.h"
#include "service/engine/engine_factory.h"

namespace bank {
namespace {

// kOpsPerBatch: operations one producer submits before it waits; large
// enough that the wait is amortised, small enough that 16 producers with two
// batches each (32 Ki operations) stay below the queue's default depth.
constexpr int64_t kOpsPerBatch = 1024;
constexpr int64_t kSpreadAccounts = 10'000;
// kInitialBalance: so large that no withdrawal or transfer in any run can
// fail for lack of funds (each moves 1 unit).
constexpr int64_t kInitialBalance = int64_t{1} << 50;
constexpr int kThreadCountMax = 16;
// Repetitions per benchmark unless --benchmark_repetitions is given: enough
// for a median and a min-max spread (issue 10).
constexpr int kRepetitionsDefault = 5;

enum class Mix { kDepositWithdraw, kTransfer };

// Batch: the completions of one submitted batch. Completions may run on any
// thread (the queue engine's consumer), hence the atomics. The producer
// polls for the last completion, yielding its CPU between polls, instead of
// sleeping on it: on this 2-CPU virtual machine a sleeping thread's wake-up
// went through a halted vCPU at random, and the one-producer figures moved
// by 2x from run to run (docs/BENCHMARKS.md). A completion touches the
// batch only in its one fetch_sub, so once pending_ reads 0 the producer
// may Reset it.
class Batch {
 public:
  // Reset prepares for `count` completions; no completion may be pending.
  void Reset(int64_t count) {
    rejected_.store(0, std::memory_order_relaxed);
    pending_.store(count, std::memory_order_release);
  }

  // Complete records one completion.
  void Complete(const absl::Status& status) {
    if (status.code() == absl::StatusCode::kResourceExhausted) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
    } else {
      BANK_CHECK(status.ok());
    }
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }

  // Wait returns once every completion ran; answers how many were rejected.
  int64_t Wait() {
    while (pending_.load(std::memory_order_acquire) != 0) {
      std::this_thread::yield();
    }
    return rejected_.load(std::memory_order_relaxed);
  }

 private:
  std::atomic<int64_t> pending_{0};
  std::atomic<int64_t> rejected_{0};
};

// Producer: one benchmark thread's operation stream (a xorshift generator,
// cheap enough not to show in the profile) and its two batches.
class Producer {
 public:
  Producer(AccountEngine& engine, const std::vector<std::string>& ids, Mix mix,
           uint64_t seed)
      : engine_(engine), ids_(ids), mix_(mix), random_state_(seed | 1) {}

  // Submit sends `count` operations whose completions land in `batch`.
  void Submit(Batch& batch, int64_t count) {
    batch.Reset(count);
    for (int64_t i = 0; i < count; ++i) {
      engine_.Execute(NextOperation(), [&batch](auto result) {
        batch.Complete(result.status());
      });
    }
  }

  // Finish waits for `batch`, resubmitting rejected operations until all
  // applied.
  void Finish(Batch& batch) {
    for (int64_t rejected = batch.Wait(); rejected > 0;
         rejected = batch.Wait()) {
      rejected_count_ += rejected;
      std::this_thread::yield();
      Submit(batch, rejected);
    }
  }

  int64_t rejected_count() const { return rejected_count_; }

 private:
  uint64_t NextRandom() {
    random_state_ ^= random_state_ << 13;
    random_state_ ^= random_state_ >> 7;
    random_state_ ^= random_state_ << 17;
    return random_state_;
  }

  Operation NextOperation();

  AccountEngine& engine_;
  const std::vector<std::string>& ids_;
  const Mix mix_;
  uint64_t random_state_;
  int64_t sequence_ = 0;
  int64_t rejected_count_ = 0;
};

Operation Producer::NextOperation() {
  const size_t count = ids_.size();
  const bool even = (sequence_++ & 1) == 0;
  Operation operation;
  operation.amount = 1;
  if (mix_ == Mix::kDepositWithdraw) {
    // Deposits and withdrawals alternate, so balances stay near initial.
    operation.kind = even ? OperationKind::kDeposit : OperationKind::kWithdraw;
    operation.account_id = ids_[count == 1 ? 0 : NextRandom() % count];
    return operation;
  }
  operation.kind = OperationKind::kTransfer;
  if (count == 2) {  // The hot pair: back and forth between the two.
    operation.account_id = ids_[even ? 0 : 1];
    operation.to_account_id = ids_[even ? 1 : 0];
    return operation;
  }
  const uint64_t from = NextRandom() % count;
  const uint64_t offset = 1 + NextRandom() % (count - 1);
  operation.account_id = ids_[from];
  operation.to_account_id = ids_[(from + offset) % count];
  return operation;
}

// Shared: what thread 0 sets up before the loop and tears down after it.
// Google Benchmark starts no thread's loop before all reached it and lets
// none leave before all finished, which orders these accesses.
struct Shared {
  std::unique_ptr<AccountEngine> engine;
  std::vector<std::string> ids;
  EngineStatsSnapshot stats_before;
};
Shared* shared = nullptr;

void SetUp(const std::string& engine_name, int64_t account_count) {
  EngineOptions options;
  options.engine = engine_name;
  auto engine = CreateEngine(options);
  BANK_CHECK(engine.ok());
  shared = new Shared;
  shared->engine = std::move(engine).value();
  for (int64_t i = 0; i < account_count; ++i) {
    shared->ids.push_back(absl::StrCat("a", i));  // Short: no heap string.
    Operation open;
    open.kind = OperationKind::kOpen;
    open.account_id = shared->ids.back();
    open.amount = kInitialBalance;
    BANK_CHECK(ExecuteAndWait(*shared->engine, std::move(open)).ok());
  }
  shared->stats_before = ReadEngineStats(*shared->engine);
}

void TearDown(benchmark::State& state) {
  const EngineStatsSnapshot after = ReadEngineStats(*shared->engine);
  if (after.available) {
    const int64_t batches = after.batches - shared->stats_before.batches;
    const int64_t drained = after.operations - shared->stats_before.operations;
    state.counters["batch_mean"] =
        batches > 0 ? static_cast<double>(drained) / batches : 0.0;
  }
  shared->engine->Shutdown();
  delete shared;
  shared = nullptr;
}

void BM_Engine(benchmark::State& state, const std::string& engine_name,
               int64_t account_count, Mix mix) {
  if (state.thread_index() == 0) SetUp(engine_name, account_count);
  // `shared` may be read only once the loop has started (see Shared).
  std::optional<Producer> producer;
  Batch batches[2];
  int64_t iteration = 0;
  for (auto _ : state) {
    if (!producer.has_value()) {
      producer.emplace(*shared->engine, shared->ids, mix,
                       0x9E3779B97F4A7C15ULL * (state.thread_index() + 1));
    }
    Batch& current = batches[iteration & 1];
    producer->Submit(current, kOpsPerBatch);
    if (iteration > 0) producer->Finish(batches[(iteration - 1) & 1]);
    if (++iteration == static_cast<int64_t>(state.max_iterations)) {
      producer->Finish(current);
    }
  }
  state.SetItemsProcessed(state.iterations() * kOpsPerBatch);
  state.counters["rejected"] =
      producer.has_value() ? static_cast<double>(producer->rejected_count())
                           : 0.0;
  if (state.thread_index() == 0) TearDown(state);
}

void RegisterAll() {
  for (const char* engine : {"mutex", "queue", "unsafe"}) {
    for (const bool hot : {true, false}) {
      for (const Mix mix : {Mix::kDepositWithdraw, Mix::kTransfer}) {
        const bool transfer = mix == Mix::kTransfer;
        // One hot account; a transfer needs a hot pair.
        const int64_t accounts = hot ? (transfer ? 2 : 1) : kSpreadAccounts;
        const std::string name =
            absl::StrCat("engine:", engine, "/accounts:", hot ? "hot" : "10000",
                         "/mix:", transfer ? "transfer" : "deposit_withdraw");
        auto* benchmark = benchmark::RegisterBenchmark(
            name.c_str(), [=](benchmark::State& state) {
              BM_Engine(state, engine, accounts, mix);
            });
        for (int threads = 1; threads <= kThreadCountMax; threads *= 2) {
          benchmark->Threads(threads);
        }
        benchmark->UseRealTime()->MeasureProcessCPUTime();
        // The spread, next to Google Benchmark's mean, median and stddev:
        // one number hides how much a shared machine moves the figure.
        benchmark
            ->ComputeStatistics("min",
                                [](const std::vector<double>& values) {
                                  return *std::min_element(values.begin(),
                                                           values.end());
                                })
            ->ComputeStatistics("max", [](const std::vector<double>& values) {
              return *std::max_element(values.begin(), values.end());
            });
      }
    }
  }
}

// TakeDeadlockDetectionFlag removes --absl_deadlock_detection from argv and
// answers whether it was there.
bool TakeDeadlockDetectionFlag(int& argc, char** argv) {
  bool found = false;
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--absl_deadlock_detection") {
      found = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  return found;
}

// HasFlag answers whether argv holds `name` (as --name=value).
bool HasFlag(int argc, char** argv, std::string_view name) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg.size() > name.size() && arg.substr(0, name.size()) == name &&
        arg[name.size()] == '=') {
      return true;
    }
  }
  return false;
}

}  // namespace
}  // namespace bank

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, so absl::Mutex checks every Lock()
  // against a global lock-order graph (one process-wide spinlock) unless
  // told not to. That is a debugging aid, not part of any engine's cost, so
  // it is off here unless --absl_deadlock_detection asks for it (bench/e2e.sh
  // measures the difference).
  if (!bank::TakeDeadlockDetectionFlag(argc, argv)) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  // Every figure is a median over kRepetitionsDefault runs with its min and
  // max unless the command line says otherwise.
  std::vector<char*> args(argv, argv + argc);
  std::string repetitions =
      absl::StrCat("--benchmark_repetitions=", bank::kRepetitionsDefault);
  std::string aggregates = "--benchmark_report_aggregates_only=true";
  if (!bank::HasFlag(argc, argv, "--benchmark_repetitions")) {
    args.push_back(repetitions.data());
    args.push_back(aggregates.data());
  }
  argc = static_cast<int>(args.size());
  argv = args.data();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  bank::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
