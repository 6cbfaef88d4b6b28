// A minimal SQL scanner for the Postgres listener: it finds COPY ... FROM
// STDIN statements in a query string before the engine sees it.
//
// Why: the engine runs a batch of messages to completion and cannot pause
// mid-COPY to wait for the client's data (it sees end of input, reports
// "unexpected EOF" and the session dies). So the listener must know, before
// it runs a query, that the query will ask for COPY data; it then answers
// CopyInResponse itself, collects the data, and runs query + data in one
// batch (see pg_connection.h).
//
// The scanner knows enough lexical structure not to be fooled by strings,
// quoted identifiers, comments and dollar quotes: '...', E'...', "...",
// -- and nested /* */ comments, $tag$...$tag$. It does not parse SQL.
// Stateless and thread-safe.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace pgthaw::server {

struct CopyFromStdin {
  size_t statement_index = 0;  // among the non-empty statements of the query
  int columns = -1;            // length of an explicit column list; -1 if none
  bool binary = false;         // FORMAT binary (or the old BINARY keyword)
};

// Every COPY ... FROM STDIN statement of `sql` (a simple Query's text, one or
// more statements separated by semicolons). Malformed SQL yields whatever
// the scan found; the engine reports the syntax error itself.
std::vector<CopyFromStdin> find_copy_from_stdin(std::string_view sql);

// What `sql` may do to session parameters. The engine does not send
// ParameterStatus itself, so the listener re-reads the reported parameters
// after a statement that sets one (SET, RESET, DISCARD, set_config()), and
// after the end of a transaction block in which one was set (a ROLLBACK
// undoes SET, a COMMIT ends SET LOCAL).
struct SettingsEffect {
  bool sets = false;              // SET, RESET, DISCARD, or set_config() anywhere
  bool ends_transaction = false;  // COMMIT, END, ROLLBACK, ABORT
};
SettingsEffect settings_effect(std::string_view sql);

}  // namespace pgthaw::server
