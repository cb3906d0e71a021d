#include "service/postgres/postgres_engine.h"

#include <libpq-fe.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "service/postgres/pipelined_connection.h"
#include "service/postgres/postgres_batch.h"
#include "service/postgres/postgres_request_ids.h"
#include "service/postgres/postgres_sql.h"

namespace bank {
namespace {

// kShutdownDrainMax bounds how long Shutdown waits for a database that
// stopped answering before it gives the operations up as unavailable.
constexpr absl::Duration kShutdownDrainMax = absl::Seconds(10);
// kPollIntervalMax: the I/O loop wakes at least this often (reconnects).
constexpr absl::Duration kPollIntervalMax = absl::Seconds(1);

absl::Status UnreachableError() {
  return absl::UnavailableError(
      "the database is unreachable; reconnecting (nothing was applied)");
}

absl::Status LostError(const std::string& reason) {
  return absl::UnavailableError(absl::StrCat(
      "the connection to the database was lost before its answer; the "
      "operation may or may not have applied (",
      reason.empty() ? "connection closed" : reason, ")"));
}

struct ConninfoDeleter {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};

}  // namespace

std::string RedactDsn(const std::string& dsn) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoDeleter> options(
      PQconninfoParse(dsn.c_str(), &error));
  if (error != nullptr) PQfreemem(error);
  if (options == nullptr) return "(unparsable DSN)";
  std::string out;
  for (PQconninfoOption* option = options.get(); option->keyword != nullptr;
       ++option) {
    if (option->val == nullptr) continue;
    const bool secret = std::string(option->keyword) == "password";
    absl::StrAppend(&out, out.empty() ? "" : " ", option->keyword, "=",
                    secret ? "***" : option->val);
  }
  return out;
}

absl::Status CheckDsnHasNoPassword(const std::string& dsn) {
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoDeleter> options(
      PQconninfoParse(dsn.c_str(), &error));
  if (options == nullptr) {
    std::string message = error != nullptr ? error : "out of memory";
    if (error != nullptr) PQfreemem(error);
    return absl::InvalidArgumentError(absl::StrCat(
        "--postgres_dsn is not a libpq connection string: ", message));
  }
  for (PQconninfoOption* option = options.get(); option->keyword != nullptr;
       ++option) {
    if (std::string(option->keyword) == "password" && option->val != nullptr) {
      return absl::InvalidArgumentError(
          "--postgres_dsn must not contain a password (it would show in ps); "
          "set PGPASSWORD or use a passfile (PGPASSFILE, ~/.pgpass)");
    }
  }
  return absl::OkStatus();
}

// Pending: one operation, or one batch (atomic: two jobs, see
// postgres_batch.h), from submission to completion.
struct PostgresEngine::Pending {
  Operation operation;
  OperationDone done;
  int attempts = 0;
  // Sent as one call of bank_change_once (a change with a request id).
  bool once = false;
  // Sweeps of expired request ids.
  bool is_sweep = false;
  absl::AnyInvocable<void(absl::StatusOr<int64_t>) &&> sweep_done;
  // Batches only.
  bool is_batch = false;
  bool atomic = false;
  std::vector<Operation> batch;
  BatchDone batch_done;
  NonAtomicPlan non_atomic;  // Non-atomic batches: the groups sent.
  // Atomic batches between their jobs: the connection held, the plan.
  PipelinedConnection* connection = nullptr;
  bool second_job = false;
  AtomicStep step;

  const std::string& route_id() const {
    return is_batch ? batch.front().account_id : operation.account_id;
  }

  // Fail answers `status` to whichever completion this pending carries.
  void Fail(const absl::Status& status) {
    if (is_sweep) {
      std::move(sweep_done)(status);
    } else if (is_batch) {
      std::move(batch_done)(status);
    } else {
      std::move(done)(status);
    }
  }
};

// Pool: the connections and the operations on them. I/O thread only.
class PostgresEngine::Pool {
 public:
  explicit Pool(const PostgresOptions& options)
      : options_(options), slots_(options.connections) {
    for (Slot& slot : slots_) slot.backoff = options.reconnect_backoff_min;
  }

  bool AnyReady() const {
    for (const Slot& slot : slots_) {
      if (slot.connection.state() == PipelinedConnection::State::kReady) {
        return true;
      }
    }
    return false;
  }

