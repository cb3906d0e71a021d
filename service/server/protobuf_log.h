// RateLimitProtobufLog: protobuf's own log lines, throttled.
//
// libprotobuf logs an ERROR line on stderr for every string field with
// invalid UTF-8 it parses ("String field ... contains invalid UTF-8 data
// when parsing a protocol buffer"). Those bytes come from clients, so
// without a limit any client could fill the operator's disk or terminal on
// demand. After RateLimitProtobufLog, at most kProtobufLogLinesPerMinute
// lines a minute reach stderr (each with its control bytes escaped);
// the rest are counted and the count is reported with the next line that
// gets through.
//
// Thread safety: call once at start, before serving; the handler itself may
// run on any thread.

#ifndef BANK_SERVICE_SERVER_PROTOBUF_LOG_H_
#define BANK_SERVICE_SERVER_PROTOBUF_LOG_H_

namespace bank {

inline constexpr int kProtobufLogLinesPerMinute = 10;

void RateLimitProtobufLog();

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_PROTOBUF_LOG_H_
