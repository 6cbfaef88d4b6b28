#include "server/http_router.h"

namespace pgthaw::server {

void Router::Add(const std::string& method, const std::string& path, RouteAccess access,
                 Handler handler) {
  routes_[path][method] = Route{std::move(access), std::move(handler)};
}

const RouteAccess* Router::Access(const std::string& method, const std::string& path) const {
  auto route = routes_.find(path);
  if (route == routes_.end()) return nullptr;
  auto found = route->second.find(method);
  return found == route->second.end() ? nullptr : &found->second.access;
}

std::string Router::Dispatch(const Request& request, Respond respond) const {
  auto route = routes_.find(request.path);
  if (route == routes_.end()) {
    respond(error_reply(404, "not_found", "no route " + request.path));
    return "unmatched";
  }
  auto found = route->second.find(request.method);
  if (found == route->second.end()) {
    std::string allow;
    for (const auto& [method, unused] : route->second) {
      allow += (allow.empty() ? "" : ", ") + method;
    }
    Reply reply = error_reply(405, "method_not_allowed",
                              request.method + " " + request.path + ": use " + allow);
    reply.headers.emplace_back("Allow", allow);
    respond(std::move(reply));
    return request.path;
  }
  found->second.handler(request, std::move(respond));
  return request.path;
}

}  // namespace pgthaw::server
