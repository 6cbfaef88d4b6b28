// A minimal SQL scanner for the Postgres listener: it tells which channels a
// query LISTENs to (the shared session cannot say which of its connections
// asked for a channel it already listens to), and the names in SQL-level
// PREPARE / EXECUTE / DEALLOCATE (mapped per connection, statement_names.h).
//
// The scanner knows enough lexical structure not to be fooled by strings,
// quoted identifiers, comments and dollar quotes: '...', E'...', "...",
// -- and nested /* */ comments, $tag$...$tag$. It does not parse SQL.
// Stateless and thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pgthaw::server {

// The LISTEN and UNLISTEN statements of `sql`, in order, with the channel as
// Postgres names it (an unquoted name lowercased; at most 63 bytes). An
// empty channel with `listen` false is UNLISTEN *.
struct ListenChange {
  bool listen = true;
  std::string channel;
  bool operator==(const ListenChange&) const = default;
};
std::vector<ListenChange> listen_changes(std::string_view sql);

// A prepared statement's name in a SQL-level PREPARE, EXECUTE (also EXPLAIN
// ... EXECUTE and CREATE TABLE ... AS EXECUTE) or DEALLOCATE of `sql`, and
// where it stands: the listener gives each connection its own names
// (statement_names.h).
struct SqlStatementName {
  enum Use { kPrepare, kExecute, kDeallocate, kDeallocateAll } use = kExecute;
  std::string name;                               // as Postgres names it (kDeallocateAll: "all")
  size_t begin = 0, end = 0;                      // the name's bytes in `sql`
  size_t statement_begin = 0, statement_end = 0;  // its statement's
};
std::vector<SqlStatementName> sql_statement_names(std::string_view sql);

}  // namespace pgthaw::server