  // StartDueReconnects starts connecting every slot that is down and whose
  // backoff has passed; answers how long until the next one is due.
  absl::Duration StartDueReconnects(absl::Time now) {
    absl::Duration next = kPollIntervalMax;
    for (Slot& slot : slots_) {
      if (slot.connection.state() != PipelinedConnection::State::kDown) {
        continue;
      }
      if (now >= slot.retry_at) {
        if (!slot.connection.StartConnect(options_.dsn)) Backoff(slot, now);
      }
      if (slot.connection.state() == PipelinedConnection::State::kDown) {
        next = std::min(next, slot.retry_at - now);
      }
    }
    return std::max(next, absl::ZeroDuration());
  }

  // Dispatch sends waiting operations to ready connections with room,
  // preferring the one the account id hashes to (so that one account's
  // operations keep their order on one pipeline). Answers false when no
  // connection is ready at all.
  bool Dispatch(std::deque<Pending>& waiting,
                absl::flat_hash_map<uint64_t, Pending>& in_flight,
                PipelinedConnection::Events& events) {
    if (!AnyReady()) return false;
    while (!waiting.empty()) {
      Slot* slot = Choose(waiting.front().route_id());
      if (slot == nullptr) break;  // All full: wait for answers.
      const uint64_t tag = next_tag_++;
      Pending pending = std::move(waiting.front());
      waiting.pop_front();
      std::vector<StatementGroup> groups;
      if (pending.is_sweep) {
        groups.push_back(
            StatementGroup{{PlanSweep(Now(), options_.request_id_ttl)}, true});
      } else if (!pending.is_batch && options_.request_ids_enabled &&
                 UsesRequestId(pending.operation)) {
        pending.once = true;
        groups.push_back(StatementGroup{
            {PlanChangeOnce(pending.operation, options_.accounts_max, Now(),
                            options_.request_id_ttl)},
            true});
      } else if (!pending.is_batch) {
        groups.push_back(StatementGroup{
            PlanOperation(pending.operation, options_.accounts_max), true});
      } else if (!pending.atomic) {
        pending.non_atomic =
            PlanNonAtomicBatch(pending.batch, options_.accounts_max);
        groups = pending.non_atomic.groups;
        if (groups.empty()) groups.push_back(StatementGroup{{}, true});
      } else {
        groups = AtomicLockGroups(pending.batch);
        pending.connection = &slot->connection;
        pending.second_job = false;
        slot->connection.set_reserved(true);
      }
      in_flight.emplace(tag, std::move(pending));
      slot->connection.Send(tag, groups, events);
    }
    return true;
  }

  // Poll waits up to `timeout` for any connection or `wake_fd`, then lets
  // each connection handle its events.
  void Poll(int wake_fd, absl::Duration timeout,
            PipelinedConnection::Events& events) {
    std::vector<pollfd> fds;
    fds.push_back({wake_fd, POLLIN, 0});
    std::vector<Slot*> polled;
    for (Slot& slot : slots_) {
      if (slot.connection.socket() < 0) continue;
      fds.push_back(
          {slot.connection.socket(), slot.connection.poll_events(), 0});
      polled.push_back(&slot);
    }
    const int timeout_ms =
        static_cast<int>(absl::ToInt64Milliseconds(timeout)) + 1;
    const int ready = poll(fds.data(), fds.size(), timeout_ms);
    if (ready <= 0) return;  // Timeout or EINTR: the loop comes round again.
    if (fds[0].revents & POLLIN) {
      uint64_t count = 0;
      if (read(wake_fd, &count, sizeof(count)) < 0) {
        // EAGAIN only: nothing to drain.
      }
    }
    const absl::Time now = absl::Now();
    for (size_t i = 0; i < polled.size(); ++i) {
      Slot& slot = *polled[i];
      const bool was_up =
          slot.connection.state() != PipelinedConnection::State::kDown;
      const bool was_ready =
          slot.connection.state() == PipelinedConnection::State::kReady;
      slot.connection.OnPoll(fds[i + 1].revents, events);
      if (was_up &&
          slot.connection.state() == PipelinedConnection::State::kDown) {
        Backoff(slot, now);
      } else if (!was_ready && slot.connection.state() ==
                                   PipelinedConnection::State::kReady) {
        slot.backoff = options_.reconnect_backoff_min;
      }
    }
  }

  absl::Time Now() const {
    return options_.clock ? options_.clock() : absl::Now();
  }

  void CloseAll(const std::string& reason,
                PipelinedConnection::Events& events) {
    for (Slot& slot : slots_) slot.connection.Close(reason, events);
  }

 private:
  struct Slot {
    PipelinedConnection connection;
    absl::Time retry_at = absl::InfinitePast();
    absl::Duration backoff;
  };

