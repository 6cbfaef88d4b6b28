#include "server/session_handover.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <set>

#include "pgwire/frontend.h"
#include "pgwire/result.h"
#include "server/sql_quote.h"

namespace pgthaw::server {

namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

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
      "SELECT name, context FROM pg_catalog.pg_settings WHERE context IN ('user', 'superuser') "
      "ORDER BY name"));
  if (!reply.ok()) return reply.status();
  auto results = pgwire::collect_results(reply->bytes);
  if (!results.ok() || results->empty() || results->back().error) {
    return Status::Internal("reading the names of the settings failed");
  }
  std::vector<std::string> names(std::begin(kIdentity), std::end(kIdentity));
  std::set<std::string> superuser_only(std::begin(kIdentity), std::end(kIdentity));
  for (const pgwire::Row& row : results->back().rows) {
    if (row.size() != 2 || !row[0] || !row[1]) continue;
    names.push_back(*row[0]);
    if (*row[1] == "superuser") superuser_only.insert(lower(*row[0]));
  }
  MutexLock lock(mutex_);
  if (names_.empty()) {
    names_ = std::move(names);
    superuser_only_ = std::move(superuser_only);
  }
  return Status::Ok();
}

Result<std::vector<pgwire::ErrorFields>> SessionHandover::TakeOver(
    runtime::Session& db, const std::string& tenant, uint64_t connection,
    const runtime::Session::SettingValues& startup, bool force, const std::string& role) {
  std::vector<std::string> names;
  User previous;
  {
    MutexLock lock(mutex_);
    User& user = users_[tenant];
    if (!force && user.session == db.identity() && user.connection == connection &&
        user.role == role) {
      return std::vector<pgwire::ErrorFields>{};
    }
    previous = user;
    names = names_;
  }
  // The names are needed to read what a connection changes (not for an
  // HTTP query taking over from another HTTP query's fresh session), and
  // to check a role's startup values.
  if (names.empty() && (connection != 0 || previous.connection != 0 || !role.empty())) {
    PGTHAW_RETURN_IF_ERROR(LoadNames(db));
    MutexLock lock(mutex_);
    names = names_;
  }
  // A role's startup values may set only what the role could SET itself.
  // The defaults are applied by the server, with a superuser's rights, so
  // this is where a role is kept from the superuser's settings (and from
  // an identity of its choosing: session_authorization, role).
  if (!role.empty()) {
    MutexLock lock(mutex_);
    for (const auto& [name, value] : startup) {
      if (superuser_only_.count(lower(name)) == 0) continue;
      pgwire::ErrorFields denied;
      denied.fields = {{'S', "FATAL"},
                       {'V', "FATAL"},
                       {'C', "42501"},
                       {'M', "permission denied to set parameter \"" + name + "\""}};
      return std::vector<pgwire::ErrorFields>{denied};
    }
  }
  // 1. What the leaving connection changed stays with it.
  if (previous.session == db.identity() && previous.connection != 0 &&
      previous.connection != connection && previous.found.size() == names.size()) {
    auto read = db.ReadSettings(names);
    if (!read.ok()) return read.status();
    const std::vector<std::optional<std::string>>& now = *read;
    MutexLock lock(mutex_);
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
    MutexLock lock(mutex_);
    own = changed_[connection];
  }
  // (SET SESSION AUTHORIZATION DEFAULT does nothing in PGlite's session:
  // name the role, or its one superuser.)
  std::string sql = "SET SESSION AUTHORIZATION " +
                    escape_literal(role.empty() ? "postgres" : role) + "; RESET ROLE; RESET ALL";
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
    // The role comes first: if the database lacks it, nothing else ran and
    // nothing may run for this user.
    if (!role.empty() && !results->empty() && results->front().error) {
      MutexLock lock(mutex_);
      users_.erase(tenant);
      pgwire::ErrorFields missing;
      missing.fields = {{'S', "FATAL"},
                        {'V', "FATAL"},
                        {'C', "28000"},
                        {'M', "role \"" + role + "\" does not exist"}};
      return std::vector<pgwire::ErrorFields>{missing};
    }
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
  MutexLock lock(mutex_);
  users_[tenant] = User{db.identity(), connection, role, std::move(found)};
  return refused;
}

void SessionHandover::Forget(uint64_t connection) {
  MutexLock lock(mutex_);
  changed_.erase(connection);
}

void SessionHandover::ForgetTenant(const std::string& tenant) {
  MutexLock lock(mutex_);
  users_.erase(tenant);
}

}  // namespace pgthaw::server
