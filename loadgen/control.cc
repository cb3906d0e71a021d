#include "loadgen/control.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <functional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace bank::loadgen {
namespace {

using bank::v1::BankService;

// BulkCalls runs n calls with at most kControlInFlightMax outstanding. The
// calling thread starts every call and waits; callbacks only count down, so
// no callback ever starts a call (no recursion however gRPC runs them). The
// counters live in a State every callback co-owns, so a callback still
// unlocking the mutex never races with its destruction.
class BulkCalls {
 public:
  using Done = std::function<void(const grpc::Status&)>;
  using Start = std::function<void(size_t index, Done done)>;

  // Run answers OK or the first failure's status.
  static grpc::Status Run(size_t count, const Start& start) {
    auto state = std::make_shared<State>();
    for (size_t i = 0; i < count; ++i) {
      {
        absl::MutexLock lock(&state->mu);
        state->mu.Await(absl::Condition(state.get(), &State::HasRoom));
        ++state->in_flight;
      }
      start(i, [state](const grpc::Status& status) { state->Finish(status); });
    }
    absl::MutexLock lock(&state->mu);
    state->mu.Await(absl::Condition(state.get(), &State::Idle));
    return state->first_error;
  }

 private:
  struct State {
    bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return in_flight < kControlInFlightMax;
    }
    bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      return in_flight == 0;
    }
    void Finish(const grpc::Status& status) {
      absl::MutexLock lock(&mu);
      --in_flight;
      if (!status.ok() && first_error.ok()) first_error = status;
    }

    absl::Mutex mu;
    int64_t in_flight ABSL_GUARDED_BY(mu) = 0;
    grpc::Status first_error ABSL_GUARDED_BY(mu);
  };
};

template <typename Request, typename Response>
struct Call {
  grpc::ClientContext context;
  Request request;
  Response response;
};

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  PrepareContext(context);
}

// Written once before any thread uses it (see SetRideOverRestarts).
std::atomic<bool> ride_over_restarts{false};
// Set by the SIGUSR1 handler; lock-free, so safe to store from a handler.
std::atomic<bool> stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free);

void OnStopSignal(int) { stop_requested.store(true); }

}  // namespace

void SetRideOverRestarts(bool ride) {
  ride_over_restarts.store(ride);
  if (ride) {
    struct sigaction action = {};
    action.sa_handler = OnStopSignal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &action, nullptr);
  }
}

bool StopRequested() { return stop_requested.load(std::memory_order_relaxed); }

bool RideOverRestarts() { return ride_over_restarts.load(); }

void PrepareContext(grpc::ClientContext& context) {
  if (ride_over_restarts.load(std::memory_order_relaxed)) {
    context.set_wait_for_ready(true);
  }
}

std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(
    const std::string& target, int64_t count,
    const client::ChannelSecurity& security) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int64_t i = 0; i < count; ++i) {
    grpc::ChannelArguments args;
    // Channels with equal args may share one subchannel (TCP connection);
    // a local pool and a distinct arg keep each channel on its own.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetInt("bank.channel_id", static_cast<int>(i));
    args.SetLoadBalancingPolicyName("round_robin");
    security.ApplyTo(args);
    if (ride_over_restarts.load()) {
      const int backoff_ms =
          static_cast<int>(absl::ToInt64Milliseconds(kReconnectBackoffMax));
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 50);
      args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 50);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, backoff_ms);
    }
    channels.push_back(
        grpc::CreateCustomChannel(target, security.credentials, args));
  }
  return channels;
}

absl::StatusOr<std::string> ChannelTarget(const std::string& target) {
  if (target.find(',') == std::string::npos) return target;
  std::vector<std::string> addresses;
  for (absl::string_view item : absl::StrSplit(target, ',')) {
    const size_t colon = item.rfind(':');
    if (item.empty() || colon == absl::string_view::npos || colon == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--target: '", item, "' is not host:port (in '", target, "')"));
    }
    const std::string host(item.substr(0, colon));
    const std::string port(item.substr(colon + 1));
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const int error = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
    if (error != 0 || found == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--target: cannot resolve '", host,
                       "' to an IPv4 address: ", gai_strerror(error)));
    }
    char ip[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET,
              &reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr, ip,
              sizeof(ip));
    freeaddrinfo(found);
    addresses.push_back(absl::StrCat(ip, ":", port));
  }
  return absl::StrCat("ipv4:", absl::StrJoin(addresses, ","));
}

std::string ConnectFailureReason(const std::string& grpc_message) {
  const size_t colon = grpc_message.rfind(": ");
  std::string reason = colon == std::string::npos
                           ? grpc_message
                           : grpc_message.substr(colon + 2);
  if (reason.empty()) return grpc_message;
  reason[0] =
      static_cast<char>(std::tolower(static_cast<unsigned char>(reason[0])));
  return reason;
}

absl::Status CheckReachable(BankService::Stub& stub, const std::string& target,
                            const std::string& probe_account_id) {
  grpc::ClientContext context;
  SetDeadline(context, kConnectDeadline);
  bank::v1::GetBalanceRequest request;
  request.set_account_id(probe_account_id);
  bank::v1::GetBalanceResponse response;
  const grpc::Status status = stub.GetBalance(&context, request, &response);
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return absl::UnavailableError(
          absl::StrCat("cannot connect to ", target, ": ",
                       ConnectFailureReason(status.error_message())));
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return absl::UnavailableError(
          absl::StrCat("cannot connect to ", target, ": no answer within ",
                       absl::FormatDuration(kConnectDeadline)));
    case grpc::StatusCode::UNIMPLEMENTED:
      return absl::UnavailableError(absl::StrCat(
          target,
          " does not serve bank.v1.BankService: ", status.error_message()));
    default:
      return absl::OkStatus();
  }
}

