#include "dumpfile/archive_input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace pgthaw::dumpfile {

namespace {

constexpr size_t kBufferBytes = 64 * 1024;

}  // namespace

Result<std::unique_ptr<ArchiveInput>> ArchiveInput::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    Status status = Status::FromErrno("stat " + path, errno);
    ::close(fd);
    return status;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument(path +
                                   ": not a regular file (an archive is read by seeking in it)");
  }
  return std::unique_ptr<ArchiveInput>(
      new ArchiveInput(fd, path, static_cast<uint64_t>(st.st_size)));
}

ArchiveInput::ArchiveInput(int fd, std::string path, uint64_t size)
    : fd_(fd), path_(std::move(path)), size_(size), buffer_(kBufferBytes) {}

ArchiveInput::~ArchiveInput() { ::close(fd_); }

Status ArchiveInput::Truncated(const char* what) const {
  return Status::Corruption(path_ + ": the archive ends while reading " + what + " (offset " +
                            std::to_string(position_) + " of " + std::to_string(size_) + " bytes)");
}

Status ArchiveInput::Seek(uint64_t offset) {
  if (offset > size_) {
    return Status::Corruption(path_ + ": offset " + std::to_string(offset) +
                              " is beyond the end of the archive (" + std::to_string(size_) +
                              " bytes)");
  }
  position_ = offset;
  return Status::Ok();
}

Status ArchiveInput::Skip(uint64_t bytes, const char* what) {
  if (bytes > remaining()) return Truncated(what);
  position_ += bytes;
  return Status::Ok();
}

// Reads from position_ into the buffer, as much as fits and the file has.
Status ArchiveInput::Fill() {
  const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer_.size(), remaining()));
  size_t got = 0;
  while (got < want) {
    ssize_t n = ::pread(fd_, buffer_.data() + got, want - got, static_cast<off_t>(position_ + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("read " + path_, errno);
    }
    if (n == 0) return Status::IoError(path_ + ": the file shrank while it was read");
    got += static_cast<size_t>(n);
  }
  buffer_start_ = position_;
  buffered_ = got;
  return Status::Ok();
}

Status ArchiveInput::ReadBytes(void* out, size_t bytes, const char* what) {
  if (bytes > remaining()) return Truncated(what);
  auto* dst = static_cast<uint8_t*>(out);
  while (bytes > 0) {
    if (position_ >= buffer_start_ && position_ < buffer_start_ + buffered_) {
      const size_t at = static_cast<size_t>(position_ - buffer_start_);
      const size_t take = std::min(bytes, buffered_ - at);
      std::memcpy(dst, buffer_.data() + at, take);
      dst += take;
      bytes -= take;
      position_ += take;
    } else if (bytes >= buffer_.size()) {
      // Large reads (data chunks) go straight to the caller's memory.
      ssize_t n = ::pread(fd_, dst, bytes, static_cast<off_t>(position_));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno("read " + path_, errno);
      }
      if (n == 0) return Status::IoError(path_ + ": the file shrank while it was read");
      dst += n;
      bytes -= static_cast<size_t>(n);
      position_ += static_cast<uint64_t>(n);
    } else {
      PGTHAW_RETURN_IF_ERROR(Fill());
    }
  }
  return Status::Ok();
}

Result<uint8_t> ArchiveInput::ReadByte(const char* what) {
  uint8_t byte = 0;
  PGTHAW_RETURN_IF_ERROR(ReadBytes(&byte, 1, what));
  return byte;
}

Result<std::optional<uint8_t>> ArchiveInput::ReadByteOrEnd(const char* what) {
  if (remaining() == 0) return std::optional<uint8_t>();
  auto byte = ReadByte(what);
  if (!byte.ok()) return byte.status();
  return std::optional<uint8_t>(*byte);
}

Result<int> ArchiveInput::ReadInt(const char* what) {
  auto sign = ReadByte(what);
  if (!sign.ok()) return sign.status();
  if (*sign > 1) {
    return Status::Corruption(path_ + ": bad sign byte " + std::to_string(*sign) + " in " + what +
                              " (offset " + std::to_string(position_ - 1) + ")");
  }
  uint8_t bytes[8] = {};
  PGTHAW_RETURN_IF_ERROR(ReadBytes(bytes, static_cast<size_t>(int_size_), what));
  uint64_t magnitude = 0;
  for (int i = int_size_ - 1; i >= 0; --i) magnitude = (magnitude << 8) | bytes[i];
  if (magnitude > static_cast<uint64_t>(INT_MAX)) {
    return Status::Corruption(path_ + ": " + what + " is out of range (offset " +
                              std::to_string(position_ - static_cast<uint64_t>(int_size_) - 1) +
                              ")");
  }
  const int value = static_cast<int>(magnitude);
  return *sign ? -value : value;
}

Result<std::optional<std::string>> ArchiveInput::ReadString(const char* what, size_t max_bytes) {
  auto length = ReadInt(what);
  if (!length.ok()) return length.status();
  if (*length == -1) return std::optional<std::string>();
  if (*length < 0) {
    return Status::Corruption(path_ + ": negative length " + std::to_string(*length) + " of " +
                              what + " (offset " + std::to_string(position_) + ")");
  }
  const auto bytes = static_cast<size_t>(*length);
  if (bytes > max_bytes) {
    return Status::Corruption(path_ + ": " + what + " of " + std::to_string(bytes) +
                              " bytes is longer than the limit of " + std::to_string(max_bytes));
  }
  if (bytes > remaining()) return Truncated(what);
  std::string text(bytes, '\0');
  PGTHAW_RETURN_IF_ERROR(ReadBytes(text.data(), bytes, what));
  return std::optional<std::string>(std::move(text));
}

Result<ArchiveInput::Offset> ArchiveInput::ReadOffset(const char* what) {
  Offset offset;
  auto flag = ReadByte(what);
  if (!flag.ok()) return flag.status();
  offset.flag = *flag;
  uint8_t bytes[8] = {};
  PGTHAW_RETURN_IF_ERROR(ReadBytes(bytes, static_cast<size_t>(offset_size_), what));
  for (int i = offset_size_ - 1; i >= 0; --i) offset.value = (offset.value << 8) | bytes[i];
  return offset;
}

}  // namespace pgthaw::dumpfile
