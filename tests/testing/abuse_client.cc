#include "tests/testing/abuse_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace bank::testing {
namespace {

constexpr char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kFlagEndHeaders = 0x4;
constexpr uint8_t kFlagAck = 0x1;
constexpr uint32_t kErrorCancel = 0x8;
constexpr size_t kFrameHeaderBytes = 9;
constexpr size_t kReadChunkBytes = 64 * 1024;

void AppendFrameHeader(std::string& out, size_t length, uint8_t type,
                       uint8_t flags, uint32_t stream_id) {
  out += static_cast<char>((length >> 16) & 0xff);
  out += static_cast<char>((length >> 8) & 0xff);
  out += static_cast<char>(length & 0xff);
  out += static_cast<char>(type);
  out += static_cast<char>(flags);
  out += static_cast<char>((stream_id >> 24) & 0x7f);
  out += static_cast<char>((stream_id >> 16) & 0xff);
  out += static_cast<char>((stream_id >> 8) & 0xff);
  out += static_cast<char>(stream_id & 0xff);
}

void AppendUint32(std::string& out, uint32_t value) {
  out += static_cast<char>(value >> 24);
  out += static_cast<char>((value >> 16) & 0xff);
  out += static_cast<char>((value >> 8) & 0xff);
  out += static_cast<char>(value & 0xff);
}

uint32_t ReadUint32(absl::string_view bytes) {
  return (uint32_t{static_cast<uint8_t>(bytes[0])} << 24) |
         (uint32_t{static_cast<uint8_t>(bytes[1])} << 16) |
         (uint32_t{static_cast<uint8_t>(bytes[2])} << 8) |
         uint32_t{static_cast<uint8_t>(bytes[3])};
}

// AppendLiteralHeader: HPACK "literal header field without indexing, new
// name", no Huffman; names and values here are under 127 bytes.
void AppendLiteralHeader(std::string& out, absl::string_view name,
                         absl::string_view value) {
  out += '\0';
  out += static_cast<char>(name.size());
  out.append(name.data(), name.size());
  out += static_cast<char>(value.size());
  out.append(value.data(), value.size());
}

std::string RequestHeaderBlock(absl::string_view path) {
  std::string block;
  AppendLiteralHeader(block, ":method", "POST");
  AppendLiteralHeader(block, ":scheme", "http");
  AppendLiteralHeader(block, ":path", path);
  AppendLiteralHeader(block, ":authority", "127.0.0.1");
  AppendLiteralHeader(block, "content-type", "application/grpc");
  AppendLiteralHeader(block, "te", "trailers");
  return block;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RawHttp2Client>> RawHttp2Client::Connect(
    const std::string& address) {
  absl::string_view port_text = address;
  int port = 0;
  if (!absl::ConsumePrefix(&port_text, "127.0.0.1:") ||
      !absl::SimpleAtoi(port_text, &port) || port < 1 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "abuse clients target 127.0.0.1:PORT only, not ", address));
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  }
  struct sockaddr_in server;
  std::memset(&server, 0, sizeof(server));
  server.sin_family = AF_INET;
  server.sin_port = htons(static_cast<uint16_t>(port));
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<struct sockaddr*>(&server),
              sizeof(server)) != 0) {
    const int error = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("connect ", address, ": ", std::strerror(error)));
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return std::unique_ptr<RawHttp2Client>(new RawHttp2Client(fd));
}

RawHttp2Client::~RawHttp2Client() { close(fd_); }

absl::Status RawHttp2Client::SendPreface(absl::Duration timeout) {
  return Write(absl::string_view(kPreface, sizeof(kPreface) - 1), timeout);
}

absl::Status RawHttp2Client::SendSettings(bool ack, absl::Duration timeout) {
  std::string frame;
  AppendFrameHeader(frame, 0, kFrameSettings, ack ? kFlagAck : 0, 0);
  return Write(frame, timeout);
}

absl::Status RawHttp2Client::SendPing(uint64_t payload,
                                      absl::Duration timeout) {
  std::string frame;
  AppendFrameHeader(frame, 8, kFramePing, 0, 0);
  AppendUint32(frame, static_cast<uint32_t>(payload >> 32));
  AppendUint32(frame, static_cast<uint32_t>(payload));
  return Write(frame, timeout);
}

