// vfs::Pipe: the in-memory buffer behind pipe2() (Postgres' latch
// self-pipe).
//
// Nothing can block: the FileSystem has one caller, so a read of an empty
// pipe that still has writers returns -EAGAIN even without O_NONBLOCK (no one
// could ever fill it while we wait), and a write to a full pipe returns
// -EAGAIN. Reads of an empty pipe without writers return 0 (EOF); writes
// without readers return -EPIPE.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

namespace pgthaw::vfs {

class Pipe {
 public:
  static constexpr size_t kCapacityBytes = 65536;  // Linux's default

  int64_t read(void* buf, size_t len);
  int64_t write(const void* buf, size_t len);

  size_t buffered() const { return data_.size() - head_; }
  bool has_space() const { return buffered() < kCapacityBytes; }

  // The unread bytes (snapshots).
  std::string contents() const { return data_.substr(head_); }
  void set_contents(std::string bytes) {
    data_ = std::move(bytes);
    head_ = 0;
  }

  // Open ends; maintained by the OpenFile descriptions of each end.
  int readers = 0;
  int writers = 0;

 private:
  std::string data_;
  size_t head_ = 0;  // bytes before head_ were read already
};

}  // namespace pgthaw::vfs
