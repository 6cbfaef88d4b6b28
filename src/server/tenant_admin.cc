#include "server/tenant_admin.h"

#include <spdlog/spdlog.h>

#include <functional>
#include <future>
#include <set>

#include "pgwire/frontend.h"
#include "pgwire/result.h"
#include "server/random_secret.h"
#include "server/scram.h"
#include "server/sql_quote.h"
#include "server/tenant_roles.h"

namespace pgthaw::server {

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kPasswordBytes = 32;

// The attributes every role made here has: it logs in, and nothing more.

// A failed admin statement as a Status the routes map to HTTP.
Status sql_status(const std::string& tenant, const pgwire::ErrorFields& error) {
  std::string message =
      "tenant " + tenant + ": " + error.message() + " (SQLSTATE " + error.sqlstate() + ")";
  const std::string& code = error.sqlstate();
  if (code == "42710") return Status::AlreadyExists(message);  // duplicate_object
  if (code == "42704") return Status::NotFound(message);       // undefined_object
  if (code.starts_with("42") || code.starts_with("22") || code.starts_with("2B")) {
    return Status::InvalidArgument(message);
  }
  return Status::Internal(message);
}

// The one place admin SQL takes a tenant's session: as connection 0 with no
// startup values, i.e. the superuser and the server's defaults, whatever a
// Postgres connection left in it (session_handover.h keeps that for it).
Status exec_as_superuser(runtime::Session& session, SessionHandover& handover,
                         const std::string& tenant, const std::string& wire) {
  auto taken = handover.TakeOver(session, tenant, /*connection=*/0, {});
  if (!taken.ok()) return taken.status();
  auto reply = session.Exec(wire);
  if (!reply.ok()) return reply.status();
  auto results = pgwire::collect_results(reply->bytes);
  if (!results.ok()) return results.status();
  for (const pgwire::StatementResult& result : *results) {
    if (result.error) return sql_status(tenant, *result.error);
  }
  return Status::Ok();
}

std::string state_name(const runtime::TenantInfo& info) {
  switch (info.state) {
    case runtime::TenantState::kWarm:
      return "warm";
    case runtime::TenantState::kThawing:
      return "thawing";
    case runtime::TenantState::kHibernating:
      return "hibernating";
    case runtime::TenantState::kCold:
      break;
  }
  return info.hibernated ? "hibernated" : "cold";
}

std::string scope_text(const TokenScope& scope) {
  if (scope.kind == TokenScope::Kind::kAdmin) return "admin";
  return "tenant:" + scope.tenant + (scope.read_only ? ":read_only" : "");
}

// The caller's password, or a new one; with its verifier.
struct NewPassword {
  std::string text;
  bool generated = false;
  scram::Verifier verifier;
};

Result<NewPassword> new_password(std::optional<std::string> given) {
  NewPassword out;
  if (given) {
    out.text = std::move(*given);
  } else {
    auto generated = TenantAdmin::GeneratePassword();
    if (!generated.ok()) return generated.status();
    out.text = std::move(generated).value();
    out.generated = true;
  }
  auto verifier = scram::Verifier::FromPassword(out.text);
  if (!verifier.ok()) return verifier.status();
  out.verifier = std::move(verifier).value();
  return out;
}

}  // namespace

TenantAdmin::TenantAdmin(runtime::Runtime& runtime, CredentialStore& credentials,
                         std::shared_ptr<SessionHandover> handover)
    : runtime_(runtime),
      credentials_(credentials),
      handover_(handover != nullptr ? std::move(handover) : std::make_shared<SessionHandover>()) {}

Result<std::string> TenantAdmin::GeneratePassword() {
  auto bytes = random_bytes(kPasswordBytes);
  if (!bytes.ok()) return bytes.status();
  return base64url_unpadded(*bytes);
}

Status TenantAdmin::RunSql(const std::string& tenant, const std::string& sql) {
  std::string wire;
  PGTHAW_RETURN_IF_ERROR(pgwire::frontend::query(wire, sql));
  auto done = std::make_shared<std::promise<Status>>();
  std::future<Status> result = done->get_future();
  PGTHAW_RETURN_IF_ERROR(
      runtime_.Submit(tenant, [done, handover = handover_, tenant, wire = std::move(wire)](
                                  Result<runtime::Session*> session, const runtime::Timings&) {
        done->set_value(session.ok() ? exec_as_superuser(**session, *handover, tenant, wire)
                                     : session.status());
      }));
  return result.get();
}

// ---- Tenants ------------------------------------------------------------------

