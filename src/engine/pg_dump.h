// pg_dump, natively: PGlite's pg_dump.wasm (pglite-tools) run in-process
// against a live tenant session.
//
// pg_dump is a program of its own (its own linear memory, table and files)
// whose libpq socket is two host callbacks (PGlite patched libpq so). Each
// write it makes is framed here into protocol messages: the connection's
// first packets (SSLRequest, StartupMessage) are answered by this file,
// as a server that trusts its one client would (no SSL, AuthenticationOk,
// the session's settings as ParameterStatus); everything else goes to the
// tenant's session through `exchange`, and its reply is what pg_dump reads
// next. pg_dump's Terminate ends nothing: the session is the tenant's.
//
// pg_dump writes its output under a host directory of the caller's
// (nothing else of the host is visible to it); /tmp and $HOME are in
// memory.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "engine/engine.h"

namespace pgthaw::engine {

struct PgDumpRequest {
  // pg_dump's options (formats, filters), checked by the caller: they must
  // not name an output file, a connection or parallel jobs.
  std::vector<std::string> arguments;
  // An existing, private host directory; pg_dump writes kPgDumpFile in it.
  std::string output_dir;
  // Runs whole frontend messages on the tenant's session and returns the
  // backend's reply (an error is reported to pg_dump as a lost server).
  std::function<Result<std::string>(std::string_view messages)> exchange;
  // The ParameterStatus values of the startup reply: server_version,
  // server_encoding, client_encoding, DateStyle, ... as the session has them.
  std::vector<std::pair<std::string, std::string>> parameters;
};

inline constexpr const char* kPgDumpFile = "dump";

// Runs pg_dump to completion on this thread. An error carries pg_dump's own
// message ("pg_dump: error: ...") when it reported one.
Status run_pg_dump(const Engine& engine, const PgDumpRequest& request);

}  // namespace pgthaw::engine
