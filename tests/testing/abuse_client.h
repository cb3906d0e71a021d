// RawHttp2Client: a deliberately misbehaving HTTP/2 client for the abuse
// tests. It speaks just enough HTTP/2 (the connection preface, SETTINGS,
// PING, HEADERS with uncompressed HPACK literals, RST_STREAM, DATA) to do
// what a hostile client does: connect and stall, flood streams, reset them
// at once, ping without calls. It records what the server sends back
// (GOAWAY and its error code, RST_STREAM counts, end of stream).
//
// Safety: it connects to 127.0.0.1 only (Connect refuses anything else),
// and every wait is bounded by the caller's timeout.
//
// Thread safety: none; one thread per client.

#ifndef BANK_TESTS_TESTING_ABUSE_CLIENT_H_
#define BANK_TESTS_TESTING_ABUSE_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace bank::testing {

// HTTP/2 frame types and error codes the tests look for (RFC 9113).
inline constexpr uint8_t kFrameData = 0x0;
inline constexpr uint8_t kFrameHeaders = 0x1;
inline constexpr uint8_t kFrameRstStream = 0x3;
inline constexpr uint8_t kFrameSettings = 0x4;
inline constexpr uint8_t kFramePing = 0x6;
inline constexpr uint8_t kFrameGoaway = 0x7;
inline constexpr uint32_t kErrorRefusedStream = 0x7;
inline constexpr uint32_t kErrorEnhanceYourCalm = 0xb;

class RawHttp2Client {
 public:
  // What the server has sent so far.
  struct Seen {
    int64_t frames = 0;
    int64_t settings = 0;
    int64_t rst_streams = 0;
    int64_t rst_refused = 0;  // RST_STREAM with REFUSED_STREAM.
    int64_t headers = 0;
    bool goaway = false;
    uint32_t goaway_error = 0;
    std::string goaway_debug;  // GOAWAY's debug data, e.g. too_many_pings.
    bool closed = false;       // EOF or reset: the server closed it.
  };

  // Connect opens a TCP connection to `address`, which must be
  // "127.0.0.1:PORT" (kInvalidArgument otherwise). Sends nothing.
  static absl::StatusOr<std::unique_ptr<RawHttp2Client>> Connect(
      const std::string& address);

  RawHttp2Client(const RawHttp2Client&) = delete;
  RawHttp2Client& operator=(const RawHttp2Client&) = delete;
  ~RawHttp2Client();

  // The Send* calls queue bytes and write them, waiting at most `timeout`
  // for the socket to take them while reading what the server sends.
  absl::Status SendPreface(absl::Duration timeout);  // Magic only.
  absl::Status SendSettings(bool ack, absl::Duration timeout);
  absl::Status SendPing(uint64_t payload, absl::Duration timeout);
  // SendRequests opens `count` streams from `first_stream_id` (odd, step 2)
  // with a HEADERS frame each for POST `path`; with `reset`, each is reset
  // (RST_STREAM CANCEL) right after it is opened (the "rapid reset").
  absl::Status SendRequests(uint32_t first_stream_id, int count,
                            absl::string_view path, bool reset,
                            absl::Duration timeout);
  // SendRaw writes `bytes` as they are (e.g. a malformed gRPC message).
  absl::Status SendRaw(absl::string_view bytes, absl::Duration timeout);

  // ReadFor reads what the server sends for at most `timeout`, returning
  // early once `until(seen())` holds or the server closed the connection.
  template <typename Predicate>
  void ReadUntil(Predicate until, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!seen_.closed && !until(seen_) && absl::Now() < deadline) {
      ReadSome(deadline);
    }
  }
  // WaitForClose reads until the server closes the connection or `timeout`
  // passes; answers whether it closed.
  bool WaitForClose(absl::Duration timeout);

  const Seen& seen() const { return seen_; }
  int fd() const { return fd_; }

 private:
  explicit RawHttp2Client(int fd) : fd_(fd) {}
  absl::Status Write(absl::string_view bytes, absl::Duration timeout);
  // ReadSome waits until `deadline` for input and parses what arrives.
  void ReadSome(absl::Time deadline);
  void ParseFrames();

  int fd_;
  std::string input_;  // Received bytes not yet parsed into frames.
  Seen seen_;
};

// ProcessRssBytes answers the resident set size of process `pid` (VmRSS in
// /proc/PID/status), or an error if it cannot be read.
absl::StatusOr<int64_t> ProcessRssBytes(int pid);

}  // namespace bank::testing

#endif  // BANK_TESTS_TESTING_ABUSE_CLIENT_H_
