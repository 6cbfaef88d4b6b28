// SqlScript: a reader of the plain-format scripts pg_dump writes
// (`pg_dump -Fp`), statement by statement, for a caller that runs them
// through a Postgres session.
//
// Statements end at a ';' outside string literals ('...' with '' doubled,
// E'...' with backslash escapes), quoted identifiers ("..."), comments (--
// and nested /* */), dollar quotes ($$...$$, $tag$...$tag$; $1 is a
// parameter), parentheses (as in psql: "DO INSTEAD (INSERT ...; INSERT
// ...)" of a rule is one statement) and the BEGIN ... END body of CREATE
// FUNCTION/PROCEDURE ... BEGIN ATOMIC (psql's rule too). Whitespace and
// comments between statements are dropped.
//
// A line that starts with a backslash between statements is a psql
// meta-command and comes back as such (see ScriptStatementKind). After a
// "COPY ... FROM stdin;" statement come its data lines, read with
// ReadCopyData() up to the "\." line; Next() skips any the caller left.
//
// The file is read through a 1 MiB buffer and COPY data in chunks; only one
// statement is held at a time, at most max_statement_bytes of it. Not
// thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"

namespace pgthaw::dumpfile {

class ScriptInput;

enum class ScriptStatementKind {
  kSql,       // SQL for the server
  kRestrict,  // \restrict KEY or \unrestrict KEY (pg_dump 18): psql's guard, nothing to run
  kConnect,   // \connect or \c: the script switches databases (pg_dump --create)
  kMeta,      // any other psql meta-command
};

struct ScriptStatement {
  ScriptStatementKind kind = ScriptStatementKind::kSql;
  // SQL from its first token through its ';' (no ';' for the last statement
  // of a file that lacks one); for meta-commands the line, from the
  // backslash, without its newline.
  std::string text;
  uint64_t line = 0;  // 1-based line where it starts
  // "COPY ... FROM stdin": its data follows, for ReadCopyData().
  bool copy_from_stdin = false;
};

class SqlScript {
 public:
  // Postgres takes no query message beyond 1 GiB.
  static constexpr size_t kDefaultMaxStatementBytes = size_t{1} << 30;

  static Result<std::unique_ptr<SqlScript>> Open(
      const std::string& path, size_t max_statement_bytes = kDefaultMaxStatementBytes);
  ~SqlScript();
  SqlScript(const SqlScript&) = delete;
  SqlScript& operator=(const SqlScript&) = delete;

  // The next statement or meta-command, or nullopt at the end of the file.
  // Corruption for a file that ends inside a literal, quoted identifier,
  // comment or COPY data, and for a statement longer than the limit.
  Result<std::optional<ScriptStatement>> Next();

  // After a statement with copy_from_stdin: appends the next data lines,
  // each with its '\n', to `chunk` until about `max_bytes` were added (a
  // line longer than max_bytes comes in pieces of max_bytes). True while
  // more data may follow; false once the "\." line that ends the data was
  // read (it is not data). Corruption when the file ends before it.
  Result<bool> ReadCopyData(std::string& chunk, size_t max_bytes);

 private:
  SqlScript(std::unique_ptr<ScriptInput> input, size_t max_statement_bytes);
  Result<ScriptStatement> ReadMetaCommand();
  Status FinishCopyStatementLine();

  std::unique_ptr<ScriptInput> input_;
  size_t max_statement_bytes_;
  bool in_copy_ = false;  // between a COPY FROM stdin statement and its "\."
  bool copy_at_line_start_ = false;
  uint64_t copy_line_ = 0;  // where that COPY statement starts
};

}  // namespace pgthaw::dumpfile
