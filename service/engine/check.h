// BANK_CHECK: an assertion that stays on in release builds.
//
// Client input is validated into an absl::Status; a failed BANK_CHECK means a
// bug in this program (an invariant such as "money is conserved" broke), so
// the process prints where and stops rather than go on with corrupt balances.

#ifndef BANK_SERVICE_ENGINE_CHECK_H_
#define BANK_SERVICE_ENGINE_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define BANK_CHECK(condition)                                          \
  do {                                                                 \
    if (!(condition)) {                                                \
      std::fprintf(stderr, "%s:%d: BANK_CHECK failed: %s\n", __FILE__, \
                   __LINE__, #condition);                              \
      std::abort();                                                    \
    }                                                                  \
  } while (false)

#endif  // BANK_SERVICE_ENGINE_CHECK_H_
