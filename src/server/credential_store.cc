#include "server/credential_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/durable_file.h"
#include "runtime/runtime.h"
#include "server/random_secret.h"

namespace pgthaw::server {

namespace {

using nlohmann::json;

constexpr int kFormatVersion = 1;
constexpr size_t kMaxNameBytes = 63;  // Postgres' NAMEDATALEN - 1
constexpr size_t kMaxLabelBytes = 200;
constexpr std::string_view kTokenPrefix = "pgt_";
constexpr size_t kTokenIdBytes = 8;
constexpr size_t kTokenSecretBytes = 32;
constexpr size_t kTokenIdChars = 2 * kTokenIdBytes;
constexpr size_t kTokenSecretChars = 43;  // base64url of 32 bytes, unpadded
constexpr size_t kSha256Bytes = 32;

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    auto byte = static_cast<unsigned char>(c);
    out += kDigits[byte >> 4];
    out += kDigits[byte & 0xf];
  }
  return out;
}

bool is_lower_hex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::optional<std::string> from_hex(std::string_view text) {
  if (text.size() % 2 != 0 || !is_lower_hex(text)) return std::nullopt;
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2) {
    out += static_cast<char>(nibble(text[i]) << 4 | nibble(text[i + 1]));
  }
  return out;
}

bool is_base64url(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

std::string sha256(std::string_view data) {
  std::string out(kSha256Bytes, '\0');
  unsigned int length = 0;
  // EVP_Digest of SHA-256 only fails without memory; the all-zero result
  // then matches no stored hash.
  EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &length,
             EVP_sha256(), nullptr);
  return out;
}

