// flag_fuzzer: arbitrary text through the flag parsers of bank_server
// (--accounts, --apply_latency, --listen) and bank_loadgen (--mix,
// --amount, --target and every other flag through MakeConfig). None may
// crash, hang or accept a value outside its documented range.
//
// Input format: the first byte modulo kParsers picks the parser; the rest
// is the flag's text.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "fuzz/fuzz_check.h"
#include "loadgen/config.h"
#include "service/engine/engine_factory.h"
#include "service/server/connection_listener.h"
#include "service/server/server_runner.h"

namespace {

constexpr int kParsers = 6;

void FuzzListen(const std::string& text) {
  if (!bank::ValidateListenAddress(text).ok()) return;
  const size_t colon = text.rfind(':');
  FUZZ_CHECK(colon != std::string::npos);
  uint32_t port = 0;
  FUZZ_CHECK(absl::SimpleAtoi(text.substr(colon + 1), &port));
  FUZZ_CHECK(port <= 65535);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int parser = data[0] % kParsers;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (parser) {
    case 0: {
      auto accounts = bank::ParseAccounts(text);
      if (accounts.ok()) {
        for (const auto& account : *accounts) {
          FUZZ_CHECK(!account.account_id.empty());
        }
      }
      break;
    }
    case 1: {
      auto latency = bank::ParseLatencyRange(text);
      if (latency.ok()) {
        FUZZ_CHECK(latency->min <= latency->max);
        FUZZ_CHECK(latency->min >= absl::ZeroDuration());
      }
      break;
    }
    case 2:
      FuzzListen(text);
      break;
    case 3: {
      auto mix = bank::loadgen::ParseMix(text);
      if (mix.ok()) FUZZ_CHECK(mix->Total() > 0);
      break;
    }
    case 4: {
      auto amount = bank::loadgen::ParseAmountRange(text);
      if (amount.ok()) {
        FUZZ_CHECK(1 <= amount->min && amount->min <= amount->max);
      }
      break;
    }
    default: {
      bank::loadgen::FlagValues flags;
      flags.target = text;
      flags.total = 1;
      (void)bank::loadgen::MakeConfig(flags);
      flags.target = "127.0.0.1:1";
      flags.mix = text;
      (void)bank::loadgen::MakeConfig(flags);
      break;
    }
  }
  return 0;
}
