// request_fuzzer: arbitrary bytes as a sequence of bank.v1 requests, each
// parsed as its request message, turned into an Operation the way
// BankServiceImpl does, validated, and applied to the mutex engine and to a
// trivial single-threaded model (a map). Every outcome (status code and
// balances) must match the model, and money is conserved: the engine's
// balances always sum to what the model says went in.
//
// Input format: records of [method byte][length byte][length bytes]; the
// method byte modulo 5 picks OpenAccount, Deposit, Withdraw, Transfer or
// GetBalance. At most kRecordsMax records per input.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "bank/v1/bank.pb.h"
#include "fuzz/fuzz_check.h"
#include "google/protobuf/stubs/logging.h"
#include "service/engine/account_engine.h"
#include "service/engine/engine_factory.h"
#include "service/engine/operation.h"
#include "service/server/bank_service_impl.h"

namespace {

constexpr size_t kRecordsMax = 64;
constexpr size_t kAccountsMax = 4;  // Small, so the limit is reached too.

// Model: what the engine must answer, computed the simplest way.
class Model {
 public:
  absl::StatusCode Apply(const bank::Operation& op, int64_t& balance,
                         int64_t& to_balance) {
    if (!bank::ValidateOperation(op).ok()) {
      return absl::StatusCode::kInvalidArgument;
    }
    auto from = balances_.find(op.account_id);
    switch (op.kind) {
      case bank::OperationKind::kOpen:
        if (from != balances_.end()) return absl::StatusCode::kAlreadyExists;
        if (balances_.size() >= kAccountsMax) {
          return absl::StatusCode::kResourceExhausted;
        }
        balances_[op.account_id] = balance = op.amount;
        return absl::StatusCode::kOk;
      case bank::OperationKind::kGetBalance:
        if (from == balances_.end()) return absl::StatusCode::kNotFound;
        balance = from->second;
        return absl::StatusCode::kOk;
      case bank::OperationKind::kDeposit:
        if (from == balances_.end()) return absl::StatusCode::kNotFound;
        if (from->second > INT64_MAX - op.amount) {
          return absl::StatusCode::kOutOfRange;
        }
        balance = from->second += op.amount;
        return absl::StatusCode::kOk;
      case bank::OperationKind::kWithdraw:
        if (from == balances_.end()) return absl::StatusCode::kNotFound;
        if (from->second < op.amount) {
          return absl::StatusCode::kFailedPrecondition;
        }
        balance = from->second -= op.amount;
        return absl::StatusCode::kOk;
      case bank::OperationKind::kTransfer: {
        auto to = balances_.find(op.to_account_id);
        if (from == balances_.end() || to == balances_.end()) {
          return absl::StatusCode::kNotFound;
        }
        if (from->second < op.amount) {
          return absl::StatusCode::kFailedPrecondition;
        }
        if (to->second > INT64_MAX - op.amount) {
          return absl::StatusCode::kOutOfRange;
        }
        balance = from->second -= op.amount;
        to_balance = to->second += op.amount;
        return absl::StatusCode::kOk;
      }
    }
    return absl::StatusCode::kInternal;
  }

 private:
  std::map<std::string, int64_t> balances_;
};

// ToOperation parses `bytes` as request `method` and builds the Operation
// and actor as BankServiceImpl does; false when it does not parse.
bool ToOperation(int method, const std::string& bytes, bank::Operation& op,
                 std::string& actor) {
  switch (method) {
    case 0: {
      bank::v1::OpenAccountRequest r;
      if (!r.ParseFromString(bytes)) return false;
      op = {bank::OperationKind::kOpen, r.account_id(), "",
            r.initial_balance()};
      return true;
    }
    case 1: {
      bank::v1::DepositRequest r;
      if (!r.ParseFromString(bytes)) return false;
      op = {bank::OperationKind::kDeposit, r.account_id(), "", r.amount()};
      actor = r.actor();
      return true;
    }
    case 2: {
      bank::v1::WithdrawRequest r;
      if (!r.ParseFromString(bytes)) return false;
      op = {bank::OperationKind::kWithdraw, r.account_id(), "", r.amount()};
      actor = r.actor();
      return true;
    }
    case 3: {
      bank::v1::TransferRequest r;
      if (!r.ParseFromString(bytes)) return false;
      op = {bank::OperationKind::kTransfer, r.from_account_id(),
            r.to_account_id(), r.amount()};
      actor = r.actor();
      return true;
    }
    default: {
      bank::v1::GetBalanceRequest r;
      if (!r.ParseFromString(bytes)) return false;
      op = {bank::OperationKind::kGetBalance, r.account_id(), "", 0};
      return true;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);  // Invalid UTF-8 logs a line.
    return true;
  }();
  (void)quiet;
  bank::EngineOptions options;
  options.engine = "mutex";
  options.accounts_max = kAccountsMax;
  absl::StatusOr<std::unique_ptr<bank::AccountEngine>> engine =
      bank::CreateEngine(options);
  FUZZ_CHECK(engine.ok());
  Model model;
  size_t at = 0;
  for (size_t records = 0; records < kRecordsMax && at + 2 <= size; ++records) {
    const int method = data[at] % 5;
    const size_t length = std::min<size_t>(data[at + 1], size - at - 2);
    const std::string bytes(reinterpret_cast<const char*>(data + at + 2),
                            length);
    at += 2 + length;
    bank::Operation op;
    std::string actor;
    if (!ToOperation(method, bytes, op, actor)) continue;  // INVALID_ARGUMENT.
    if (!bank::ValidateActor(actor).ok()) continue;
    // The log line must be one line whatever the bytes.
    const std::string line = bank::FormatOperationLogLine(op, actor);
    FUZZ_CHECK(line.empty() || line.find('\n') == line.size() - 1);
    int64_t balance = 0;
    int64_t to_balance = 0;
    const absl::StatusCode expected = model.Apply(op, balance, to_balance);
    absl::StatusOr<bank::OperationResult> got =
        bank::ExecuteAndWait(**engine, op);
    FUZZ_CHECK(got.status().code() == expected);
    if (got.ok()) {
      FUZZ_CHECK(got->balance == balance);
      if (op.kind == bank::OperationKind::kTransfer) {
        FUZZ_CHECK(got->to_balance == to_balance);
      }
    }
  }
  (*engine)->Shutdown();
  return 0;
}
