// Who may ask what of an HTTP role: the access policy every request passes
// before its route runs (HttpServer's Session::Dispatch asks decide_access).
//
// Browser protections, always on (trust mode too), so that a web page in the
// user's browser cannot reach a local pgthaw:
//   - Host must name this listener: the address the connection arrived at
//     (IP:port; on loopback also localhost, 127.0.0.1 and [::1] with the
//     port) or an `allowed_hosts` entry. A page whose own name was made to
//     resolve to 127.0.0.1 (DNS rebinding) sends its own name: 403
//     host_not_allowed. HTTP/1.1 without Host: 400.
//   - Origin, when sent, must be exactly an `allowed_origins` entry: 403
//     origin_not_allowed otherwise. Non-browser clients send none. An allowed
//     origin gets `Access-Control-Allow-Origin: <that origin>` (never `*`)
//     and `Vary: Origin`; its CORS preflight (OPTIONS) gets 204.
//   - A body must be `Content-Type: application/json`: 415
//     unsupported_media_type otherwise. text/plain and form posts are the
//     "simple requests" a page may send anywhere without a preflight.
//
// Bearer tokens, when a CredentialStore is given: every route but the public
// ones (RouteAccess) needs `Authorization: Bearer <token>`; none, or one that
// is malformed, unknown or revoked, is 401 with `WWW-Authenticate: Bearer
// realm="pgthaw"` (plus `error="invalid_token"` when one was given). An
// admin route with a tenant token, or a tenant route whose body names
// another tenant than the token's, is 403 forbidden. The body's tenant is
// read with parse_query_body, as the route's handler reads it; a body that
// does not parse goes on to the handler, which refuses it the same way.
//
// Pure but for CredentialStore's reads; thread-safe.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/credential_store.h"
#include "server/http_reply.h"

namespace pgthaw::server {

// Who may call a route when bearer tokens are checked.
struct RouteAccess {
  enum class Kind {
    kPublic,  // anyone (info pages, health checks)
    kTenant,  // a token for the tenant the body names, or an admin token
    kAdmin,   // an admin token only
  };
  static RouteAccess Public() { return {Kind::kPublic, ""}; }
  static RouteAccess Admin() { return {Kind::kAdmin, ""}; }
  // `default_tenant`: the tenant a body without "tenant" names.
  static RouteAccess Tenant(std::string default_tenant) {
    return {Kind::kTenant, std::move(default_tenant)};
  }

  Kind kind = Kind::kAdmin;
  std::string default_tenant;
};

// One listener's policy (HttpServerOptions::access).
struct HttpAccessPolicy {
  // Null: trust mode, no tokens (the browser protections still hold).
  std::shared_ptr<CredentialStore> credentials;
  // Further names of this listener: "name" (any port) or "name:port";
  // "[::1]:8787" for an IPv6 address. Compared without regard to case.
  std::vector<std::string> allowed_hosts;
  // Web origins whose pages may call it, as browsers send them:
  // "https://app.example.com", "http://localhost:3000". Compared exactly.
  std::vector<std::string> allowed_origins;
};

// The parts of a request the policy reads. Views into the request, which
// must outlive the call.
struct AccessRequest {
  std::string_view method;
  unsigned version = 11;  // 10 or 11
  // Every value of each header, in order (several Hosts are refused).
  std::vector<std::string_view> hosts, origins, content_types, authorizations;
  std::string_view body;
};

struct AccessDecision {
  // Set: answer this instead of running the route (a refusal, or a CORS
  // preflight's 204). Its CORS headers are added already.
  std::optional<Reply> early_reply;
  // Set when a token was checked: who it proved. Unset in trust mode and on
  // public routes.
  std::optional<TokenScope> scope;
  std::string bearer;  // the token as given; the HTTP binding forwards it
  // An allowed Origin: every reply to this request carries it back
  // (add_cors_headers). Empty if none was sent.
  std::string cors_origin;
  // A failed token check, for pgthaw_auth_failures_total: "missing",
  // "invalid" or "forbidden" (empty if none), and the tenant it was about
  // when that tenant exists in the credential store (else empty).
  std::string failure_reason, failure_tenant;
};

// Decides `request`, which arrived at `local` (the connection's own address),
// for `route` (null: no such route; the router answers 404 or 405 and no
// handler runs, so no token is needed).
AccessDecision decide_access(const AccessRequest& request,
                             const boost::asio::ip::tcp::endpoint& local, const RouteAccess* route,
                             const HttpAccessPolicy& policy);

// Whether the Host header value `host` names the listener at `local`.
// A Host without a port means port 80.
bool host_allowed(std::string_view host, const boost::asio::ip::tcp::endpoint& local,
                  const std::vector<std::string>& allowed_hosts);

// Whether the Origin header value `origin` is one of `allowed_origins`
// ("null", the opaque origin of sandboxed pages and files, never is).
bool origin_allowed(std::string_view origin, const std::vector<std::string>& allowed_origins);

// application/json, any case, parameters allowed ("; charset=utf-8").
bool is_json_media_type(std::string_view content_type);

// The token of an Authorization value "Bearer <token>" (scheme in any
// case); nullopt for another scheme or an empty token.
std::optional<std::string_view> bearer_token(std::string_view authorization);

// Access-Control-Allow-Origin: `origin` and Vary: Origin on `reply`.
void add_cors_headers(Reply& reply, std::string_view origin);

}  // namespace pgthaw::server
