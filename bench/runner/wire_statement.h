// wire_statement: SQL over one libpq connection with bounded waits, for the
// noisy-neighbour rows (noisy_neighbour.h). Results are read as they arrive
// (row by row on request, so a 20-million-row result is counted, not held);
// a CancelRequest (PQcancel) goes out after a delay, past a hard bound, or
// when the caller's stop flag rises; a statement that has not ended a grace
// period after its cancel is abandoned and the connection must be dropped.
// Also: N connections opened at once (nonblocking connects polled together).
// A WireConnection belongs to one thread.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "bench/engine/stopwatch.h"
#include "common/status.h"

namespace pgthaw::bench {

inline constexpr double kNoLimit = std::numeric_limits<double>::infinity();

struct StatementLimits {
  double cancel_after_ms = kNoLimit;  // a CancelRequest this long after the send
  double max_ms = kNoLimit;           // the same, as a safety bound (not the abuse itself)
  double grace_ms = 5000;             // after any cancel, how long to wait for the end
  bool single_row = false;            // PQsetSingleRowMode: count rows as they stream
};

// How one statement ended.
struct StatementEnd {
  bool ended = false;    // false: abandoned after a cancel; drop the connection
  bool failed = false;   // an error result or a broken connection
  std::string sqlstate;  // the error's SQLSTATE ("" on success or a client-side error)
  std::string message;   // the error's primary message
  int64_t rows = 0;
  double ms = 0;                   // from the send to the end (or to abandonment)
  double cancel_sent_ms = -1;      // when the CancelRequest went out, from the send; -1: none
  bool cancelled_on_stop = false;  // that cancel came from the stop flag
};

class WireConnection {
 public:
  // Blocking connect (the conninfo should carry connect_timeout).
  static Result<std::unique_ptr<WireConnection>> Connect(const std::string& conninfo);
  // Takes a connection that is already CONNECTION_OK.
  explicit WireConnection(PGconn* conn);
  ~WireConnection();
  WireConnection(const WireConnection&) = delete;
  WireConnection& operator=(const WireConnection&) = delete;

  // Sends SQL (simple protocol); Finish() then waits for its end.
  Status Send(const std::string& sql, bool single_row = false);
  StatementEnd Finish(const StatementLimits& limits, const std::atomic<bool>* stop = nullptr);
  StatementEnd Run(const std::string& sql, const StatementLimits& limits,
                   const std::atomic<bool>* stop = nullptr);
  bool usable() const { return usable_; }

 private:
  PGconn* conn_;
  PGcancel* cancel_;
  Stopwatch sent_;
  bool usable_ = true;
};

// N connections started at once (nonblocking), polled to completion together.
class ConnectionBurst {
 public:
  ConnectionBurst(const std::string& conninfo, int n);
  ~ConnectionBurst();  // closes every connection, open or pending
  ConnectionBurst(const ConnectionBurst&) = delete;
  ConnectionBurst& operator=(const ConnectionBurst&) = delete;

  // Polls until none is pending, UNTIL_MS after the burst's start passes, or
  // STOP rises; may be called again to go on.
  void Poll(double until_ms, const std::atomic<bool>* stop);
  // Closes the pending ones, counting them as failed.
  void GiveUp(const std::string& why);

  double elapsed_ms() const { return start_.ElapsedMs(); }
  size_t pending() const { return pending_.size(); }
  size_t opened() const { return open_.size(); }
  int failed() const { return failed_; }
  const std::vector<double>& connect_ms() const { return connect_ms_; }  // from the start
  const std::string& first_error() const { return first_error_; }

 private:
  struct Pending {
    PGconn* conn;
    PostgresPollingStatusType state;
  };
  void Fail(PGconn* conn, const std::string& why);
  Stopwatch start_;
  std::vector<Pending> pending_;
  std::vector<std::unique_ptr<WireConnection>> open_;
  std::vector<double> connect_ms_;
  int failed_ = 0;
  std::string first_error_;
};

}  // namespace pgthaw::bench
