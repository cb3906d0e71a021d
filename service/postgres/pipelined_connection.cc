#include "service/postgres/pipelined_connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace bank {
namespace {

constexpr int kParamsMax = 8;  // bank_change_once.

StatementResult ToStatementResult(PGresult* result) {
  StatementResult out;
  switch (PQresultStatus(result)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK: {
      out.kind = StatementResult::Kind::kRows;
      const int rows = PQntuples(result);
      const int columns = PQnfields(result);
      out.rows.resize(rows);
      for (int row = 0; row < rows; ++row) {
        out.rows[row].reserve(columns);
        for (int column = 0; column < columns; ++column) {
          if (PQgetisnull(result, row, column)) {
            out.rows[row].emplace_back(std::nullopt);
          } else {
            out.rows[row].emplace_back(PQgetvalue(result, row, column));
          }
        }
      }
      break;
    }
    case PGRES_PIPELINE_ABORTED:
      out.kind = StatementResult::Kind::kAborted;
      break;
    default: {
      out.kind = StatementResult::Kind::kError;
      const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
      out.sqlstate = state != nullptr ? state : "";
      out.message =
          std::string(absl::StripAsciiWhitespace(PQresultErrorMessage(result)));
      break;
    }
  }
  return out;
}

}  // namespace

PipelinedConnection::~PipelinedConnection() {
  if (connection_ != nullptr) PQfinish(connection_);
}

bool PipelinedConnection::StartConnect(const std::string& dsn) {
  if (state_ != State::kDown) return false;
  connection_ = PQconnectStart(dsn.c_str());
  if (connection_ == nullptr || PQstatus(connection_) == CONNECTION_BAD) {
    if (connection_ != nullptr) PQfinish(connection_);
    connection_ = nullptr;
    return false;
  }
  state_ = State::kConnecting;
  // As libpq's documentation says: act as if the last poll said "writing".
  connect_poll_ = PGRES_POLLING_WRITING;
  return true;
}

int PipelinedConnection::socket() const {
  return connection_ != nullptr ? PQsocket(connection_) : -1;
}

short PipelinedConnection::poll_events() const {
  if (state_ == State::kDown) return 0;
  if (state_ == State::kConnecting) {
    return connect_poll_ == PGRES_POLLING_READING ? POLLIN : POLLOUT;
  }
  // Always read (results, and the server closing on us); write while
  // libpq holds output it could not send.
  return want_write_ ? (POLLIN | POLLOUT) : POLLIN;
}

void PipelinedConnection::OnPoll(short revents, Events& events) {
  if (state_ == State::kDown || revents == 0) return;
  if (state_ == State::kConnecting) {
    OnConnectProgress(events);
    return;
  }
  if (revents & (POLLIN | POLLERR | POLLHUP)) {
    if (PQconsumeInput(connection_) == 0) {
      Fail(events);
      return;
    }
    ReadResults(events);
    if (state_ == State::kDown) return;
  }
  if (want_write_ && (revents & POLLOUT)) Flush(events);
}

void PipelinedConnection::OnConnectProgress(Events& events) {
  connect_poll_ = PQconnectPoll(connection_);
  if (connect_poll_ == PGRES_POLLING_FAILED) {
    Fail(events);
    return;
  }
  if (connect_poll_ != PGRES_POLLING_OK) return;
  // Notices (e.g. ROLLBACK after COMMIT: "no transaction in progress") are
  // expected and carry nothing for us.
  PQsetNoticeProcessor(
      connection_, [](void*, const char*) {}, nullptr);
  if (PQsetnonblocking(connection_, 1) != 0 ||
      PQenterPipelineMode(connection_) != 1) {
    Fail(events);
    return;
  }
  for (int i = 0; i < kStatementCount; ++i) {
    const Statement statement = static_cast<Statement>(i);
    if (PQsendPrepare(connection_, StatementName(statement),
                      StatementSql(statement), 0, nullptr) != 1) {
      Fail(events);
      return;
    }
  }
  if (PQpipelineSync(connection_) != 1) {
    Fail(events);
    return;
  }
  Job prepare;
  prepare.tag = kPrepareTag;
  prepare.group_sizes = {static_cast<size_t>(kStatementCount)};
  prepare.group_syncs = {true};
  jobs_.push_back(std::move(prepare));
  state_ = State::kPreparing;
  Flush(events);
}

