#include "service/engine/account_engine.h"

#include <optional>
#include <utility>

#include "absl/synchronization/notification.h"

namespace bank {

absl::StatusOr<OperationResult> ExecuteAndWait(AccountEngine& engine,
                                               Operation operation) {
  // The completion may run on another thread, so the result crosses threads
  // through the Notification, which orders the write before the read.
  std::optional<absl::StatusOr<OperationResult>> result;
  absl::Notification done;
  engine.Execute(std::move(operation),
                 [&result, &done](absl::StatusOr<OperationResult> outcome) {
                   result = std::move(outcome);
                   done.Notify();
                 });
  done.WaitForNotification();
  return *std::move(result);
}

absl::StatusOr<BatchResults> ExecuteBatchAndWait(
    AccountEngine& engine, std::vector<Operation> operations, bool atomic) {
  std::optional<absl::StatusOr<BatchResults>> result;
  absl::Notification done;
  engine.ExecuteBatch(std::move(operations), atomic,
                      [&result, &done](absl::StatusOr<BatchResults> outcome) {
                        result = std::move(outcome);
                        done.Notify();
                      });
  done.WaitForNotification();
  return *std::move(result);
}

}  // namespace bank
