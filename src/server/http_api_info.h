// The "/" answer of each role: what it is and its route table.
#pragma once

#include <string>
#include <vector>

#include "server/http_reply.h"

namespace pgthaw::server {

struct RouteInfo {
  const char* method;
  const char* path;
  const char* description;
};

Reply api_info_reply(const std::string& role, const std::string& description,
                     const std::vector<RouteInfo>& routes);

}  // namespace pgthaw::server
