#include "server/http_api_info.h"

namespace pgthaw::server {

Reply api_info_reply(const std::string& role, const std::string& description,
                     const std::vector<RouteInfo>& routes) {
  nlohmann::json endpoints = nlohmann::json::array();
  for (const RouteInfo& r : routes) {
    endpoints.push_back({{"method", r.method}, {"path", r.path}, {"description", r.description}});
  }
  Reply reply;
  reply.body = {
      {"service", "pgthaw " + role},
      {"role", role},
      {"description", description},
      {"queryBody", {{"sql", "select $1::int + 1"}, {"params", {41}}, {"tenant", "acme"}}},
      {"endpoints", std::move(endpoints)}};
  return reply;
}

}  // namespace pgthaw::server
