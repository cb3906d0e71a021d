#include "service/server/connection_listener.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "service/server/server_limits.h"

namespace bank {
namespace {

constexpr int kListenBacklog = 4096;
constexpr int kPortMax = 65535;

struct HostPort {
  std::string host;
  std::string port;
};

absl::StatusOr<HostPort> SplitListenAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen=", address, " is not host:port (e.g. 127.0.0.1:50051)"));
  }
  HostPort result{address.substr(0, colon), address.substr(colon + 1)};
  if (result.host.size() >= 2 && result.host.front() == '[' &&
      result.host.back() == ']') {
    result.host = result.host.substr(1, result.host.size() - 2);
  }
  uint32_t port = 0;
  // SimpleAtoi into uint32 rejects signs, blanks and anything over 2^32-1;
  // the range check rejects 65536.., so the port never wraps.
  if (result.port.empty() || result.port[0] == '+' ||
      !absl::SimpleAtoi(result.port, &port) || port > kPortMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen=", address, ": port \"", result.port,
                     "\" is not a number in [0, ", kPortMax, "]"));
  }
  if (result.host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--listen=", address, ": host is empty (use 0.0.0.0 for all)"));
  }
  return result;
}

}  // namespace

absl::Status ValidateListenAddress(const std::string& listen_address) {
  return SplitListenAddress(listen_address).status();
}

absl::StatusOr<std::unique_ptr<ConnectionListener>> ConnectionListener::Bind(
    const std::string& listen_address, int connections_max) {
  absl::StatusOr<HostPort> host_port = SplitListenAddress(listen_address);
  if (!host_port.ok()) return host_port.status();
  struct addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  struct addrinfo* addresses = nullptr;
  const int gai = getaddrinfo(host_port->host.c_str(), host_port->port.c_str(),
                              &hints, &addresses);
  if (gai != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen=", listen_address, ": ", gai_strerror(gai)));
  }
  int fd = -1;
  std::string error = "no address";
  for (struct addrinfo* a = addresses; a != nullptr; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                a->ai_protocol);
    if (fd < 0) continue;
    const int one = 1;
    // SO_REUSEADDR only (not SO_REUSEPORT): restarting on a port in
    // TIME_WAIT works, sharing a port with a live server does not.
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        listen(fd, kListenBacklog) == 0) {
      break;
    }
    error = std::strerror(errno);
    close(fd);
    fd = -1;
  }
  freeaddrinfo(addresses);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", listen_address, ": ", error));
  }
  struct sockaddr_storage bound;
  socklen_t bound_size = sizeof(bound);
  getsockname(fd, reinterpret_cast<struct sockaddr*>(&bound), &bound_size);
  const int port =
      bound.ss_family == AF_INET6
          ? ntohs(reinterpret_cast<struct sockaddr_in6*>(&bound)->sin6_port)
          : ntohs(reinterpret_cast<struct sockaddr_in*>(&bound)->sin_port);
  const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<ConnectionListener>(new ConnectionListener(
      fd, wake_fd, port, connections_max + kDescriptorsReserved / 2));
}

ConnectionListener::ConnectionListener(int listen_fd, int wake_fd, int port,
                                       int descriptor_max)
    : listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port),
      descriptor_max_(descriptor_max),
      spare_fd_(open("/dev/null", O_RDONLY | O_CLOEXEC)) {}

ConnectionListener::~ConnectionListener() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    thread_.join();
  }
  close(listen_fd_);
  close(wake_fd_);
  if (spare_fd_ >= 0) close(spare_fd_);
}

void ConnectionListener::Start(
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor) {
  acceptor_ = std::move(acceptor);
  thread_ = std::thread([this] { AcceptLoop(); });
}

void ConnectionListener::AcceptLoop() {
  struct pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (true) {
    const int ready = poll(fds, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      // Cannot happen with two valid descriptors; say so rather than spin.
      std::fprintf(stderr, "bank_server: accept loop: poll: %s\n",
                   std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if (fds[0].revents != 0) AcceptOne();
  }
}

// AcceptOne accepts at most one connection (poll says one is waiting), so
// the wake-up is checked between connections.
void ConnectionListener::AcceptOne() {
  const int fd =
      accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if ((errno == EMFILE || errno == ENFILE) && spare_fd_ >= 0) {
      // Out of descriptors: refuse the waiting connection rather than let
      // it (and every one behind it) wait forever.
      close(spare_fd_);
      const int refused = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (refused >= 0) {
        close(refused);
        refused_count_.fetch_add(1);
      }
      spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
    } else if (errno == EMFILE || errno == ENFILE) {
      spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
      // Still nothing free: wait for a connection to close rather than spin.
      poll(nullptr, 0, 10);
    }
    return;  // EAGAIN, ECONNABORTED, ...: poll again.
  }
  if (fd >= descriptor_max_) {
    close(fd);
    refused_count_.fetch_add(1);
    return;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters
      params;
  params.listener_fd = listen_fd_;
  params.fd = fd;
  acceptor_->HandleNewConnection(&params);
}

}  // namespace bank
