#include "server/http_server.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <type_traits>

#include "common/thread_annotations.h"
#include "server/accept_backoff.h"
#include "server/socket_tuning.h"

namespace pgthaw::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// What Stop() needs of a connection, whatever its stream.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // An idle connection closes now, a busy one after its reply.
  virtual void CloseIfIdle() = 0;
};

// What the server and its sessions share; outlives both as needed.
struct HttpServer::Shared {
  Shared(asio::io_context& io, Router r, HttpServerOptions o, Metrics* m)
      : io(io),
        acceptor(asio::make_strand(io)),
        accept_pause(acceptor.get_executor()),
        router(std::move(r)),
        options(std::move(o)),
        metrics(m),
        accept_backoff("http: role " + options.role) {}

  asio::io_context& io;
  tcp::acceptor acceptor;
  asio::steady_timer accept_pause;  // on the acceptor's strand, as is accept_backoff
  const Router router;
  const HttpServerOptions options;
  Metrics* const metrics;
  AcceptBackoff accept_backoff;
  std::atomic<bool> stopping{false};

  Mutex mu;
  std::condition_variable drained;
  std::map<SessionBase*, std::weak_ptr<SessionBase>> sessions GUARDED_BY(mu);
};

namespace {

// Sends the remaining bytes of a refused request to nowhere for a short
// while before closing, so the client reads our reply instead of a reset.
constexpr size_t kLingerBytes = 4 << 20;
constexpr std::chrono::seconds kLingerTime{2};

}  // namespace

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// One connection: a Stream of PlainStream or TlsStream (after its handshake).
template <typename Stream>
class Session : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // `tls` (TlsStream only): the context the handshake uses, kept while the
  // connection lives.
  Session(tcp::socket socket, std::shared_ptr<HttpServer::Shared> shared,
          std::shared_ptr<asio::ssl::context> tls = nullptr)
      : tls_(std::move(tls)),
        stream_(make_stream(std::move(socket), tls_)),
        shared_(std::move(shared)) {
    beast::error_code ec;
    local_ = lowest().socket().local_endpoint(ec);  // the Host check's own address
  }

  ~Session() {
    MutexLock lock(shared_->mu);
    shared_->sessions.erase(this);
    if (shared_->sessions.empty()) shared_->drained.notify_all();
  }

  void Start() {
    {
      MutexLock lock(shared_->mu);
      shared_->sessions[this] = this->weak_from_this();
    }
    asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kTls) {
        self->Handshake();
      } else {
        self->ReadHeader();
      }
    });
  }

  void CloseIfIdle() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (!self->busy_) self->Close();
    });
  }

 private:
  static Stream make_stream(tcp::socket socket, const std::shared_ptr<asio::ssl::context>& tls) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *tls);
    } else {
      return Stream(std::move(socket));
    }
  }
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void Handshake() {
    lowest().expires_after(options().read_timeout);
    stream_.async_handshake(
        asio::ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
          if (ec) {
            spdlog::debug("http: role={} TLS handshake: {}", self->options().role, ec.message());
            return self->Close();
          }
          self->ReadHeader();
        });
  }

  const HttpServerOptions& options() const { return shared_->options; }

  void ReadHeader() {
    if (shared_->stopping) return Close();
    parser_.emplace();
    // The route, known from the header, decides the limit (an upload's is
    // larger); until then the larger one, so the header is not refused.
    parser_->body_limit(std::max<uint64_t>(
        options().max_body_bytes, options().upload_dir.empty() ? 0 : options().max_upload_bytes));
    parser_->header_limit(options().max_header_bytes);
    lowest().expires_after(options().read_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    received_ = Clock::now();
    busy_ = true;
    auto& req = parser_->get();
    std::string path;
    split_target(req.target(), &path, nullptr);
    if (shared_->router.Uploads(std::string(req.method_string()), path)) return StartUpload();
    if (auto length = parser_->content_length(); length && *length > options().max_body_bytes) {
      return OnReadError(http::error::body_limit);
    }
    parser_->body_limit(options().max_body_bytes);
    if (beast::iequals(req[http::field::expect], "100-continue") && !parser_->is_done()) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_,
                                                                     req.version());
      http::async_write(stream_, *cont,
                        [self = this->shared_from_this(), cont](beast::error_code wec, size_t) {
                          if (wec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       if (ec) return self->OnReadError(ec);
                       self->Dispatch();
                     });
  }

  // An upload route (Router::AddUpload): access is decided on the header,
  // so nobody who may not upload gets to send a body; then the body is
  // streamed to a file of the upload directory and the route gets its path.
  void StartUpload() {
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    method_ = std::string(req.method_string());
    std::string path;
    split_target(req.target(), &path, nullptr);
    const RouteAccess* access = shared_->router.Access(method_, path);
    AccessDecision decision =
        decide_access(access_request(req, std::string_view()), local_, access, options().access);
    if (!decision.failure_reason.empty() && shared_->metrics) {
      shared_->metrics->RecordAuthFailure("http", decision.failure_tenant, decision.failure_reason);
    }
    route_ = path;
    if (decision.early_reply) {
      keep_alive_ = false;
      return Write(std::move(*decision.early_reply), /*linger=*/true);
    }
    cors_origin_ = std::move(decision.cors_origin);
    if (!upload_media_type(req[http::field::content_type])) {
      return Refuse(415, "unsupported_media_type",
                    "a file: Content-Type application/gzip, application/x-tar, "
                    "application/octet-stream or (a SQL script) application/sql");
    }
    if (options().upload_dir.empty()) return Refuse(404, "not_found", "no uploads here");
    std::string file = options().upload_dir + "/upload-XXXXXX";
    int fd = ::mkstemp(file.data());
    if (fd < 0) return Refuse(500, "internal", "no upload file: " + std::string(strerror(errno)));
    ::close(fd);
    upload_path_ = file;
    upload_decision_ = std::move(decision);
    upload_.emplace(std::move(*parser_));
    upload_->body_limit(options().max_upload_bytes);
    beast::error_code ec;
    upload_->get().body().open(file.c_str(), beast::file_mode::write, ec);
    if (ec) {
      DropUpload();
      return Refuse(500, "internal", "the upload file: " + ec.message());
    }
    // The token was checked: a big archive may take its time.
    lowest().expires_never();
    auto read = [self = this->shared_from_this()] {
      http::async_read(self->stream_, self->buffer_, *self->upload_,
                       [self](beast::error_code rec, size_t) {
                         if (rec) {
                           self->OnReadError(rec, self->options().max_upload_bytes);
                           return self->DropUpload();
                         }
                         self->DispatchUpload();
                       });
    };
    if (beast::iequals(upload_->get()[http::field::expect], "100-continue") &&
        !upload_->is_done()) {
      auto cont =
          std::make_shared<http::response<http::empty_body>>(http::status::continue_, version_);
      http::async_write(
          stream_, *cont,
          [self = this->shared_from_this(), cont, read](beast::error_code wec, size_t) {
            if (wec) {
              self->DropUpload();
              return self->Close();
            }
            read();
          });
      return;
    }
    read();
  }

  // A request target's path and (undecoded) query string, split at '?'.
  static void split_target(beast::string_view target, std::string* path, std::string* query) {
    const std::string_view text(target.data(), target.size());
    const size_t q = text.find('?');
    path->assign(text.substr(0, q));
    if (query != nullptr && q != std::string_view::npos) query->assign(text.substr(q + 1));
  }

  // What an upload route takes: archives (a data directory, a pg_dump -Fc)
  // and SQL scripts (a plain dump). None is a type a browser sends
  // cross-site without a CORS preflight.
  static bool upload_media_type(beast::string_view value) {
    std::string type(value.substr(0, value.find(';')));
    while (!type.empty() && type.back() == ' ') type.pop_back();
    for (const char* allowed : {"application/gzip", "application/x-gzip", "application/x-tar",
                                "application/octet-stream", "application/sql"}) {
      if (beast::iequals(type, allowed)) return true;
    }
    return false;
  }

  void DispatchUpload() {
    lowest().expires_never();  // the handler may take as long as an import takes
    upload_->get().body().close();
    Request request;
    request.method = method_;
    split_target(upload_->get().target(), &request.path, &request.query);
    request.body_file = std::move(upload_path_);  // the handler's from now on
    request.received = received_;
    AccessDecision decision = std::move(*upload_decision_);
    upload_.reset();
    upload_decision_.reset();
    upload_path_.clear();
    Route(std::move(request), std::move(decision));
  }

  // The upload went wrong: its file goes.
  void DropUpload() {
    if (upload_) {
      upload_->get().body().close();
      upload_.reset();
    }
    upload_decision_.reset();
    if (!upload_path_.empty()) ::unlink(upload_path_.c_str());
    upload_path_.clear();
  }

  void OnReadError(beast::error_code ec) { OnReadError(ec, options().max_body_bytes); }

  void OnReadError(beast::error_code ec, uint64_t limit) {
    busy_ = true;
    if (received_ == Clock::time_point{}) received_ = Clock::now();
    if (ec == http::error::body_limit) {
      return Refuse(413, "payload_too_large",
                    "request body over the limit of " + std::to_string(limit) + " bytes");
    }
    if (ec == http::error::header_limit) {
      return Refuse(431, "header_too_large", "request header over the limit");
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return Refuse(400, "bad_request", "malformed HTTP request: " + ec.message());
    }
    // End of stream, a reset, a timeout, a client gone mid-request, Stop().
    if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted) {
      spdlog::debug("http: role={} connection closed while reading: {}", options().role,
                    ec.message());
    }
    Close();
  }

  void Dispatch() {
    lowest().expires_never();  // the handler may take as long as a thaw takes
    auto& req = parser_->get();
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    Request request;
    request.method = std::string(req.method_string());
    split_target(req.target(), &request.path, &request.query);
    request.body = std::move(req.body());
    request.received = received_;
    method_ = request.method;
    const RouteAccess* access = shared_->router.Access(request.method, request.path);
    AccessDecision decision =
        decide_access(access_request(req, request.body), local_, access, options().access);
    cors_origin_ = std::move(decision.cors_origin);
    if (!decision.failure_reason.empty() && shared_->metrics) {
      shared_->metrics->RecordAuthFailure("http", decision.failure_tenant, decision.failure_reason);
    }
    if (decision.early_reply) {
      cors_origin_.clear();  // decide_access put the CORS headers in already
      route_ = access != nullptr ? request.path : "unmatched";
      return Write(std::move(*decision.early_reply), false);
    }
    Route(std::move(request), std::move(decision));
  }

  // The request, its access decided and allowed, to its route.
  void Route(Request request, AccessDecision decision) {
    if (decision.scope && decision.scope->kind == TokenScope::Kind::kTenant) {
      // A tenant token is its tenant's owner role, never the superuser.
      auto owner = options().access.credentials->OwnerRole(decision.scope->tenant);
      if (!owner) {
        route_ = request.path;
        return Write(error_reply(403, "forbidden",
                                 "tenant " + decision.scope->tenant + " has no owner role"),
                     false);
      }
      request.role = std::move(*owner);
    }
    request.scope = std::move(decision.scope);
    request.bearer = std::move(decision.bearer);
    auto self = this->shared_from_this();
    route_ = shared_->router.Dispatch(request, [self](Reply reply) {
      asio::post(self->stream_.get_executor(), [self, reply = std::move(reply)]() mutable {
        self->Write(std::move(reply), false);
      });
    });
  }

  // What the access policy reads of `req` (views into it and `body`).
  static AccessRequest access_request(const http::request<http::string_body>& req,
                                      std::string_view body) {
    AccessRequest a;
    a.method = std::string_view(req.method_string().data(), req.method_string().size());
    a.version = req.version();
    auto all = [&req](http::field field) {
      std::vector<std::string_view> values;
      for (auto [it, end] = req.equal_range(field); it != end; ++it) {
        values.emplace_back(it->value().data(), it->value().size());
      }
      return values;
    };
    a.hosts = all(http::field::host);
    a.origins = all(http::field::origin);
    a.content_types = all(http::field::content_type);
    a.authorizations = all(http::field::authorization);
    a.body = body;
    return a;
  }

  void Refuse(int status, std::string code, std::string message) {
    cors_origin_.clear();
    keep_alive_ = false;
    version_ = 11;
    route_ = "unmatched";
    if (!upload_) {  // (an upload's header parser was taken over; method_ is set)
      method_ =
          parser_ && parser_->is_header_done() ? std::string(parser_->get().method_string()) : "?";
    }
    Write(error_reply(status, std::move(code), std::move(message)), /*linger=*/true);
  }

  // The reply's head: status, server, type, CORS and the route's headers.
  template <typename Response>
  void SetHead(Response& res, Reply& reply) {
    res.version(version_);
    res.result(static_cast<unsigned>(reply.status));
    res.set(http::field::server, "pgthaw");
    res.set(http::field::content_type, reply.content_type);
    if (!cors_origin_.empty()) add_cors_headers(reply, cors_origin_);
    for (auto& [name, value] : reply.headers) res.set(name, value);
  }

  // A reply whose body is a file (Reply::file), streamed, then removed.
  void WriteFile(Reply reply) {
    const std::string path = std::move(reply.file);
    reply.file.clear();
    auto res = std::make_shared<http::response<http::file_body>>();
    beast::error_code ec;
    res->body().open(path.c_str(), beast::file_mode::scan, ec);
    if (ec) {
      ::unlink(path.c_str());
      return Write(error_reply(500, "internal", "the reply's file: " + ec.message()), false);
    }
    const bool keep = Finish(*res, reply);
    lowest().expires_never();  // an admin's download, as big as a tenant
    http::async_write(
        stream_, *res,
        [self = this->shared_from_this(), res, keep, path](beast::error_code wec, size_t) {
          ::unlink(path.c_str());
          self->OnWrite(wec, keep, false);
        });
  }

  // The head, keep-alive and length of a response whose body is set, and
  // the request's metrics; returns whether the connection stays open.
  template <typename Response>
  bool Finish(Response& res, Reply& reply) {
    SetHead(res, reply);
    const bool keep = keep_alive_ && !shared_->stopping;
    res.keep_alive(keep);
    res.prepare_payload();
    if (shared_->metrics) {
      shared_->metrics->RecordRequest(options().role, route_, method_, reply.status,
                                      micros_since(received_));
    }
    return keep;
  }

  void Write(Reply reply, bool linger) {
    if (!reply.file.empty()) return WriteFile(std::move(reply));
    auto res = std::make_shared<http::response<http::string_body>>();
    res->body() =
        reply.text
            ? std::move(*reply.text)
            : reply.body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    const bool keep = Finish(*res, reply);
    lowest().expires_after(options().write_timeout);
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res, keep, linger](
                          beast::error_code ec, size_t) { self->OnWrite(ec, keep, linger); });
  }

  void OnWrite(beast::error_code ec, bool keep, bool linger) {
    busy_ = false;
    received_ = {};
    if (ec) {
      spdlog::debug("http: role={} client gone before its reply was sent: {}", options().role,
                    ec.message());
      return Close();
    }
    if (linger) return Linger();
    if (!keep) return Close();
    ReadHeader();
  }

  void Linger() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    lowest().expires_after(kLingerTime);
    linger_buf_.resize(64 << 10);
    stream_.async_read_some(asio::buffer(linger_buf_),
                            [self = this->shared_from_this()](beast::error_code rec, size_t n) {
                              self->lingered_ += n;
                              if (rec || self->lingered_ > kLingerBytes) return self->Close();
                              self->Linger();
                            });
  }

  void Close() {
    beast::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().close();
  }

  std::shared_ptr<asio::ssl::context> tls_;  // before stream_, which refers to it
  Stream stream_;
  std::shared_ptr<HttpServer::Shared> shared_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  // An upload in progress: its parser (taken over from parser_ after the
  // header), the access decided then, its file.
  std::optional<http::request_parser<http::file_body>> upload_;
  std::optional<AccessDecision> upload_decision_;
  std::string upload_path_;
  // All below: only on the strand.
  bool busy_ = false;  // between a request's header and its reply's end
  bool keep_alive_ = true;
  unsigned version_ = 11;
  std::string route_ = "unmatched", method_;
  std::string cors_origin_;  // the request's allowed Origin, echoed on its reply
  tcp::endpoint local_;
  Clock::time_point received_{};
  std::string linger_buf_;
  size_t lingered_ = 0;
};