// nlohmann::json refuses to write strings that are not UTF-8.
bool is_utf8(std::string_view text) {
  try {
    (void)json(std::string(text)).dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

int64_t now_unix_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view scope_kind_name(TokenScope::Kind kind) {
  return kind == TokenScope::Kind::kAdmin ? "admin" : "tenant";
}

}  // namespace

// ---- file format ------------------------------------------------------------
//
// {"version": 1,
//  "tenants": {"<tenant>": {"roles": {"<role>": "SCRAM-SHA-256$..."},
//                           "owner": "<role>", "created": <unix s>}},
//  "tokens": [{"id": "<hex>", "scope": "admin"|"tenant", "tenant": "<tenant>",
//              "read_only": false, "label": "...", "created": <unix s>,
//              "secret_sha256": "<hex>"}]}
// "tenant" and "read_only" only for scope "tenant". "owner" and "created"
// came later: a file without them still loads (no owner, created 0).

namespace {

json to_json(const auto& state) {
  json tenants = json::object();
  for (const auto& [tenant, entry] : state.tenants) {
    json role_verifiers = json::object();
    for (const auto& [role, verifier] : entry.roles) role_verifiers[role] = verifier.ToString();
    json out = {{"roles", std::move(role_verifiers)}, {"created", entry.created_unix_s}};
    if (!entry.owner.empty()) out["owner"] = entry.owner;
    tenants[tenant] = std::move(out);
  }
  json tokens = json::array();
  for (const auto& [id, token] : state.tokens) {
    json entry = {{"id", id},
                  {"scope", scope_kind_name(token.info.scope.kind)},
                  {"label", token.info.label},
                  {"created", token.info.created_unix_s},
                  {"secret_sha256", to_hex(token.secret_sha256)}};
    if (token.info.scope.kind == TokenScope::Kind::kTenant) {
      entry["tenant"] = token.info.scope.tenant;
      entry["read_only"] = token.info.scope.read_only;
    }
    tokens.push_back(std::move(entry));
  }
  return {
      {"version", kFormatVersion}, {"tenants", std::move(tenants)}, {"tokens", std::move(tokens)}};
}

// The string member `key` of `object`, or nullptr.
const std::string* string_member(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

}  // namespace

// ---- CredentialStore --------------------------------------------------------

CredentialStore::CredentialStore(std::string path, State state)
    : path_(std::move(path)), state_(std::make_shared<const State>(std::move(state))) {}

Result<std::unique_ptr<CredentialStore>> CredentialStore::Open(std::string path) {
  State state;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno != ENOENT) return Status::FromErrno("open " + path, errno);
  if (fd < 0) return std::unique_ptr<CredentialStore>(new CredentialStore(std::move(path), {}));

  std::string text;
  char buffer[16384];
  for (;;) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int read_errno = errno;
      close(fd);
      return Status::FromErrno("read " + path, read_errno);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  close(fd);

  auto corrupt = [&](const std::string& why) {
    return Status::Corruption("credential store " + path + ": " + why);
  };
  json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) return corrupt("not a JSON object");
  auto version = root.find("version");
  if (version == root.end() || !version->is_number_integer() || *version != kFormatVersion) {
    return corrupt("unknown format version");
  }
  auto tenants = root.find("tenants");
  auto tokens = root.find("tokens");
  if (tenants == root.end() || !tenants->is_object()) return corrupt("no \"tenants\" object");
  if (tokens == root.end() || !tokens->is_array()) return corrupt("no \"tokens\" array");

  for (const auto& [tenant, entry] : tenants->items()) {
    if (!ValidateTenantId(tenant).ok()) return corrupt("bad tenant id \"" + tenant + "\"");
    auto roles = entry.is_object() ? entry.find("roles") : entry.end();
    if (roles == entry.end() || !roles->is_object()) {
      return corrupt("tenant " + tenant + " has no \"roles\" object");
    }
    TenantEntry& tenant_entry = state.tenants[tenant];
    auto& tenant_roles = tenant_entry.roles;
    if (auto owner = entry.find("owner"); owner != entry.end()) {
      if (!owner->is_string() || !ValidateRoleName(owner->get<std::string>()).ok()) {
        return corrupt("tenant " + tenant + " has a bad \"owner\"");
      }
      tenant_entry.owner = owner->get<std::string>();
    }
    if (auto created = entry.find("created"); created != entry.end()) {
      if (!created->is_number_integer()) {
        return corrupt("tenant " + tenant + " has a bad \"created\"");
      }
      tenant_entry.created_unix_s = created->get<int64_t>();
    }
    for (const auto& [role, text] : roles->items()) {
      Result<scram::Verifier> verifier =
          text.is_string() ? scram::Verifier::Parse(text.get<std::string>())
                           : Result<scram::Verifier>(Status::InvalidArgument("not a string"));
      if (!ValidateRoleName(role).ok() || !verifier.ok()) {
        return corrupt("bad role \"" + role + "\" of tenant " + tenant);
      }
      tenant_roles.emplace(role, std::move(verifier).value());
    }
  }

  for (const json& entry : *tokens) {
    if (!entry.is_object()) return corrupt("a token is not an object");
    const std::string* id = string_member(entry, "id");
    const std::string* scope = string_member(entry, "scope");
    const std::string* label = string_member(entry, "label");
    const std::string* hash = string_member(entry, "secret_sha256");
    auto created = entry.find("created");
    if (id == nullptr || id->size() != kTokenIdChars || !is_lower_hex(*id)) {
      return corrupt("a token has no valid id");
    }
    auto bad_token = [&] { return corrupt("token " + *id + " is malformed"); };
    if (scope == nullptr || label == nullptr || hash == nullptr || created == entry.end() ||
        !created->is_number_integer()) {
      return bad_token();
    }
    std::optional<std::string> secret_sha256 = from_hex(*hash);
    if (!secret_sha256 || secret_sha256->size() != kSha256Bytes) return bad_token();
    StoredToken token{{*id, {}, *label, created->get<int64_t>()}, std::move(*secret_sha256)};
    if (*scope == "tenant") {
      const std::string* tenant = string_member(entry, "tenant");
      auto read_only = entry.find("read_only");
      if (tenant == nullptr || read_only == entry.end() || !read_only->is_boolean() ||
          !state.tenants.contains(*tenant)) {
        return bad_token();
      }
      token.info.scope = TokenScope::Tenant(*tenant, read_only->get<bool>());
    } else if (*scope != "admin") {
      return bad_token();
    }
    if (!state.tokens.emplace(*id, std::move(token)).second) {
      return corrupt("token " + *id + " appears twice");
    }
  }
  return std::unique_ptr<CredentialStore>(new CredentialStore(std::move(path), std::move(state)));
}

std::shared_ptr<const CredentialStore::State> CredentialStore::Snapshot() const {
  MutexLock lock(state_mutex_);
  return state_;
}

template <typename Change>
Status CredentialStore::Update(Change&& change) {
  MutexLock change_lock(change_mutex_);
  // Only changes replace state_, and they hold change_mutex_: this copy is
  // the current state until we replace it.
  State next = *Snapshot();
  PGTHAW_RETURN_IF_ERROR(change(next));
  std::string contents;
  try {
    contents = to_json(next).dump(2) + "\n";
  } catch (const json::exception& e) {  // names are checked to be UTF-8 first
    return Status::Internal("credential store " + path_ + ": " + e.what());
  }
  bool renamed = false;
  Status written = write_file_atomically(path_, contents, /*durable=*/true, &renamed);
  if (renamed && !written.ok()) {
    written = written.Annotate("credential store " + path_ +
                               " holds the change, which may not survive a crash: ");
  }
  if (renamed) {
    auto published = std::make_shared<const State>(std::move(next));
    MutexLock state_lock(state_mutex_);
    state_ = std::move(published);
  }
  return written;
}

