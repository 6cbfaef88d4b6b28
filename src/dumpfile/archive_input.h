// ArchiveInput: the primitive values of a pg_dump custom-format archive
// (bytes, sign-and-magnitude integers, length-prefixed strings, file
// offsets) read from a file through a small buffer, each bounds-checked.
//
// A read past the end of the file is Corruption naming what was being read
// and where; a length larger than what is left of the file is refused
// before anything is allocated. Not thread-safe; one reader at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace pgthaw::dumpfile {

class ArchiveInput {
 public:
  // Opens `path`, a regular file (an archive is read by seeking).
  static Result<std::unique_ptr<ArchiveInput>> Open(const std::string& path);
  ~ArchiveInput();
  ArchiveInput(const ArchiveInput&) = delete;
  ArchiveInput& operator=(const ArchiveInput&) = delete;

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }
  uint64_t position() const { return position_; }
  uint64_t remaining() const { return size_ - position_; }

  // Sizes from the archive header: bytes of an integer's magnitude and of a
  // file offset (4 to 8 each).
  void set_int_size(int bytes) { int_size_ = bytes; }
  void set_offset_size(int bytes) { offset_size_ = bytes; }
  int int_size() const { return int_size_; }

  Status Seek(uint64_t offset);
  Status Skip(uint64_t bytes, const char* what);
  Status ReadBytes(void* out, size_t bytes, const char* what);
  Result<uint8_t> ReadByte(const char* what);
  // A byte, or nullopt exactly at the end of the file.
  Result<std::optional<uint8_t>> ReadByteOrEnd(const char* what);
  // pg_dump's WriteInt: a sign byte, then int_size bytes of magnitude, least
  // significant first. Values beyond a 32-bit int (what pg_dump writes) are
  // Corruption.
  Result<int> ReadInt(const char* what);
  // pg_dump's WriteStr: an int length, then that many bytes; length -1 is a
  // NULL string (nullopt). At most `max_bytes` long.
  Result<std::optional<std::string>> ReadString(const char* what, size_t max_bytes);
  // pg_dump's WriteOffset: a flag byte, then offset_size bytes of offset,
  // least significant first.
  struct Offset {
    uint8_t flag = 0;
    uint64_t value = 0;
  };
  Result<Offset> ReadOffset(const char* what);

 private:
  ArchiveInput(int fd, std::string path, uint64_t size);
  Status Truncated(const char* what) const;
  Status Fill();

  int fd_;
  std::string path_;
  uint64_t size_;
  int int_size_ = 4;
  int offset_size_ = 8;
  uint64_t position_ = 0;        // of the next byte the caller gets
  uint64_t buffer_start_ = 0;    // file offset of buffer_[0]
  std::vector<uint8_t> buffer_;  // holds [buffer_start_, buffer_start_ + buffered_)
  size_t buffered_ = 0;
};

}  // namespace pgthaw::dumpfile
