// The engines engine_contract_test runs its suite over: every engine of
// service/engine, and the model.

#include "tests/engine/engine_test_util.h"

namespace bank::testing {

std::vector<EngineConfig> ContractEngineConfigs() { return AllEngineConfigs(); }

}  // namespace bank::testing
