// FactoryBinding: how the consumer reaches the factory (the seed's service
// binding).
//
// - in-process (`--role all`, no --factory-url): a direct call into the
//   FactoryService of this process; no serialisation, no socket.
// - http (`--factory-url http://HOST:PORT`): POST to the factory's /query or
//   /cold-start over HTTP/1.1 keep-alive (Beast, async on the shared
//   io_context). Idle connections are kept for reuse; a request that fails on
//   a reused connection before any reply byte is retried once on a new one.
//   Transport failures answer 502 {"error": {"code": "bad_gateway"}}.
//   The caller's bearer token (QueryRequest::bearer) is passed on, so the
//   factory must know the same tokens (share the credential file).
//
// Either way the reply is the factory's own (status and body); /compare
// reports kind(). Thread-safe.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "server/http_factory_routes.h"
#include "server/query_json.h"

namespace pgthaw::server {

class FactoryBinding {
 public:
  enum class Call { kQuery, kColdStart };
  virtual ~FactoryBinding() = default;
  virtual const char* kind() const = 0;  // "in-process" | "http"
  virtual std::string target() const = 0;
  virtual void Run(Call call, const QueryRequest& request, Respond respond) = 0;
};

std::unique_ptr<FactoryBinding> make_in_process_binding(FactoryService& factory);

// `url` is http://HOST:PORT with an optional path prefix; InvalidArgument
// otherwise (https is not supported).
Result<std::unique_ptr<FactoryBinding>> make_http_binding(boost::asio::io_context& io,
                                                          const std::string& url,
                                                          std::chrono::milliseconds timeout);

}  // namespace pgthaw::server
