#include "server/http_reply.h"

namespace pgthaw::server {

Reply error_reply(int status, std::string code, std::string message) {
  Reply reply;
  reply.status = status;
  reply.body = {{"error", {{"message", std::move(message)}, {"code", std::move(code)}}}};
  return reply;
}

Reply status_reply(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return error_reply(400, "bad_request", status.message());
    case StatusCode::kNotFound:
      return error_reply(404, "not_found", status.message());
    case StatusCode::kResourceExhausted:
      return error_reply(503, "resource_exhausted", status.message());
    case StatusCode::kUnavailable:
      return error_reply(503, "unavailable", status.message());
    default:
      return error_reply(500, "internal", status.ToString());
  }
}

int64_t micros_since(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

}  // namespace pgthaw::server
