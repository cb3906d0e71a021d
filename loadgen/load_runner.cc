#include "loadgen/load_runner.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "bank/v1/bank.grpc.pb.h"
#include "google/protobuf/arena.h"
#include "grpcpp/client_context.h"
#include "loadgen/control.h"
#include "loadgen/random.h"
#include "service/engine/check.h"

namespace bank::loadgen {
namespace {

using bank::v1::BankService;
constexpr std::memory_order kRelaxed = std::memory_order_relaxed;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

absl::Duration CpuTime(const timeval& tv) {
  return absl::Seconds(tv.tv_sec) + absl::Microseconds(tv.tv_usec);
}

// BatchEntry: one operation of a batch, as ChooseOperation drew it.
struct BatchEntry {
  RpcKind kind = RpcKind::kBalance;
  size_t account = 0;
  size_t to_account = 0;
  int64_t amount = 0;
};

// Slot: one RPC in flight at a time. Only the thread running the slot's
// current step touches it; gRPC's completion orders one step before the next.
struct Slot {
  size_t index = 0;
  BankService::Stub* stub = nullptr;
  std::optional<SplitMix64> rng;
  std::optional<grpc::ClientContext> context;
  RpcKind kind = RpcKind::kBalance;
  size_t account = 0;
  size_t to_account = 0;
  int64_t amount = 0;
  bool measured = false;
  int64_t start_ns = 0;  // When the operation's first attempt started.
  // Request ids: the operation's id ("" for reads or --request_ids=false),
  // the retries it needed so far, the last attempt's status, and a counter
  // that makes the slot's ids unique.
  std::string request_id;
  uint64_t retries = 0;
  grpc::StatusCode last_code = grpc::StatusCode::OK;
  uint64_t sequence = 0;
  bank::v1::WithdrawRequest withdraw_request;
  bank::v1::WithdrawResponse withdraw_response;
  bank::v1::DepositRequest deposit_request;
  bank::v1::DepositResponse deposit_response;
  bank::v1::TransferRequest transfer_request;
  bank::v1::TransferResponse transfer_response;
  bank::v1::GetBalanceRequest balance_request;
  bank::v1::GetBalanceResponse balance_response;
  std::vector<BatchEntry> batch;  // --batch only.
  // --batch only: each attempt's request and response live on the slot's
  // arena, reset before the attempt is built, so a batch of N operations
  // costs a bump of a pointer per message instead of N heap allocations
  // and frees (malloc and free were a third of the load generator's CPU at
  // --batch=8190, enough to make it, not the server, the bottleneck).
  // batch_block is the arena's first block, which Reset keeps.
  std::unique_ptr<char[]> batch_block;
  std::optional<google::protobuf::Arena> batch_arena;
  bank::v1::ApplyBatchRequest* batch_request = nullptr;
  bank::v1::ApplyBatchResponse* batch_response = nullptr;
};

// Arena sizes for a batch slot: kBatchArenaBytesPerOperation covers one
// operation's request and result messages (Arena::SpaceUsed measured 253
// bytes per operation at --batch=8190, the default mix, with and without
// request ids, whose text is a heap string either way); the first block is
// capped, so one slot holds at most 4 MiB between RPCs, and later blocks
// grow up to kBatchArenaMaxBlockBytes.
constexpr size_t kBatchArenaBytesPerOperation = 320;
constexpr size_t kBatchArenaFirstBlockMax = size_t{4} << 20;
constexpr size_t kBatchArenaMaxBlockBytes = size_t{1} << 20;

void InitBatchArena(Slot& slot, size_t batch) {
  const size_t first_block =
      std::min(batch * kBatchArenaBytesPerOperation, kBatchArenaFirstBlockMax);
  slot.batch_block.reset(new char[first_block]);
  google::protobuf::ArenaOptions options;
  options.initial_block = slot.batch_block.get();
  options.initial_block_size = first_block;
  options.max_block_size = kBatchArenaMaxBlockBytes;
  slot.batch_arena.emplace(options);
}

// HasChange: the slot's RPC changes something (a batch: any of its
// operations), so it carries request ids.
bool HasChange(const Slot& slot) {
  if (slot.batch.empty()) return slot.kind != RpcKind::kBalance;
  for (const BatchEntry& entry : slot.batch) {
    if (entry.kind != RpcKind::kBalance) return true;
  }
  return false;
}

// BatchOperationsIndeterminate: an answered batch some of whose operations
// have an unknown outcome (e.g. UNAVAILABLE from an engine shutting down);
// resending it with the same ids settles them.
bool BatchOperationsIndeterminate(const Slot& slot) {
  for (const bank::v1::BatchResult& result : slot.batch_response->results()) {
    const int code = result.status().code();
    if (code < 0 || code >= static_cast<int>(kStatusCodeCount) ||
        ClassifyStatus(static_cast<grpc::StatusCode>(code)) ==
            Outcome::kIndeterminate) {
      return true;
    }
  }
  return false;
}

// Trampoline state: if gRPC ever runs a completion inline, inside the call
// that started the RPC, the next start is queued here and run by the
// outermost start on this thread, so the stack never grows with the load.
thread_local bool tls_starting = false;
thread_local std::vector<Slot*>* tls_deferred = nullptr;

class LoadRunner {
 public:
  LoadRunner(const LoadgenConfig& config,
             const std::vector<std::shared_ptr<grpc::Channel>>& channels,
             Ledger& ledger, RunStats& stats);

