// Reads and writes across a chain of partial copies (see layered_file.h).
#include "vfs/layered_file.h"

#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/env.h"
#include "vfs/wasm_errno.h"

namespace pgthaw::vfs {
namespace {

constexpr int64_t kChunk = ChunkMap::kChunkBytes;

// pread until `len` bytes or the end of the file.
int64_t pread_full(int fd, char* buf, size_t len, int64_t offset) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = env().Pread(fd, buf + done, len - done, offset + static_cast<int64_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return neg_wasm_errno_from_host();
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<int64_t>(done);
}

int64_t pwrite_full(int fd, const char* buf, size_t len, int64_t offset) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = env().Pwrite(fd, buf + done, len - done, offset + static_cast<int64_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return done > 0 ? static_cast<int64_t>(done) : neg_wasm_errno_from_host();
    done += static_cast<size_t>(n);
  }
  return static_cast<int64_t>(done);
}

}  // namespace

int copy_file_bytes(int src, int dst, int64_t len) {
  if (len == 0) return 0;
  if (::ioctl(dst, FICLONE, src) == 0) {
    return env().Ftruncate(dst, len) < 0 ? neg_wasm_errno_from_host() : 0;
  }
  int64_t done = 0;
  bool use_cfr = true;
  std::vector<char> buf;
  while (done < len) {
    if (use_cfr) {
      loff_t in = done, out = done;
      ssize_t n = ::copy_file_range(src, &in, dst, &out, static_cast<size_t>(len - done), 0);
      if (n > 0) {
        done += n;
        continue;
      }
      if (n == 0) break;  // the source is shorter than it was
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP &&
          errno != EBADF) {
        return neg_wasm_errno_from_host();
      }
      use_cfr = false;
    }
    if (buf.empty()) buf.resize(1 << 20);
    const size_t want = static_cast<size_t>(std::min<int64_t>(len - done, buf.size()));
    const int64_t n = pread_full(src, buf.data(), want, done);
    if (n < 0) return static_cast<int>(n);
    if (n == 0) break;
    if (pwrite_full(dst, buf.data(), static_cast<size_t>(n), done) < n) {
      return neg_wasm_errno_from_host();
    }
    done += n;
  }
  return 0;
}

int LayeredFile::copy_to(int dst, int64_t len) const {
  if (!partial()) return copy_file_bytes(top_fd(), dst, len);
  std::vector<char> buf(1 << 20);
  for (int64_t done = 0; done < len;) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(len - done, buf.size()));
    const int64_t n = pread(buf.data(), want, done);
    if (n < 0) return static_cast<int>(n);
    if (n == 0) break;
    if (pwrite_full(dst, buf.data(), static_cast<size_t>(n), done) < n) {
      return neg_wasm_errno_from_host();
    }
    done += n;
  }
  return 0;
}

LayeredFile::LayeredFile(std::vector<Part> parts) : parts_(std::move(parts)) {}

LayeredFile::LayeredFile(std::vector<Part> parts, int map_fd, bool durable)
    : parts_(std::move(parts)), map_fd_(map_fd), durable_(durable) {}

LayeredFile::~LayeredFile() {
  flush();  // best effort: an error here was already reported by a sync, or nobody asked
  if (map_fd_ >= 0) ::close(map_fd_);
  for (Part& p : parts_) {
    if (p.fd >= 0) ::close(p.fd);
  }
}

int64_t LayeredFile::read_part(size_t index, char* buf, size_t len, int64_t offset) const {
  const Part& part = parts_[index];
  if (part.map == nullptr || index + 1 == parts_.size()) {
    return pread_full(part.fd, buf, len, offset);
  }
  const ChunkMap& map = *part.map;
  size_t done = 0;
  while (done < len) {
    const int64_t pos = offset + static_cast<int64_t>(done);
    const bool here = map.owns(pos);
    // The run of bytes with the same owner: whole chunks, cut at the limit.
    const int64_t want_end = offset + static_cast<int64_t>(len);
    auto next_boundary = [&](int64_t at) {
      return std::min((at / kChunk + 1) * kChunk, map.lower_limit());
    };
    int64_t run_end = pos >= map.lower_limit() ? want_end : next_boundary(pos);
    while (run_end < want_end && run_end < map.lower_limit() && map.owns(run_end) == here) {
      run_end = next_boundary(run_end);
    }
    const size_t n =
        static_cast<size_t>(std::min<int64_t>(run_end - pos, static_cast<int64_t>(len - done)));
    const int64_t got =
        here ? pread_full(part.fd, buf + done, n, pos) : read_part(index + 1, buf + done, n, pos);
    if (got < 0) return got;
    if (static_cast<size_t>(got) < n) {
      // The end of the file is in this layer's tail; below the limit a short
      // lower copy (never made by us) reads as zeros.
      if (here) return static_cast<int64_t>(done) + got;
      std::memset(buf + done + got, 0, n - static_cast<size_t>(got));
    }
    done += n;
  }
  return static_cast<int64_t>(done);
}

int64_t LayeredFile::pread(void* buf, size_t len, int64_t offset) const {
  return read_part(0, static_cast<char*>(buf), len, offset);
}

