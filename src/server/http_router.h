// Router: (method, path) -> handler, with 404 for an unknown path and 405
// (with an Allow header) for a known path asked with another method.
// Each route says who may call it when bearer tokens are checked
// (RouteAccess, http_access.h); a route added without saying is admin-only,
// so a new route is closed until it is opened on purpose.
// Built before the server starts, read-only afterwards (thread-safe then).
#pragma once

#include <functional>
#include <map>
#include <string>

#include "server/http_access.h"
#include "server/http_reply.h"

namespace pgthaw::server {

using Handler = std::function<void(const Request&, Respond)>;

class Router {
 public:
  void Add(const std::string& method, const std::string& path, Handler handler) {
    Add(method, path, RouteAccess::Admin(), std::move(handler));
  }
  void Add(const std::string& method, const std::string& path, RouteAccess access, Handler handler);

  // Who may call (method, path); null if no such route.
  const RouteAccess* Access(const std::string& method, const std::string& path) const;

  // Runs the matching handler, or answers 404/405 itself. Returns the route
  // label for metrics: the path if known, else "unmatched".
  std::string Dispatch(const Request& request, Respond respond) const;

 private:
  struct Route {
    RouteAccess access;
    Handler handler;
  };
  std::map<std::string, std::map<std::string, Route>> routes_;  // path -> method -> route
};

}  // namespace pgthaw::server
