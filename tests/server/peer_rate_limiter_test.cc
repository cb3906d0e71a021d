// Goal: PeerRateLimiter gives each client address its own token bucket
// (ports do not count), refills it at the configured rate, keeps its table
// bounded, and is off at rate 0.
// Method: drive it with explicit times; no clock, no sleeps.

#include "service/server/peer_rate_limiter.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace bank {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'000'000);

TEST(PeerRateLimiterTest, BurstThenRefillAtTheRate) {
  PeerRateLimiter limiter(PeerRate{2, 3});
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limiter.TryAcquire("ipv4:10.0.0.1:1000", kStart)) << i;
  }
  EXPECT_FALSE(limiter.TryAcquire("ipv4:10.0.0.1:1000", kStart));
  // Another port of the same address shares the bucket.
  EXPECT_FALSE(limiter.TryAcquire("ipv4:10.0.0.1:2000", kStart));
  // Another address has its own.
  EXPECT_TRUE(limiter.TryAcquire("ipv4:10.0.0.2:1000", kStart));
  // Half a second at 2/s refills one token.
  const absl::Time later = kStart + absl::Milliseconds(500);
  EXPECT_TRUE(limiter.TryAcquire("ipv4:10.0.0.1:1000", later));
  EXPECT_FALSE(limiter.TryAcquire("ipv4:10.0.0.1:1000", later));
}

TEST(PeerRateLimiterTest, ZeroRateIsOff) {
  PeerRateLimiter limiter(PeerRate{0, 1});
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(limiter.TryAcquire("ipv4:10.0.0.1:1", kStart));
  }
  EXPECT_EQ(limiter.peer_count(), 0u);
}

TEST(PeerRateLimiterTest, TableStaysBounded) {
  PeerRateLimiter limiter(PeerRate{1, 1});
  const size_t addresses = PeerRateLimiter::kPeersMax + 100;
  for (size_t i = 0; i < addresses; ++i) {
    limiter.TryAcquire(absl::StrCat("ipv6:[::", i, "]:1"), kStart);
  }
  EXPECT_LE(limiter.peer_count(), PeerRateLimiter::kPeersMax);
  // Addresses past the bound share one overflow bucket, already spent.
  EXPECT_FALSE(limiter.TryAcquire("ipv6:[::ffff]:1", kStart));
  // Once buckets have refilled (their peers idle), they are dropped and
  // newcomers get buckets of their own again.
  EXPECT_TRUE(
      limiter.TryAcquire("ipv6:[::fffe]:1", kStart + absl::Seconds(10)));
}

TEST(PeerAddressTest, DropsThePort) {
  EXPECT_EQ(PeerAddress("ipv4:127.0.0.1:5000"), "ipv4:127.0.0.1");
  EXPECT_EQ(PeerAddress("ipv6:[::1]:5000"), "ipv6:[::1]");
  EXPECT_EQ(PeerAddress("unix:/tmp/s"), "unix:/tmp/s");
}

TEST(ValidatePeerRateTest, ChecksRanges) {
  EXPECT_TRUE(ValidatePeerRate(PeerRate{}).ok());
  EXPECT_FALSE(ValidatePeerRate(PeerRate{-1, 1}).ok());
  EXPECT_FALSE(ValidatePeerRate(PeerRate{1, 0}).ok());
  EXPECT_FALSE(ValidatePeerRate(PeerRate{kPeerRpsMax * 2, 1}).ok());
}

}  // namespace
}  // namespace bank
