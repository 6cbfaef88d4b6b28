#include "server/factory_binding.h"

#include <spdlog/spdlog.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <vector>

#include "common/thread_annotations.h"

namespace pgthaw::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

class InProcessBinding : public FactoryBinding {
 public:
  explicit InProcessBinding(FactoryService& factory) : factory_(factory) {}
  const char* kind() const override { return "in-process"; }
  std::string target() const override { return "direct call into this process's factory"; }
  void Run(Call call, const QueryRequest& request, Respond respond) override {
    if (call == Call::kQuery) {
      factory_.Query(request, false, Clock::now(), std::move(respond));
    } else {
      factory_.ColdStart(request, Clock::now(), std::move(respond));
    }
  }

 private:
  FactoryService& factory_;
};

class HttpBinding : public FactoryBinding {
 public:
  HttpBinding(asio::io_context& io, std::string url, std::string host, std::string port,
              std::string prefix, std::chrono::milliseconds timeout)
      : io_(io),
        url_(std::move(url)),
        host_(std::move(host)),
        port_(std::move(port)),
        prefix_(std::move(prefix)),
        timeout_(timeout) {}

  const char* kind() const override { return "http"; }
  std::string target() const override { return url_; }

  void Run(Call call, const QueryRequest& request, Respond respond) override {
    auto op = std::make_shared<Op>();
    op->req.method(http::verb::post);
    op->req.target(prefix_ + (call == Call::kQuery ? "/query" : "/cold-start"));
    op->req.version(11);
    // The factory checks that Host names it (http_access.h): the URL's own
    // authority, an IPv6 address in brackets.
    op->req.set(http::field::host,
                (host_.find(':') != std::string::npos ? "[" + host_ + "]" : host_) + ":" + port_);
    op->req.set(http::field::content_type, "application/json");
    // The caller's token goes on: the factory decides for itself what it
    // may do.
    if (!request.bearer.empty()) {
      op->req.set(http::field::authorization, "Bearer " + request.bearer);
    }
    op->req.keep_alive(true);
    op->req.body() = query_body_json(request);
    op->req.prepare_payload();
    op->respond = std::move(respond);
    Start(op);
  }

 private:
  struct Op {
    http::request<http::string_body> req;
    http::response<http::string_body> res;
    beast::flat_buffer buffer;
    std::unique_ptr<beast::tcp_stream> stream;
    bool reused = false;
    bool retried = false;
    Respond respond;
  };

  void Start(std::shared_ptr<Op> op) {
    {
      MutexLock lock(mu_);
      if (!idle_.empty()) {
        op->stream = std::move(idle_.back());
        idle_.pop_back();
        op->reused = true;
      }
    }
    if (op->stream) return Send(op);
    op->stream = std::make_unique<beast::tcp_stream>(asio::make_strand(io_));
    auto resolver = std::make_shared<tcp::resolver>(io_);
    resolver->async_resolve(
        host_, port_,
        [this, op, resolver](beast::error_code ec, tcp::resolver::results_type results) {
          if (ec) return Fail(op, "resolve", ec);
          op->stream->expires_after(timeout_);
          op->stream->async_connect(results,
                                    [this, op](beast::error_code cec, const tcp::endpoint&) {
                                      if (cec) return Fail(op, "connect", cec);
                                      beast::error_code opt_ec;
                                      op->stream->socket().set_option(tcp::no_delay(true), opt_ec);
                                      Send(op);
                                    });
        });
  }

  void Send(std::shared_ptr<Op> op) {
    op->stream->expires_after(timeout_);
    http::async_write(*op->stream, op->req, [this, op](beast::error_code ec, size_t) {
      if (ec) return Retry(op, "write", ec);
      http::async_read(*op->stream, op->buffer, op->res, [this, op](beast::error_code rec, size_t) {
        if (rec) return Retry(op, "read", rec);
        Finish(op);
      });
    });
  }

  // A kept-alive connection the factory closed meanwhile fails at once:
  // try once more on a fresh one.
  void Retry(std::shared_ptr<Op> op, const char* what, beast::error_code ec) {
    if (op->reused && !op->retried) {
      op->retried = true;
      op->reused = false;
      op->stream.reset();
      op->buffer.clear();
      op->res = {};
      return Start(op);
    }
    Fail(op, what, ec);
  }

  void Fail(std::shared_ptr<Op> op, const char* what, beast::error_code ec) {
    spdlog::warn("factory binding: {} {}: {}", what, url_, ec.message());
    op->respond(error_reply(502, "bad_gateway",
                            std::string("factory at ") + url_ + ": " + what + ": " + ec.message()));
  }

  void Finish(std::shared_ptr<Op> op) {
    Reply reply;
    reply.status = static_cast<int>(op->res.result_int());
    reply.body = nlohmann::json::parse(op->res.body(), nullptr, /*allow_exceptions=*/false);
    if (reply.body.is_discarded() || !reply.body.is_object()) {
      reply = error_reply(502, "bad_gateway",
                          "factory at " + url_ + " answered " + std::to_string(reply.status) +
                              " without a JSON object");
    }
    if (op->res.keep_alive()) {
      MutexLock lock(mu_);
      if (idle_.size() < kMaxIdle) idle_.push_back(std::move(op->stream));
    }
    op->respond(std::move(reply));
  }

  static constexpr size_t kMaxIdle = 16;
  asio::io_context& io_;
  const std::string url_, host_, port_, prefix_;
  const std::chrono::milliseconds timeout_;
  Mutex mu_;
  std::vector<std::unique_ptr<beast::tcp_stream>> idle_ GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<FactoryBinding> make_in_process_binding(FactoryService& factory) {
  return std::make_unique<InProcessBinding>(factory);
}

Result<std::unique_ptr<FactoryBinding>> make_http_binding(asio::io_context& io,
                                                          const std::string& url,
                                                          std::chrono::milliseconds timeout) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    return Status::InvalidArgument("--factory-url \"" + url + "\" must start with http://");
  }
  std::string rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  std::string prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  std::string host = authority, port = "80";
  if (size_t colon = authority.rfind(':');
      colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty() || port.empty()) {
    return Status::InvalidArgument("--factory-url \"" + url + "\" has no host or port");
  }
  return std::unique_ptr<FactoryBinding>(
      new HttpBinding(io, url, std::move(host), std::move(port), std::move(prefix), timeout));
}

}  // namespace pgthaw::server
