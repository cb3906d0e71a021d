// FUZZ_CHECK(condition): the fuzzers' assertion. It stays on in every build
// (unlike assert under NDEBUG) and aborts with the condition and its place,
// which libFuzzer reports as a crash and saves the input for.

#ifndef BANK_FUZZ_FUZZ_CHECK_H_
#define BANK_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                         \
  do {                                                                \
    if (!(condition)) {                                               \
      std::fprintf(stderr, "check failed: %s at %s:%d\n", #condition, \
                   __FILE__, __LINE__);                               \
      std::abort();                                                   \
    }                                                                 \
  } while (false)

#endif  // BANK_FUZZ_FUZZ_CHECK_H_
