// RpcLoop: the plainest closed-loop gRPC callback client, shared by the
// benchmark-only clients (bench_open_accounts, bench_closed_loop).
//
// It keeps `in_flight` unary RPCs going: each slot issues its next RPC from
// the previous one's completion, until the numbered sequence reaches
// `total` or the clock passes `stop_at`. No pacing, no histogram, no
// bookkeeping beyond two counters: it is the yardstick that bank_loadgen is
// compared with, and the fastest way to open a million accounts.
//
// Thread safety: Run() is called once, from one thread; completions run on
// gRPC's callback threads and touch only atomics and their own slot.

#ifndef BANK_BENCH_RPC_LOOP_H_
#define BANK_BENCH_RPC_LOOP_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace bank {

struct RpcLoopResult {
  int64_t completed = 0;  // RPCs answered (OK or not).
  int64_t failed = 0;     // Of those, answered with a non-OK status.
};

template <typename Request, typename Response>
class RpcLoop {
 public:
  // Fill writes RPC number `sequence` into `request`.
  using Fill = std::function<void(int64_t sequence, Request* request)>;
  // Call starts one RPC (e.g. stub->async()->Deposit) on connection
  // `channel_index`; gRPC calls `done` once with its status.
  using Call =
      std::function<void(size_t channel_index, grpc::ClientContext* context,
                         const Request* request, Response* response,
                         std::function<void(grpc::Status)> done)>;

  // RpcLoop: `total` < 0 means no count limit; `stop_at` InfiniteFuture()
  // means no time limit. `channel_count` spreads slots over connections.
  RpcLoop(int in_flight, size_t channel_count, int64_t total,
          absl::Time stop_at, Fill fill, Call call)
      : slots_(in_flight),
        channel_count_(channel_count),
        total_(total),
        stop_at_(stop_at),
        fill_(std::move(fill)),
        call_(std::move(call)) {}

  // Run starts every slot and returns once all RPCs have completed.
  RpcLoopResult Run() {
    {
      absl::MutexLock lock(&mutex_);
      active_slots_ = static_cast<int>(slots_.size());
    }
    for (size_t i = 0; i < slots_.size(); ++i) Issue(i);
    absl::MutexLock lock(&mutex_);
    mutex_.Await(absl::Condition(
        +[](int* active) { return *active == 0; }, &active_slots_));
    return {completed_.load(), failed_.load()};
  }

 private:
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    Request request;
    Response response;
  };

  // Issue starts slot `index`'s next RPC, or retires the slot when the
  // count or the time is up.
  void Issue(size_t index) {
    const int64_t sequence = next_sequence_.fetch_add(1);
    if ((total_ >= 0 && sequence >= total_) || absl::Now() >= stop_at_) {
      Retire();
      return;
    }
    Slot& slot = slots_[index];
    slot.context = std::make_unique<grpc::ClientContext>();
    fill_(sequence, &slot.request);
    call_(index % channel_count_, slot.context.get(), &slot.request,
          &slot.response, [this, index](grpc::Status status) {
            completed_.fetch_add(1);
            if (status.ok()) {
              Issue(index);
              return;
            }
            // A failed RPC retires its slot: these tools expect no errors,
            // and this keeps them from spinning against a dead server.
            failed_.fetch_add(1);
            Retire();
          });
  }

  void Retire() {
    absl::MutexLock lock(&mutex_);
    --active_slots_;
  }

  std::vector<Slot> slots_;
  const size_t channel_count_;
  const int64_t total_;
  const absl::Time stop_at_;
  const Fill fill_;
  const Call call_;
  std::atomic<int64_t> next_sequence_{0};
  std::atomic<int64_t> completed_{0};
  std::atomic<int64_t> failed_{0};
  absl::Mutex mutex_;
  int active_slots_ ABSL_GUARDED_BY(mutex_) = 0;
};

// MakeChannels opens `count` channels to `target`, each on its own TCP
// connection (a local subchannel pool stops gRPC from sharing one).
inline std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(
    const std::string& target, size_t count) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (size_t i = 0; i < count; ++i) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channels.push_back(grpc::CreateCustomChannel(
        target, grpc::InsecureChannelCredentials(), arguments));
  }
  return channels;
}

}  // namespace bank

#endif  // BANK_BENCH_RPC_LOOP_H_
