// ConnectionActivity: what pg_stat_activity and pg_stat_database show of a
// tenant's Postgres connections.
//
// The connections of a tenant share one engine backend, so Postgres' own
// statistics know one session. The listener knows each connection: it
// records here when one opens, sends a batch, gets its turn on the
// session, ends the batch and closes; the engine's guest reads the
// resulting report (Report) through /dev/pgthaw-connections whenever a
// query reads the template's pg_stat_activity or pg_stat_database
// (engine/connection_views.h defines the JSON). pg_stat_database's session
// counters are the tenant's since this server started (Postgres keeps its
// own across restarts, and pg_stat_reset() does not clear these).
//
// Thread-safe: connections record from their strands, reports are read on
// the runtime thread running the exchange.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "common/thread_annotations.h"

namespace pgthaw::server {

class ConnectionActivity {
 public:
  // How a connection ended, as pg_stat_database counts it.
  enum class End {
    kNormal,     // the client sent Terminate
    kAbandoned,  // the client went away without Terminate
    kFatal,      // the server ended it with a FATAL error
    kKilled,     // the server stopped (shutdown)
  };

  // A connection past its startup. `client_addr` empty and `client_port`
  // negative if unknown.
  void Opened(const std::string& tenant, int32_t pid, std::string user,
              std::string application_name, std::string client_addr, int client_port);
  // The connection sent work (`query`: the client's text, or empty for a
  // function call): it is active, waiting for its turn on the session.
  void Submitted(const std::string& tenant, int32_t pid, std::string_view query,
                 bool function_call);
  // Its work runs on the session.
  void Running(const std::string& tenant, int32_t pid);
  // Its work ended; `transaction_status` is its ReadyForQuery status ('I',
  // 'T' or 'E').
  void Finished(const std::string& tenant, int32_t pid, char transaction_status,
                std::string_view application_name);
  void Closed(const std::string& tenant, int32_t pid, End how);

  // The report /dev/pgthaw-connections serves for an exchange of
  // `current_pid` (0: not a connection's, an HTTP query).
  std::string Report(const std::string& tenant, int32_t current_pid) const;

  // Postgres clips pg_stat_activity.query at track_activity_query_size
  // (1024 bytes, less one for its terminator), at a character boundary.
  static constexpr size_t kMaxQueryBytes = 1023;

 private:
  using Clock = std::chrono::system_clock;
  enum class State { kIdle, kActive, kIdleInTransaction, kAborted, kFunctionCall };
  struct Connection {
    std::string user, application_name, client_addr;
    int client_port = -1;
    Clock::time_point backend_start, state_change;
    Clock::time_point xact_start, query_start;  // epoch: none
    State state = State::kIdle;
    bool waiting = false;  // submitted, not yet running
    std::string query;
  };
  // pg_stat_database's counters of a tenant.
  struct Counters {
    uint64_t sessions = 0, abandoned = 0, fatal = 0, killed = 0;
    // Milliseconds, of connections that have ended (Report adds the open).
    double session_ms = 0, active_ms = 0, idle_in_transaction_ms = 0;
  };
  struct Tenant : Counters {
    std::map<int32_t, Connection> connections;
  };
  // Adds the time `c` spent in its state since its last change to `t`.
  static void Account(Counters& t, const Connection& c, Clock::time_point now);
  // `c` (of `t`) changes to `state` at `now`.
  static void Enter(Tenant& t, Connection& c, State state, Clock::time_point now);
  // The connection, and its tenant in `owner`; null if unknown.
  Connection* Find(const std::string& tenant, int32_t pid, Tenant** owner) REQUIRES(mutex_);

  mutable Mutex mutex_;
  std::map<std::string, Tenant, std::less<>> tenants_ GUARDED_BY(mutex_);
};

}  // namespace pgthaw::server