absl::Status RawHttp2Client::SendRequests(uint32_t first_stream_id, int count,
                                          absl::string_view path, bool reset,
                                          absl::Duration timeout) {
  const std::string block = RequestHeaderBlock(path);
  constexpr int kStreamsPerWrite = 1000;
  const absl::Time deadline = absl::Now() + timeout;
  uint32_t stream_id = first_stream_id;
  for (int sent = 0; sent < count;) {
    std::string frames;
    for (int i = 0; i < kStreamsPerWrite && sent < count; ++i, ++sent) {
      AppendFrameHeader(frames, block.size(), kFrameHeaders, kFlagEndHeaders,
                        stream_id);
      frames += block;
      if (reset) {
        AppendFrameHeader(frames, 4, kFrameRstStream, 0, stream_id);
        AppendUint32(frames, kErrorCancel);
      }
      stream_id += 2;
    }
    absl::Status status = Write(frames, deadline - absl::Now());
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::Status RawHttp2Client::SendRaw(absl::string_view bytes,
                                     absl::Duration timeout) {
  return Write(bytes, timeout);
}

absl::Status RawHttp2Client::Write(absl::string_view bytes,
                                   absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!bytes.empty()) {
    if (seen_.closed) return absl::UnavailableError("the server closed it");
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("the server stopped reading");
    }
    struct pollfd pfd = {fd_, POLLIN | POLLOUT, 0};
    const int ready = poll(&pfd, 1,
                           static_cast<int>(std::min<int64_t>(
                               absl::ToInt64Milliseconds(left) + 1, 1000)));
    if (ready <= 0) continue;
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) ReadSome(absl::Now());
    if ((pfd.revents & POLLOUT) && !seen_.closed) {
      const ssize_t written =
          send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (written > 0) {
        bytes.remove_prefix(static_cast<size_t>(written));
      } else if (written < 0 && errno != EAGAIN && errno != EINTR) {
        seen_.closed = true;
      }
    }
  }
  return absl::OkStatus();
}

void RawHttp2Client::ReadSome(absl::Time deadline) {
  struct pollfd pfd = {fd_, POLLIN, 0};
  const int64_t wait_ms = std::clamp<int64_t>(
      absl::ToInt64Milliseconds(deadline - absl::Now()), 0, 1000);
  if (poll(&pfd, 1, static_cast<int>(wait_ms)) <= 0) return;
  char buffer[kReadChunkBytes];
  const ssize_t got = recv(fd_, buffer, sizeof(buffer), MSG_DONTWAIT);
  if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
    seen_.closed = true;
    return;
  }
  if (got > 0) {
    input_.append(buffer, static_cast<size_t>(got));
    ParseFrames();
  }
}

void RawHttp2Client::ParseFrames() {
  size_t at = 0;
  while (input_.size() - at >= kFrameHeaderBytes) {
    const absl::string_view header(input_.data() + at, kFrameHeaderBytes);
    const size_t length = (size_t{static_cast<uint8_t>(header[0])} << 16) |
                          (size_t{static_cast<uint8_t>(header[1])} << 8) |
                          size_t{static_cast<uint8_t>(header[2])};
    if (input_.size() - at < kFrameHeaderBytes + length) break;
    const uint8_t type = static_cast<uint8_t>(header[3]);
    const absl::string_view payload(input_.data() + at + kFrameHeaderBytes,
                                    length);
    ++seen_.frames;
    if (type == kFrameSettings) ++seen_.settings;
    if (type == kFrameHeaders) ++seen_.headers;
    if (type == kFrameRstStream && length == 4) {
      ++seen_.rst_streams;
      if (ReadUint32(payload) == kErrorRefusedStream) ++seen_.rst_refused;
    }
    if (type == kFrameGoaway && length >= 8) {
      seen_.goaway = true;
      seen_.goaway_error = ReadUint32(payload.substr(4));
      seen_.goaway_debug = std::string(payload.substr(8));
    }
    at += kFrameHeaderBytes + length;
  }
  input_.erase(0, at);
}

bool RawHttp2Client::WaitForClose(absl::Duration timeout) {
  ReadUntil([](const Seen&) { return false; }, timeout);
  return seen_.closed;
}

absl::StatusOr<int64_t> ProcessRssBytes(int pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "VmRSS:")) {
      rest = absl::StripAsciiWhitespace(rest);
      absl::ConsumeSuffix(&rest, " kB");
      int64_t kib = 0;
      if (absl::SimpleAtoi(rest, &kib)) return kib * 1024;
    }
  }
  return absl::NotFoundError(absl::StrCat("no VmRSS for pid ", pid));
}

}  // namespace bank::testing
