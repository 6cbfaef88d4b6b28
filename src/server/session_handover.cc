#include "server/session_handover.h"

#include <spdlog/spdlog.h>

#include "pgwire/frontend.h"
#include "pgwire/result.h"
#include "server/sql_quote.h"

namespace pgthaw::server {

namespace {

std::string query_message(std::string_view sql) {
  std::string out;
  (void)pgwire::frontend::query(out, sql);
  return out;
}

// Set before the rest, in this order: the authorization resets the role.
constexpr const char* kIdentity[] = {"session_authorization", "role"};

}  // namespace

Status SessionHandover::LoadNames(runtime::Session& db) {
  auto reply = db.Exec(query_message(
      "SELECT name FROM pg_catalog.pg_settings WHERE context IN ('user', 'superuser') "
      "ORDER BY name"));
  if (!reply.ok()) return reply.status();
  auto results = pgwire::collect_results(reply->bytes);
  if (!results.ok() || results->empty() || results->back().error) {
    return Status::Internal("reading the names of the settings failed");
  }
  std::vector<std::string> names(std::begin(kIdentity), std::end(kIdentity));
  for (const pgwire::Row& row : results->back().rows) {
    if (row.size() == 1 && row[0]) names.push_back(*row[0]);
  }
  std::lock_guard lock(mutex_);
  if (names_.empty()) names_ = std::move(names);
  return Status::Ok();
}

Result<std::vector<pgwire::ErrorFields>> SessionHandover::TakeOver(
    runtime::Session& db, const std::string& tenant, uint64_t connection,
    const runtime::Session::SettingValues& startup, bool force) {
  std::vector<std::string> names;
  User previous;
  {
    std::lock_guard lock(mutex_);
    User& user = users_[tenant];
    if (!force && user.session == db.identity() && user.connection == connection) {
      return std::vector<pgwire::ErrorFields>{};
    }
    previous = user;
    names = names_;
  }
  // The names are needed to read what a connection changes (not for an
  // HTTP query taking over from another HTTP query's fresh session).
  if (names.empty() && (connection != 0 || previous.connection != 0)) {
    PGTHAW_RETURN_IF_ERROR(LoadNames(db));
    std::lock_guard lock(mutex_);
    names = names_;
  }
  // 1. What the leaving connection changed stays with it.
  if (previous.session == db.identity() && previous.connection != 0 &&
      previous.connection != connection && previous.found.size() == names.size()) {
    auto read = db.ReadSettings(names);
    if (!read.ok()) return read.status();
    const std::vector<std::optional<std::string>>& now = *read;
    std::lock_guard lock(mutex_);
    auto kept = changed_.find(previous.connection);
    if (kept != changed_.end()) {
      for (size_t i = 0; i < names.size(); ++i) {
        if (now[i] != previous.found[i] && now[i]) kept->second[names[i]] = *now[i];
      }
    }
  }
  // 2. Its startup values are the session's defaults.
  auto refused = db.SetSessionDefaults(startup);
  if (!refused.ok()) return refused.status();
  // 3. Back to them, then what it changed itself.
  std::map<std::string, std::string> own;
  {
    std::lock_guard lock(mutex_);
    own = changed_[connection];
  }
  // (SET SESSION AUTHORIZATION DEFAULT does nothing in PGlite's session:
  // name its one superuser.)
  std::string sql = "SET SESSION AUTHORIZATION postgres; RESET ROLE; RESET ALL";
  std::string sets;
  auto add = [&](const std::string& name, const std::string& value) {
    sets += sets.empty() ? "; SELECT " : ", ";
    sets +=
        "pg_catalog.set_config(" + escape_literal(name) + ", " + escape_literal(value) + ", false)";
  };
  for (const char* name : kIdentity) {
    if (auto it = own.find(name); it != own.end()) add(it->first, it->second);
  }
  for (const auto& [name, value] : own) {
    if (name != kIdentity[0] && name != kIdentity[1]) add(name, value);
  }
  auto reply = db.Exec(query_message(sql + sets));
  if (!reply.ok()) return reply.status();
  if (auto results = pgwire::collect_results(reply->bytes); results.ok()) {
    for (const pgwire::StatementResult& r : *results) {
      if (r.error) {
        spdlog::warn("tenant {}: settings of connection {}: {}", tenant, connection,
                     r.error->summary());
      }
    }
  }
  // 4. What it finds now (not for HTTP queries: they keep nothing).
  std::vector<std::optional<std::string>> found;
  if (connection != 0) {
    auto read = db.ReadSettings(names);
    if (!read.ok()) return read.status();
    found = std::move(read).value();
  }
  std::lock_guard lock(mutex_);
  users_[tenant] = User{db.identity(), connection, std::move(found)};
  return refused;
}

void SessionHandover::Forget(uint64_t connection) {
  std::lock_guard lock(mutex_);
  changed_.erase(connection);
}

void SessionHandover::ForgetTenant(const std::string& tenant) {
  std::lock_guard lock(mutex_);
  users_.erase(tenant);
}

}  // namespace pgthaw::server
