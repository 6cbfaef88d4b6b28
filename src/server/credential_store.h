// pgthaw's own credentials, kept in one JSON file: per tenant, its roles
// with their SCRAM verifiers (never a password), and the HTTP API's bearer
// tokens, of which only a SHA-256 of the secret is kept.
//
// A bearer token reads pgt_<id>_<secret>: the id (8 random bytes in hex)
// names the token in listings and revocation; the secret (32 random bytes,
// base64url without padding) is shown once, by IssueToken, and is
// unrecoverable after. A token's scope is `admin` (every tenant and the
// admin API) or one tenant, possibly read-only; dropping a tenant revokes
// its tokens.
//
// Durability: every change is on disk before it returns. The new contents
// go to <path>.tmp in the same directory, which is fsynced, renamed over
// <path>, and the directory fsynced. A change that fails before the rename
// leaves the file and the state in memory as they were. (Should only the
// final fsync of the directory fail, the file already holds the change: the
// state in memory follows the file, and the error says the change may not
// survive a crash.) The file is mode 0600. One process owns the file.
//
// Thread-safe. Changes are serialised and wait for the disk; reads work on
// an immutable snapshot of the state and never wait for a change's disk
// write.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/thread_annotations.h"
#include "server/scram.h"

namespace pgthaw::server {

struct TokenScope {
  enum class Kind { kAdmin, kTenant };

  static TokenScope Admin() { return {}; }
  static TokenScope Tenant(std::string tenant, bool read_only = false) {
    return TokenScope{Kind::kTenant, std::move(tenant), read_only};
  }
  bool operator==(const TokenScope&) const = default;

  Kind kind = Kind::kAdmin;
  std::string tenant;      // kTenant only: the one tenant it reaches
  bool read_only = false;  // kTenant only: it may not change the tenant
};

// What is known of a token after it was issued: everything but its secret.
struct TokenInfo {
  std::string id;  // 16 lowercase hex digits
  TokenScope scope;
  std::string label;  // the issuer's note: who or what it is for
  int64_t created_unix_s = 0;
};

struct IssuedToken {
  TokenInfo info;
  std::string bearer;  // pgt_<id>_<secret>: the only time the secret is seen
};

class CredentialStore {
 public:
  // Loads `path`, or starts empty if it does not exist (its directory must).
  // IoError or Corruption, naming the path, if it cannot be read or is not
  // a credential store.
  static Result<std::unique_ptr<CredentialStore>> Open(std::string path);

  const std::string& path() const { return path_; }

  // Tenants. AddTenant: AlreadyExists if present; records when (created)
  // and, if given, the role that owns the tenant's database (InvalidArgument
  // for a bad role name; the role itself is added by SetRole). DropTenant
  // drops its roles and revokes its tokens; NotFound if absent.
  bool HasTenant(std::string_view tenant) const;
  std::vector<std::string> Tenants() const;  // sorted
  Status AddTenant(std::string_view tenant, std::string_view owner_role = {});
  Status DropTenant(std::string_view tenant);
  // The owner AddTenant recorded; nullopt if none or no such tenant. A
  // dropped role stops being the owner.
  std::optional<std::string> OwnerRole(std::string_view tenant) const;
  // When AddTenant ran (Unix seconds); nullopt if no such tenant, 0 for a
  // tenant from a file written before this was recorded.
  std::optional<int64_t> CreatedUnixS(std::string_view tenant) const;

  // Roles of a tenant. SetRole creates or replaces; NotFound if the tenant
  // does not exist, InvalidArgument for a bad role name or a verifier that
  // is not well formed.
  Status SetRole(std::string_view tenant, std::string_view role, const scram::Verifier& verifier);
  Status DropRole(std::string_view tenant, std::string_view role);  // NotFound if absent
  std::optional<scram::Verifier> FindRole(std::string_view tenant, std::string_view role) const;
  std::vector<std::string> Roles(std::string_view tenant) const;  // sorted; none if no tenant

  // Tokens. IssueToken: NotFound if a tenant scope names no tenant,
  // InvalidArgument for an admin scope with a tenant or read_only, or a
  // label over 200 bytes or not UTF-8. RevokeToken: NotFound if no such id.
  Result<IssuedToken> IssueToken(TokenScope scope, std::string label);
  Status RevokeToken(std::string_view id);
  // All tokens, or those scoped to `tenant`; oldest first.
  std::vector<TokenInfo> ListTokens(std::optional<std::string> tenant) const;
  // The scope of the token `bearer` is, or nullopt if it is malformed,
  // unknown, revoked or its secret is wrong.
  std::optional<TokenScope> Authenticate(std::string_view bearer) const;

  // The rules of names. Tenant ids: 1 to 63 of [A-Za-z0-9_-] (the server's
  // rule). Role names: 1 to 63 bytes of UTF-8 without NUL, not `postgres`
  // nor starting with `pg_` (those are Postgres' own roles).
  static Status ValidateTenantId(std::string_view tenant);
  static Status ValidateRoleName(std::string_view role);

 private:
  struct StoredToken {
    TokenInfo info;
    std::string secret_sha256;  // raw 32 bytes
  };
  struct TenantEntry {
    std::map<std::string, scram::Verifier, std::less<>> roles;
    std::string owner;  // "" if none recorded
    int64_t created_unix_s = 0;
  };
  struct State {
    std::map<std::string, TenantEntry, std::less<>> tenants;
    std::map<std::string, StoredToken, std::less<>> tokens;  // by id
  };

  CredentialStore(std::string path, State state);
  std::shared_ptr<const State> Snapshot() const;
  // Runs `change` on a copy of the state; if it succeeds, writes the copy to
  // disk and makes it the state.
  template <typename Change>
  Status Update(Change&& change);

  const std::string path_;

  Mutex change_mutex_
      ACQUIRED_BEFORE(state_mutex_);  // one change at a time; held across its disk write
  mutable Mutex state_mutex_;
  std::shared_ptr<const State> state_ GUARDED_BY(state_mutex_);  // never null
};

}  // namespace pgthaw::server
