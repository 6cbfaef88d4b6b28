// See memory_image.h.
#include "wasm/memory_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "common/env.h"
#include "wasm/linear_memory.h"

namespace pgthaw::wasm {
namespace {

bool all_zero(const uint8_t* p) {
  static const uint8_t kZero[kOsPageBytes] = {};
  return std::memcmp(p, kZero, kOsPageBytes) == 0;
}

constexpr uint64_t kPagemapPresent = 1ull << 63;
constexpr uint64_t kPagemapSwapped = 1ull << 62;
constexpr uint64_t kPagemapFileOrShared = 1ull << 61;

// A run of consecutive page indices [first, first + count) of a delta.
struct PageRun {
  uint32_t first, count;
  bool mapped() const { return count >= kMapRunPages; }
};

std::vector<PageRun> runs_of(const std::vector<uint32_t>& pages) {
  std::vector<PageRun> runs;
  for (size_t i = 0; i < pages.size();) {
    size_t j = i + 1;
    while (j < pages.size() && pages[j] == pages[j - 1] + 1) ++j;
    runs.push_back({pages[i], static_cast<uint32_t>(j - i)});
    i = j;
  }
  return runs;
}

// preadv/pwritev of the short runs, packed in the file from `packed_at` on:
// `io` moves one batch of iovecs at a file offset, returning bytes moved.
template <typename Io>
Status move_packed(uint8_t* memory, const std::vector<PageRun>& runs, uint64_t packed_at, Io io,
                   const std::string& what) {
  constexpr size_t kBatch = 1024;  // IOV_MAX on Linux
  std::vector<struct iovec> batch;
  uint64_t offset = packed_at, bytes = 0;
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::Ok();
    ssize_t n = io(batch.data(), static_cast<int>(batch.size()), static_cast<off_t>(offset));
    if (n != static_cast<ssize_t>(bytes)) {
      return n < 0 ? Status::FromErrno(what, errno) : Status::Corruption(what + ": short transfer");
    }
    offset += bytes;
    bytes = 0;
    batch.clear();
    return Status::Ok();
  };
  for (const PageRun& r : runs) {
    if (r.mapped()) continue;
    const uint64_t len = uint64_t{r.count} * kOsPageBytes;
    batch.push_back({memory + uint64_t{r.first} * kOsPageBytes, len});
    bytes += len;
    if (batch.size() == kBatch) PGTHAW_RETURN_IF_ERROR(flush());
  }
  return flush();
}

// Pages are ascending, so the last run is the one that can pass the end.
bool beyond(const PageRun& r, const wasm_rt_memory_t& memory) {
  return uint64_t{r.first} + r.count > memory.size / kOsPageBytes;
}

uint64_t packed_pages(const std::vector<PageRun>& runs) {
  uint64_t n = 0;
  for (const PageRun& r : runs) {
    if (!r.mapped()) n += r.count;
  }
  return n;
}

}  // namespace

Status write_full_image(const wasm_rt_memory_t& memory, const std::string& path) {
  int fd = env().Open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  Status st;
  for (uint64_t off = 0; off < memory.size && st.ok(); off += kOsPageBytes) {
    const uint8_t* page = memory.data + off;
    if (all_zero(page)) continue;
    if (env().Pwrite(fd, page, kOsPageBytes, static_cast<off_t>(off)) != kOsPageBytes) {
      st = Status::FromErrno("write " + path, errno);
    }
  }
  if (st.ok() && ftruncate(fd, memory.size) != 0) st = Status::FromErrno("truncate " + path, errno);
  if (st.ok() && env().Fsync(fd) != 0) st = Status::FromErrno("fsync " + path, errno);
  close(fd);
  return st;
}