void PipelinedConnection::Send(uint64_t tag,
                               const std::vector<StatementGroup>& groups,
                               Events& events) {
  if (state_ != State::kReady) {
    events.lost.push_back(FinishedJob{tag, {}});
    return;
  }
  Job job;
  job.tag = tag;
  for (const StatementGroup& group : groups) {
    for (const StatementCall& call : group.calls) {
      const char* values[kParamsMax];
      const int count = static_cast<int>(call.params.size());
      for (int i = 0; i < count && i < kParamsMax; ++i) {
        values[i] = call.params[i].c_str();
      }
      if (PQsendQueryPrepared(connection_, StatementName(call.statement), count,
                              values, nullptr, nullptr, 0) != 1) {
        events.lost.push_back(FinishedJob{tag, {}});
        Fail(events);
        return;
      }
    }
    const int ended = group.sync ? PQpipelineSync(connection_)
                                 : PQsendFlushRequest(connection_);
    if (ended != 1) {
      events.lost.push_back(FinishedJob{tag, {}});
      Fail(events);
      return;
    }
    job.group_sizes.push_back(group.calls.size());
    job.group_syncs.push_back(group.sync);
  }
  jobs_.push_back(std::move(job));
  Flush(events);
}

bool PipelinedConnection::Advance(Job& job) {
  // A flush-ended group is done once each of its statements answered; a
  // Sync-ended one when its Sync answers (see ReadResults).
  while (job.group < job.group_sizes.size() && !job.group_syncs[job.group] &&
         job.group_results == job.group_sizes[job.group]) {
    job.done_results += job.group_results;
    job.group_results = 0;
    ++job.group;
  }
  return job.group == job.group_sizes.size();
}

void PipelinedConnection::Flush(Events& events) {
  const int flushed = PQflush(connection_);
  if (flushed < 0) {
    Fail(events);
    return;
  }
  want_write_ = flushed == 1;
}

void PipelinedConnection::ReadResults(Events& events) {
  // A NULL ends each statement's results; two in a row means libpq has
  // nothing more for us right now.
  bool last_was_null = false;
  while (!jobs_.empty() && PQisBusy(connection_) == 0) {
    PGresult* result = PQgetResult(connection_);
    if (result == nullptr) {
      if (last_was_null) break;
      last_was_null = true;
      continue;
    }
    last_was_null = false;
    Job& job = jobs_.front();
    if (PQresultStatus(result) == PGRES_PIPELINE_SYNC) {
      PQclear(result);
      job.done_results += job.group_results;
      job.group_results = 0;
      ++job.group;
    } else {
      if (job.group < job.group_sizes.size() &&
          job.group_results < job.group_sizes[job.group]) {
        job.results.push_back(ToStatementResult(result));
        ++job.group_results;
      }
      PQclear(result);
    }
    if (!Advance(job)) continue;
    Job finished = std::move(job);
    jobs_.pop_front();
    if (finished.tag == kPrepareTag) {
      for (const StatementResult& prepared : finished.results) {
        if (prepared.kind != StatementResult::Kind::kRows) {
          Fail(events);
          return;
        }
      }
      state_ = State::kReady;
    } else {
      events.finished.push_back(
          FinishedJob{finished.tag, std::move(finished.results)});
    }
  }
  if (PQstatus(connection_) == CONNECTION_BAD) Fail(events);
}

void PipelinedConnection::Close(const std::string& reason, Events& events) {
  if (state_ == State::kDown) return;
  Fail(events);
  events.lost_reason = reason;
}

void PipelinedConnection::Fail(Events& events) {
  if (connection_ != nullptr) {
    events.lost_reason =
        std::string(absl::StripAsciiWhitespace(PQerrorMessage(connection_)));
    PQfinish(connection_);
    connection_ = nullptr;
  }
  for (Job& job : jobs_) {
    if (job.tag == kPrepareTag) continue;
    // Only the groups that fully answered are known.
    job.results.resize(job.done_results);
    events.lost.push_back(FinishedJob{job.tag, std::move(job.results)});
  }
  jobs_.clear();
  want_write_ = false;
  reserved_ = false;
  state_ = State::kDown;
}

}  // namespace bank