Status CredentialStore::ValidateTenantId(std::string_view tenant) {
  return runtime::Runtime::ValidateTenantId(tenant);
}

Status CredentialStore::ValidateRoleName(std::string_view role) {
  if (role.empty() || role.size() > kMaxNameBytes) {
    return Status::InvalidArgument("role name must be 1 to 63 bytes");
  }
  if (role.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("role name holds a NUL byte");
  }
  if (!is_utf8(role)) return Status::InvalidArgument("role name is not UTF-8");
  if (role == "postgres" || role.starts_with("pg_")) {
    return Status::InvalidArgument("role name \"" + std::string(role) +
                                   "\" is reserved for Postgres' own roles");
  }
  return Status::Ok();
}

bool CredentialStore::HasTenant(std::string_view tenant) const {
  return Snapshot()->tenants.contains(tenant);
}

std::vector<std::string> CredentialStore::Tenants() const {
  std::shared_ptr<const State> state = Snapshot();
  std::vector<std::string> tenants;
  for (const auto& [tenant, entry] : state->tenants) tenants.push_back(tenant);
  return tenants;
}

Status CredentialStore::AddTenant(std::string_view tenant, std::string_view owner_role) {
  PGTHAW_RETURN_IF_ERROR(ValidateTenantId(tenant));
  if (!owner_role.empty()) PGTHAW_RETURN_IF_ERROR(ValidateRoleName(owner_role));
  TenantEntry entry;
  entry.owner = std::string(owner_role);
  entry.created_unix_s = now_unix_s();
  return Update([&](State& state) {
    if (!state.tenants.try_emplace(std::string(tenant), entry).second) {
      return Status::AlreadyExists("tenant " + std::string(tenant) + " exists");
    }
    return Status::Ok();
  });
}

std::optional<std::string> CredentialStore::OwnerRole(std::string_view tenant) const {
  std::shared_ptr<const State> state = Snapshot();
  auto it = state->tenants.find(tenant);
  if (it == state->tenants.end() || it->second.owner.empty()) return std::nullopt;
  return it->second.owner;
}

std::optional<int64_t> CredentialStore::CreatedUnixS(std::string_view tenant) const {
  std::shared_ptr<const State> state = Snapshot();
  auto it = state->tenants.find(tenant);
  if (it == state->tenants.end()) return std::nullopt;
  return it->second.created_unix_s;
}

Status CredentialStore::DropTenant(std::string_view tenant) {
  return Update([&](State& state) {
    auto it = state.tenants.find(tenant);
    if (it == state.tenants.end()) return Status::NotFound("no tenant " + std::string(tenant));
    state.tenants.erase(it);
    std::erase_if(state.tokens, [&](const auto& entry) {
      const TokenScope& scope = entry.second.info.scope;
      return scope.kind == TokenScope::Kind::kTenant && scope.tenant == tenant;
    });
    return Status::Ok();
  });
}

Status CredentialStore::SetRole(std::string_view tenant, std::string_view role,
                                const scram::Verifier& verifier) {
  PGTHAW_RETURN_IF_ERROR(ValidateRoleName(role));
  if (!verifier.IsWellFormed()) return Status::InvalidArgument("malformed SCRAM verifier");
  return Update([&](State& state) {
    auto it = state.tenants.find(tenant);
    if (it == state.tenants.end()) return Status::NotFound("no tenant " + std::string(tenant));
    it->second.roles.insert_or_assign(std::string(role), verifier);
    return Status::Ok();
  });
}

Status CredentialStore::DropRole(std::string_view tenant, std::string_view role) {
  return Update([&](State& state) {
    auto it = state.tenants.find(tenant);
    if (it == state.tenants.end()) return Status::NotFound("no tenant " + std::string(tenant));
    auto role_it = it->second.roles.find(role);
    if (role_it == it->second.roles.end()) {
      return Status::NotFound("tenant " + std::string(tenant) + " has no role " +
                              std::string(role));
    }
    it->second.roles.erase(role_it);
    if (it->second.owner == role) it->second.owner.clear();
    return Status::Ok();
  });
}

