#include "service/server/protobuf_log.h"

#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/protobuf/stubs/logging.h"
#include "service/server/bank_service_impl.h"

namespace bank {
namespace {

struct LogBudget {
  absl::Mutex mu;
  absl::Time window_start ABSL_GUARDED_BY(mu);
  int lines ABSL_GUARDED_BY(mu) = 0;
  int64_t dropped ABSL_GUARDED_BY(mu) = 0;
};

LogBudget& Budget() {
  static LogBudget* const budget = new LogBudget();
  return *budget;
}

const char* LevelName(google::protobuf::LogLevel level) {
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO:
      return "INFO";
    case google::protobuf::LOGLEVEL_WARNING:
      return "WARNING";
    case google::protobuf::LOGLEVEL_ERROR:
      return "ERROR";
    case google::protobuf::LOGLEVEL_FATAL:
      return "FATAL";
  }
  return "?";
}

void ThrottledHandler(google::protobuf::LogLevel level, const char* filename,
                      int line, const std::string& message) {
  LogBudget& budget = Budget();
  int64_t dropped = 0;
  {
    absl::MutexLock lock(&budget.mu);
    const absl::Time now = absl::Now();
    if (now - budget.window_start >= absl::Minutes(1)) {
      budget.window_start = now;
      budget.lines = 0;
    }
    if (level != google::protobuf::LOGLEVEL_FATAL &&
        budget.lines >= kProtobufLogLinesPerMinute) {
      ++budget.dropped;
      return;
    }
    ++budget.lines;
    dropped = budget.dropped;
    budget.dropped = 0;
  }
  const std::string text = absl::StrCat(
      "[libprotobuf ", LevelName(level), " ", filename, ":", line, "] ",
      EscapeLogField(message),
      dropped == 0
          ? ""
          : absl::StrCat(" (", dropped, " earlier lines dropped: rate limit)"),
      "\n");
  std::fputs(text.c_str(), stderr);
}

}  // namespace

void RateLimitProtobufLog() {
  google::protobuf::SetLogHandler(&ThrottledHandler);
}

}  // namespace bank
