// The engines the in-memory contract binaries (engine_contract_test,
// engine_batch_test) run their suites over: every engine of service/engine,
// and the model.

#include "tests/engine/engine_test_util.h"

namespace bank::testing {

std::vector<EngineConfig> ContractEngineConfigs() { return AllEngineConfigs(); }

std::vector<EngineConfig> SafeContractEngineConfigs() {
  return SafeEngineConfigs();
}

}  // namespace bank::testing
