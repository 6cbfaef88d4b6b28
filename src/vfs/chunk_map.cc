// The chunk map of a partial copy-up (see chunk_map.h).
#include "vfs/chunk_map.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/env.h"
#include "vfs/wasm_errno.h"

namespace pgthaw::vfs {
namespace {

constexpr char kMagic[8] = {'P', 'G', 'T', 'C', 'H', 'K', '0', '1'};
constexpr size_t kHeaderBytes = 8 + 8 + 8 + 4 + 4 + 8;
constexpr size_t kMaxNameBytes = 255;

size_t bitmap_bytes(int64_t lower_limit) {
  const int64_t chunks = (lower_limit + ChunkMap::kChunkBytes - 1) / ChunkMap::kChunkBytes;
  return static_cast<size_t>((chunks + 7) / 8);
}

template <typename T>
void put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));  // little-endian hosts only
}
template <typename T>
T get(std::string_view bytes, size_t at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof(v));
  return v;
}

}  // namespace

int file_identity(int fd, FileIdentity* out) {
  struct statx sx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &sx) < 0) {
    return neg_wasm_errno_from_host();
  }
  out->ino = sx.stx_ino;
  const bool has_birth = (sx.stx_mask & STATX_BTIME) != 0;
  out->birth_sec = has_birth ? sx.stx_btime.tv_sec : 0;
  out->birth_nsec = has_birth ? sx.stx_btime.tv_nsec : 0;
  return 0;
}

ChunkMap::ChunkMap(FileIdentity identity, int64_t lower_limit)
    : identity_(identity), lower_limit_(lower_limit), bits_(bitmap_bytes(lower_limit), 0) {}

Result<ChunkMap> ChunkMap::parse(std::string_view bytes) {
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return Status::Corruption("not a chunk map");
  }
  FileIdentity id{get<uint64_t>(bytes, 8), get<int64_t>(bytes, 16), get<uint32_t>(bytes, 24)};
  const int64_t limit = get<int64_t>(bytes, 32);
  if (limit < 0 || bytes.size() != kHeaderBytes + bitmap_bytes(limit)) {
    return Status::Corruption("chunk map of the wrong length");
  }
  ChunkMap map(id, limit);
  std::memcpy(map.bits_.data(), bytes.data() + kHeaderBytes, map.bits_.size());
  return map;
}

std::string ChunkMap::serialize() const {
  std::string out(kMagic, sizeof(kMagic));
  put(&out, identity_.ino);
  put(&out, identity_.birth_sec);
  put(&out, identity_.birth_nsec);
  put(&out, uint32_t{0});
  put(&out, lower_limit_);
  out.append(reinterpret_cast<const char*>(bits_.data()), bits_.size());
  return out;
}

void ChunkMap::set(int64_t chunk) {
  uint8_t& byte = bits_[static_cast<size_t>(chunk >> 3)];
  const uint8_t bit = static_cast<uint8_t>(1u << (chunk & 7));
  if ((byte & bit) == 0) {
    byte |= bit;
    dirty_ = true;
  }
}

void ChunkMap::lower_to(int64_t limit) {
  if (limit >= lower_limit_) return;
  lower_limit_ = limit;
  bits_.resize(bitmap_bytes(limit));
  // Bits of chunks past the new last one may share its byte: clear them, so
  // a later extension never sees them.
  const int64_t chunks = chunk_count();
  if (chunks % 8 != 0) bits_.back() &= static_cast<uint8_t>((1u << (chunks % 8)) - 1);
  dirty_ = true;
}

std::string chunk_map_file_name(std::string_view rel) {
  std::string name;
  for (char c : rel) {
    if (c == '%') {
      name += "%25";
    } else if (c == '/') {
      name += "%2F";
    } else {
      name += c;
    }
  }
  return name;
}

std::string chunk_map_rel(std::string_view file_name) {
  std::string rel;
  for (size_t i = 0; i < file_name.size(); ++i) {
    if (file_name.compare(i, 3, "%25") == 0) {
      rel += '%';
      i += 2;
    } else if (file_name.compare(i, 3, "%2F") == 0) {
      rel += '/';
      i += 2;
    } else {
      rel += file_name[i];
    }
  }
  return rel;
}

std::string chunk_map_name(std::string_view rel) {
  std::string name = chunk_map_file_name(rel);
  if (name.size() > kMaxNameBytes) return "";
  return std::string(ChunkMap::kDirName) + "/" + name;
}

int read_layer_file(const HostDir& layer, std::string_view name, std::string* out) {
  int fd = layer.open_file(name, O_RDONLY, 0);
  if (fd < 0) return fd;
  out->clear();
  char buf[1 << 16];
  for (;;) {
    ssize_t n = env().Read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int rc = neg_wasm_errno_from_host();
      ::close(fd);
      return rc;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return 0;
}

int list_chunk_maps(const HostDir& layer, std::set<std::string, std::less<>>* names) {
  int fd = layer.open_file(ChunkMap::kDirName, O_RDONLY | O_DIRECTORY, 0);
  if (fd == -wasm_errno::kENOENT || fd == -wasm_errno::kENOTDIR) return 0;
  if (fd < 0) return fd;
  std::vector<DirEntry> entries;
  int rc = HostDir::list(fd, &entries);
  ::close(fd);
  for (DirEntry& e : entries) names->insert(std::move(e.name));
  return rc;
}

int load_chunk_map(const HostDir& layer, std::string_view rel, int data_fd,
                   std::unique_ptr<ChunkMap>* out) {
  out->reset();
  const std::string name = chunk_map_name(rel);
  if (name.empty()) return 0;
  std::string bytes;
  int rc = read_layer_file(layer, name, &bytes);
  if (rc == -wasm_errno::kENOENT) return 0;
  if (rc < 0) return rc;
  Result<ChunkMap> map = ChunkMap::parse(bytes);
  if (!map.ok()) return -wasm_errno::kEIO;
  FileIdentity id;
  if (rc = file_identity(data_fd, &id); rc < 0) return rc;
  if (!(id == map->identity())) return 0;  // a stale map of an earlier file of that name
  *out = std::make_unique<ChunkMap>(std::move(map).value());
  return 0;
}

}  // namespace pgthaw::vfs
