#include "server/pg_session_settings.h"

#include <array>
#include <cctype>
#include <vector>

#include "server/sql_quote.h"

namespace pgthaw::server {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "name=value" of a -c or -- switch; Postgres turns '-' in the name into '_'.
Status add_long_option(SessionSettings& settings, std::string_view arg) {
  size_t eq = arg.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return Status::InvalidArgument("-c " + std::string(arg) + " requires a value");
  }
  std::string name(arg.substr(0, eq));
  for (char& c : name) {
    if (c == '-') c = '_';
  }
  settings.Set(name, arg.substr(eq + 1));
  return Status::Ok();
}

}  // namespace

std::vector<std::string> split_startup_options(std::string_view options) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < options.size()) {
    while (i < options.size() && std::isspace(static_cast<unsigned char>(options[i])) != 0) ++i;
    if (i == options.size()) break;
    std::string word;
    while (i < options.size() && std::isspace(static_cast<unsigned char>(options[i])) == 0) {
      if (options[i] == '\\' && i + 1 < options.size()) ++i;
      word += options[i++];
    }
    out.push_back(std::move(word));
  }
  return out;
}

Result<SessionSettings> SessionSettings::FromStartup(
    const std::map<std::string, std::string>& params) {
  SessionSettings settings;
  for (const auto& [name, value] : params) {
    if (name == "user" || name == "database" || name == "options" || name == "replication" ||
        name.rfind("_pq_.", 0) == 0) {
      continue;
    }
    settings.Set(name, value);
  }
  auto options = params.find("options");
  if (options == params.end()) return settings;
  std::vector<std::string> words = split_startup_options(options->second);
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "-c") {
      if (i + 1 == words.size()) return Status::InvalidArgument("-c requires a value");
      PGTHAW_RETURN_IF_ERROR(add_long_option(settings, words[++i]));
    } else if (w.rfind("-c", 0) == 0) {
      PGTHAW_RETURN_IF_ERROR(add_long_option(settings, std::string_view(w).substr(2)));
    } else if (w.rfind("--", 0) == 0) {
      PGTHAW_RETURN_IF_ERROR(add_long_option(settings, std::string_view(w).substr(2)));
    } else {
      // Postgres accepts a few more server switches (-B, -e, ...); they make
      // no sense for a shared session.
      return Status::InvalidArgument("invalid command-line argument for server process: " + w);
    }
  }
  return settings;
}

void SessionSettings::Set(std::string_view name, std::string_view value) {
  values_[lower(name)] = std::string(value);
}

std::string SessionSettings::ApplySql() const {
  // SET ROLE and SET SESSION AUTHORIZATION are not reset by RESET ALL, and
  // must never pass to the next connection. PGlite's session has no reset
  // value for session_authorization (RESET leaves it as it is), so it is
  // set back to the user the template's session runs as.
  std::string sql = "SET SESSION AUTHORIZATION postgres; RESET ROLE; RESET ALL";
  if (values_.empty()) return sql;
  sql += "; SELECT ";
  bool first = true;
  for (const auto& [name, value] : values_) {
    if (!first) sql += ", ";
    first = false;
    sql += "pg_catalog.set_config(";
    sql += escape_literal(name);
    sql += ", ";
    sql += escape_literal(value);
    sql += ", false)";
  }
  return sql;
}

}  // namespace pgthaw::server
