// StatementNames: one Postgres connection's prepared-statement and portal
// names, kept apart from every other connection's on its tenant's shared
// engine session.
//
// A tenant's connections share one session, so two drivers that both name
// their statements S_1 (pgjdbc), __asyncpg_stmt_1__ or _pg3_0 would clash
// (42P05), or worse, one would run the other's statement. Like PgBouncer's
// max_prepared_statements, the listener gives each name the connection uses
// in Parse, Bind, Describe, Execute and Close a name of its own in the
// session ("pgthaw.<connection>.s<n>" / ".p<n>"), and maps those names back
// to the client's in the error texts that quote them. The unnamed statement
// and portal ("") are not renamed: they belong to whichever connection runs.
//
// The session can lose a connection's statements while it is not looking:
// another connection's DEALLOCATE ALL or DISCARD ALL (psycopg 3 sends those
// on its own), or a new engine session (a reboot from files). Each
// statement remembers the session generation it was prepared in
// (SessionGeneration); one used after the generation moved on is prepared
// again first (Reprepare), from the Parse the client sent, so the client
// never sees the loss. The connection's own DEALLOCATE ALL / DISCARD ALL
// forget its statements, as Postgres would.
//
// Not thread-safe: owned by the connection's strand (and its work item,
// which runs while the strand waits).
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pgthaw::server {

// Which engine session a statement was prepared in: the session's identity
// (runtime::Session::identity) and a count of the events that drop every
// prepared statement of that session (DEALLOCATE ALL, DISCARD ALL).
struct SessionGeneration {
  const void* session = nullptr;
  uint64_t drops = 0;
  bool operator==(const SessionGeneration&) const = default;
};

class StatementNames {
 public:
  explicit StatementNames(uint64_t connection_id);

  // Appends `type` + `payload` (a client's P, B, D, E or C message) to
  // `out`, with the session's names for the client's. A Parse of a new name
  // defines it (a name the client already defined keeps its session name,
  // so the engine answers 42P05 as Postgres would). InvalidArgument for a
  // malformed message (the caller treats it as a protocol violation).
  Status AppendForSession(char type, std::string_view payload, std::string& out);

  // The Parse messages of the statements the messages given to
  // AppendForSession since the last TakeReprepare() use and that were
  // prepared in another generation than `now`; they are marked prepared in
  // `now`. Run them (with a Sync, reply dropped) before the batch.
  std::string TakeReprepare(const SessionGeneration& now);

  // After a batch ran in generation `now`: records the statements it
  // defined as prepared in `now`.
  void Prepared(const SessionGeneration& now);

  // The messages given since the last batch will not run (the listener
  // refused them): the statements they defined are forgotten, so none is
  // ever prepared again from a Parse the session never saw.
  void DropPending();

  // The connection's own DEALLOCATE ALL or DISCARD ALL ran: its statements
  // are gone from the session, and from its names.
  void ForgetAll();

  // Close messages for every statement this connection defined, with a
  // Sync: what a disconnect leaves for the session to run. Empty if none.
  std::string CloseAll() const;

  // Rewrites, inside the ErrorResponse and NoticeResponse messages of
  // `reply` (whole backend messages), the session's names back to the
  // client's. Other messages are untouched.
  void RestoreNames(std::string& reply) const;
  // True if `reply` may quote one of this connection's session names.
  bool Mentions(std::string_view reply) const;

  size_t statement_count() const { return statements_.size(); }

 private:
  struct Statement {
    std::string session_name;
    std::string parse;  // the Parse message as sent to the session
    SessionGeneration prepared_in;
  };
  std::string SessionStatementName(std::string_view client);
  std::string SessionPortalName(std::string_view client);

  const std::string prefix_;  // "pgthaw.<connection>."
  uint64_t next_ = 1;
  std::map<std::string, Statement, std::less<>> statements_;      // by client name
  std::map<std::string, std::string, std::less<>> portals_;       // client -> session
  std::map<std::string, std::string, std::less<>> client_names_;  // session -> client
  std::set<std::string, std::less<>> used_;     // statements the pending batch names
  std::set<std::string, std::less<>> defined_;  // statements the pending batch parses
};

}  // namespace pgthaw::server