Result<std::vector<uint32_t>> dirty_pages(const wasm_rt_memory_t& memory, bool skip_zero) {
  int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open /proc/self/pagemap", errno);
  uint64_t count = memory.size / kOsPageBytes;
  std::vector<uint64_t> entries(count);
  off_t at = static_cast<off_t>(reinterpret_cast<uintptr_t>(memory.data) / kOsPageBytes * 8);
  ssize_t want = static_cast<ssize_t>(count * 8);
  ssize_t got = pread(fd, entries.data(), want, at);
  close(fd);
  if (got != want) return Status::IoError("short read of /proc/self/pagemap");
  std::vector<uint32_t> pages;
  for (uint64_t i = 0; i < count; ++i) {
    uint64_t e = entries[i];
    bool resident = (e & (kPagemapPresent | kPagemapSwapped)) != 0;
    if (!resident || (e & kPagemapFileOrShared) != 0) continue;  // untouched or still the image's
    if (skip_zero && all_zero(memory.data + i * kOsPageBytes)) continue;
    pages.push_back(static_cast<uint32_t>(i));
  }
  return pages;
}

Result<uint64_t> private_resident_bytes(const wasm_rt_memory_t& memory) {
  // One descriptor for the process: pread on it is thread-safe.
  static const int pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) return Status::FromErrno("open /proc/self/pagemap", errno);
  constexpr uint64_t kChunk = 4096;  // entries per read: 32 KiB on the stack
  uint64_t entries[kChunk];
  uint64_t first = reinterpret_cast<uintptr_t>(memory.data) / kOsPageBytes;
  uint64_t count = memory.size / kOsPageBytes;
  uint64_t private_pages = 0;
  for (uint64_t done = 0; done < count;) {
    uint64_t n = std::min(kChunk, count - done);
    ssize_t want = static_cast<ssize_t>(n * 8);
    if (pread(pagemap, entries, want, static_cast<off_t>((first + done) * 8)) != want) {
      return Status::IoError("short read of /proc/self/pagemap");
    }
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t e = entries[i];
      bool resident = (e & (kPagemapPresent | kPagemapSwapped)) != 0;
      if (resident && (e & kPagemapFileOrShared) == 0) ++private_pages;
    }
    done += n;
  }
  return private_pages * kOsPageBytes;
}

Status write_delta(const wasm_rt_memory_t& memory, const std::vector<uint32_t>& pages,
                   const std::string& path) {
  const std::vector<PageRun> runs = runs_of(pages);
  if (!runs.empty() && beyond(runs.back(), memory)) {
    return Status::InvalidArgument("delta page beyond the memory");
  }
  int fd = env().Open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  Status st;
  for (const PageRun& r : runs) {
    if (!r.mapped()) continue;
    uint64_t off = uint64_t{r.first} * kOsPageBytes, len = uint64_t{r.count} * kOsPageBytes;
    if (env().Pwrite(fd, memory.data + off, len, static_cast<off_t>(off)) !=
        static_cast<ssize_t>(len)) {
      st = Status::FromErrno("write " + path, errno);
      break;
    }
  }
  if (st.ok()) {
    st = move_packed(
        memory.data, runs, memory.size,
        [fd](const struct iovec* v, int n, off_t at) { return env().Pwritev(fd, v, n, at); },
        "write " + path);
  }
  // The sparse part is as long as the memory even when nothing is packed.
  if (st.ok() && packed_pages(runs) == 0 && ftruncate(fd, memory.size) != 0) {
    st = Status::FromErrno("truncate " + path, errno);
  }
  if (st.ok() && env().Fsync(fd) != 0) st = Status::FromErrno("fsync " + path, errno);
  close(fd);
  return st;
}

uint64_t hash_pages(const wasm_rt_memory_t& memory, const std::vector<uint32_t>& pages) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (uint32_t p : pages) {
    XXH3_64bits_update(state, memory.data + uint64_t{p} * kOsPageBytes, kOsPageBytes);
  }
  uint64_t h = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return h;
}

