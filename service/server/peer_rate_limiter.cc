#include "service/server/peer_rate_limiter.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace bank {

absl::Status ValidatePeerRate(const PeerRate& rate) {
  // !(x >= 0) also rejects NaN.
  if (!(rate.rps >= 0) || rate.rps > kPeerRpsMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("--open_account_rps_per_peer=", rate.rps,
                     " is out of range [0 (off), ", kPeerRpsMax, "]"));
  }
  if (rate.burst < 1 || rate.burst > kPeerBurstMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("--open_account_burst_per_peer=", rate.burst,
                     " is out of range [1, ", kPeerBurstMax, "]"));
  }
  return absl::OkStatus();
}

absl::string_view PeerAddress(absl::string_view peer) {
  if (!absl::StartsWith(peer, "ipv4:") && !absl::StartsWith(peer, "ipv6:")) {
    return peer;
  }
  const size_t colon = peer.rfind(':');
  return colon <= 4 ? peer : peer.substr(0, colon);
}

PeerRateLimiter::PeerRateLimiter(PeerRate rate) : rate_(rate) {}

void PeerRateLimiter::Refill(Bucket& bucket, absl::Time now) const {
  if (now > bucket.refilled) {
    bucket.tokens = std::min<double>(
        rate_.burst,
        bucket.tokens +
            absl::ToDoubleSeconds(now - bucket.refilled) * rate_.rps);
    bucket.refilled = now;
  }
}

void PeerRateLimiter::DropIdle(absl::Time now) {
  mu_.AssertHeld();
  std::vector<std::string> idle;
  for (auto& [address, bucket] : buckets_) {
    Refill(bucket, now);
    if (bucket.tokens >= rate_.burst) idle.push_back(address);
  }
  for (const std::string& address : idle) buckets_.erase(address);
}

bool PeerRateLimiter::TryAcquire(absl::string_view peer, absl::Time now) {
  if (rate_.rps == 0) return true;
  const absl::string_view address = PeerAddress(peer);
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(address);
  Bucket* bucket = nullptr;
  if (it != buckets_.end()) {
    bucket = &it->second;
  } else {
    if (buckets_.size() >= kPeersMax) DropIdle(now);
    if (buckets_.size() < kPeersMax) {
      bucket = &buckets_
                    .emplace(std::string(address),
                             Bucket{static_cast<double>(rate_.burst), now})
                    .first->second;
    } else {
      if (!overflow_used_) {
        overflow_ = Bucket{static_cast<double>(rate_.burst), now};
        overflow_used_ = true;
      }
      bucket = &overflow_;
    }
  }
  Refill(*bucket, now);
  if (bucket->tokens < 1) return false;
  bucket->tokens -= 1;
  return true;
}

size_t PeerRateLimiter::peer_count() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

}  // namespace bank
