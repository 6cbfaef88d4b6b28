#include "server/http_access.h"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cstdint>

#include "server/query_json.h"

namespace pgthaw::server {

namespace asio = boost::asio;

namespace {

constexpr uint16_t kDefaultHttpPort = 80;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "name", "name:port", "[v6]", "[v6]:port"; the name without brackets.
struct Authority {
  std::string_view name;
  std::optional<uint16_t> port;
};

std::optional<uint16_t> parse_port(std::string_view digits) {
  if (digits.empty() || digits.size() > 5) return std::nullopt;
  uint32_t port = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port == 0 || port > 65535) return std::nullopt;
  return static_cast<uint16_t>(port);
}

std::optional<Authority> parse_authority(std::string_view text) {
  Authority a;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    a.name = text.substr(1, close - 1);
    rest = text.substr(close + 1);
  } else {
    size_t colon = text.find(':');
    a.name = text.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon);
  }
  if (a.name.empty()) return std::nullopt;
  if (!rest.empty()) {
    if (rest.front() != ':') return std::nullopt;
    a.port = parse_port(rest.substr(1));
    if (!a.port) return std::nullopt;
  }
  return a;
}

// An IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 peer)
// as the IPv4 address clients name.
asio::ip::address plain(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

std::optional<asio::ip::address> as_address(std::string_view name) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(std::string(name), ec);
  if (ec) return std::nullopt;
  return plain(address);
}

// Names compare as addresses when both are ("::1" and "0:0::1"), else as
// host names, case-insensitively.
bool same_name(std::string_view a, std::string_view b) {
  auto address_a = as_address(a), address_b = as_address(b);
  if (address_a && address_b) return *address_a == *address_b;
  return iequals(a, b);
}

std::string shown(std::string_view value) {
  std::string out = "\"";
  for (char c : value.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out + "\"";
}

Reply unauthorized(bool token_given) {
  Reply reply = error_reply(401, "unauthorized",
                            token_given ? "the bearer token is malformed, unknown or revoked"
                                        : "this route needs Authorization: Bearer <token>");
  reply.headers.emplace_back(
      "WWW-Authenticate",
      token_given ? "Bearer realm=\"pgthaw\", error=\"invalid_token\"" : "Bearer realm=\"pgthaw\"");
  return reply;
}

// The tenant a tenant route's body names, as its handler will read it;
// nullopt when the body does not parse (the handler answers 400).
std::optional<std::string> body_tenant(std::string_view body, const RouteAccess& route) {
  auto query = parse_query_body(body, route.default_tenant);
  if (!query.ok()) return std::nullopt;
  return std::move(query->tenant);
}

// Only tenants of the store name a metrics label: the label set stays as
// bounded as the store.
std::string known_tenant(const CredentialStore& store, std::string_view tenant) {
  return !tenant.empty() && store.HasTenant(tenant) ? std::string(tenant) : std::string();
}

void refuse(AccessDecision& decision, Reply reply) {
  if (!decision.cors_origin.empty()) add_cors_headers(reply, decision.cors_origin);
  decision.early_reply = std::move(reply);
}

// The token checks, for a route that needs a token.
void check_token(const AccessRequest& request, const RouteAccess& route,
                 const CredentialStore& store, AccessDecision& decision) {
  auto fail = [&](const char* reason, std::string_view tenant, Reply reply) {
    decision.failure_reason = reason;
    decision.failure_tenant = known_tenant(store, tenant);
    refuse(decision, std::move(reply));
  };
  // What the request is about, for the metrics of a refused one.
  auto named_tenant = [&] {
    if (route.kind != RouteAccess::Kind::kTenant) return std::string();
    return body_tenant(request.body, route).value_or("");
  };
  if (request.authorizations.empty()) {
    return fail("missing", named_tenant(), unauthorized(false));
  }
  std::optional<std::string_view> token;
  if (request.authorizations.size() == 1) token = bearer_token(request.authorizations.front());
  std::optional<TokenScope> scope;
  if (token) scope = store.Authenticate(*token);
  if (!scope) return fail("invalid", named_tenant(), unauthorized(true));

  if (scope->kind == TokenScope::Kind::kTenant) {
    if (route.kind == RouteAccess::Kind::kAdmin) {
      // The request names no tenant: the label is the token's own.
      return fail("forbidden", scope->tenant,
                  error_reply(403, "forbidden",
                              "this route needs an admin token; the token given is scoped to "
                              "tenant " +
                                  scope->tenant));
    }
    std::optional<std::string> tenant = body_tenant(request.body, route);
    if (tenant && *tenant != scope->tenant) {
      return fail("forbidden", *tenant,
                  error_reply(403, "forbidden",
                              "the token is scoped to tenant " + scope->tenant +
                                  ", not to tenant " + shown(*tenant)));
    }
  }
  decision.scope = std::move(scope);
  decision.bearer = std::string(*token);
}

}  // namespace

