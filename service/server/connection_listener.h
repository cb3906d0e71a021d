// ConnectionListener: bank_server's own accept loop, which hands each
// connection to gRPC (ServerBuilder's external connection acceptor) and
// refuses those over a cap.
//
// Why not gRPC's listener: in gRPC 1.51 a failed accept4 (EMFILE, when the
// process is out of descriptors) stops its accept loop for good
// (CVE-2023-4785), and it has no cap on connections. Here:
//  - a connection is refused (closed at once: the client sees the
//    connection reset and its RPC fails UNAVAILABLE) when its descriptor
//    number is connections_max + kDescriptorsReserved / 2 or more.
//    Descriptors are allocated lowest first, so that many are then in use
//    (the cap counts descriptors: the process's own, about 30, count too).
//    RaiseDescriptorLimit keeps connections_max + kDescriptorsReserved
//    under the limit, so the top kDescriptorsReserved / 2 stay free for
//    gRPC's own pipes and files. Once connections close, their numbers are
//    reused and new ones are served.
//  - EMFILE/ENFILE never stop the loop: it frees its spare descriptor,
//    accepts and closes the waiting connection (so the listen queue does
//    not fill with connections nobody will serve), takes the spare back,
//    and goes on.
//
// Thread safety: Bind, Start and the destructor from one thread; the
// accept loop runs on a thread of its own between Start and destruction.

#ifndef BANK_SERVICE_SERVER_CONNECTION_LISTENER_H_
#define BANK_SERVICE_SERVER_CONNECTION_LISTENER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "grpcpp/server_builder.h"

namespace bank {

// ValidateListenAddress answers kInvalidArgument naming --listen unless
// `listen_address` is host:port with a port in 0-65535 (no wrap-around:
// 70000 and 4294967297 are refused, not bound modulo 65536).
absl::Status ValidateListenAddress(const std::string& listen_address);

class ConnectionListener {
 public:
  // Bind binds and listens on `listen_address` (host:port, host may be a
  // name, an IPv4 address or a bracketed IPv6 address; port 0 lets the
  // kernel choose). Answers kInvalidArgument for an address that does not
  // parse (a port outside 0-65535 included) and kUnavailable when it cannot
  // bind (e.g. the port is taken).
  static absl::StatusOr<std::unique_ptr<ConnectionListener>> Bind(
      const std::string& listen_address, int connections_max);

  ConnectionListener(const ConnectionListener&) = delete;
  ConnectionListener& operator=(const ConnectionListener&) = delete;
  // The destructor stops the accept loop and closes the listening socket.
  ~ConnectionListener();

  // port is the bound port (the kernel's choice for port 0).
  int port() const { return port_; }

  // Start runs the accept loop, handing connections to `acceptor` (from
  // ServerBuilder::experimental().AddExternalConnectionAcceptor; call after
  // the server started). At most once.
  void Start(
      std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor);

  // refused_count: connections refused over the cap so far (for tests).
  int64_t refused_count() const { return refused_count_.load(); }

 private:
  ConnectionListener(int listen_fd, int wake_fd, int port, int descriptor_max);
  void AcceptLoop();
  void AcceptOne();

  const int listen_fd_;
  const int wake_fd_;  // eventfd: the destructor wakes the loop with it.
  const int port_;
  const int descriptor_max_;  // Refuse connections from this fd number on.
  int spare_fd_ = -1;         // Given up on EMFILE to drain the queue.
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  std::atomic<int64_t> refused_count_{0};
  std::thread thread_;
};

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_CONNECTION_LISTENER_H_
