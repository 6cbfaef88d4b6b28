// Logical dumps of a tenant: what `pgthaw dump` asks of pg_dump, and the
// run itself on a tenant's session (Runtime::DumpTenant calls it in the
// tenant's turn).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"
#include "runtime/session.h"

namespace pgthaw::runtime {

// pg_dump's options a client may choose. Everything else (the connection,
// the output file, parallel jobs) is the server's.
struct DumpOptions {
  enum class Format { kPlain, kCustom };
  Format format = Format::kPlain;
  bool schema_only = false;
  bool data_only = false;
  bool no_owner = false;
  bool no_privileges = false;
  bool inserts = false;              // INSERT statements instead of COPY (plain)
  std::vector<std::string> tables;   // -t patterns
  std::vector<std::string> schemas;  // -n patterns
};

// "plain"/"p" or "custom"/"c"; InvalidArgument otherwise.
Result<DumpOptions::Format> parse_dump_format(const std::string& name);

// pg_dump's command-line arguments for `options`. Patterns go as
// `--table=P`, so no pattern can be read as another option.
std::vector<std::string> pg_dump_arguments(const DumpOptions& options);

// Runs pg_dump against `session` (which must be Idle()) and moves its output
// to `out` (atomically: a temp file in `out`'s directory, renamed). pg_dump's
// session changes (its settings, prepared statements, its transaction) are
// undone before it returns. `scratch_dir` is where pg_dump writes.
Status dump_session(const engine::Engine& engine, Session& session, const DumpOptions& options,
                    const std::string& scratch_dir, const std::string& out);

}  // namespace pgthaw::runtime
