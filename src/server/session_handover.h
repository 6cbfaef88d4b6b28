// SessionHandover: passes a tenant's engine session, and the settings in
// force in it, from one Postgres connection to the next.
//
// A tenant's connections share one session, which holds one connection's
// settings at a time. When another connection's work comes (TakeOver):
//  1. What the leaving connection changed since it took the session (SET,
//     set_config(), SET ROLE, SET SESSION AUTHORIZATION, also inside
//     functions and DO blocks) is read from the engine itself
//     (runtime::Session::ReadSettings of every name a client may set,
//     against the values it found) and kept for it.
//  2. The arriving connection's startup values become the session's
//     defaults (Session::SetSessionDefaults), so RESET goes back to them,
//     as in Postgres.
//  3. SET SESSION AUTHORIZATION to its role (the superuser, postgres, in
//     trust mode), RESET ROLE, RESET ALL, then what it had changed itself,
//     as SQL. Its own exchanges then run authenticated as that role
//     (engine ExecOptions::as_session_user), so it cannot set another.
//  4. The values now in force are remembered, for step 1 next time.
// Only at ReadyForQuery outside a transaction block (the runtime lets
// another user in only then), so nothing is ever re-applied inside a
// connection's transaction. HTTP queries are a user too (connection 0,
// startup values none): they run with the server's defaults.
//
// Thread-safe; called from work items on the runtime's threads.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/thread_annotations.h"
#include "pgwire/backend.h"
#include "runtime/session.h"

namespace pgthaw::server {

class SessionHandover {
 public:
  // Makes `connection` the user of `db` (tenant `tenant`), with its startup
  // values, as `role` (a role of the tenant's database; empty: the
  // superuser). A no-op if it is already. Returns the startup values the
  // engine refused (FATAL, in Postgres' words); the rest apply. A role the
  // database does not have is the error 28000 `role "x" does not exist`
  // among them.
  Result<std::vector<pgwire::ErrorFields>> TakeOver(runtime::Session& db, const std::string& tenant,
                                                    uint64_t connection,
                                                    const runtime::Session::SettingValues& startup,
                                                    bool force = false,
                                                    const std::string& role = "");
  // The connection closed: what it kept goes.
  void Forget(uint64_t connection);
  // The tenant's session was reset (DISCARD ALL): its next user applies.
  void ForgetTenant(const std::string& tenant);

 private:
  struct User {
    const void* session = nullptr;  // runtime::Session::identity()
    uint64_t connection = 0;
    std::string role;                               // "" the superuser
    std::vector<std::optional<std::string>> found;  // values when it took over
  };
  // Every setting a client may change (context user or superuser, and the
  // role); read from the first session once.
  Status LoadNames(runtime::Session& db) EXCLUDES(mutex_);

  Mutex mutex_;
  std::vector<std::string> names_ GUARDED_BY(mutex_);
  // Lowercased: what only a superuser may set, and the identity settings.
  std::set<std::string> superuser_only_ GUARDED_BY(mutex_);
  std::map<std::string, User> users_ GUARDED_BY(mutex_);  // by tenant
  std::map<uint64_t, std::map<std::string, std::string>> changed_
      GUARDED_BY(mutex_);  // by connection
};

}  // namespace pgthaw::server
