#include "tests/testing/http_get.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace bank::testing {
namespace {

// Socket closes its descriptor on every path.
class Socket {
 public:
  Socket() : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {}
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

absl::Status Errno(const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// WaitFor polls `fd` for `events` until `deadline`.
absl::Status WaitFor(int fd, short events, absl::Time deadline) {
  while (true) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return absl::DeadlineExceededError("HTTP GET timed out");
    pollfd poll_fd{fd, events, 0};
    const int ready = poll(&poll_fd, 1, static_cast<int>(ms));
    if (ready > 0) return absl::OkStatus();
    if (ready < 0 && errno != EINTR) return Errno("poll");
  }
}

absl::StatusOr<sockaddr_in> ParseAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  sockaddr_in socket_address{};
  socket_address.sin_family = AF_INET;
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port <= 0 ||
      port > 65535 ||
      inet_pton(AF_INET, address.substr(0, colon).c_str(),
                &socket_address.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an IPv4 HOST:PORT: ", address));
  }
  socket_address.sin_port = htons(static_cast<uint16_t>(port));
  return socket_address;
}

absl::StatusOr<HttpResponse> ParseResponse(const std::string& raw) {
  HttpResponse response;
  const size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.size() < 12 ||
      !absl::SimpleAtoi(raw.substr(9, 3), &response.status)) {
    return absl::UnavailableError(
        absl::StrCat("not an HTTP response: \"", raw.substr(0, 64), "\""));
  }
  response.headers = raw.substr(0, end);
  response.body = raw.substr(end + 4);
  return response;
}

}  // namespace

absl::StatusOr<HttpResponse> HttpGet(const std::string& address,
                                     const std::string& path,
                                     absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::StatusOr<sockaddr_in> socket_address = ParseAddress(address);
  if (!socket_address.ok()) return socket_address.status();
  Socket socket;
  if (socket.fd() < 0) return Errno("socket");
  // A blocking connect to loopback answers at once (accepted or refused).
  if (connect(socket.fd(), reinterpret_cast<sockaddr*>(&*socket_address),
              sizeof(*socket_address)) != 0) {
    return Errno(absl::StrCat("connect to ", address));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: ", address,
                   "\r\nConnection: close\r\n\r\n");
  size_t sent = 0;
  while (sent < request.size()) {
    absl::Status writable = WaitFor(socket.fd(), POLLOUT, deadline);
    if (!writable.ok()) return writable;
    const ssize_t n = send(socket.fd(), request.data() + sent,
                           request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EINTR) return Errno("send");
    if (n > 0) sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buffer[4096];
  while (true) {
    absl::Status readable = WaitFor(socket.fd(), POLLIN, deadline);
    if (!readable.ok()) return readable;
    const ssize_t n = recv(socket.fd(), buffer, sizeof(buffer), 0);
    if (n == 0) break;  // The server closed: the response is complete.
    if (n < 0 && errno != EINTR) return Errno("recv");
    if (n > 0) raw.append(buffer, static_cast<size_t>(n));
  }
  return ParseResponse(raw);
}

}  // namespace bank::testing
