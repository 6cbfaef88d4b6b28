#include "server/reply_stream.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <string>

namespace pgthaw::server {

namespace asio = boost::asio;

ReplyStream::ReplyStream(PgStream& client, std::chrono::milliseconds stall_timeout)
    : client_(client), stall_timeout_(stall_timeout) {}

ReplyStream::~ReplyStream() { Finish(); }

bool ReplyStream::WaitForWrite() {
  MutexLock lock(shared_->mutex);
  if (shared_->done.wait_for(lock, stall_timeout_,
                             [&]() REQUIRES(shared_->mutex) { return !shared_->writing; })) {
    return !shared_->failed;
  }
  // Stalled: close the socket on its strand, which fails the write (and
  // every later read) of this connection.
  shared_->failed = true;
  asio::post(client_.get_executor(), [&client = client_] { client.close(); });
  return false;
}

bool ReplyStream::Send(std::string_view messages) {
  if (!WaitForWrite()) return false;
  {
    MutexLock lock(shared_->mutex);
    shared_->writing = true;
  }
  sent_any_ = true;
  auto bytes = std::make_shared<std::string>(messages);
  asio::post(client_.get_executor(), [&client = client_, bytes, shared = shared_] {
    asio::async_write(client, asio::buffer(*bytes),
                      [bytes, shared](const boost::system::error_code& ec, size_t) {
                        MutexLock lock(shared->mutex);
                        shared->writing = false;
                        if (ec) shared->failed = true;
                        shared->done.notify_all();
                      });
  });
  return true;
}

bool ReplyStream::Finish() {
  if (!sent_any_) return true;
  return WaitForWrite();
}

}  // namespace pgthaw::server