  // Run starts every slot, waits for all of them to stop and answers the
  // timing; it redraws the progress line meanwhile if asked.
  LoadTiming Run(bool show_progress);

 private:
  void Release(Slot& slot);
  void Start(Slot& slot);
  void StartOne(Slot& slot);
  bool Admit(Slot& slot, int64_t now_ns);
  void ChooseOperation(Slot& slot);
  void SendRpc(Slot& slot);
  void SendBatch(Slot& slot);
  void RecordBatch(Slot& slot, const grpc::Status& status, int64_t latency_ns);
  void RecordEntry(const BatchEntry& entry, Outcome outcome,
                   const bank::v1::BatchResult* result);
  void OnDone(Slot& slot, const grpc::Status& status);
  void OnDoneCounted(Slot& slot, const grpc::Status& status);
  void Conclude(Slot& slot, const grpc::Status& status, int64_t end_ns);
  void NoteAnswer(grpc::StatusCode code, int64_t end_ns);
  bool ShouldRetry(const Slot& slot, grpc::StatusCode code,
                   int64_t end_ns) const;
  void ScheduleRetry(Slot& slot, int64_t now_ns);
  void Resend(Slot& slot);
  void RetryLoop();
  void RecordOutcome(Slot& slot, grpc::StatusCode code);
  void StopSlot();
  bool RunOver(int64_t now_ns) const;
  void PacerLoop();
  bool PacerHasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(pacer_mu_) {
    return !ready_.empty() || finished_;
  }
  void PrintProgress(int64_t now_ns, uint64_t& last_done, int64_t& last_ns);

  // Constant after construction.
  const LoadgenConfig& config_;
  Ledger& ledger_;
  RunStats& stats_;
  std::vector<std::unique_ptr<BankService::Stub>> stubs_;
  std::unique_ptr<Slot[]> slots_;
  // Set by Run before any slot starts.
  int64_t run_start_ns_ = 0;
  int64_t measure_start_ns_ = 0;
  int64_t measure_end_ns_ = 0;  // Duration mode only.
  std::chrono::nanoseconds deadline_{0};

  std::atomic<int64_t> issued_all_{0};
  std::atomic<int64_t> issued_measured_{0};
  std::atomic<uint64_t> done_measured_{0};
  std::atomic<uint64_t> done_warmup_{0};
  std::atomic<uint64_t> operations_measured_{0};
  std::atomic<uint64_t> operations_warmup_{0};
  std::atomic<uint64_t> errors_measured_{0};
  std::atomic<int64_t> active_slots_{0};
  std::atomic<int64_t> last_done_ns_{0};
  absl::Notification all_stopped_;

  // Request ids and retries. id_prefix_ is random per run, so that ids never
  // repeat across runs against one server.
  std::string id_prefix_;
  int64_t retry_for_ns_ = 0;
  int64_t lost_after_ns_ = 0;
  std::atomic<int64_t> last_answer_ns_{0};
  std::atomic<bool> stopped_{false};
  std::atomic<int> callbacks_running_{0};  // Inside OnDone now.
  std::atomic<uint64_t> retried_operations_{0};
  std::atomic<uint64_t> retries_max_{0};
  absl::Mutex stop_mu_;
  std::string stopped_reason_ ABSL_GUARDED_BY(stop_mu_);
  absl::Mutex retry_mu_;
  std::multimap<int64_t, Slot*> retry_due_ ABSL_GUARDED_BY(retry_mu_);
  bool retry_stop_ ABSL_GUARDED_BY(retry_mu_) = false;
  absl::BitGen jitter_ ABSL_GUARDED_BY(retry_mu_);
  uint64_t last_operations_ = 0;  // PrintProgress only (the main thread).

