// PipelinedConnection: one libpq connection in non-blocking pipeline mode,
// driven by its owner's poll() loop. It connects (PQconnectStart /
// PQconnectPoll), prepares every statement of postgres_sql.h, then carries
// jobs: each job is a plan's statements followed by one Sync, and finishes
// when that Sync's result arrives, with one StatementResult per statement.
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

  struct FinishedJob {
    uint64_t tag;
    std::vector<StatementResult> results;
  };

  // Events is what one pass over the connection produced.
  struct Events {
    std::vector<FinishedJob> finished;
    // Jobs whose connection broke before their Sync: outcome unknown.
    std::vector<uint64_t> lost;
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
  void Send(uint64_t tag, const std::vector<StatementCall>& calls,
            Events& events);

  // Close drops the connection; every job in flight is reported lost.
  void Close(const std::string& reason, Events& events);

 private:
  struct Job {
    uint64_t tag;
    size_t statements;
    std::vector<StatementResult> results;
  };
  static constexpr uint64_t kPrepareTag = UINT64_MAX;

  void OnConnectProgress(Events& events);
  void ReadResults(Events& events);
  void Flush(Events& events);
  void Fail(Events& events);

  PGconn* connection_ = nullptr;
  State state_ = State::kDown;
  int connect_poll_ = 0;  // Last PostgresPollingStatusType while connecting.
  bool want_write_ = false;
  std::deque<Job> jobs_;
};

}  // namespace bank

#endif  // BANK_SERVICE_POSTGRES_PIPELINED_CONNECTION_H_
