// wire_statement: libpq's asynchronous API driven with poll() and deadlines.
#include "wire_statement.h"

#include <poll.h>

#include <algorithm>

namespace pgthaw::bench {
namespace {

constexpr int kPollSliceMs = 20;  // how often a wait looks at its stop flag

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

void wait_socket(int fd, short events, int timeout_ms) {
  if (fd < 0) return;
  pollfd p{fd, events, 0};
  poll(&p, 1, timeout_ms);
}

}  // namespace

Result<std::unique_ptr<WireConnection>> WireConnection::Connect(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (conn == nullptr) return Status::ResourceExhausted("PQconnectdb: out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string error = trim(PQerrorMessage(conn));
    PQfinish(conn);
    return Status::Unavailable("connect: " + error);
  }
  return std::make_unique<WireConnection>(conn);
}

WireConnection::WireConnection(PGconn* conn) : conn_(conn), cancel_(PQgetCancel(conn)) {}

WireConnection::~WireConnection() {
  if (cancel_ != nullptr) PQfreeCancel(cancel_);
  PQfinish(conn_);
}

Status WireConnection::Send(const std::string& sql, bool single_row) {
  if (!usable_) return Status::Unavailable("connection abandoned");
  if (PQsendQuery(conn_, sql.c_str()) == 0) {
    usable_ = false;
    return Status::Unavailable("PQsendQuery: " + trim(PQerrorMessage(conn_)));
  }
  if (single_row) PQsetSingleRowMode(conn_);
  sent_.Restart();
  return Status::Ok();
}

StatementEnd WireConnection::Finish(const StatementLimits& limits, const std::atomic<bool>* stop) {
  StatementEnd end;
  auto record_error = [&](const PGresult* r) {
    if (end.failed) return;  // the first error is the statement's
    end.failed = true;
    const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    end.sqlstate = state ? state : "";
    end.message = primary ? primary : trim(PQresultErrorMessage(r));
  };
  for (;;) {
    while (!PQisBusy(conn_)) {
      PGresult* r = PQgetResult(conn_);
      if (r == nullptr) {
        end.ended = true;
        end.ms = sent_.ElapsedMs();
        if (PQstatus(conn_) == CONNECTION_BAD) usable_ = false;
        return end;
      }
      switch (PQresultStatus(r)) {
        case PGRES_SINGLE_TUPLE:
          ++end.rows;
          break;
        case PGRES_TUPLES_OK:
          end.rows += PQntuples(r);
          break;
        case PGRES_FATAL_ERROR:
        case PGRES_BAD_RESPONSE:
          record_error(r);
          break;
        default:
          break;
      }
      PQclear(r);
    }
    double now = sent_.ElapsedMs();
    bool stopping = stop != nullptr && stop->load();
    if (end.cancel_sent_ms < 0 &&
        (stopping || now >= limits.cancel_after_ms || now >= limits.max_ms)) {
      char error[256];
      PQcancel(cancel_, error, sizeof error);  // a failed send shows as a missing end
      end.cancel_sent_ms = now;
      end.cancelled_on_stop = stopping && now < limits.cancel_after_ms;
    }
    if (end.cancel_sent_ms >= 0 && now - end.cancel_sent_ms > limits.grace_ms) {
      end.ms = now;
      end.failed = true;
      if (end.message.empty()) end.message = "no end within the grace period after a cancel";
      usable_ = false;
      return end;
    }
    wait_socket(PQsocket(conn_), POLLIN, kPollSliceMs);
    if (PQconsumeInput(conn_) == 0) {
      // A broken connection: libpq turns what is left into an error result.
      end.failed = true;
      if (end.message.empty()) end.message = trim(PQerrorMessage(conn_));
      usable_ = false;
      while (PGresult* r = PQgetResult(conn_)) PQclear(r);
      end.ended = true;
      end.ms = sent_.ElapsedMs();
      return end;
    }
  }
}

StatementEnd WireConnection::Run(const std::string& sql, const StatementLimits& limits,
                                 const std::atomic<bool>* stop) {
  Status sent = Send(sql, limits.single_row);
  if (!sent.ok()) {
    StatementEnd end;
    end.ended = true;
    end.failed = true;
    end.message = sent.message();
    return end;
  }
  return Finish(limits, stop);
}

ConnectionBurst::ConnectionBurst(const std::string& conninfo, int n) {
  for (int i = 0; i < n; ++i) {
    PGconn* conn = PQconnectStart(conninfo.c_str());
    if (conn == nullptr || PQstatus(conn) == CONNECTION_BAD) {
      Fail(conn, conn ? trim(PQerrorMessage(conn)) : "PQconnectStart: out of memory");
      continue;
    }
    // libpq: poll as if PQconnectPoll had last returned PGRES_POLLING_WRITING.
    pending_.push_back({conn, PGRES_POLLING_WRITING});
  }
}

ConnectionBurst::~ConnectionBurst() {
  for (const Pending& p : pending_) PQfinish(p.conn);
}

void ConnectionBurst::Fail(PGconn* conn, const std::string& why) {
  ++failed_;
  if (first_error_.empty()) first_error_ = why;
  if (conn) PQfinish(conn);
}

void ConnectionBurst::Poll(double until_ms, const std::atomic<bool>* stop) {
  while (!pending_.empty() && start_.ElapsedMs() < until_ms && !(stop && stop->load())) {
    std::vector<pollfd> fds;
    for (const Pending& p : pending_) {
      fds.push_back(
          {PQsocket(p.conn), short(p.state == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0});
    }
    poll(fds.data(), fds.size(), kPollSliceMs);
    std::vector<Pending> still;
    for (size_t i = 0; i < pending_.size(); ++i) {
      Pending p = pending_[i];
      if (fds[i].revents != 0) p.state = PQconnectPoll(p.conn);
      if (p.state == PGRES_POLLING_OK) {
        open_.push_back(std::make_unique<WireConnection>(p.conn));
        connect_ms_.push_back(start_.ElapsedMs());
      } else if (p.state == PGRES_POLLING_FAILED) {
        Fail(p.conn, trim(PQerrorMessage(p.conn)));
      } else {
        still.push_back(p);
      }
    }
    pending_ = std::move(still);
  }
}

void ConnectionBurst::GiveUp(const std::string& why) {
  for (const Pending& p : pending_) Fail(p.conn, why);
  pending_.clear();
}

}  // namespace pgthaw::bench
