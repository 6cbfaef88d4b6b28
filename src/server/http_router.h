// Router: (method, path) -> handler, with 404 for an unknown path and 405
// (with an Allow header) for a known path asked with another method.
// A path may hold `{name}` segments (/admin/tenants/{tenant}): such a
// segment matches one non-empty segment, handed to the handler in
// Request::params (percent-decoded). Exact paths are tried first, then
// patterns in the order added.
// Each route says who may call it when bearer tokens are checked
// (RouteAccess, http_access.h); a route added without saying is admin-only,
// so a new route is closed until it is opened on purpose.
// Built before the server starts, read-only afterwards (thread-safe then).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/http_access.h"
#include "server/http_reply.h"

namespace pgthaw::server {

using Handler = std::function<void(const Request&, Respond)>;

// %XX decoded; a malformed escape stays as it is.
std::string percent_decode(std::string_view text);
// The value of `name` in a query string ("a=1&b=x%20y"), percent-decoded;
// "" for a bare `name`, nullopt if absent.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

class Router {
 public:
  void Add(const std::string& method, const std::string& path, Handler handler) {
    Add(method, path, RouteAccess::Admin(), std::move(handler));
  }
  void Add(const std::string& method, const std::string& path, RouteAccess access, Handler handler);
  // A route whose request body is a file (an archive), not JSON: the
  // server checks access from the header alone, then streams the body to a
  // file of its upload directory (Request::body_file).
  void AddUpload(const std::string& method, const std::string& path, RouteAccess access,
                 Handler handler);
  // (method, path) is an upload route.
  bool Uploads(const std::string& method, const std::string& path) const;

  // Who may call (method, path); null if no such route.
  const RouteAccess* Access(const std::string& method, const std::string& path) const;

  // Runs the matching handler, or answers 404/405 itself. Returns the route
  // label for metrics: the path (a pattern's own text) if known, else
  // "unmatched".
  std::string Dispatch(const Request& request, Respond respond) const;

 private:
  struct Route {
    RouteAccess access;
    Handler handler;
    bool upload = false;
  };
  using Methods = std::map<std::string, Route>;
  struct Pattern {
    std::string path;
    std::vector<std::string> segments;  // "{name}" or a literal
    Methods methods;
  };
  static std::string Answer(const Methods& methods, const std::string& label,
                            const Request& request, Respond respond);

  std::map<std::string, Methods> routes_;  // exact path -> method -> handler
  std::vector<Pattern> patterns_;
  // The methods of the route `path` matches (its label and params), or null.
  const Methods* Match(const std::string& path, std::string* label,
                       std::map<std::string, std::string>* params) const;
};

}  // namespace pgthaw::server
