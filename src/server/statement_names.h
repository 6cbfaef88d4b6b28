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
#include <utility>
#include <vector>

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

  // A simple Query's text with the names of its SQL-level PREPARE, EXECUTE
  // (also EXPLAIN ... EXECUTE, CREATE TABLE ... AS EXECUTE) and DEALLOCATE
  // statements replaced by the session's (pg_sql_scan.h): SQL-level and
  // protocol-level statements share one namespace, per connection, as in
  // Postgres. DEALLOCATE ALL is left as it is (see ForgetAll). Until the
  // next MapSql, error positions in replies are moved back to the client's
  // text (RestoreNames).
  std::string MapSql(std::string_view sql);

  // What prepares again the statements the messages given to
  // AppendForSession (or MapSql) since the last TakeReprepare() use and
  // that were prepared in another generation than `now`: their Parse
  // messages with a Sync, then their SQL PREPAREs as Queries; they are
  // marked prepared in `now`. Run it (reply dropped) before the batch.
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
  // client's, and the error position (a MapSql text). Other messages are
  // untouched.
  void RestoreNames(std::string& reply) const;
  // True if RestoreNames may change `reply` (it may quote one of this
  // connection's session names, or a MapSql text's error position).
  bool Mentions(std::string_view reply) const;

  size_t statement_count() const { return statements_.size(); }

  // The query text of the client's statement `client` as the session
  // prepared it (pg_stat_activity shows it); empty if the connection
  // defined no such statement. Valid until the next call that changes
  // the names.
  std::string_view QueryText(std::string_view client) const;

 private:
  struct Statement {
    std::string session_name;
    std::string parse;  // the Parse message as sent to the session (or a PREPARE Query)
    SessionGeneration prepared_in;
    bool sql_level = false;  // `parse` is a Query: PREPARE ... AS ...
  };
  std::string SessionStatementName(std::string_view client);
  std::string ShiftPosition(std::string_view fields) const;
  std::string MapNamesBack(std::string_view payload) const;
  std::string SessionPortalName(std::string_view client);

  const std::string prefix_;  // "pgthaw.<connection>."
  uint64_t next_ = 1;
  std::map<std::string, Statement, std::less<>> statements_;      // by client name
  std::map<std::string, std::string, std::less<>> portals_;       // client -> session
  std::map<std::string, std::string, std::less<>> client_names_;  // session -> client
  std::set<std::string, std::less<>> used_;     // statements the pending batch names
  std::set<std::string, std::less<>> defined_;  // statements the pending batch parses
  // MapSql's replacements: (character offset in the rewritten text, how
  // many characters longer), in order.
  std::vector<std::pair<size_t, int64_t>> position_shifts_;
};

}  // namespace pgthaw::server
