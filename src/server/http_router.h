// Router: (method, path) -> handler, with 404 for an unknown path and 405
// (with an Allow header) for a known path asked with another method.
// Built before the server starts, read-only afterwards (thread-safe then).
#pragma once

#include <functional>
#include <map>
#include <string>

#include "server/http_reply.h"

namespace pgthaw::server {

using Handler = std::function<void(const Request&, Respond)>;

class Router {
 public:
  void Add(const std::string& method, const std::string& path, Handler handler);

  // Runs the matching handler, or answers 404/405 itself. Returns the route
  // label for metrics: the path if known, else "unmatched".
  std::string Dispatch(const Request& request, Respond respond) const;

 private:
  std::map<std::string, std::map<std::string, Handler>> routes_;  // path -> method -> handler
};

}  // namespace pgthaw::server
