#include "dumpfile/script_input.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pgthaw::dumpfile {

namespace {

constexpr size_t kBufferBytes = 1024 * 1024;

}  // namespace

Result<std::unique_ptr<ScriptInput>> ScriptInput::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  return std::unique_ptr<ScriptInput>(new ScriptInput(fd, path));
}

ScriptInput::ScriptInput(int fd, std::string path)
    : fd_(fd), path_(std::move(path)), buffer_(kBufferBytes) {}

ScriptInput::~ScriptInput() { ::close(fd_); }

bool ScriptInput::Refill(size_t want) {
  if (len_ - pos_ >= want) return true;
  if (at_end_) return false;
  // Keep the unread tail (at most kMaxPeek bytes when peeking) at the front.
  std::memmove(buffer_.data(), buffer_.data() + pos_, len_ - pos_);
  len_ -= pos_;
  pos_ = 0;
  while (len_ < want) {
    ssize_t n = ::read(fd_, buffer_.data() + len_, buffer_.size() - len_);
    if (n < 0) {
      if (errno == EINTR) continue;
      status_ = Status::FromErrno("read " + path_, errno);
      at_end_ = true;
      return false;
    }
    if (n == 0) {
      at_end_ = true;
      return false;
    }
    len_ += static_cast<size_t>(n);
  }
  return true;
}

size_t ScriptInput::ReadLinePart(std::string& out, size_t max_bytes, bool& ended_line) {
  ended_line = false;
  size_t appended = 0;
  while (appended < max_bytes) {
    if (pos_ == len_ && !Refill(1)) break;
    const size_t span = std::min(len_ - pos_, max_bytes - appended);
    const char* begin = buffer_.data() + pos_;
    const void* newline = std::memchr(begin, '\n', span);
    const size_t take = newline ? static_cast<const char*>(newline) - begin + 1 : span;
    out.append(begin, take);
    pos_ += take;
    appended += take;
    if (newline) {
      ++line_;
      ended_line = true;
      break;
    }
  }
  return appended;
}

}  // namespace pgthaw::dumpfile
