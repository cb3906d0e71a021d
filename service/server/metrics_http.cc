#include "service/server/metrics_http.h"

#include <civetweb.h>

#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/server/prometheus_text.h"

namespace bank {
namespace {

constexpr char kMetricsPath[] = "/metrics";

// HostOf answers the HOST of HOST:PORT (brackets of an IPv6 host kept).
std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

bool IsGetOrHead(const mg_request_info* request) {
  return std::strcmp(request->request_method, "GET") == 0 ||
         std::strcmp(request->request_method, "HEAD") == 0;
}

// InitCivetwebOnce: civetweb wants mg_init_library before the first
// mg_start; 0 = no optional features (no TLS, Lua, WebSocket...).
void InitCivetwebOnce() {
  static const bool initialised = [] {
    mg_init_library(0);
    return true;
  }();
  (void)initialised;
}

}  // namespace

absl::Status CheckMetricsListen(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--metrics_listen \"", address,
                     "\" is not HOST:PORT (e.g. 127.0.0.1:9464)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& listen_address, Render render) {
  absl::Status valid = CheckMetricsListen(listen_address);
  if (!valid.ok()) return valid;
  InitCivetwebOnce();
  std::unique_ptr<MetricsHttpServer> server(
      new MetricsHttpServer(std::move(render)));
  const std::string threads = absl::StrCat(kHttpThreadCount);
  const std::string timeout = absl::StrCat(kHttpRequestTimeoutMs);
  const char* options[] = {"listening_ports",
                           listen_address.c_str(),
                           "num_threads",
                           threads.c_str(),
                           "request_timeout_ms",
                           timeout.c_str(),
                           nullptr};
  char error_text[256] = "";
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  mg_init_data init;
  init.callbacks = &callbacks;
  init.user_data = server.get();
  init.configuration_options = options;
  mg_error_data error;
  unsigned error_code = 0;
  error.code = &error_code;
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);
  server->context_ = mg_start2(&init, &error);
  if (server->context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve metrics on ", listen_address, ": ", error_text));
  }
  mg_set_request_handler(server->context_, kMetricsPath, &HandleMetrics,
                         server.get());
  mg_set_request_handler(server->context_, "/", &HandleOther, server.get());
  mg_server_port ports[1];
  if (mg_get_server_ports(server->context_, 1, ports) != 1) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", listen_address,
                     ": civetweb reports no listening port"));
  }
  server->address_ = absl::StrCat(HostOf(listen_address), ":", ports[0].port);
  return server;
}

MetricsHttpServer::~MetricsHttpServer() {
  if (context_ != nullptr) mg_stop(context_);
}

int MetricsHttpServer::HandleMetrics(mg_connection* connection, void* self) {
  const mg_request_info* request = mg_get_request_info(connection);
  // Exactly /metrics: civetweb also routes /metrics/anything here.
  if (std::strcmp(request->local_uri, kMetricsPath) != 0) {
    return HandleOther(connection, self);
  }
  if (!IsGetOrHead(request)) {
    mg_send_http_error(connection, 405, "only GET and HEAD\n");
    return 405;
  }
  const std::string body = static_cast<MetricsHttpServer*>(self)->render_();
  mg_send_http_ok(connection, kPrometheusTextContentType,
                  static_cast<long long>(body.size()));
  if (std::strcmp(request->request_method, "GET") == 0) {
    mg_write(connection, body.data(), body.size());
  }
  return 200;
}

int MetricsHttpServer::HandleOther(mg_connection* connection, void*) {
  mg_send_http_error(connection, 404, "only /metrics is served here\n");
  return 404;
}

}  // namespace bank
