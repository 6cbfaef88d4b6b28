// What a route handler answers: an HTTP status and a JSON (or text) body.
//
// Handlers get a `Respond` callback and call it exactly once, from any thread;
// the connection posts the reply back to its own strand. Errors are JSON:
// {"error": {"message", "code", ...}}; SQL errors add "sqlstate" and
// "severity" (query_json.h).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "server/credential_store.h"

namespace pgthaw::server {

struct Reply {
  int status = 200;
  nlohmann::json body = nlohmann::json::object();
  // When set, sent as-is with `content_type` instead of `body` (/metrics).
  std::optional<std::string> text;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra, e.g. Allow
  // When set: this file is the body (with `content_type`), streamed, then
  // removed (an archive made for this reply).
  std::string file;
};

using Respond = std::function<void(Reply)>;

// A parsed HTTP request as routes see it.
struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // target without the query string
  std::string query;   // after the '?' ("" if none), undecoded
  std::string body;
  // Upload routes (Router::AddUpload): the file holding the body; the
  // handler's to remove when done with it.
  std::string body_file;
  // A pattern route's {name} segments, percent-decoded (http_router.h).
  std::map<std::string, std::string> params;
  std::chrono::steady_clock::time_point received;  // when its header was read
  // Who the request's bearer token proved (http_access.h); unset in trust
  // mode and on public routes. The server has checked it against the route
  // already; tenant routes read `read_only` from it.
  std::optional<TokenScope> scope;
  std::string bearer;  // that token, for the HTTP factory binding to pass on
  // The role a tenant token's queries run as: its tenant's owner role.
  // Empty: the superuser (trust mode, an admin token).
  std::string role;
};

// {"error": {"message": message, "code": code}} with `status`.
Reply error_reply(int status, std::string code, std::string message);

// A non-ok Status as an HTTP error: InvalidArgument 400, NotFound 404,
// ResourceExhausted and Unavailable 503, everything else 500.
Reply status_reply(const Status& status);

// Microseconds from `since` to now (steady_clock).
int64_t micros_since(std::chrono::steady_clock::time_point since);

}  // namespace pgthaw::server
