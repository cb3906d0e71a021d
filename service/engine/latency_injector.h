// LatencyInjector: the article's add_some_latency, plus a test hook.
//
// Every engine calls Spend() once per operation, at the point where the
// article's account waits: inside the critical section (MutexEngine: under
// the account lock(s); QueueEngine: inside the consumer; UnsafeEngine:
// between the read and the write of a balance). Spend() is called for every
// operation that reached its account(s): deposit, withdraw, transfer and
// get_balance. Opening an account, a rejected operation and an unknown
// account spend nothing.
//
// The hook (tests only) runs right after the sleep, on the same thread and at
// the same point. Tests use it to force an interleaving deterministically
// (a rendezvous via absl::Barrier or absl::Notification) instead of hoping a
// sleep is long enough.
//
// Thread safety: Spend() and Sample() may be called from any number of
// threads at once. Each thread draws from its own absl::BitGen, so there is
// no shared random state; the hook must itself be safe to call concurrently.

#ifndef BANK_SERVICE_ENGINE_LATENCY_INJECTOR_H_
#define BANK_SERVICE_ENGINE_LATENCY_INJECTOR_H_

#include <functional>

#include "absl/time/time.h"
#include "service/engine/engine_factory.h"
#include "service/engine/operation.h"

namespace bank {

// OperationHook is called with the operation being applied, at the latency
// point. Tests only; an empty hook costs one branch.
using OperationHook = std::function<void(const Operation&)>;

class LatencyInjector {
 public:
  // `range` must satisfy min <= max (ParseLatencyRange guarantees it).
  explicit LatencyInjector(LatencyRange range, OperationHook hook = nullptr);

  // Spend sleeps for Sample() when latency is enabled, then runs the hook if
  // one was given. A no-op when both are off.
  void Spend(const Operation& operation) const {
    if (!range_.enabled() && !hook_) return;
    SpendSlow(operation);
  }

  // Sample answers a duration drawn uniformly from [min, max] (min itself
  // when the range is fixed, zero when latency is off).
  absl::Duration Sample() const;

 private:
  void SpendSlow(const Operation& operation) const;

  // Constant after construction.
  const LatencyRange range_;
  const OperationHook hook_;
};

}  // namespace bank

#endif  // BANK_SERVICE_ENGINE_LATENCY_INJECTOR_H_