std::optional<scram::Verifier> CredentialStore::FindRole(std::string_view tenant,
                                                         std::string_view role) const {
  std::shared_ptr<const State> state = Snapshot();
  auto it = state->tenants.find(tenant);
  if (it == state->tenants.end()) return std::nullopt;
  auto role_it = it->second.roles.find(role);
  if (role_it == it->second.roles.end()) return std::nullopt;
  return role_it->second;
}

std::vector<std::string> CredentialStore::Roles(std::string_view tenant) const {
  std::shared_ptr<const State> state = Snapshot();
  std::vector<std::string> roles;
  auto it = state->tenants.find(tenant);
  if (it == state->tenants.end()) return roles;
  for (const auto& [role, verifier] : it->second.roles) roles.push_back(role);
  return roles;
}

Result<IssuedToken> CredentialStore::IssueToken(TokenScope scope, std::string label) {
  if (scope.kind == TokenScope::Kind::kAdmin && (!scope.tenant.empty() || scope.read_only)) {
    return Status::InvalidArgument("an admin token has neither a tenant nor read_only");
  }
  if (label.size() > kMaxLabelBytes) {
    return Status::InvalidArgument("token label longer than " + std::to_string(kMaxLabelBytes) +
                                   " bytes");
  }
  if (!is_utf8(label)) return Status::InvalidArgument("token label is not UTF-8");
  Result<std::string> secret = random_bytes(kTokenSecretBytes);
  if (!secret.ok()) return secret.status();
  IssuedToken issued;
  issued.info = TokenInfo{"", std::move(scope), std::move(label), now_unix_s()};
  std::string secret_text = base64url_unpadded(*secret);

  Status updated = Update([&](State& state) {
    if (issued.info.scope.kind == TokenScope::Kind::kTenant &&
        !state.tenants.contains(issued.info.scope.tenant)) {
      return Status::NotFound("no tenant " + issued.info.scope.tenant);
    }
    // 64 random bits: a clash is as good as impossible, but cheap to rule out.
    do {
      Result<std::string> id = random_bytes(kTokenIdBytes);
      if (!id.ok()) return id.status();
      issued.info.id = to_hex(*id);
    } while (state.tokens.contains(issued.info.id));
    state.tokens.emplace(issued.info.id, StoredToken{issued.info, sha256(secret_text)});
    return Status::Ok();
  });
  if (!updated.ok()) return updated;
  issued.bearer = std::string(kTokenPrefix) + issued.info.id + "_" + secret_text;
  return issued;
}

Status CredentialStore::RevokeToken(std::string_view id) {
  return Update([&](State& state) {
    auto it = state.tokens.find(id);
    if (it == state.tokens.end()) return Status::NotFound("no token " + std::string(id));
    state.tokens.erase(it);
    return Status::Ok();
  });
}

std::vector<TokenInfo> CredentialStore::ListTokens(std::optional<std::string> tenant) const {
  std::shared_ptr<const State> state = Snapshot();
  std::vector<TokenInfo> tokens;
  for (const auto& [id, token] : state->tokens) {
    const TokenScope& scope = token.info.scope;
    if (tenant && !(scope.kind == TokenScope::Kind::kTenant && scope.tenant == *tenant)) continue;
    tokens.push_back(token.info);
  }
  std::stable_sort(tokens.begin(), tokens.end(), [](const TokenInfo& a, const TokenInfo& b) {
    return a.created_unix_s < b.created_unix_s;
  });
  return tokens;
}

std::optional<TokenScope> CredentialStore::Authenticate(std::string_view bearer) const {
  // pgt_<16 hex>_<43 base64url>; the secret may itself hold '_'.
  constexpr size_t kLength = kTokenPrefix.size() + kTokenIdChars + 1 + kTokenSecretChars;
  if (bearer.size() != kLength || !bearer.starts_with(kTokenPrefix)) return std::nullopt;
  std::string_view id = bearer.substr(kTokenPrefix.size(), kTokenIdChars);
  std::string_view secret = bearer.substr(kTokenPrefix.size() + kTokenIdChars + 1);
  if (bearer[kTokenPrefix.size() + kTokenIdChars] != '_' || !is_lower_hex(id) ||
      !is_base64url(secret)) {
    return std::nullopt;
  }
  std::shared_ptr<const State> state = Snapshot();
  auto it = state->tokens.find(id);
  if (it == state->tokens.end()) return std::nullopt;
  // The id is no secret, the hash comparison must not tell how much of the
  // secret was right.
  std::string presented = sha256(secret);
  if (CRYPTO_memcmp(presented.data(), it->second.secret_sha256.data(), kSha256Bytes) != 0) {
    return std::nullopt;
  }
  return it->second.info.scope;
}

}  // namespace pgthaw::server
