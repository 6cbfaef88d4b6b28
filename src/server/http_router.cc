#include "server/http_router.h"

namespace pgthaw::server {

void Router::Add(const std::string& method, const std::string& path, Handler handler) {
  routes_[path][method] = std::move(handler);
}

std::string Router::Dispatch(const Request& request, Respond respond) const {
  auto route = routes_.find(request.path);
  if (route == routes_.end()) {
    respond(error_reply(404, "not_found", "no route " + request.path));
    return "unmatched";
  }
  auto handler = route->second.find(request.method);
  if (handler == route->second.end()) {
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
  handler->second(request, std::move(respond));
  return request.path;
}

}  // namespace pgthaw::server