  void Backoff(Slot& slot, absl::Time now) {
    slot.retry_at = now + slot.backoff;
    slot.backoff = std::min(slot.backoff * 2, options_.reconnect_backoff_max);
  }

  Slot* Choose(const std::string& account_id) {
    auto has_room = [this](const Slot& slot) {
      return slot.connection.state() == PipelinedConnection::State::kReady &&
             !slot.connection.reserved() &&
             slot.connection.jobs_in_flight() < options_.pipeline_depth_max;
    };
    Slot& preferred =
        slots_[std::hash<std::string>()(account_id) % slots_.size()];
    if (has_room(preferred)) return &preferred;
    Slot* best = nullptr;
    for (Slot& slot : slots_) {
      if (has_room(slot) &&
          (best == nullptr || slot.connection.jobs_in_flight() <
                                  best->connection.jobs_in_flight())) {
        best = &slot;
      }
    }
    return best;
  }

  const PostgresOptions& options_;
  std::vector<Slot> slots_;

 public:
  uint64_t next_tag_ = 0;  // Also used by the engine for second jobs.
};

PostgresEngine::PostgresEngine(const PostgresOptions& options)
    : options_(options),
      outstanding_max_(options.connections * options.pipeline_depth_max),
      pool_(std::make_unique<Pool>(options_)) {}

absl::StatusOr<std::unique_ptr<PostgresEngine>> PostgresEngine::Create(
    const PostgresOptions& options) {
  if (options.connections == 0 ||
      options.connections > kPostgresConnectionsMax) {
    return absl::InvalidArgumentError(absl::StrCat(
        "postgres connections must be 1 to ", kPostgresConnectionsMax));
  }
  if (options.pipeline_depth_max == 0 || options.accounts_max == 0) {
    return absl::InvalidArgumentError(
        "pipeline depth and accounts_max must be at least 1");
  }
  {
    // Schema first, on a plain blocking connection: start-up only.
    PGconn* setup = PQconnectdb(options.dsn.c_str());
    if (PQstatus(setup) != CONNECTION_OK) {
      absl::Status status = absl::UnavailableError(
          absl::StrCat("cannot connect to PostgreSQL at '",
                       RedactDsn(options.dsn), "': ", PQerrorMessage(setup)));
      PQfinish(setup);
      return status;
    }
    absl::Status schema = EnsureSchema(setup);
    PQfinish(setup);
    if (!schema.ok()) return schema;
  }
  std::unique_ptr<PostgresEngine> engine(new PostgresEngine(options));
  engine->wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (engine->wake_fd_ < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  engine->thread_ = std::thread([raw = engine.get()] { raw->Run(); });
  // Wait (bounded) for the pool's first connection, so that the first
  // operations find a database rather than kUnavailable.
  if (!engine->WaitForHealth(true, options.connect_timeout)) {
    return absl::UnavailableError(absl::StrCat(
        "PostgreSQL at '", RedactDsn(options.dsn), "' accepted no pooled ",
        "connection within ", absl::FormatDuration(options.connect_timeout)));
  }
  return engine;
}

bool PostgresEngine::Healthy() const {
  absl::MutexLock lock(&mu_);
  return healthy_;
}

bool PostgresEngine::WaitForHealth(bool healthy, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto reached = [this, healthy]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return healthy_ == healthy;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
}

void PostgresEngine::SetHealthy(bool healthy) {
  absl::MutexLock lock(&mu_);
  healthy_ = healthy;
}
PostgresEngine::~PostgresEngine() {
  Shutdown();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void PostgresEngine::Wake() {
  const uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof(one)) < 0) {
    // EAGAIN: the counter is already non-zero, the thread will wake.
  }
}

void PostgresEngine::Execute(Operation operation, OperationDone done) {
  if (absl::Status valid = ValidateOperation(operation); !valid.ok()) {
    std::move(done)(valid);
    return;
  }
  Pending pending;
  pending.operation = std::move(operation);
  pending.done = std::move(done);
  SubmitOrFail(pending);
}

namespace {

// RefuseBatchRequestIds: this engine claims request ids one operation per
// transaction (bank_change_once), not inside a batch; rather than apply a
// batched change without the promise its id makes, the whole batch is
// refused (nothing applied) naming the first such operation.
absl::Status RefuseBatchRequestIds(const std::vector<Operation>& operations) {
  for (size_t i = 0; i < operations.size(); ++i) {
    const Operation& operation = operations[i];
    if (operation.request_id.empty() ||
        operation.kind == OperationKind::kGetBalance) {
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "operation ", i, " carries request_id '", operation.request_id,
        "': the postgres engine does not keep request ids inside ApplyBatch "
        "yet; send idempotent changes as single RPCs, or the batch without "
        "request ids"));
  }
  return absl::OkStatus();
}

}  // namespace

