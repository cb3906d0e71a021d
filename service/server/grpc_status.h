// The one place where an absl::Status becomes a grpc::Status.
//
// Engines speak absl::Status; clients see grpc::Status. Both use the
// canonical google.rpc.Code numbering, so the conversion keeps the code and
// the message unchanged. Every handler goes through ToGrpcStatus, so no
// handler can map an error differently from another.

#ifndef BANK_SERVICE_SERVER_GRPC_STATUS_H_
#define BANK_SERVICE_SERVER_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace bank {

// ToGrpcStatus answers a grpc::Status with the same code and message as
// `status`. A code outside the canonical set (which absl::Status can hold
// but gRPC cannot) becomes UNKNOWN, its message kept.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace bank

#endif  // BANK_SERVICE_SERVER_GRPC_STATUS_H_
