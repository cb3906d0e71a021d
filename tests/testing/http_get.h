// HttpGet: a minimal HTTP/1.0 GET for tests that scrape bank_server's
// /metrics. Connects to an IPv4 HOST:PORT, sends one request with
// "Connection: close", and reads until the server closes the connection;
// every step is bounded by the deadline, so a silent server fails the test
// instead of hanging it.
//
// Thread safety: a free function with no shared state.

#ifndef BANK_TESTS_TESTING_HTTP_GET_H_
#define BANK_TESTS_TESTING_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace bank::testing {

struct HttpResponse {
  int status = 0;       // e.g. 200.
  std::string headers;  // Everything before the blank line, status line too.
  std::string body;
};

// HttpGet answers the response to "GET `path`" from `address` (e.g.
// "127.0.0.1:9464"), or kUnavailable / kDeadlineExceeded naming what failed.
absl::StatusOr<HttpResponse> HttpGet(const std::string& address,
                                     const std::string& path,
                                     absl::Duration timeout);

}  // namespace bank::testing

#endif  // BANK_TESTS_TESTING_HTTP_GET_H_