  absl::Mutex pacer_mu_;
  std::deque<Slot*> ready_ ABSL_GUARDED_BY(pacer_mu_);
  bool finished_ ABSL_GUARDED_BY(pacer_mu_) = false;
};

LoadRunner::LoadRunner(
    const LoadgenConfig& config,
    const std::vector<std::shared_ptr<grpc::Channel>>& channels, Ledger& ledger,
    RunStats& stats)
    : config_(config),
      ledger_(ledger),
      stats_(stats),
      slots_(new Slot[static_cast<size_t>(config.concurrency)]) {
  BANK_CHECK(!channels.empty());
  BANK_CHECK(ledger.account_count() == config.account_ids.size());
  for (const std::shared_ptr<grpc::Channel>& channel : channels) {
    stubs_.push_back(BankService::NewStub(channel));
  }
  for (size_t i = 0; i < static_cast<size_t>(config.concurrency); ++i) {
    Slot& slot = slots_[i];
    slot.index = i;
    slot.stub = stubs_[i % stubs_.size()].get();
    // Distinct, reproducible streams: SplitMix64 decorrelates nearby seeds.
    slot.rng.emplace(config.seed * 0x100000001b3ULL + i);
    if (config.batch > 0) {
      InitBatchArena(slot, static_cast<size_t>(config.batch));
    }
  }
  deadline_ = absl::ToChronoNanoseconds(config.deadline);
  absl::BitGen bits;
  id_prefix_ = absl::StrFormat("lg%016x-", absl::Uniform<uint64_t>(bits));
  retry_for_ns_ = absl::ToInt64Nanoseconds(config.retry_for);
  lost_after_ns_ =
      config.request_ids
          ? std::max(retry_for_ns_, absl::ToInt64Nanoseconds(kServerLostAfter))
          : absl::ToInt64Nanoseconds(kServerLostAfter);
}

LoadTiming LoadRunner::Run(bool show_progress) {
  rusage usage_before{};
  getrusage(RUSAGE_SELF, &usage_before);
  run_start_ns_ = NowNs();
  measure_start_ns_ = run_start_ns_ + absl::ToInt64Nanoseconds(config_.warmup);
  measure_end_ns_ =
      measure_start_ns_ + absl::ToInt64Nanoseconds(config_.duration);
  active_slots_.store(config_.concurrency);
  last_answer_ns_.store(run_start_ns_);
  std::optional<std::thread> pacer;
  if (config_.rps > 0) pacer.emplace([this] { PacerLoop(); });
  std::thread retrier([this] { RetryLoop(); });
  for (int64_t i = 0; i < config_.concurrency; ++i) Release(slots_[i]);
  uint64_t last_done = 0;
  int64_t last_ns = run_start_ns_;
  std::vector<ThroughputSample> timeline;
  uint64_t sample_rpcs = 0;
  uint64_t sample_operations = 0;
  int64_t sample_ns = run_start_ns_;
  while (!all_stopped_.WaitForNotificationWithTimeout(kProgressInterval)) {
    const int64_t now_ns = NowNs();
    if (show_progress) PrintProgress(now_ns, last_done, last_ns);
    // Warmup and measured RPCs alike: the timeline shows the whole run.
    const uint64_t rpcs =
        done_measured_.load(kRelaxed) + done_warmup_.load(kRelaxed);
    const uint64_t operations =
        operations_measured_.load(kRelaxed) + operations_warmup_.load(kRelaxed);
    const double seconds = static_cast<double>(now_ns - sample_ns) / 1e9;
    if (seconds > 0 && timeline.size() < kTimelineSamplesMax) {
      timeline.push_back(
          {static_cast<double>(now_ns - run_start_ns_) / 1e9,
           static_cast<double>(rpcs - sample_rpcs) / seconds,
           static_cast<double>(operations - sample_operations) / seconds});
    }
    sample_rpcs = rpcs;
    sample_operations = operations;
    sample_ns = now_ns;
  }
  if (show_progress) std::fputs("\n", stderr);
  if (pacer) pacer->join();
  {
    absl::MutexLock lock(&retry_mu_);
    retry_stop_ = true;
  }
  retrier.join();
  // Every slot has concluded, so no RPC is outstanding and no callback can
  // begin; wait for those still returning (a few instructions each).
  while (callbacks_running_.load(std::memory_order_acquire) != 0) {
    std::this_thread::yield();
  }
  rusage usage_after{};
  getrusage(RUSAGE_SELF, &usage_after);
  LoadTiming timing;
  timing.timeline = std::move(timeline);
  const int64_t end_ns = last_done_ns_.load();
  timing.measured = absl::Nanoseconds(std::max<int64_t>(
      0, end_ns - std::max(measure_start_ns_, run_start_ns_)));
  timing.measured_rpcs = done_measured_.load();
  timing.warmup_rpcs = done_warmup_.load();
  timing.measured_operations = operations_measured_.load();
  timing.warmup_operations = operations_warmup_.load();
  timing.cpu_user =
      CpuTime(usage_after.ru_utime) - CpuTime(usage_before.ru_utime);
  timing.cpu_system =
      CpuTime(usage_after.ru_stime) - CpuTime(usage_before.ru_stime);
  timing.retried_operations = retried_operations_.load();
  timing.retries_max = retries_max_.load();
  absl::MutexLock lock(&stop_mu_);
  timing.stopped_reason = stopped_reason_;
  return timing;
}

void LoadRunner::Release(Slot& slot) {
  if (config_.rps == 0) {
    Start(slot);
    return;
  }
  absl::MutexLock lock(&pacer_mu_);
  ready_.push_back(&slot);
}

void LoadRunner::Start(Slot& slot) {
  if (tls_starting) {
    tls_deferred->push_back(&slot);
    return;
  }
  std::vector<Slot*> deferred;
  tls_starting = true;
  tls_deferred = &deferred;
  StartOne(slot);
  while (!deferred.empty()) {
    Slot* next = deferred.back();
    deferred.pop_back();
    StartOne(*next);
  }
  tls_deferred = nullptr;
  tls_starting = false;
}

void LoadRunner::StartOne(Slot& slot) {
  const int64_t now_ns = NowNs();
  if (!Admit(slot, now_ns)) {
    StopSlot();
    return;
  }
  if (config_.batch > 0) {
    slot.batch.resize(static_cast<size_t>(config_.batch));
    for (BatchEntry& entry : slot.batch) {
      ChooseOperation(slot);
      entry = {slot.kind, slot.account, slot.to_account, slot.amount};
    }
  } else {
    ChooseOperation(slot);
  }
  slot.context.reset();
  slot.context.emplace();
  slot.context->set_deadline(std::chrono::system_clock::now() + deadline_);
  PrepareContext(*slot.context);
  slot.start_ns = now_ns;
  slot.retries = 0;
  slot.request_id.clear();
  // A batch's id is the stem of its changes' ids (stem.0, stem.1, ...): a
  // retry resends the same batch with the same ids, so every change applies
  // at most once and the retry answers the first outcomes.
  if (config_.request_ids && HasChange(slot)) {
    slot.request_id =
        absl::StrCat(id_prefix_, slot.index, "-", slot.sequence++);
  }
  SendRpc(slot);
}

void LoadRunner::Resend(Slot& slot) {
  slot.context.reset();
  slot.context.emplace();
  slot.context->set_deadline(std::chrono::system_clock::now() + deadline_);
  SendRpc(slot);
}

bool LoadRunner::RunOver(int64_t now_ns) const {
  if (issued_all_.load(kRelaxed) >= kRpcsMax) return true;
  if (StopRequested()) return true;
  if (config_.total > 0)
    return issued_measured_.load(kRelaxed) >= config_.total;
  return now_ns >= measure_end_ns_;
}

bool LoadRunner::Admit(Slot& slot, int64_t now_ns) {
  if (stopped_.load(kRelaxed)) return false;
  if (issued_all_.fetch_add(1, kRelaxed) >= kRpcsMax) return false;
  if (StopRequested()) return false;
  slot.measured = now_ns >= measure_start_ns_;
  if (!slot.measured) return true;
  if (config_.total > 0) {
    return issued_measured_.fetch_add(1, kRelaxed) < config_.total;
  }
  return now_ns < measure_end_ns_;
}

void LoadRunner::ChooseOperation(Slot& slot) {
  SplitMix64& rng = *slot.rng;
  int64_t pick = static_cast<int64_t>(
      rng.Uniform(static_cast<uint64_t>(config_.mix.Total())));
  size_t kind = 0;
  while (pick >= config_.mix.weights[kind]) pick -= config_.mix.weights[kind++];
  slot.kind = static_cast<RpcKind>(kind);
  const uint64_t accounts = config_.account_ids.size();
  slot.account = rng.Uniform(accounts);
  slot.amount = config_.amount.min +
                static_cast<int64_t>(rng.Uniform(static_cast<uint64_t>(
                    config_.amount.max - config_.amount.min + 1)));
  if (slot.kind == RpcKind::kTransfer) {
    // Any account but the source, uniformly.
    slot.to_account = rng.Uniform(accounts - 1);
    if (slot.to_account >= slot.account) ++slot.to_account;
  }
}

void LoadRunner::SendBatch(Slot& slot) {
  // The last attempt's messages are done with (OnDone read its response
  // before this attempt began): free them all at once.
  slot.batch_arena->Reset();
  slot.batch_request =
      google::protobuf::Arena::CreateMessage<bank::v1::ApplyBatchRequest>(
          &*slot.batch_arena);
  slot.batch_response =
      google::protobuf::Arena::CreateMessage<bank::v1::ApplyBatchResponse>(
          &*slot.batch_arena);
  slot.batch_request->mutable_operations()->Reserve(
      static_cast<int>(slot.batch.size()));
  for (size_t i = 0; i < slot.batch.size(); ++i) {
    const BatchEntry& entry = slot.batch[i];
    bank::v1::BatchOperation* operation = slot.batch_request->add_operations();
    const std::string& id = config_.account_ids[entry.account];
    // The change's own request id, derived from the batch's: the same on
    // every attempt.
    std::string request_id = slot.request_id.empty()
                                 ? std::string()
                                 : absl::StrCat(slot.request_id, ".", i);
    switch (entry.kind) {
      case RpcKind::kWithdraw:
        operation->mutable_withdraw()->set_account_id(id);
        operation->mutable_withdraw()->set_amount(entry.amount);
        operation->mutable_withdraw()->set_request_id(std::move(request_id));
        break;
      case RpcKind::kDeposit:
        operation->mutable_deposit()->set_account_id(id);
        operation->mutable_deposit()->set_amount(entry.amount);
        operation->mutable_deposit()->set_request_id(std::move(request_id));
        break;
      case RpcKind::kTransfer:
        operation->mutable_transfer()->set_from_account_id(id);
        operation->mutable_transfer()->set_to_account_id(
            config_.account_ids[entry.to_account]);
        operation->mutable_transfer()->set_amount(entry.amount);
        operation->mutable_transfer()->set_request_id(std::move(request_id));
        break;
      case RpcKind::kBalance:
        operation->mutable_get_balance()->set_account_id(id);
        break;
    }
  }
  slot.stub->async()->ApplyBatch(
      &*slot.context, slot.batch_request, slot.batch_response,
      [this, &slot](grpc::Status status) { OnDone(slot, status); });
}

void LoadRunner::SendRpc(Slot& slot) {
  if (config_.batch > 0) {
    SendBatch(slot);
    return;
  }
  const std::string& id = config_.account_ids[slot.account];
  auto done = [this, &slot](grpc::Status status) { OnDone(slot, status); };
  grpc::ClientContext* context = &*slot.context;
  BankService::Stub::async_interface* async = slot.stub->async();
  switch (slot.kind) {
    case RpcKind::kWithdraw:
      slot.withdraw_request.set_account_id(id);
      slot.withdraw_request.set_amount(slot.amount);
      slot.withdraw_request.set_request_id(slot.request_id);
      async->Withdraw(context, &slot.withdraw_request, &slot.withdraw_response,
                      std::move(done));
      break;
    case RpcKind::kDeposit:
      slot.deposit_request.set_account_id(id);
      slot.deposit_request.set_amount(slot.amount);
      slot.deposit_request.set_request_id(slot.request_id);
      async->Deposit(context, &slot.deposit_request, &slot.deposit_response,
                     std::move(done));
      break;
    case RpcKind::kTransfer:
      slot.transfer_request.set_from_account_id(id);
      slot.transfer_request.set_to_account_id(
          config_.account_ids[slot.to_account]);
      slot.transfer_request.set_amount(slot.amount);
      slot.transfer_request.set_request_id(slot.request_id);
      async->Transfer(context, &slot.transfer_request, &slot.transfer_response,
                      std::move(done));
      break;
    case RpcKind::kBalance:
      slot.balance_request.set_account_id(id);
      async->GetBalance(context, &slot.balance_request, &slot.balance_response,
                        std::move(done));
      break;
  }
}

void LoadRunner::OnDone(Slot& slot, const grpc::Status& status) {
  // Counted until this returns: the last slot's callback notifies
  // all_stopped_ and then still runs here, and Run() must not return (and
  // the runner be destroyed) under it.
  callbacks_running_.fetch_add(1, std::memory_order_acq_rel);
  OnDoneCounted(slot, status);
  callbacks_running_.fetch_sub(1, std::memory_order_acq_rel);
}

void LoadRunner::OnDoneCounted(Slot& slot, const grpc::Status& status) {
  const int64_t end_ns = NowNs();
  const grpc::StatusCode code = status.error_code();
  NoteAnswer(code, end_ns);
  slot.last_code = code;
  // An answered batch may still hold operations of unknown outcome.
  const grpc::StatusCode retry_code = code == grpc::StatusCode::OK &&
                                              config_.batch > 0 &&
                                              BatchOperationsIndeterminate(slot)
                                          ? grpc::StatusCode::UNAVAILABLE
                                          : code;
  if (ShouldRetry(slot, retry_code, end_ns)) {
    ScheduleRetry(slot, end_ns);
    return;
  }
  Conclude(slot, status, end_ns);
}

void LoadRunner::NoteAnswer(grpc::StatusCode code, int64_t end_ns) {
  if (ClassifyStatus(code) != Outcome::kIndeterminate) {
    last_answer_ns_.store(end_ns, kRelaxed);
    return;
  }
  const int64_t silent_ns = end_ns - last_answer_ns_.load(kRelaxed);
  if (silent_ns < lost_after_ns_ || stopped_.exchange(true)) return;
  absl::MutexLock lock(&stop_mu_);
  stopped_reason_ = absl::StrFormat(
      "no definitive answer from the server for %.1f s (last status %s); "
      "stopped sending",
      static_cast<double>(silent_ns) / 1e9,
      absl::StatusCodeToString(static_cast<absl::StatusCode>(code)));
  std::fprintf(stderr, "\nbank_loadgen: %s\n", stopped_reason_.c_str());
}

bool LoadRunner::ShouldRetry(const Slot& slot, grpc::StatusCode code,
                             int64_t end_ns) const {
  // A change is retried with its request id; a read is safe to repeat as
  // it is (retried too, so that a read cut by a crash is not counted as an
  // indeterminate outcome).
  const bool retryable =
      !slot.request_id.empty() || (config_.request_ids && config_.batch == 0 &&
                                   slot.kind == RpcKind::kBalance);
  return retryable && ClassifyStatus(code) == Outcome::kIndeterminate &&
         !stopped_.load(kRelaxed) && end_ns - slot.start_ns < retry_for_ns_;
}

void LoadRunner::ScheduleRetry(Slot& slot, int64_t now_ns) {
  // A batch is retried whole: each of its operations counts as retried.
  if (slot.retries++ == 0) {
    retried_operations_.fetch_add(slot.batch.empty() ? 1 : slot.batch.size(),
                                  kRelaxed);
  }
  uint64_t highest = retries_max_.load(kRelaxed);
  while (slot.retries > highest &&
         !retries_max_.compare_exchange_weak(highest, slot.retries, kRelaxed)) {
  }
  const int shift = static_cast<int>(std::min<uint64_t>(slot.retries - 1, 20));
  const absl::Duration cap =
      std::min(kRetryBackoffInitial * (int64_t{1} << shift), kRetryBackoffMax);
  absl::MutexLock lock(&retry_mu_);
  const double jitter = absl::Uniform(jitter_, 0.5, 1.0);
  retry_due_.emplace(now_ns + absl::ToInt64Nanoseconds(cap * jitter), &slot);
}

void LoadRunner::RetryLoop() {
  // Polls at most every kRetryPoll while retries wait, so a newly scheduled
  // earlier retry is never late by more than that.
  constexpr absl::Duration kRetryPoll = absl::Milliseconds(5);
  while (true) {
    std::vector<Slot*> due;
    {
      absl::MutexLock lock(&retry_mu_);
      if (retry_due_.empty()) {
        if (retry_stop_) return;
        retry_mu_.AwaitWithTimeout(absl::Condition(&retry_stop_), kRetryPoll);
        continue;
      }
      const int64_t now_ns = NowNs();
      while (!retry_due_.empty() && retry_due_.begin()->first <= now_ns) {
        due.push_back(retry_due_.begin()->second);
        retry_due_.erase(retry_due_.begin());
      }
      if (due.empty()) {
        retry_mu_.AwaitWithTimeout(
            absl::Condition(&retry_stop_),
            std::min(kRetryPoll,
                     absl::Nanoseconds(retry_due_.begin()->first - now_ns)));
        continue;
      }
    }
    for (Slot* slot : due) {
      if (stopped_.load(kRelaxed)) {
        Conclude(*slot, grpc::Status(slot->last_code, ""), NowNs());
      } else {
        Resend(*slot);
      }
    }
  }
}

void LoadRunner::Conclude(Slot& slot, const grpc::Status& status,
                          int64_t end_ns) {
  const grpc::StatusCode code = status.error_code();
  if (config_.batch > 0) {
    RecordBatch(slot, status, end_ns - slot.start_ns);
    (slot.measured ? operations_measured_ : operations_warmup_)
        .fetch_add(slot.batch.size(), kRelaxed);
  } else {
    RecordOutcome(slot, code);
    if (slot.measured) stats_.Record(slot.kind, code, end_ns - slot.start_ns);
    (slot.measured ? operations_measured_ : operations_warmup_)
        .fetch_add(1, kRelaxed);
  }
  if (slot.measured) {
    done_measured_.fetch_add(1, kRelaxed);
    if (code != grpc::StatusCode::OK) errors_measured_.fetch_add(1, kRelaxed);
  } else {
    done_warmup_.fetch_add(1, kRelaxed);
  }
  int64_t last = last_done_ns_.load(kRelaxed);
  while (end_ns > last &&
         !last_done_ns_.compare_exchange_weak(last, end_ns, kRelaxed)) {
  }
  Release(slot);
}

void LoadRunner::RecordOutcome(Slot& slot, grpc::StatusCode code) {
  const Outcome outcome = ClassifyStatus(code);
  const bool ok = outcome == Outcome::kApplied;
  switch (slot.kind) {
    case RpcKind::kWithdraw:
      ledger_.RecordWithdraw(slot.account, slot.amount, outcome);
      if (ok)
        ledger_.ObserveBalance(slot.account, slot.withdraw_response.balance());
      break;
    case RpcKind::kDeposit:
      ledger_.RecordDeposit(slot.account, slot.amount, outcome);
      if (ok)
        ledger_.ObserveBalance(slot.account, slot.deposit_response.balance());
      break;
    case RpcKind::kTransfer:
      ledger_.RecordTransfer(slot.account, slot.to_account, slot.amount,
                             outcome);
      if (ok) {
        ledger_.ObserveBalance(slot.account,
                               slot.transfer_response.from_balance());
        ledger_.ObserveBalance(slot.to_account,
                               slot.transfer_response.to_balance());
      }
      break;
    case RpcKind::kBalance:
      ledger_.RecordRead(outcome);
      if (ok)
        ledger_.ObserveBalance(slot.account, slot.balance_response.balance());
      break;
  }
}

void LoadRunner::RecordBatch(Slot& slot, const grpc::Status& status,
                             int64_t latency_ns) {
  const auto& results = slot.batch_response->results();
  // A reply without one result per operation is the server's bug: its
  // operations are indeterminate (UNKNOWN), never guessed.
  const bool answered =
      status.ok() && static_cast<size_t>(results.size()) == slot.batch.size();
  const int rpc_code = status.ok() ? static_cast<int>(grpc::StatusCode::UNKNOWN)
                                   : static_cast<int>(status.error_code());
  for (size_t i = 0; i < slot.batch.size(); ++i) {
    const bank::v1::BatchResult* result =
        answered ? &results[static_cast<int>(i)] : nullptr;
    const int code = answered ? result->status().code() : rpc_code;
    const Outcome outcome =
        code >= 0 && code < static_cast<int>(kStatusCodeCount)
            ? ClassifyStatus(static_cast<grpc::StatusCode>(code))
            : Outcome::kIndeterminate;
    RecordEntry(slot.batch[i], outcome, result);
    if (slot.measured) stats_.Record(slot.batch[i].kind, code, latency_ns);
  }
}

void LoadRunner::RecordEntry(const BatchEntry& entry, Outcome outcome,
                             const bank::v1::BatchResult* result) {
  const bool ok = outcome == Outcome::kApplied && result != nullptr;
  switch (entry.kind) {
    case RpcKind::kWithdraw:
      ledger_.RecordWithdraw(entry.account, entry.amount, outcome);
      if (ok)
        ledger_.ObserveBalance(entry.account, result->withdraw().balance());
      break;
    case RpcKind::kDeposit:
      ledger_.RecordDeposit(entry.account, entry.amount, outcome);
      if (ok)
        ledger_.ObserveBalance(entry.account, result->deposit().balance());
      break;
    case RpcKind::kTransfer:
      ledger_.RecordTransfer(entry.account, entry.to_account, entry.amount,
                             outcome);
      if (ok) {
        ledger_.ObserveBalance(entry.account,
                               result->transfer().from_balance());
        ledger_.ObserveBalance(entry.to_account,
                               result->transfer().to_balance());
      }
      break;
    case RpcKind::kBalance:
      ledger_.RecordRead(outcome);
      if (ok) {
        ledger_.ObserveBalance(entry.account, result->get_balance().balance());
      }
      break;
  }
}

void LoadRunner::StopSlot() {
  if (active_slots_.fetch_sub(1) != 1) return;
  {
    absl::MutexLock lock(&pacer_mu_);
    finished_ = true;
  }
  all_stopped_.Notify();
}

void LoadRunner::PacerLoop() {
  const absl::Duration period = absl::Seconds(1) / config_.rps;
  const absl::Time start = absl::Now();
  int64_t ticket = 0;
  while (true) {
    Slot* slot = nullptr;
    {
      absl::MutexLock lock(&pacer_mu_);
      pacer_mu_.Await(absl::Condition(this, &LoadRunner::PacerHasWork));
      if (ready_.empty()) return;  // finished_: every slot stopped.
      slot = ready_.front();
      ready_.pop_front();
    }
    if (!RunOver(NowNs())) {
      const absl::Time due = start + period * static_cast<double>(ticket++);
      const absl::Duration wait = due - absl::Now();
      if (wait > absl::ZeroDuration()) absl::SleepFor(wait);
    }
    Start(*slot);
  }
}

void LoadRunner::PrintProgress(int64_t now_ns, uint64_t& last_done,
                               int64_t& last_ns) {
  const uint64_t done = done_measured_.load(kRelaxed);
  const uint64_t operations = operations_measured_.load(kRelaxed);
  const double seconds =
      static_cast<double>(std::max<int64_t>(1, now_ns - last_ns)) / 1e9;
  const double rps = static_cast<double>(done - last_done) / seconds;
  const double ops =
      static_cast<double>(operations - last_operations_) / seconds;
  last_operations_ = operations;
  last_done = done;
  last_ns = now_ns;
  const double elapsed_s =
      static_cast<double>(now_ns - measure_start_ns_) / 1e9;
  if (elapsed_s < 0) {
    std::fprintf(stderr, "\r\033[Kwarmup %.1fs/%.1fs",
                 static_cast<double>(now_ns - run_start_ns_) / 1e9,
                 absl::ToDoubleSeconds(config_.warmup));
  } else if (config_.total > 0) {
    std::fprintf(
        stderr, "\r\033[K%llu/%lld rpcs  %.0f rps  %.0f ops/s  %llu errors",
        static_cast<unsigned long long>(done),
        static_cast<long long>(config_.total), rps, ops,
        static_cast<unsigned long long>(errors_measured_.load(kRelaxed)));
  } else {
    std::fprintf(
        stderr,
        "\r\033[K%.1fs/%.1fs  %llu rpcs  %.0f rps  %.0f ops/s  %llu errors",
        elapsed_s, absl::ToDoubleSeconds(config_.duration),
        static_cast<unsigned long long>(done), rps, ops,
        static_cast<unsigned long long>(errors_measured_.load(kRelaxed)));
  }
  std::fflush(stderr);
}

}  // namespace

LoadTiming RunLoad(const LoadgenConfig& config,
                   const std::vector<std::shared_ptr<grpc::Channel>>& channels,
                   Ledger& ledger, RunStats& stats, bool show_progress) {
  LoadRunner runner(config, channels, ledger, stats);
  return runner.Run(show_progress);
}

}  // namespace bank::loadgen
