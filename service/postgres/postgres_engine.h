// PostgresEngine: an AccountEngine whose balances live in PostgreSQL, so that
// any number of stateless bank_server replicas can share one ledger.
//
// Concurrency across replicas is the database's job, done with one statement
// or one short transaction per operation (see postgres_sql.h for the SQL):
//   - deposit and withdraw are one conditional UPDATE each (no read-then-write
//     race: the article's lost update cannot happen, however many servers);
//   - a transfer locks both rows in ascending id order and updates them in
//     one transaction, so opposite transfers never deadlock;
//   - serialization failures and deadlocks, should the database report any,
//     are retried up to options.retries_max times, then kUnavailable.
//
// Request ids (the contract of idempotent_engine.h) are kept in the
// database, not in this process: a change with a request id is one call of
// bank_change_once, which claims the id, applies the change and stores its
// outcome in the table bank_request_ids in one transaction (see
// postgres_request_ids.h). So a repeat reaching another replica, or this one
// after a restart, answers the first outcome, and the same id sent to two
// replicas at once applies once. Ids expire options.request_id_ttl after
// their first use; the I/O thread deletes expired rows in chunks of
// kRequestIdSweepRowsMax every options.request_id_sweep_interval (and at
// once again while chunks come back full). There is no count limit
// (--request_ids_max): the table lives on the database's disk.
//
// Asynchronous: Execute() never touches the network. It queues the operation
// and wakes the engine's one I/O thread, which keeps a pool of libpq
// connections in non-blocking pipeline mode (many operations in flight on
// each connection, each one its own Sync, i.e. its own implicit transaction)
// and drives them with poll(). Completions run on that thread.
//
// Limits and failures:
//   - at most connections * pipeline_depth_max operations outstanding; one
//     more answers kResourceExhausted at once;
//   - while no connection is up, operations answer kUnavailable at once and
//     Healthy() is false;
//   - a lost connection is reconnected with exponential backoff; the
//     operations it carried answer kUnavailable (their outcome is unknown:
//     the database may have committed them).
//
// Ordering: an account's operations go to the connection its id hashes to
// while that connection is up and has room, so operations on one account
// from one thread apply in submission order; when it is full or down they
// may take another connection, and operations on different accounts from
// one thread may apply in any order (each has its own completion). Across
// replicas the database's commit order is the order.
//
// Thread safety: as AccountEngine: every method from any thread.

#ifndef BANK_SERVICE_POSTGRES_POSTGRES_ENGINE_H_
#define BANK_SERVICE_POSTGRES_POSTGRES_ENGINE_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/engine/account_engine.h"
#include "service/engine/engine_factory.h"
#include "service/engine/request_id_table.h"
#include "service/postgres/pipelined_connection.h"

namespace bank {

inline constexpr size_t kPostgresConnectionsDefault = 4;
inline constexpr size_t kPostgresConnectionsMax = 256;
inline constexpr size_t kPipelineDepthMaxDefault = 256;
inline constexpr int kRetriesMaxDefault = 5;
inline constexpr absl::Duration kRequestIdSweepIntervalDefault =
    absl::Minutes(1);

struct PostgresOptions {
  // libpq connection string (key=value or postgresql:// URI). Must not hold a
  // password: use PGPASSWORD or a passfile (see CheckDsnHasNoPassword).
  std::string dsn;
  size_t connections = kPostgresConnectionsDefault;
  // Operations in flight on one connection's pipeline.
  size_t pipeline_depth_max = kPipelineDepthMaxDefault;
  size_t accounts_max = kAccountsMaxDefault;
  // Retries after a serialization failure or deadlock, then kUnavailable.
  int retries_max = kRetriesMaxDefault;
  absl::Duration reconnect_backoff_min = absl::Milliseconds(50);
  absl::Duration reconnect_backoff_max = absl::Seconds(2);
  // How long Create() waits for the database at start.
  absl::Duration connect_timeout = absl::Seconds(30);
  // Request ids: when false, request_id is ignored (every change applies).
  bool request_ids_enabled = true;
  absl::Duration request_id_ttl = kRequestIdTtlDefault;
  // How often expired ids are swept; ZeroDuration: never (tests sweep by
  // calling SweepExpiredRequestIds).
  absl::Duration request_id_sweep_interval = kRequestIdSweepIntervalDefault;
  // The clock request ids are stamped and expired with; null: absl::Now.
  // Tests inject one.
  std::function<absl::Time()> clock;
};

// RedactDsn answers `dsn` with any password replaced by "***", for messages.
// A DSN that libpq cannot parse is answered as "(unparsable DSN)".
std::string RedactDsn(const std::string& dsn);

// CheckDsnHasNoPassword answers kInvalidArgument when `dsn` holds a password
// (it would show in `ps` and in shell history) or cannot be parsed.
absl::Status CheckDsnHasNoPassword(const std::string& dsn);

class PostgresEngine final : public AccountEngine {
 public:
  // Create connects, creates the schema if missing (or checks its version:
  // kFailedPrecondition for a schema newer than this binary knows), opens the
  // pool and answers once the first pooled connection is ready. kUnavailable
  // when the database cannot be reached within options.connect_timeout.
  static absl::StatusOr<std::unique_ptr<PostgresEngine>> Create(
      const PostgresOptions& options);