Result<TenantAdmin::Created> TenantAdmin::Create(const std::string& tenant, const std::string& role,
                                                 std::optional<std::string> password) {
  return MakeTenant(
      tenant, role, std::move(password), [&] { return runtime_.CreateTenant(tenant); },
      owner_role_sql(role), "create");
}

Result<TenantAdmin::Created> TenantAdmin::Import(const std::string& tenant,
                                                 const std::string& archive,
                                                 const std::string& role,
                                                 std::optional<std::string> password) {
  return MakeTenant(
      tenant, role, std::move(password), [&] { return runtime_.ImportTenant(tenant, archive); },
      adopt_owner_role_sql(role), "import");
}

Result<TenantAdmin::Created> TenantAdmin::MakeTenant(
    const std::string& tenant, const std::string& role, std::optional<std::string> password,
    const std::function<Status()>& make_files, const std::string& role_sql, const char* what) {
  PGTHAW_RETURN_IF_ERROR(CredentialStore::ValidateTenantId(tenant));
  PGTHAW_RETURN_IF_ERROR(CredentialStore::ValidateRoleName(role));
  auto secret = new_password(std::move(password));
  if (!secret.ok()) return secret.status();
  MutexLock lock(change_mutex_);
  if (credentials_.HasTenant(tenant) || runtime_.TenantExists(tenant)) {
    return Status::AlreadyExists("tenant " + tenant + " exists");
  }
  PGTHAW_RETURN_IF_ERROR(make_files());
  // From here on a failure undoes what is done: the credentials, the files.
  auto undo = [&](const Status& why) {
    if (credentials_.HasTenant(tenant)) {
      if (Status dropped = credentials_.DropTenant(tenant); !dropped.ok()) {
        spdlog::error("tenant {}: dropping its credentials again: {}", tenant, dropped.ToString());
      }
    }
    Status undone =
        runtime_.DeleteTenant(tenant, /*force=*/true, Clock::now() + kDefaultDeleteTimeout);
    if (!undone.ok()) {
      spdlog::error("tenant {}: {} failed ({}) and removing it again failed: {}", tenant, what,
                    why.ToString(), undone.ToString());
    }
    return why;
  };
  if (Status made = RunSql(tenant, role_sql); !made.ok()) return undo(made);
  if (Status added = credentials_.AddTenant(tenant, role); !added.ok()) return undo(added);
  if (Status set = credentials_.SetRole(tenant, role, secret->verifier); !set.ok()) {
    return undo(set);
  }
  spdlog::info("audit: tenant {} tenant={} role={}", what, tenant, role);
  Created created{tenant, role, std::nullopt};
  if (secret->generated) created.password = std::move(secret->text);
  return created;
}

Status TenantAdmin::Export(const std::string& tenant, const std::string& out, bool gzip) {
  PGTHAW_RETURN_IF_ERROR(CredentialStore::ValidateTenantId(tenant));
  if (!runtime_.TenantExists(tenant)) return Status::NotFound("no tenant " + tenant);
  PGTHAW_RETURN_IF_ERROR(RunSql(tenant, "CHECKPOINT"));
  return runtime_.ExportTenant(tenant, out, gzip);
}

Status TenantAdmin::Fork(const std::string& source, const std::string& fork) {
  PGTHAW_RETURN_IF_ERROR(CredentialStore::ValidateTenantId(source));
  PGTHAW_RETURN_IF_ERROR(CredentialStore::ValidateTenantId(fork));
  MutexLock lock(change_mutex_);
  if (!runtime_.TenantExists(source)) return Status::NotFound("no tenant " + source);
  if (credentials_.HasTenant(fork) || runtime_.TenantExists(fork)) {
    return Status::AlreadyExists("tenant " + fork + " exists");
  }
  PGTHAW_RETURN_IF_ERROR(runtime_.ForkTenant(source, fork));
  if (credentials_.HasTenant(source)) {
    Status copied = credentials_.AddTenant(fork, credentials_.OwnerRole(source).value_or(""));
    for (const std::string& role : credentials_.Roles(source)) {
      if (!copied.ok()) break;
      if (auto verifier = credentials_.FindRole(source, role)) {
        copied = credentials_.SetRole(fork, role, *verifier);
      }
    }
    if (!copied.ok()) {
      // A fork nobody can log in to is no use: it goes again.
      (void)credentials_.DropTenant(fork);
      (void)runtime_.DeleteTenant(fork, /*force=*/true, Clock::now() + kDefaultDeleteTimeout);
      return copied;
    }
  }
  spdlog::info("audit: tenant fork source={} tenant={}", source, fork);
  return Status::Ok();
}

