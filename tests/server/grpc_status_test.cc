// Goal: ToGrpcStatus keeps every code and message, since clients act on the
// code (retry UNAVAILABLE, never FAILED_PRECONDITION) and people read the
// message. Method: convert each canonical code, and one non-canonical value.

#include "service/server/grpc_status.h"

#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace bank {
namespace {

TEST(ToGrpcStatusTest, KeepsEveryCanonicalCodeAndMessage) {
  const std::vector<std::pair<absl::StatusCode, grpc::StatusCode>> codes = {
      {absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
      {absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN},
      {absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
      {absl::StatusCode::kDeadlineExceeded,
       grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
      {absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
      {absl::StatusCode::kPermissionDenied,
       grpc::StatusCode::PERMISSION_DENIED},
      {absl::StatusCode::kResourceExhausted,
       grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::StatusCode::kFailedPrecondition,
       grpc::StatusCode::FAILED_PRECONDITION},
      {absl::StatusCode::kAborted, grpc::StatusCode::ABORTED},
      {absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
      {absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
      {absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL},
      {absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
      {absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS},
      {absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED},
  };
  for (const auto& [absl_code, grpc_code] : codes) {
    const std::string message =
        "message for " + absl::StatusCodeToString(absl_code);
    const grpc::Status converted =
        ToGrpcStatus(absl::Status(absl_code, message));
    EXPECT_EQ(converted.error_code(), grpc_code) << message;
    EXPECT_EQ(converted.error_message(), message);
    // Both enums follow google.rpc.Code, so the numbers agree too.
    EXPECT_EQ(static_cast<int>(converted.error_code()),
              static_cast<int>(absl_code));
  }
}

TEST(ToGrpcStatusTest, OkIsOk) {
  const grpc::Status converted = ToGrpcStatus(absl::OkStatus());
  EXPECT_TRUE(converted.ok());
  EXPECT_EQ(converted.error_message(), "");
}

TEST(ToGrpcStatusTest, NonCanonicalCodeBecomesUnknownKeepingMessage) {
  const grpc::Status converted =
      ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(42), "odd"));
  EXPECT_EQ(converted.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(converted.error_message(), "odd");
}

}  // namespace
}  // namespace bank