  ~PostgresEngine() override;

  void Execute(Operation operation, OperationDone done) override;
  // ExecuteBatch: see postgres_batch.h. A batch counts as one outstanding
  // operation and travels on one connection; an atomic batch is one
  // transaction that locks its accounts in ascending id order.
  void ExecuteBatch(std::vector<Operation> operations, bool atomic,
                    BatchDone done) override;
  void Shutdown() override;
  const char* Name() const override { return "postgres"; }
  // Healthy: at least one pooled connection is up.
  bool Healthy() const override;

  // SweepExpiredRequestIds deletes up to kRequestIdSweepRowsMax request ids
  // expired by now and answers how many it deleted (or why not: as
  // Execute's statuses). The I/O thread runs the same sweep periodically.
  void SweepExpiredRequestIds(
      absl::AnyInvocable<void(absl::StatusOr<int64_t>) &&> done);

  // WaitForHealth waits at most `timeout` until Healthy() == `healthy`, and
  // answers whether it is. For start-up and tests.
  bool WaitForHealth(bool healthy, absl::Duration timeout) const;

 private:
  struct Pending;
  class Pool;

  explicit PostgresEngine(const PostgresOptions& options);

  // Run is the I/O thread's loop; see postgres_engine.cc.
  void Run();
  // TakeSubmitted moves newly submitted operations to the I/O thread; answers
  // false once the engine is shut down and nothing is outstanding.
  bool TakeSubmitted(std::deque<Pending>& into);
  void Finished(size_t count);
  void SetHealthy(bool healthy);
  void FinishBatchJob(Pending& pending,
                      const std::vector<StatementResult>& results,
                      std::deque<Pending>& waiting,
                      absl::flat_hash_map<uint64_t, Pending>& in_flight,
                      PipelinedConnection::Events& events, size_t& completed);
  void Wake();
  absl::Time Now() const;
  // Submit moves `pending` into the queue (counted as outstanding) or
  // answers why not, leaving it untouched.
  absl::Status Submit(Pending& pending);
  // SubmitOrFail submits `pending` and wakes the I/O thread, or answers
  // Submit's refusal to the pending's own completion (Pending::Fail): every
  // entry point's way in.
  void SubmitOrFail(Pending& pending);
  // MaybeSweep submits the periodic sweep when one is due (I/O thread).
  void MaybeSweep(absl::Time now);

  const PostgresOptions options_;
  const size_t outstanding_max_;
  int wake_fd_ = -1;  // eventfd: Execute and Shutdown wake the I/O thread.

  mutable absl::Mutex mu_;
  bool healthy_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Pending> submitted_ ABSL_GUARDED_BY(mu_);
  size_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;  // Submitted, not completed.
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;

  absl::Mutex join_mu_;  // Serialises Shutdown's join.
  std::thread thread_;
  std::unique_ptr<Pool> pool_;  // I/O thread only.
  // I/O thread only: when the next periodic sweep is due, and whether one
  // is outstanding.
  absl::Time next_sweep_at_ = absl::InfinitePast();
  bool sweeping_ = false;
};

}  // namespace bank

#endif  // BANK_SERVICE_POSTGRES_POSTGRES_ENGINE_H_
