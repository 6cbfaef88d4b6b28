// TenantAdmin: what an operator scripts about tenants, over the consumer's
// runtime and the credential store: create and delete tenants, add, rotate
// and drop their roles, issue and revoke bearer tokens, list and show.
// The HTTP admin routes (http_admin_routes.h) and `pgthaw tenant` (offline,
// tools/tenant_command.h) both call it.
//
// A tenant is its files (runtime) plus its credentials (store): Create makes
// the files, then the owner role in Postgres (a real LOGIN role, not a
// superuser, owning the database and schema public), then the credentials;
// a failing step undoes the earlier ones, so nothing is left behind. Delete
// goes the other way: files first (the instance dropped, the directory gone
// durably), then credentials and tokens.
//
// Passwords: the caller's, or 32 random bytes in base64url, returned once
// (only the SCRAM verifier is kept; Postgres' own roles have none, logins go
// through the store). Every change is durable before it returns. Each
// tenant create/delete and each credential change writes one "audit:" line
// (spdlog info), never a password, verifier or token secret.
//
// Thread-safe; changes run one at a time (a Delete waiting for a
// transaction holds the others up to its timeout). Blocking: never call it
// from a runtime work item or an io thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "runtime/runtime.h"
#include "server/credential_store.h"
#include "server/session_handover.h"

namespace pgthaw::server {

struct TenantSummary {
  std::string tenant;
  // "warm" | "hibernated" | "cold" (also "thawing", "hibernating" for a
  // moment); "missing": credentials without files (a failed delete).
  std::string state;
  uint64_t disk_bytes = 0;
  int64_t last_used_unix_s = 0;  // runtime::TenantInfo; 0 unknown
  int64_t created_unix_s = 0;    // from the store; 0 unknown (no credentials)
  std::optional<std::string> owner;
  std::vector<std::string> roles;  // sorted
};

struct TenantDetails {
  TenantSummary summary;
  std::vector<TokenInfo> tokens;  // scoped to the tenant; never a secret
};

class TenantAdmin {
 public:
  static constexpr std::chrono::milliseconds kDefaultDeleteTimeout{30'000};

  // `handover`: the runtime's sessions' users (shared with the Postgres
  // listener); admin SQL takes the session through it, so no connection's
  // settings or role apply. Null: a handover of its own (offline use).
  TenantAdmin(runtime::Runtime& runtime, CredentialStore& credentials,
              std::shared_ptr<SessionHandover> handover = nullptr);

  struct Created {
    std::string tenant, role;
    std::optional<std::string> password;  // only when generated
  };
  // AlreadyExists if the tenant has files or credentials; InvalidArgument
  // for a bad tenant id, role name or password.
  Result<Created> Create(const std::string& tenant, const std::string& role,
                         std::optional<std::string> password);
  // A tenant from a PGlite data-directory archive (Runtime::ImportTenant),
  // with `role` as its owner role: made if the database lacks it (or made
  // a plain LOGIN non-superuser if it has it), given the database, its
  // schemas and what the database's own user (PGlite's postgres) made in
  // them, so the role can use its data. Undone on failure, as Create.
  Result<Created> Import(const std::string& tenant, const std::string& archive,
                         const std::string& role, std::optional<std::string> password);
  // The tenant's data directory as an archive PGlite's loadDataDir() reads
  // (after a CHECKPOINT, so the importer has little WAL to replay).
  Status Export(const std::string& tenant, const std::string& out, bool gzip);
  // `fork` as an exact copy of `source` (Runtime::ForkTenant): its data and
  // its roles, with the same passwords (the roles are part of the
  // database); no tokens.
  Status Fork(const std::string& source, const std::string& fork);
  // A logical dump by pg_dump (Runtime::DumpTenant), taken as the
  // superuser, into `out`.
  Status Dump(const std::string& tenant, const runtime::DumpOptions& options,
              const std::string& out);
  // Runs a pg_dump output in the tenant as the superuser, in one
  // transaction (Runtime::RestoreTenant). The roles a dump names (as owners,
  // in GRANTs) must exist in the tenant (role add), or it was made with
  // --no-owner --no-privileges.
  Status Restore(const std::string& tenant, const std::string& file);

  // Roles. AddRole: a LOGIN role, not the owner (AlreadyExists if the
  // tenant has it). RotatePassword: a new verifier for a role of the store.
  // Both return the password when they generated it. DropRole: its objects
  // go to the owner, then the role goes; the owner cannot be dropped
  // (InvalidArgument). NotFound for an unknown tenant or role.
  Result<std::optional<std::string>> AddRole(const std::string& tenant, const std::string& role,
                                             std::optional<std::string> password);
  Result<std::optional<std::string>> RotatePassword(const std::string& tenant,
                                                    const std::string& role,
                                                    std::optional<std::string> password);
  Status DropRole(const std::string& tenant, const std::string& role);

  // Every tenant with files or credentials, sorted. Walks their files.
  std::vector<TenantSummary> List() const;
  Result<TenantDetails> Show(const std::string& tenant) const;  // NotFound

  // Runtime::DeleteTenant (waits up to `timeout` for an open transaction
  // to end; Unavailable then, and nothing changed), then the credentials
  // and tokens. NotFound if neither exists.
  Status Delete(const std::string& tenant, bool force,
                std::chrono::milliseconds timeout = kDefaultDeleteTimeout);
  // Now, if warm and idle (Runtime::Hibernate). NotFound without files.
  Status Hibernate(const std::string& tenant);

  Result<IssuedToken> IssueToken(TokenScope scope, std::string label);
  Status RevokeToken(const std::string& id);
  std::vector<TokenInfo> ListTokens() const;

  // 32 random bytes (RAND_bytes), base64url without padding.
  static Result<std::string> GeneratePassword();

 private:
  runtime::Runtime::SessionHook AsSuperuser(const std::string& tenant);
  // Create and Import: the checks, `make_files` (the tenant's directory),
  // `role_sql` run as the superuser, the credentials; undone on failure.
  Result<Created> MakeTenant(const std::string& tenant, const std::string& role,
                             std::optional<std::string> password,
                             const std::function<Status()>& make_files, const std::string& role_sql,
                             const char* what);
  // Runs `sql` (simple protocol) in `tenant` as the superuser, with the
  // server's defaults; the first failing statement's error as a Status.
  Status RunSql(const std::string& tenant, const std::string& sql);
  TenantSummary Summarize(const std::string& tenant) const;

  runtime::Runtime& runtime_;
  CredentialStore& credentials_;
  const std::shared_ptr<SessionHandover> handover_;
  Mutex change_mutex_;  // one change at a time (check, then act)
};

}  // namespace pgthaw::server