Status TenantAdmin::Dump(const std::string& tenant, const runtime::DumpOptions& options,
                         const std::string& out) {
  PGTHAW_RETURN_IF_ERROR(CredentialStore::ValidateTenantId(tenant));
  if (!runtime_.TenantExists(tenant)) return Status::NotFound("no tenant " + tenant);
  PGTHAW_RETURN_IF_ERROR(runtime_.DumpTenant(tenant, options, out, AsSuperuser(tenant)));
  spdlog::info("audit: tenant dump tenant={}", tenant);
  return Status::Ok();
}

Status TenantAdmin::Restore(const std::string& tenant, const std::string& file) {
  PGTHAW_RETURN_IF_ERROR(CredentialStore::ValidateTenantId(tenant));
  if (!runtime_.TenantExists(tenant)) return Status::NotFound("no tenant " + tenant);
  PGTHAW_RETURN_IF_ERROR(runtime_.RestoreTenant(tenant, file, AsSuperuser(tenant)));
  spdlog::info("audit: tenant restore tenant={}", tenant);
  return Status::Ok();
}

// Hands the session to admin work (connection 0: the superuser, the
// server's defaults), as exec_as_superuser does.
runtime::Runtime::SessionHook TenantAdmin::AsSuperuser(const std::string& tenant) {
  return [handover = handover_, tenant](runtime::Session& session) {
    return handover->TakeOver(session, tenant, /*connection=*/0, {}).status();
  };
}

Status TenantAdmin::Delete(const std::string& tenant, bool force,
                           std::chrono::milliseconds timeout) {
  PGTHAW_RETURN_IF_ERROR(CredentialStore::ValidateTenantId(tenant));
  MutexLock lock(change_mutex_);
  const bool has_credentials = credentials_.HasTenant(tenant);
  const bool has_files = runtime_.TenantExists(tenant);
  if (!has_credentials && !has_files) return Status::NotFound("no tenant " + tenant);
  if (has_files) {
    Status deleted = runtime_.DeleteTenant(tenant, force, Clock::now() + timeout);
    // NotFound: gone meanwhile; the credentials still go.
    if (!deleted.ok() && deleted.code() != StatusCode::kNotFound) return deleted;
  }
  if (has_credentials) PGTHAW_RETURN_IF_ERROR(credentials_.DropTenant(tenant));
  spdlog::info("audit: tenant delete tenant={} force={}", tenant, force);
  return Status::Ok();
}

Status TenantAdmin::Hibernate(const std::string& tenant) {
  PGTHAW_RETURN_IF_ERROR(CredentialStore::ValidateTenantId(tenant));
  if (!runtime_.TenantExists(tenant)) return Status::NotFound("no tenant " + tenant);
  return runtime_.Hibernate(tenant);
}

TenantSummary TenantAdmin::Summarize(const std::string& tenant) const {
  TenantSummary summary;
  summary.tenant = tenant;
  auto info = runtime_.Describe(tenant);
  if (info.ok()) {
    summary.state = state_name(*info);
    summary.disk_bytes = info->disk_bytes;
    summary.last_used_unix_s = info->last_used_unix_s;
  } else {
    summary.state = "missing";
  }
  summary.created_unix_s = credentials_.CreatedUnixS(tenant).value_or(0);
  summary.owner = credentials_.OwnerRole(tenant);
  summary.roles = credentials_.Roles(tenant);
  return summary;
}

std::vector<TenantSummary> TenantAdmin::List() const {
  std::set<std::string> ids;
  for (std::string& id : runtime_.ListTenants()) ids.insert(std::move(id));
  for (std::string& id : credentials_.Tenants()) ids.insert(std::move(id));
  std::vector<TenantSummary> out;
  for (const std::string& id : ids) out.push_back(Summarize(id));
  return out;
}

Result<TenantDetails> TenantAdmin::Show(const std::string& tenant) const {
  PGTHAW_RETURN_IF_ERROR(CredentialStore::ValidateTenantId(tenant));
  if (!credentials_.HasTenant(tenant) && !runtime_.TenantExists(tenant)) {
    return Status::NotFound("no tenant " + tenant);
  }
  return TenantDetails{Summarize(tenant), credentials_.ListTokens(tenant)};
}

// ---- Roles --------------------------------------------------------------------

