// Goal: --target accepts one server, a gRPC URI, or several replicas, and
// says clearly what is wrong with a bad list.

#include "loadgen/control.h"

#include "gtest/gtest.h"

namespace bank::loadgen {
namespace {

TEST(ChannelTargetTest, OneTargetOrAUriIsUsedAsIs) {
  EXPECT_EQ(*ChannelTarget("127.0.0.1:50051"), "127.0.0.1:50051");
  EXPECT_EQ(*ChannelTarget("dns:///bank:50051"), "dns:///bank:50051");
}

TEST(ChannelTargetTest, SeveralReplicasBecomeOneIpv4Target) {
  absl::StatusOr<std::string> target =
      ChannelTarget("127.0.0.1:50051,localhost:50052");
  ASSERT_TRUE(target.ok()) << target.status();
  EXPECT_EQ(*target, "ipv4:127.0.0.1:50051,127.0.0.1:50052");
}

TEST(ChannelTargetTest, BadItemsAreInvalid) {
  for (const char* bad : {"127.0.0.1:1,", "127.0.0.1:1,:2", "127.0.0.1:1,x",
                          "127.0.0.1:1,no-such-host.invalid:2"}) {
    EXPECT_EQ(ChannelTarget(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

}  // namespace
}  // namespace bank::loadgen