void PostgresEngine::ExecuteBatch(std::vector<Operation> operations,
                                  bool atomic, BatchDone done) {
  absl::Status status = ValidateBatchSize(operations.size());
  if (status.ok() && options_.request_ids_enabled) {
    status = RefuseBatchRequestIds(operations);
  }
  if (!status.ok()) {
    std::move(done)(status);
    return;
  }
  Pending pending;
  pending.is_batch = true;
  pending.atomic = atomic;
  pending.batch = std::move(operations);
  pending.batch_done = std::move(done);
  SubmitOrFail(pending);
}

absl::Time PostgresEngine::Now() const {
  return options_.clock ? options_.clock() : absl::Now();
}

absl::Status PostgresEngine::Submit(Pending& pending) {
  absl::MutexLock lock(&mu_);
  if (shut_down_) return EngineShutDownError();
  if (!healthy_) return UnreachableError();
  if (outstanding_ >= outstanding_max_) {
    // Only a single operation's refusal has ever named the limit's source.
    const bool single = !pending.is_batch && !pending.is_sweep;
    return absl::ResourceExhaustedError(
        absl::StrCat("the postgres engine already has ", outstanding_max_,
                     " operations outstanding",
                     single ? " (--postgres_connections x pipeline depth)" : "",
                     "; try again later"));
  }
  ++outstanding_;
  submitted_.push_back(std::move(pending));
  return absl::OkStatus();
}

void PostgresEngine::SubmitOrFail(Pending& pending) {
  absl::Status status = Submit(pending);
  if (!status.ok()) {
    pending.Fail(status);  // Not moved: Submit moves only what it accepts.
    return;
  }
  Wake();
}

void PostgresEngine::SweepExpiredRequestIds(
    absl::AnyInvocable<void(absl::StatusOr<int64_t>) &&> done) {
  Pending pending;
  pending.is_sweep = true;
  pending.sweep_done = std::move(done);
  SubmitOrFail(pending);
}

void PostgresEngine::MaybeSweep(absl::Time now) {
  if (!options_.request_ids_enabled ||
      options_.request_id_sweep_interval <= absl::ZeroDuration() || sweeping_ ||
      now < next_sweep_at_) {
    return;
  }
  sweeping_ = true;
  SweepExpiredRequestIds([this](absl::StatusOr<int64_t> deleted) {
    // Runs on the I/O thread (or here, on refusal). A full chunk means more
    // may be expired: sweep again at once.
    sweeping_ = false;
    const bool full = deleted.ok() &&
                      *deleted >= static_cast<int64_t>(kRequestIdSweepRowsMax);
    next_sweep_at_ = Now() + (full ? absl::ZeroDuration()
                                   : options_.request_id_sweep_interval);
  });
}

void PostgresEngine::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
  }
  if (wake_fd_ >= 0) Wake();
  absl::MutexLock join_lock(&join_mu_);
  if (thread_.joinable()) thread_.join();
}

bool PostgresEngine::TakeSubmitted(std::deque<Pending>& into) {
  absl::MutexLock lock(&mu_);
  if (shut_down_ && outstanding_ == 0) return false;
  while (!submitted_.empty()) {
    into.push_back(std::move(submitted_.front()));
    submitted_.pop_front();
  }
  return true;
}

void PostgresEngine::Finished(size_t count) {
  if (count == 0) return;
  absl::MutexLock lock(&mu_);
  outstanding_ -= count;
}

void PostgresEngine::FinishBatchJob(
    Pending& pending, const std::vector<StatementResult>& results,
    std::deque<Pending>& waiting,
    absl::flat_hash_map<uint64_t, Pending>& in_flight,
    PipelinedConnection::Events& events, size_t& completed) {
  if (!pending.atomic) {
    std::move(pending.batch_done)(
        InterpretNonAtomicBatch(pending.batch, options_.accounts_max,
                                pending.non_atomic, results, absl::OkStatus()));
    ++completed;
    return;
  }
  if (!pending.second_job) {
    // Job 1 answered: plan on the locked balances, then job 2 on the same
    // (still reserved) connection.
    pending.step =
        PlanAtomicWrites(pending.batch, options_.accounts_max, results);
    pending.second_job = true;
    PipelinedConnection* connection = pending.connection;
    const std::vector<StatementGroup> groups = pending.step.groups;
    const uint64_t tag = pool_->next_tag_++;
    in_flight.emplace(tag, std::move(pending));
    connection->Send(tag, groups, events);
    return;
  }
  pending.connection->set_reserved(false);
  absl::Status error = pending.step.error;
  bool retry = pending.step.retry;
  if (error.ok() && pending.step.applies) {
    CommitOutcome commit = ReadCommit(results);
    error = commit.error;
    retry = commit.retry;
  }
  if (retry && pending.attempts < options_.retries_max) {
    ++pending.attempts;
    pending.second_job = false;
    pending.connection = nullptr;
    waiting.push_front(std::move(pending));
    return;
  }
  if (!error.ok()) {
    std::move(pending.batch_done)(error);
  } else {
    std::move(pending.batch_done)(std::move(pending.step.results));
  }
  ++completed;
}

