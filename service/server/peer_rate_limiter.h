// PeerRateLimiter: a token bucket per client address, for OpenAccount.
//
// Why: the account table is bounded (--accounts_max), so one client opening
// accounts as fast as it can would fill it for everyone, for good. Each
// client address (the peer's IP, without the port, so reconnecting does not
// buy a fresh bucket) gets `burst` tokens, refilled at `rps` per second;
// an OpenAccount with no token answers RESOURCE_EXHAUSTED. This slows one
// address down (filling the default 1,000,000 accounts takes about 17
// minutes at the default 1000/s instead of about 25 s); it does not stop
// many addresses, which is what authorization is for (see docs/SERVER.md).
//
// The table is bounded: at kPeersMax addresses, buckets that have refilled
// completely (their peer is idle) are dropped; if none has, the newcomer
// shares one overflow bucket with every other address that finds the table
// full, so a flood of addresses cannot grow memory.
//
// Thread safety: TryAcquire may be called from any number of threads.

#ifndef BANK_SERVICE_SERVER_PEER_RATE_LIMITER_H_
#define BANK_SERVICE_SERVER_PEER_RATE_LIMITER_H_

#include <cstddef>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace bank {

inline constexpr double kOpenAccountRpsPerPeerDefault = 1000;
inline constexpr int kOpenAccountBurstPerPeerDefault = 10'000;
inline constexpr double kPeerRpsMax = 1'000'000;
inline constexpr int kPeerBurstMax = 1'000'000;

struct PeerRate {
  double rps = kOpenAccountRpsPerPeerDefault;  // 0: no limit.
  int burst = kOpenAccountBurstPerPeerDefault;
};

// ValidatePeerRate answers kInvalidArgument naming the flag
// (--open_account_rps_per_peer, --open_account_burst_per_peer) out of range.
absl::Status ValidatePeerRate(const PeerRate& rate);

// PeerAddress answers the address part of a gRPC peer string:
// "ipv4:127.0.0.1:5000" -> "ipv4:127.0.0.1", "ipv6:[::1]:5000" ->
// "ipv6:[::1]"; anything else unchanged.
absl::string_view PeerAddress(absl::string_view peer);

class PeerRateLimiter {
 public:
  static constexpr size_t kPeersMax = 4096;

  explicit PeerRateLimiter(PeerRate rate);

  // TryAcquire takes one token from the bucket of `peer` (a gRPC peer
  // string; see PeerAddress) at time `now`; answers whether it had one.
  // Always true when the limit is off (rps 0).
  bool TryAcquire(absl::string_view peer, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);

  const PeerRate& rate() const { return rate_; }

  size_t peer_count() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time refilled;
  };
  void Refill(Bucket& bucket, absl::Time now) const;
  void DropIdle(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const PeerRate rate_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  Bucket overflow_ ABSL_GUARDED_BY(mu_);
  bool overflow_used_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_PEER_RATE_LIMITER_H_