Status map_image(wasm_rt_memory_t* memory, const std::string& image_path, uint32_t pages) {
  uint64_t bytes = uint64_t{pages} * kPageBytes;
  if (pages > memory->max_pages)
    return Status::Corruption("image larger than the memory's maximum");
  uint64_t mapped = 0;
  if (!image_path.empty()) {
    int fd = env().Open(image_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno("open " + image_path, errno);
    struct stat st;
    if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) > bytes ||
        st.st_size % kOsPageBytes != 0) {
      close(fd);
      return Status::Corruption(image_path + ": size does not fit the memory");
    }
    mapped = static_cast<uint64_t>(st.st_size);
    void* at =
        env().Mmap(memory->data, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
    close(fd);  // the mapping keeps the file
    if (at == MAP_FAILED) return Status::FromErrno("mmap " + image_path, errno);
  }
  if (bytes > mapped &&
      mprotect(memory->data + mapped, bytes - mapped, PROT_READ | PROT_WRITE) != 0) {
    return Status::FromErrno("mprotect", errno);
  }
  memory->pages = pages;
  memory->size = static_cast<uint32_t>(bytes);
  return Status::Ok();
}

Result<std::vector<uint32_t>> apply_delta(wasm_rt_memory_t* memory, const std::string& delta_path,
                                          const std::vector<uint32_t>& pages) {
  const std::vector<PageRun> runs = runs_of(pages);
  if (!runs.empty() && beyond(runs.back(), *memory)) {
    return Status::Corruption(delta_path + ": page beyond the memory");
  }
  int fd = env().Open(delta_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + delta_path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0 ||
      static_cast<uint64_t>(st.st_size) != memory->size + packed_pages(runs) * kOsPageBytes) {
    close(fd);
    return Status::Corruption(delta_path + ": size does not match the memory and its pages");
  }
  std::vector<uint32_t> mapped;
  Status status;
  for (const PageRun& r : runs) {
    if (!r.mapped()) continue;
    uint64_t off = uint64_t{r.first} * kOsPageBytes, len = uint64_t{r.count} * kOsPageBytes;
    if (env().Mmap(memory->data + off, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
                   static_cast<off_t>(off)) == MAP_FAILED) {
      status = Status::FromErrno("mmap " + delta_path, errno);
      break;
    }
    for (uint32_t p = r.first; p < r.first + r.count; ++p) mapped.push_back(p);
  }
  if (status.ok()) {
    status = move_packed(
        memory->data, runs, memory->size,
        [fd](const struct iovec* v, int n, off_t at) { return env().Preadv(fd, v, n, at); },
        "read " + delta_path);
  }
  close(fd);
  if (!status.ok()) return status;
  return mapped;
}

Status remap_from_image(wasm_rt_memory_t* memory, const std::string& image_path,
                        uint32_t first_page, uint32_t count) {
  const uint64_t off = uint64_t{first_page} * kOsPageBytes;
  const uint64_t len = uint64_t{count} * kOsPageBytes;
  if (off + len > memory->size) return Status::InvalidArgument("pages beyond the memory");
  if (len == 0) return Status::Ok();
  int fd = env().Open(image_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("open " + image_path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return Status::FromErrno("fstat " + image_path, err);
  }
  const uint64_t in_file = static_cast<uint64_t>(st.st_size) > off
                               ? std::min<uint64_t>(len, static_cast<uint64_t>(st.st_size) - off) /
                                     kOsPageBytes * kOsPageBytes
                               : 0;
  Status status;
  if (in_file > 0 &&
      env().Mmap(memory->data + off, in_file, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd,
                 static_cast<off_t>(off)) == MAP_FAILED) {
    status = Status::FromErrno("mmap " + image_path, errno);
  }
  close(fd);  // the mapping keeps the file
  if (status.ok() && len > in_file &&
      env().Mmap(memory->data + off + in_file, len - in_file, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
    status = Status::FromErrno("mmap", errno);
  }
  return status;
}

}  // namespace pgthaw::wasm