void PostgresEngine::Run() {
  std::deque<Pending> waiting;
  absl::flat_hash_map<uint64_t, Pending> in_flight;
  absl::Time drain_deadline = absl::InfiniteFuture();
  while (TakeSubmitted(waiting)) {
    PipelinedConnection::Events events;
    size_t completed = 0;
    auto complete = [&completed](Pending& pending,
                                 absl::StatusOr<OperationResult> result) {
      std::move(pending.done)(std::move(result));
      ++completed;
    };
    const absl::Time now = absl::Now();
    MaybeSweep(Now());
    if (drain_deadline == absl::InfiniteFuture()) {
      absl::MutexLock lock(&mu_);
      if (shut_down_) drain_deadline = now + kShutdownDrainMax;
    }
    if (now > drain_deadline) {
      pool_->CloseAll("shutdown: the database did not answer in time", events);
    }
    const absl::Duration timeout = pool_->StartDueReconnects(now);
    if (!pool_->Dispatch(waiting, in_flight, events)) {
      for (Pending& pending : waiting) {
        pending.Fail(UnreachableError());
        ++completed;
      }
      waiting.clear();
    }
    SetHealthy(pool_->AnyReady());
    if (events.lost.empty() && events.finished.empty()) {
      pool_->Poll(wake_fd_, timeout, events);
    }
    SetHealthy(pool_->AnyReady());
    for (size_t i = 0; i < events.finished.size(); ++i) {
      PipelinedConnection::FinishedJob& job = events.finished[i];
      auto it = in_flight.find(job.tag);
      if (it == in_flight.end()) continue;
      Pending pending = std::move(it->second);
      in_flight.erase(it);
      if (pending.is_batch) {
        FinishBatchJob(pending, job.results, waiting, in_flight, events,
                       completed);
        continue;
      }
      if (pending.is_sweep) {
        std::move(pending.sweep_done)(ReadSweep(job.results));
        ++completed;
        continue;
      }
      Outcome outcome =
          pending.once ? InterpretChangeOnce(pending.operation,
                                             options_.accounts_max, job.results)
                       : InterpretResults(pending.operation,
                                          options_.accounts_max, job.results);
      if (outcome.retry && pending.attempts < options_.retries_max) {
        ++pending.attempts;
        waiting.push_front(std::move(pending));
        continue;
      }
      complete(pending, std::move(outcome.result));
    }
    for (PipelinedConnection::FinishedJob& job : events.lost) {
      auto it = in_flight.find(job.tag);
      if (it == in_flight.end()) continue;
      Pending pending = std::move(it->second);
      in_flight.erase(it);
      const absl::Status lost = LostError(events.lost_reason);
      if (pending.is_sweep) {
        pending.Fail(lost);
        ++completed;
      } else if (!pending.is_batch) {
        complete(pending, lost);
      } else if (!pending.atomic) {
        std::move(pending.batch_done)(
            InterpretNonAtomicBatch(pending.batch, options_.accounts_max,
                                    pending.non_atomic, job.results, lost));
        ++completed;
      } else if (pending.second_job && pending.step.applies) {
        // COMMIT was sent: every operation's outcome is unknown.
        std::move(pending.batch_done)(BatchResults(pending.batch.size(), lost));
        ++completed;
      } else if (pending.second_job) {
        std::move(pending.batch_done)(std::move(pending.step.results));
        ++completed;
      } else {
        // Nothing was committed: the batch was not applied.
        std::move(pending.batch_done)(absl::UnavailableError(absl::StrCat(
            "the connection to the database was lost; the atomic batch was "
            "not applied (",
            events.lost_reason, ")")));
        ++completed;
      }
    }
    Finished(completed);
  }
}

}  // namespace bank
