// PipelinedConnection: one libpq connection in non-blocking pipeline mode,
// driven by its owner's poll() loop. It connects (PQconnectStart /
// PQconnectPoll), prepares every statement of postgres_sql.h, then carries
// jobs: each job is one or more groups of statements, each group ended by a
// pipeline Sync (its own implicit transaction) or by a flush request (its
// results come back at once while its transaction stays open, for a second
// job to finish). A job finishes when its last group has answered, with one
// StatementResult per statement of all its groups, in order.
//
// Thread safety: none; one thread (the engine's I/O thread) owns it.

#ifndef BANK_SERVICE_POSTGRES_PIPELINED_CONNECTION_H_
#define BANK_SERVICE_POSTGRES_PIPELINED_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "service/postgres/postgres_sql.h"

typedef struct pg_conn PGconn;

namespace bank {

class PipelinedConnection {
 public:
  enum class State { kDown, kConnecting, kPreparing, kReady };

  struct StatementGroup {
    std::vector<StatementCall> calls;
    bool sync = true;  // false: end with a flush request instead.
  };

  struct FinishedJob {
    uint64_t tag;
    std::vector<StatementResult> results;
  };

  // Events is what one pass over the connection produced.
  struct Events {
    std::vector<FinishedJob> finished;
    // Jobs whose connection broke before their last group answered, with
    // the results of the groups that did answer (the rest: outcome unknown).
    std::vector<FinishedJob> lost;
    std::string lost_reason;  // Set when the connection went down.
  };

  PipelinedConnection() = default;
  ~PipelinedConnection();
  PipelinedConnection(const PipelinedConnection&) = delete;
  PipelinedConnection& operator=(const PipelinedConnection&) = delete;

  State state() const { return state_; }
  size_t jobs_in_flight() const { return jobs_.size(); }

  // StartConnect begins connecting (state kDown only). Answers false, staying
  // kDown, when libpq cannot even start.
  bool StartConnect(const std::string& dsn);

  // Socket and the poll() events it waits for; -1 when kDown.
  int socket() const;
  short poll_events() const;

  // OnPoll handles poll()'s revents for socket(), appending to `events`.
  void OnPoll(short revents, Events& events);

  // Send queues a job (state kReady). On a broken connection the job is
  // reported lost in `events` along with every other job.
  void Send(uint64_t tag, const std::vector<StatementGroup>& groups,
            Events& events);

  // reserved: an atomic batch holds the connection between its two jobs;
  // nothing else may be sent on it meanwhile. Cleared when it goes down.
  bool reserved() const { return reserved_; }
  void set_reserved(bool reserved) { reserved_ = reserved; }

  // Close drops the connection; every job in flight is reported lost.
  void Close(const std::string& reason, Events& events);

 private:
  struct Job {
    uint64_t tag;
    std::vector<size_t> group_sizes;
    std::vector<bool> group_syncs;
    size_t group = 0;          // The group being answered.
    size_t group_results = 0;  // Its results so far.
    std::vector<StatementResult> results;
    size_t done_results = 0;  // Results of the groups fully answered.
  };

  // Advance moves the front job past finished groups; answers true when the
  // whole job is done.
  static bool Advance(Job& job);
  static constexpr uint64_t kPrepareTag = UINT64_MAX;

  void OnConnectProgress(Events& events);
  void ReadResults(Events& events);
  void Flush(Events& events);
  void Fail(Events& events);

  PGconn* connection_ = nullptr;
  State state_ = State::kDown;
  int connect_poll_ = 0;  // Last PostgresPollingStatusType while connecting.
  bool want_write_ = false;
  bool reserved_ = false;
  std::deque<Job> jobs_;
};

}  // namespace bank

#endif  // BANK_SERVICE_POSTGRES_PIPELINED_CONNECTION_H_
