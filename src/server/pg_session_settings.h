// SessionSettings: the session parameters one Postgres connection asked for,
// as they must be in force whenever its statements run on the tenant's
// shared engine session.
//
// Sources, in order: the StartupMessage's parameters (every one except
// user, database, options, replication and _pq_.*: TimeZone, DateStyle,
// application_name, search_path, client_encoding, ...), then `-c name=value`
// and `--name=value` switches in its `options` parameter (what PGOPTIONS
// sends). They are the connection's reset values (session_handover.h keeps
// what it changes later).
//
// ApplySql() is the simple-query text that puts them in force: RESET ALL,
// then one set_config() per setting. Names are case-insensitive (stored
// lowercased). Not thread-safe; owned by one connection.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgthaw::server {

class SessionSettings {
 public:
  // InvalidArgument for a malformed `options` string (an unknown switch, or
  // -c without name=value), with the message Postgres would give.
  static Result<SessionSettings> FromStartup(const std::map<std::string, std::string>& params);

  // "RESET ALL; SELECT pg_catalog.set_config(E'timezone', E'UTC', false), ...".
  // The literals are E'' strings, so their meaning does not depend on the
  // standard_conforming_strings a previous user of the session left behind.
  std::string ApplySql() const;

  const std::map<std::string, std::string>& values() const { return values_; }
  void Set(std::string_view name, std::string_view value);

 private:
  std::map<std::string, std::string> values_;  // lowercased name -> value
};

// Splits a startup `options` value as Postgres does (pg_split_opts):
// whitespace separates, a backslash makes the next character literal.
std::vector<std::string> split_startup_options(std::string_view options);

}  // namespace pgthaw::server
