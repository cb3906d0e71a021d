// The engines engine_idempotency_test runs the shared idempotency suite
// over: every in-memory engine configuration, wrapped in an IdempotentEngine
// as CreateEngine does.

#include <memory>
#include <utility>

#include "service/engine/idempotent_engine.h"
#include "tests/engine/engine_test_util.h"

namespace bank::testing {

std::vector<IdempotencyConfig> IdempotencyEngineConfigs() {
  std::vector<IdempotencyConfig> configs;
  for (const EngineConfig& engine : AllEngineConfigs()) {
    IdempotencyConfig config;
    config.label = engine.label;
    config.make = [engine](size_t accounts_max,
                           const RequestIdOptions& options) {
      auto wrapped = std::make_unique<IdempotentEngine>(
          MakeEngine(engine, accounts_max), options);
      IdempotentEngine* raw = wrapped.get();
      return IdempotentEngineUnderTest{std::move(wrapped),
                                       [raw] { return raw->RememberedIds(); }};
    };
    configs.push_back(std::move(config));
  }
  return configs;
}

}  // namespace bank::testing
