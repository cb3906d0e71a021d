// Goal: the --apply_latency grammar, engine selection by name, and the
// latency injector's draw all behave as engine_factory.h and
// latency_injector.h promise.
// Method: tables of accepted and rejected inputs; the injector's samples are
// checked against their range (no timing is measured).

#include "service/engine/engine_factory.h"

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/engine/latency_injector.h"
#include "service/engine/queue_engine.h"
#include "service/storage/memory_store.h"

namespace bank {
namespace {

using ::testing::HasSubstr;

constexpr int kSampleCount = 1'000;

struct LatencyCase {
  const char* text;
  absl::Duration min;
  absl::Duration max;
};

TEST(ParseLatencyRangeTest, AcceptsOffFixedAndRanges) {
  const LatencyCase cases[] = {
      {"", absl::ZeroDuration(), absl::ZeroDuration()},
      {"0", absl::ZeroDuration(), absl::ZeroDuration()},
      {"  0ms ", absl::ZeroDuration(), absl::ZeroDuration()},
      {"5ms", absl::Milliseconds(5), absl::Milliseconds(5)},
      {"250us", absl::Microseconds(250), absl::Microseconds(250)},
      {"0-100ms", absl::ZeroDuration(), absl::Milliseconds(100)},
      {"2ms-5ms", absl::Milliseconds(2), absl::Milliseconds(5)},
      {"2-5ms", absl::Milliseconds(2), absl::Milliseconds(5)},
      {"2ms-5", absl::Milliseconds(2), absl::Milliseconds(5)},
      {"1.5ms - 2ms", absl::Microseconds(1500), absl::Milliseconds(2)},
      {"500us-1s", absl::Microseconds(500), absl::Seconds(1)},
      {"10s", absl::Seconds(10), absl::Seconds(10)},
  };
  for (const LatencyCase& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<LatencyRange> range = ParseLatencyRange(c.text);
    ASSERT_TRUE(range.ok()) << range.status();
    EXPECT_EQ(range->min, c.min);
    EXPECT_EQ(range->max, c.max);
  }
  EXPECT_FALSE(ParseLatencyRange("0").value().enabled());
  EXPECT_TRUE(ParseLatencyRange("5ms").value().enabled());
}

TEST(ParseLatencyRangeTest, RejectsNonsense) {
  for (const char* text :
       {"5", "2-5", "fast", "ms", "-5ms", "5ms-", "-", "5ms-2ms", "inf",
        "1-2-3ms", "11s", "0-1h", "5 ms"}) {
    SCOPED_TRACE(text);
    absl::StatusOr<LatencyRange> range = ParseLatencyRange(text);
    EXPECT_EQ(range.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_THAT(ParseLatencyRange("5ms-2ms").status().message(),
              HasSubstr("minimum is larger than the maximum"));
  EXPECT_THAT(ParseLatencyRange("11s").status().message(), HasSubstr("10s"));
}

TEST(CreateEngineTest, BuildsEachEngineByName) {
  for (const char* name : {"mutex", "queue", "unsafe"}) {
    EngineOptions options;
    options.engine = name;
    absl::StatusOr<std::unique_ptr<AccountEngine>> engine =
        CreateEngine(options);
    ASSERT_TRUE(engine.ok()) << engine.status();
    EXPECT_EQ(std::string((*engine)->Name()), name);
  }
}

TEST(CreateEngineTest, RejectsBadOptions) {
  EngineOptions options;
  options.engine = "actor";
  absl::Status status = CreateEngine(options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("mutex, queue, unsafe"));

  options = EngineOptions{};
  options.queue_depth_max = 0;
  EXPECT_EQ(CreateEngine(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = EngineOptions{};
  options.accounts_max = 0;
  EXPECT_EQ(CreateEngine(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options = EngineOptions{};
  options.latency = {absl::Milliseconds(5), absl::Milliseconds(1)};
  EXPECT_EQ(CreateEngine(options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A data directory may hold more accounts than the limit a restart is given
// (--accounts_max lowered): start refuses with a status naming both, for
// every durable engine (the mutex engine used to abort, the queue engine to
// accept and then exceed its own limit). Found by store_recovery_fuzzer.
TEST(CreateEngineTest, RefusesMoreRecoveredAccountsThanTheLimit) {
  for (const char* name : {"mutex", "queue"}) {
    MemoryStore store;
    EngineOptions options;
    options.engine = name;
    options.store = &store;
    options.accounts_max = 2;
    options.recovered_balances = {{"a", 1}, {"b", 2}, {"c", 3}};
    absl::Status status = CreateEngine(options).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << name;
    EXPECT_THAT(status.message(), HasSubstr("3 accounts")) << name;
    EXPECT_THAT(status.message(), HasSubstr("limit of 2")) << name;

    options.accounts_max = 3;  // Exactly full is fine.
    EXPECT_TRUE(CreateEngine(options).ok()) << name;
  }
}

TEST(LatencyInjectorTest, SamplesStayInTheRange) {
  const LatencyRange range{absl::Microseconds(3), absl::Microseconds(9)};
  LatencyInjector injector(range);
  bool saw_above_min = false;
  for (int i = 0; i < kSampleCount; ++i) {
    const absl::Duration sample = injector.Sample();
    ASSERT_GE(sample, range.min);
    ASSERT_LE(sample, range.max);
    saw_above_min = saw_above_min || sample > range.min;
  }
  // A uniform draw over 6001 values that never leaves the minimum is broken.
  EXPECT_TRUE(saw_above_min);
}

TEST(LatencyInjectorTest, FixedAndOffRangesAreExact) {
  LatencyInjector fixed({absl::Microseconds(7), absl::Microseconds(7)});
  LatencyInjector off(LatencyRange{});
  for (int i = 0; i < kSampleCount; ++i) {
    ASSERT_EQ(fixed.Sample(), absl::Microseconds(7));
    ASSERT_EQ(off.Sample(), absl::ZeroDuration());
  }
}

TEST(LatencyInjectorTest, SpendRunsTheHookWithTheOperation) {
  int calls = 0;
  std::string seen;
  LatencyInjector injector(LatencyRange{}, [&](const Operation& operation) {
    ++calls;
    seen = operation.account_id;
  });
  injector.Spend({OperationKind::kDeposit, "main", "", 1});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, "main");
}

TEST(QueueEngineStatsTest, MeanBatchSize) {
  EXPECT_EQ(QueueEngineStats{}.mean_batch_size(), 0.0);
  EXPECT_EQ((QueueEngineStats{4, 10}.mean_batch_size()), 2.5);
}

}  // namespace
}  // namespace bank