Result<std::optional<std::string>> TenantAdmin::AddRole(const std::string& tenant,
                                                        const std::string& role,
                                                        std::optional<std::string> password) {
  PGTHAW_RETURN_IF_ERROR(CredentialStore::ValidateTenantId(tenant));
  PGTHAW_RETURN_IF_ERROR(CredentialStore::ValidateRoleName(role));
  auto secret = new_password(std::move(password));
  if (!secret.ok()) return secret.status();
  MutexLock lock(change_mutex_);
  if (!credentials_.HasTenant(tenant) || !runtime_.TenantExists(tenant)) {
    return Status::NotFound("no tenant " + tenant);
  }
  if (credentials_.FindRole(tenant, role)) {
    return Status::AlreadyExists("tenant " + tenant + " has a role " + role);
  }
  const std::string ident = quote_identifier(role);
  PGTHAW_RETURN_IF_ERROR(RunSql(tenant, login_role_sql(role)));
  if (Status set = credentials_.SetRole(tenant, role, secret->verifier); !set.ok()) {
    if (Status undone = RunSql(tenant, "DROP ROLE " + ident + ";"); !undone.ok()) {
      spdlog::error("tenant {}: dropping role {} again: {}", tenant, role, undone.ToString());
    }
    return set;
  }
  spdlog::info("audit: role add tenant={} role={}", tenant, role);
  if (!secret->generated) return std::optional<std::string>();
  return std::optional<std::string>(std::move(secret->text));
}

Result<std::optional<std::string>> TenantAdmin::RotatePassword(
    const std::string& tenant, const std::string& role, std::optional<std::string> password) {
  auto secret = new_password(std::move(password));
  if (!secret.ok()) return secret.status();
  MutexLock lock(change_mutex_);
  if (!credentials_.FindRole(tenant, role)) {
    return Status::NotFound("tenant " + tenant + " has no role " + role);
  }
  PGTHAW_RETURN_IF_ERROR(credentials_.SetRole(tenant, role, secret->verifier));
  spdlog::info("audit: role rotate tenant={} role={}", tenant, role);
  if (!secret->generated) return std::optional<std::string>();
  return std::optional<std::string>(std::move(secret->text));
}

Status TenantAdmin::DropRole(const std::string& tenant, const std::string& role) {
  MutexLock lock(change_mutex_);
  std::optional<scram::Verifier> verifier = credentials_.FindRole(tenant, role);
  if (!verifier) return Status::NotFound("tenant " + tenant + " has no role " + role);
  std::optional<std::string> owner = credentials_.OwnerRole(tenant);
  if (owner == role) {
    return Status::InvalidArgument("role " + role + " owns tenant " + tenant +
                                   "'s database; delete the tenant instead");
  }
  // First it can no longer log in; then Postgres lets it go.
  PGTHAW_RETURN_IF_ERROR(credentials_.DropRole(tenant, role));
  const std::string ident = quote_identifier(role);
  std::string sql = "DROP ROLE " + ident + ";";
  if (owner) {
    // Its tables stay, the owner's now; its grants go.
    sql = "REASSIGN OWNED BY " + ident + " TO " + quote_identifier(*owner) + "; DROP OWNED BY " +
          ident + "; " + sql;
  }
  Status dropped = runtime_.TenantExists(tenant) ? RunSql(tenant, sql) : Status::Ok();
  // 42704: the store had it, Postgres did not; it is gone either way.
  if (!dropped.ok() && dropped.code() != StatusCode::kNotFound) {
    if (Status restored = credentials_.SetRole(tenant, role, *verifier); !restored.ok()) {
      spdlog::error("tenant {}: restoring role {}: {}", tenant, role, restored.ToString());
    }
    return dropped;
  }
  spdlog::info("audit: role drop tenant={} role={}", tenant, role);
  return Status::Ok();
}

// ---- Tokens -------------------------------------------------------------------

Result<IssuedToken> TenantAdmin::IssueToken(TokenScope scope, std::string label) {
  auto issued = credentials_.IssueToken(std::move(scope), std::move(label));
  if (!issued.ok()) return issued.status();
  spdlog::info("audit: token issue id={} scope={} label={}", issued->info.id,
               scope_text(issued->info.scope), issued->info.label);
  return issued;
}

Status TenantAdmin::RevokeToken(const std::string& id) {
  PGTHAW_RETURN_IF_ERROR(credentials_.RevokeToken(id));
  spdlog::info("audit: token revoke id={}", id);
  return Status::Ok();
}

std::vector<TokenInfo> TenantAdmin::ListTokens() const {
  return credentials_.ListTokens(std::nullopt);
}

}  // namespace pgthaw::server