namespace {

void Accept(std::shared_ptr<HttpServer::Shared> shared) {
  shared->acceptor.async_accept(
      asio::make_strand(shared->io), [shared](beast::error_code ec, tcp::socket socket) {
        if (shared->stopping || !shared->acceptor.is_open()) return;
        if (ec) {
          // Out of descriptors: pause instead of spinning (AcceptBackoff).
          std::chrono::milliseconds pause = shared->accept_backoff.Failed(ec);
          if (pause.count() > 0) {
            shared->accept_pause.expires_after(pause);
            shared->accept_pause.async_wait([shared](beast::error_code) { Accept(shared); });
            return;
          }
        } else {
          shared->accept_backoff.Succeeded();
          tune_accepted_socket(socket);
          if (shared->options.tls != nullptr) {
            std::make_shared<Session<TlsStream>>(std::move(socket), shared,
                                                 shared->options.tls->context())
                ->Start();
          } else {
            std::make_shared<Session<PlainStream>>(std::move(socket), shared)->Start();
          }
        }
        Accept(shared);
      });
}

}  // namespace

Result<std::unique_ptr<HttpServer>> HttpServer::Start(asio::io_context& io,
                                                      const tcp::endpoint& endpoint, Router router,
                                                      HttpServerOptions options, Metrics* metrics) {
  auto shared = std::make_shared<Shared>(io, std::move(router), std::move(options), metrics);
  beast::error_code ec;
  std::string where = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  auto fail = [&](const char* what) {
    return Status::IoError(what + (" " + where) + " (role " + shared->options.role +
                           "): " + ec.message());
  };
  shared->acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  shared->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("setsockopt SO_REUSEADDR");
  shared->acceptor.bind(endpoint, ec);
  if (ec) return fail("bind");
  shared->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  tcp::endpoint local = shared->acceptor.local_endpoint(ec);
  if (ec) return fail("getsockname");
  asio::post(shared->acceptor.get_executor(), [shared] { Accept(shared); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(shared), local));
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (shared_->stopping.exchange(true)) return;
  asio::post(shared_->acceptor.get_executor(), [shared = shared_] {
    beast::error_code ec;
    shared->acceptor.close(ec);
    shared->accept_pause.cancel();
  });
  std::vector<std::shared_ptr<SessionBase>> live;
  {
    MutexLock lock(shared_->mu);
    for (auto& [raw, weak] : shared_->sessions) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->CloseIfIdle();
}

bool HttpServer::WaitDrained(std::chrono::milliseconds timeout) {
  MutexLock lock(shared_->mu);
  return shared_->drained.wait_for(
      lock, timeout, [&]() REQUIRES(shared_->mu) { return shared_->sessions.empty(); });
}

Result<tcp::endpoint> parse_listen_address(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon + 1 == text.size()) {
    return Status::InvalidArgument("listen address \"" + text + "\" is not HOST:PORT");
  }
  std::string host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  std::string port_text = text.substr(colon + 1);
  unsigned long port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9') return Status::InvalidArgument("bad port in \"" + text + "\"");
    port = port * 10 + static_cast<unsigned long>(c - '0');
    if (port > 65535) return Status::InvalidArgument("port out of range in \"" + text + "\"");
  }
  if (host == "localhost") host = "127.0.0.1";
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument("bad IP address in \"" + text + "\": " + ec.message());
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

}  // namespace pgthaw::server