bool host_allowed(std::string_view host, const asio::ip::tcp::endpoint& local,
                  const std::vector<std::string>& allowed_hosts) {
  std::optional<Authority> given = parse_authority(trim(host));
  if (!given) return false;
  const uint16_t port = given->port.value_or(kDefaultHttpPort);
  if (port == local.port()) {
    asio::ip::address own = plain(local.address());
    if (auto address = as_address(given->name); address && *address == own) return true;
    if (own.is_loopback() &&
        (iequals(given->name, "localhost") || same_name(given->name, "127.0.0.1") ||
         same_name(given->name, "::1"))) {
      return true;
    }
  }
  for (const std::string& entry : allowed_hosts) {
    std::optional<Authority> allowed = parse_authority(entry);
    if (!allowed || !same_name(allowed->name, given->name)) continue;
    if (!allowed->port || *allowed->port == port) return true;
  }
  return false;
}

bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed_origins) {
  if (origin == "null") return false;
  return std::find(allowed_origins.begin(), allowed_origins.end(), origin) != allowed_origins.end();
}

bool is_json_media_type(std::string_view content_type) {
  return iequals(trim(content_type.substr(0, content_type.find(';'))), "application/json");
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  authorization = trim(authorization);
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size() ||
      !iequals(authorization.substr(0, kScheme.size()), kScheme) ||
      (authorization[kScheme.size()] != ' ' && authorization[kScheme.size()] != '\t')) {
    return std::nullopt;
  }
  std::string_view token = trim(authorization.substr(kScheme.size()));
  if (token.empty() || token.find_first_of(" \t") != std::string_view::npos) return std::nullopt;
  return token;
}

void add_cors_headers(Reply& reply, std::string_view origin) {
  reply.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  reply.headers.emplace_back("Vary", "Origin");
}

AccessDecision decide_access(const AccessRequest& request, const asio::ip::tcp::endpoint& local,
                             const RouteAccess* route, const HttpAccessPolicy& policy) {
  AccessDecision decision;
  // Host first: with a rebound name the page's Origin is its own and may
  // even be allowed; the Host is what shows the request was not meant for us.
  if (request.hosts.size() > 1) {
    refuse(decision, error_reply(400, "bad_request", "several Host headers"));
    return decision;
  }
  if (request.hosts.empty()) {
    if (request.version >= 11) {
      refuse(decision, error_reply(400, "bad_request", "HTTP/1.1 request without a Host header"));
      return decision;
    }
  } else if (!host_allowed(request.hosts.front(), local, policy.allowed_hosts)) {
    refuse(decision,
           error_reply(403, "host_not_allowed",
                       "Host " + shown(request.hosts.front()) +
                           " does not name this server; a web page reaches a local server "
                           "under a name of its own (DNS rebinding). If it is a name of this "
                           "server, add it to allowed-hosts"));
    return decision;
  }

  if (request.origins.size() > 1) {
    refuse(decision, error_reply(400, "bad_request", "several Origin headers"));
    return decision;
  }
  if (!request.origins.empty()) {
    if (!origin_allowed(request.origins.front(), policy.allowed_origins)) {
      refuse(decision, error_reply(403, "origin_not_allowed",
                                   "web pages of origin " + shown(request.origins.front()) +
                                       " may not call this server; allowed-origins lists "
                                       "those that may"));
      return decision;
    }
    decision.cors_origin = std::string(request.origins.front());
    if (request.method == "OPTIONS") {
      // A preflight: the browser asks before a JSON POST or one with a token.
      Reply preflight;
      preflight.status = 204;
      preflight.text = std::string();  // a 204 has no body
      preflight.headers = {{"Access-Control-Allow-Methods", "POST, GET"},
                           {"Access-Control-Allow-Headers", "authorization, content-type"},
                           {"Access-Control-Max-Age", "600"}};
      refuse(decision, std::move(preflight));
      return decision;
    }
  }

  if (!request.body.empty() &&
      (request.content_types.size() != 1 || !is_json_media_type(request.content_types.front()))) {
    refuse(decision, error_reply(415, "unsupported_media_type",
                                 "a request body must be sent as Content-Type: application/json" +
                                     (request.content_types.empty()
                                          ? std::string()
                                          : ", not " + shown(request.content_types.front()))));
    return decision;
  }

  if (policy.credentials && route != nullptr && route->kind != RouteAccess::Kind::kPublic) {
    check_token(request, *route, *policy.credentials, decision);
  }
  return decision;
}

}  // namespace pgthaw::server