absl::Status ToAbslStatus(const grpc::Status& status) {
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                      status.error_message());
}

namespace {

// RunRetryingFullQueue runs `start` for every index in [0, count) through
// BulkCalls, in rounds: a call that answered RESOURCE_EXHAUSTED (a full
// queue, which decided nothing) is run again in the next round, after a
// backoff from kSetupBackoffInitial doubling up to kSetupBackoffMax, for up
// to kSetupRetryFor. Answers OK or the first other failure's status.
grpc::Status RunRetryingFullQueue(size_t count, const BulkCalls::Start& start) {
  std::vector<size_t> pending(count);
  for (size_t i = 0; i < count; ++i) pending[i] = i;
  const absl::Time give_up = absl::Now() + kSetupRetryFor;
  absl::Duration backoff = kSetupBackoffInitial;
  while (true) {
    // Each status is written by one callback and read after BulkCalls::Run,
    // whose mutex orders the two.
    std::vector<grpc::Status> statuses(pending.size());
    BulkCalls::Run(pending.size(), [&](size_t i, BulkCalls::Done done) {
      grpc::Status* slot = &statuses[i];
      start(pending[i], [slot, done](const grpc::Status& status) {
        *slot = status;
        done(status);
      });
    });
    std::vector<size_t> again;
    grpc::Status full;
    for (size_t i = 0; i < pending.size(); ++i) {
      if (statuses[i].ok()) continue;
      if (statuses[i].error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) {
        return statuses[i];
      }
      again.push_back(pending[i]);
      full = statuses[i];
    }
    if (again.empty()) return grpc::Status::OK;
    if (absl::Now() + backoff > give_up) return full;
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, kSetupBackoffMax);
    pending = std::move(again);
  }
}

}  // namespace

absl::Status OpenAccounts(BankService::Stub& stub,
                          const std::vector<std::string>& account_ids,
                          int64_t initial_balance) {
  using OpenCall =
      Call<bank::v1::OpenAccountRequest, bank::v1::OpenAccountResponse>;
  const grpc::Status status = RunRetryingFullQueue(
      account_ids.size(), [&](size_t i, BulkCalls::Done done) {
        auto call = std::make_shared<OpenCall>();
        SetDeadline(call->context, kControlDeadline);
        call->request.set_account_id(account_ids[i]);
        call->request.set_initial_balance(initial_balance);
        stub.async()->OpenAccount(&call->context, &call->request,
                                  &call->response,
                                  [call, done](grpc::Status s) { done(s); });
      });
  if (status.ok()) return absl::OkStatus();
  return absl::Status(
      static_cast<absl::StatusCode>(status.error_code()),
      absl::StrCat("cannot open the load's accounts: ", status.error_message(),
                   status.error_code() == grpc::StatusCode::ALREADY_EXISTS
                       ? " (choose another --account_prefix)"
                       : ""));
}

absl::StatusOr<std::vector<int64_t>> ReadBalances(
    BankService::Stub& stub, const std::vector<std::string>& account_ids) {
  using BalanceCall =
      Call<bank::v1::GetBalanceRequest, bank::v1::GetBalanceResponse>;
  // Each slot is written by one callback and read after BulkCalls::Run,
  // whose mutex orders the two.
  std::vector<int64_t> balances(account_ids.size(), 0);
  const grpc::Status status = RunRetryingFullQueue(
      account_ids.size(), [&](size_t i, BulkCalls::Done done) {
        auto call = std::make_shared<BalanceCall>();
        SetDeadline(call->context, kControlDeadline);
        call->request.set_account_id(account_ids[i]);
        int64_t* slot = &balances[i];
        stub.async()->GetBalance(&call->context, &call->request,
                                 &call->response,
                                 [call, done, slot](grpc::Status s) {
                                   if (s.ok()) *slot = call->response.balance();
                                   done(s);
                                 });
      });
  if (!status.ok()) {
    return absl::Status(
        static_cast<absl::StatusCode>(status.error_code()),
        absl::StrCat("cannot read the balances: ", status.error_message()));
  }
  return balances;
}

absl::StatusOr<std::vector<int64_t>> ReadSettledBalances(
    BankService::Stub& stub, const std::vector<std::string>& account_ids,
    bool settle, absl::Duration interval, int& reads) {
  reads = 1;
  absl::StatusOr<std::vector<int64_t>> balances =
      ReadBalances(stub, account_ids);
  while (settle && balances.ok() && reads < kSettleReadsMax) {
    // Not a synchronisation shortcut: an operation whose RPC gave up may
    // still be waiting in the server, and only time lets it land.
    absl::SleepFor(interval);
    absl::StatusOr<std::vector<int64_t>> again =
        ReadBalances(stub, account_ids);
    ++reads;
    if (!again.ok()) return again;
    const bool stable = *again == *balances;
    balances = std::move(again);
    if (stable) break;
  }
  return balances;
}

}  // namespace bank::loadgen
