// MetricsHttpServer: serves one page, /metrics, over plain HTTP with
// civetweb (Debian's libcivetweb), for Prometheus to scrape.
//
// GET (or HEAD) /metrics answers 200 with what `render` returns, as
// Prometheus text (kPrometheusTextContentType); any other path answers 404
// and any other method 405. Nothing else is served: no files, no
// directory listing, no CGI. A small fixed pool of kHttpThreadCount threads
// answers scrapes, each request bounded by kHttpRequestTimeoutMs.
//
// Thread safety: `render` runs on civetweb's threads, possibly several at
// once, concurrently with everything else in the process; it must be
// thread-safe. Start and destruction from one thread.

#ifndef BANK_SERVICE_SERVER_METRICS_HTTP_H_
#define BANK_SERVICE_SERVER_METRICS_HTTP_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

struct mg_connection;
struct mg_context;

namespace bank {

// kHttpThreadCount: scrapes come every few seconds; two threads answer
// Prometheus and a person's curl at once.
inline constexpr int kHttpThreadCount = 2;
// kHttpRequestTimeoutMs: a client that sends nothing is dropped after this.
inline constexpr int kHttpRequestTimeoutMs = 10000;

// CheckMetricsListen answers kInvalidArgument naming --metrics_listen
// unless `address` is HOST:PORT with a port in [0, 65535].
absl::Status CheckMetricsListen(const std::string& address);

class MetricsHttpServer {
 public:
  using Render = std::function<std::string()>;

  // Start listens on `listen_address` (HOST:PORT; port 0 picks a free port)
  // and serves /metrics from `render` until destruction. Answers
  // kUnavailable naming the address if it cannot listen, kInvalidArgument
  // if the address has no port.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& listen_address, Render render);

  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  // The destructor stops listening and waits for requests being answered.
  ~MetricsHttpServer();

  // address is the bound HOST:PORT (with the port the kernel chose for 0).
  const std::string& address() const { return address_; }

 private:
  MetricsHttpServer(Render render) : render_(std::move(render)) {}
  static int HandleMetrics(mg_connection* connection, void* self);
  static int HandleOther(mg_connection* connection, void* self);

  const Render render_;
  mg_context* context_ = nullptr;
  std::string address_;
};

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_METRICS_HTTP_H_