int LayeredFile::fill_chunk(int64_t chunk) {
  ChunkMap& map = *parts_.front().map;
  const int64_t begin = chunk * kChunk;
  const int64_t end = std::min(begin + kChunk, map.lower_limit());
  char buf[kChunk];
  const size_t n = static_cast<size_t>(end - begin);
  int64_t got = read_part(1, buf, n, begin);
  if (got < 0) return static_cast<int>(got);
  if (static_cast<size_t>(got) < n) std::memset(buf + got, 0, n - static_cast<size_t>(got));
  int64_t w = pwrite_full(parts_.front().fd, buf, n, begin);
  if (w < 0) return static_cast<int>(w);
  if (static_cast<size_t>(w) < n) return -wasm_errno::kENOSPC;
  map.set(chunk);
  return 0;
}

int LayeredFile::fill_if_partly_covered(int64_t chunk, int64_t begin, int64_t end) {
  const ChunkMap& map = *parts_.front().map;
  const int64_t cbegin = chunk * kChunk;
  if (cbegin >= map.lower_limit() || map.has(chunk)) return 0;
  const int64_t cend = std::min(cbegin + kChunk, map.lower_limit());
  if (begin <= cbegin && end >= cend) return 0;  // overwritten whole
  return fill_chunk(chunk);
}

int64_t LayeredFile::pwrite(const void* buf, size_t len, int64_t offset) {
  if (!partial()) return pwrite_full(top_fd(), static_cast<const char*>(buf), len, offset);
  if (len == 0) return 0;
  ChunkMap& map = *parts_.front().map;
  const int64_t end = offset + static_cast<int64_t>(len);
  const int64_t first = offset / kChunk, last = (end - 1) / kChunk;
  if (int rc = fill_if_partly_covered(first, offset, end); rc < 0) return rc;
  if (last != first) {
    if (int rc = fill_if_partly_covered(last, offset, end); rc < 0) return rc;
  }
  int64_t n = pwrite_full(top_fd(), static_cast<const char*>(buf), len, offset);
  if (n <= 0) return n;
  const int64_t written_end = offset + n;
  // A short write (a full disk) ends inside a chunk: the rest of it must
  // come up too before the chunk can be the top's.
  if (n < static_cast<int64_t>(len)) {
    const int64_t tail = written_end / kChunk;
    if (written_end % kChunk != 0 && written_end < map.lower_limit() && !map.has(tail) &&
        tail != first && tail != last) {
      if (fill_chunk(tail) < 0) return n;  // the chunk stays below: those bytes are lost
    }
  }
  for (int64_t c = first; c <= (written_end - 1) / kChunk && c * kChunk < map.lower_limit(); ++c) {
    map.set(c);
  }
  return n;
}

int LayeredFile::truncate(int64_t length) {
  if (partial()) {
    ChunkMap& map = *parts_.front().map;
    if (length < map.lower_limit()) {
      // The chunk the new end falls in keeps its first bytes: they must be
      // the top's before the limit moves under them.
      const int64_t chunk = length / kChunk;
      if (length % kChunk != 0 && !map.has(chunk)) {
        if (int rc = fill_chunk(chunk); rc < 0) return rc;
      }
      map.lower_to(length);
      // Saved before the data shrinks: bytes past the new limit must never
      // be read from below again, even after a crash.
      if (int rc = save_map(false); rc < 0) return rc;
    }
  }
  return env().Ftruncate(top_fd(), length) < 0 ? neg_wasm_errno_from_host() : 0;
}

int LayeredFile::save_map(bool data_synced) {
  ChunkMap& map = *parts_.front().map;
  if (durable_ && !data_synced && env().Fdatasync(top_fd()) < 0) return neg_wasm_errno_from_host();
  const std::string bytes = map.serialize();
  int64_t w = pwrite_full(map_fd_, bytes.data(), bytes.size(), 0);
  if (w < 0) return static_cast<int>(w);
  if (static_cast<size_t>(w) < bytes.size()) return -wasm_errno::kENOSPC;
  if (env().Ftruncate(map_fd_, static_cast<off_t>(bytes.size())) < 0) {
    return neg_wasm_errno_from_host();
  }
  if (durable_ && env().Fdatasync(map_fd_) < 0) return neg_wasm_errno_from_host();
  map.mark_clean();
  return 0;
}

int LayeredFile::flush() {
  if (!writable() || !partial() || !parts_.front().map->dirty()) return 0;
  return save_map(false);
}

int LayeredFile::sync() {
  if (durable_ && env().Fdatasync(top_fd()) < 0) return neg_wasm_errno_from_host();
  if (!writable() || !partial() || !parts_.front().map->dirty()) return 0;
  return save_map(true);
}

int LayeredFile::fill_all() {
  if (!partial()) return 0;
  ChunkMap& map = *parts_.front().map;
  for (int64_t c = 0; c < map.chunk_count(); ++c) {
    if (map.has(c)) continue;
    if (int rc = fill_chunk(c); rc < 0) return rc;
  }
  if (durable_ && env().Fdatasync(top_fd()) < 0) return neg_wasm_errno_from_host();
  return 0;
}

void LayeredFile::became_whole() {
  parts_.front().map.reset();
  for (size_t i = 1; i < parts_.size(); ++i) ::close(parts_[i].fd);
  parts_.resize(1);
  forget_name();
}

void LayeredFile::forget_name() {
  if (map_fd_ >= 0) ::close(map_fd_);
  map_fd_ = -1;
}

}  // namespace pgthaw::vfs
