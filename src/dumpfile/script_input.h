// ScriptInput: a text file read byte by byte (and COPY data line by line)
// through a 1 MiB buffer, counting lines. The SQL script reader's input.
//
// Read errors end the input: Get() then returns kEnd and status() says why.
// Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgthaw::dumpfile {

class ScriptInput {
 public:
  static constexpr int kEnd = -1;
  static constexpr size_t kMaxPeek = 16;

  static Result<std::unique_ptr<ScriptInput>> Open(const std::string& path);
  ~ScriptInput();
  ScriptInput(const ScriptInput&) = delete;
  ScriptInput& operator=(const ScriptInput&) = delete;

  // The next byte (0..255), or kEnd at the end of the file or after a read
  // error.
  int Get() {
    if (pos_ == len_ && !Refill(1)) return kEnd;
    const auto c = static_cast<unsigned char>(buffer_[pos_++]);
    if (c == '\n') ++line_;
    return c;
  }
  // The byte `ahead` places after the next one (0: the next), not consumed;
  // ahead < kMaxPeek.
  int Peek(size_t ahead = 0) {
    if (len_ - pos_ <= ahead && !Refill(ahead + 1)) return kEnd;
    return static_cast<unsigned char>(buffer_[pos_ + ahead]);
  }
  // Appends to `out` the bytes through the next '\n', but at most
  // `max_bytes` of them; returns how many (0 only at the end). `ended_line`
  // says whether the last one was the '\n'.
  size_t ReadLinePart(std::string& out, size_t max_bytes, bool& ended_line);

  // The 1-based line of the next byte.
  uint64_t line() const { return line_; }
  const Status& status() const { return status_; }
  const std::string& path() const { return path_; }

 private:
  ScriptInput(int fd, std::string path);
  // Makes at least `want` unread bytes available if the file has them.
  bool Refill(size_t want);

  int fd_;
  std::string path_;
  std::vector<char> buffer_;
  size_t pos_ = 0;  // next unread byte in buffer_
  size_t len_ = 0;  // bytes in buffer_
  bool at_end_ = false;
  uint64_t line_ = 1;
  Status status_;
};

}  // namespace pgthaw::dumpfile
