// See snapshot.h.
#include "engine/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include "common/build_id.h"
#include "common/durable_file.h"
#include "common/env.h"
#include "common/zstd_frame.h"

namespace pgthaw::engine {
namespace {

namespace fs = std::filesystem;
// 2: the state and vfs files are zstd frames (a vfs state is mostly the
// zero pages of /dev/shm segments: 1 MB that compresses to a few KB).
// 3: a delta packs its short runs after the sparse part (wasm::write_delta).
constexpr int kFormat = 3;
// A state or vfs file larger than this once decompressed is corrupt.
constexpr uint64_t kMaxStateBytes = uint64_t{1} << 30;
constexpr const char* kPgliteVersion = PGTHAW_PGLITE_VERSION;  // pglite.lock.json's

uint64_t hash(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

// Hashes a (sparse) image file; holes read as zeros.
Result<uint64_t> hash_file(const fs::path& path) {
  int fd = env().Open(path.c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return Status::FromErrno("open " + path.string(), errno);
  XXH3_state_t* st = XXH3_createState();
  XXH3_64bits_reset(st);
  std::string buf(1 << 20, '\0');
  ssize_t n;
  while ((n = read(fd, buf.data(), buf.size())) > 0) XXH3_64bits_update(st, buf.data(), n);
  uint64_t h = XXH3_64bits_digest(st);
  XXH3_freeState(st);
  close(fd);
  if (n < 0) return Status::FromErrno("read " + path.string(), errno);
  return h;
}

// Full images are large and shared: each is verified once per cache.
Status verify_image_once(const fs::path& path, uint64_t expected, SnapshotCache& cache) {
  if (cache.VerifiedBefore(path.string(), expected)) return Status::Ok();
  auto h = hash_file(path);
  if (!h.ok()) return h.status();
  if (*h != expected) return Status::Corruption(path.string() + ": memory image checksum mismatch");
  cache.RememberVerified(path.string(), expected);
  return Status::Ok();
}

Result<SnapshotMeta> parse_meta(const std::string& text, const std::string& dir) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption(dir + ": unreadable meta.json");
  SnapshotMeta m;
  auto str = [&](const char* k) {
    return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : "";
  };
  auto num = [&](const char* k) -> uint64_t {
    return j.contains(k) && j[k].is_number_unsigned() ? j[k].get<uint64_t>() : 0;
  };
  if (num("format") != kFormat) return Status::Corruption(dir + ": unknown snapshot format");
  m.build_id = str("build_id");
  m.pglite_version = str("pglite_version");
  m.memory_pages = static_cast<uint32_t>(num("memory_pages"));
  m.base = str("base");
  // Written relative to the snapshot (a path of this machine would not hold
  // on another); older snapshots name it absolutely.
  if (!m.base.empty() && m.base.front() != '/') {
    m.base = (fs::path(dir) / m.base).lexically_normal().string();
  }
  m.state_hash = num("state_xxh3");
  m.vfs_hash = num("vfs_xxh3");
  m.memory_hash = num("memory_xxh3");
  m.pages_hash = num("pages_xxh3");
  m.session_settings = str("session_settings");
  return m;
}

// `base` as meta.json names it: relative to the snapshot directory.
std::string relative_base(const std::string& base, const fs::path& target) {
  if (base.empty()) return base;
  std::error_code ec;
  const fs::path from = fs::absolute(target, ec).lexically_normal();
  return fs::absolute(base, ec).lexically_normal().lexically_relative(from).string();
}

}  // namespace

Status write_snapshot(const std::string& dir, SnapshotWrite snap, SnapshotCache& cache) {
  fs::path target(dir);
  fs::path tmp = target.parent_path() / (target.filename().string() + ".tmp");
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return Status::FromErrno("mkdir " + tmp.string(), ec.value());

  SnapshotMeta& meta = snap.meta;
  meta.build_id = build_id();
  meta.pglite_version = kPgliteVersion;
  meta.state_hash = hash(snap.state);
  meta.vfs_hash = hash(snap.vfs);
  PGTHAW_RETURN_IF_ERROR(write_file_synced((tmp / "state").string(), zstd_compress(snap.state)));
  PGTHAW_RETURN_IF_ERROR(write_file_synced((tmp / "vfs").string(), zstd_compress(snap.vfs)));
  if (meta.base.empty()) {
    PGTHAW_RETURN_IF_ERROR(snap.write_full_image((tmp / "memory").string()));
    auto h = hash_file(tmp / "memory");
    if (!h.ok()) return h.status();
    meta.memory_hash = *h;
  } else {
    std::string_view index(reinterpret_cast<const char*>(snap.delta_pages.data()),
                           snap.delta_pages.size() * sizeof(uint32_t));
    meta.pages_hash = hash(index);
    PGTHAW_RETURN_IF_ERROR(write_file_synced((tmp / "delta.pages").string(), index));
    PGTHAW_RETURN_IF_ERROR(snap.write_delta((tmp / "delta").string()));
  }
  nlohmann::json j = {{"format", kFormat},
                      {"build_id", meta.build_id},
                      {"pglite_version", meta.pglite_version},
                      {"memory_pages", meta.memory_pages},
                      {"base", relative_base(meta.base, target)},
                      {"state_xxh3", meta.state_hash},
                      {"vfs_xxh3", meta.vfs_hash},
                      {"memory_xxh3", meta.memory_hash},
                      {"pages_xxh3", meta.pages_hash}};
  if (!meta.session_settings.empty()) j["session_settings"] = meta.session_settings;
  PGTHAW_RETURN_IF_ERROR(write_file_synced((tmp / "meta.json").string(), j.dump(2)));
  PGTHAW_RETURN_IF_ERROR(fsync_dir(tmp.string()));
  fs::remove_all(target, ec);
  if (env().Rename(tmp.c_str(), target.c_str()) != 0) {
    return Status::FromErrno("rename " + tmp.string(), errno);
  }
  PGTHAW_RETURN_IF_ERROR(fsync_dir(target.parent_path().string()));
  // This process made the memory file from the pages it hashed and synced
  // it: its own thaws (and forks, which link the file) trust it while it is
  // the same file. After a restart it is checked once, as any other.
  cache.RememberVerified((target / (meta.base.empty() ? "memory" : "delta")).string(),
                         meta.memory_hash);
  return Status::Ok();
}

Result<SnapshotFiles> read_snapshot(const std::string& dir, SnapshotCache& cache) {
  fs::path d(dir);
  auto meta_text = read_whole_file((d / "meta.json").string());
  if (!meta_text.ok()) return meta_text.status();
  auto meta = parse_meta(*meta_text, dir);
  if (!meta.ok()) return meta.status();
  if (meta->build_id != build_id()) {
    return Status::InvalidArgument(dir + ": written by another build of pgthaw");
  }
  SnapshotFiles files;
  files.meta = *meta;
  auto state_frame = read_whole_file((d / "state").string());
  auto vfs_frame = read_whole_file((d / "vfs").string());
  if (!state_frame.ok()) return state_frame.status();
  if (!vfs_frame.ok()) return vfs_frame.status();
  auto state = zstd_decompress(*state_frame, kMaxStateBytes, dir + "/state");
  auto vfs = zstd_decompress(*vfs_frame, kMaxStateBytes, dir + "/vfs");
  if (!state.ok()) return state.status();
  if (!vfs.ok()) return vfs.status();
  if (hash(*state) != meta->state_hash || hash(*vfs) != meta->vfs_hash) {
    return Status::Corruption(dir + ": state checksum mismatch");
  }
  files.state = std::move(state).value();
  files.vfs = std::move(vfs).value();
  if (meta->base.empty()) {
    files.memory_path = (d / "memory").string();
    PGTHAW_RETURN_IF_ERROR(verify_image_once(files.memory_path, meta->memory_hash, cache));
  } else {
    // The page bytes are checked after they are mapped (Instance::Restore):
    // reading them here would copy what the mapping shares.
    auto index = read_whole_file((d / "delta.pages").string());
    if (!index.ok()) return index.status();
    if (hash(*index) != meta->pages_hash || index->size() % sizeof(uint32_t) != 0) {
      return Status::Corruption(dir + ": delta page list checksum mismatch");
    }
    files.delta_pages.resize(index->size() / sizeof(uint32_t));
    std::memcpy(files.delta_pages.data(), index->data(), index->size());
    for (size_t i = 1; i < files.delta_pages.size(); ++i) {
      if (files.delta_pages[i] <= files.delta_pages[i - 1]) {
        return Status::Corruption(dir + ": delta page list out of order");
      }
    }
    files.delta_path = (d / "delta").string();
    auto base = cache.ReadKept(meta->base);
    if (!base.ok()) return base.status();
    files.memory_path = (*base)->memory_path;
  }
  struct stat st;
  if (stat(files.memory_path.c_str(), &st) != 0 ||
      static_cast<uint64_t>(st.st_size) > uint64_t{meta->memory_pages} * 65536) {
    return Status::Corruption(dir + ": memory image missing or too large");
  }
  return files;
}

Status consume_snapshot(const std::string& dir) {
  std::error_code ec;
  fs::path meta = fs::path(dir) / "meta.json";
  // meta.json first: without it the rest is no snapshot, whatever a crash
  // leaves of it.
  if (!fs::remove(meta, ec) && ec) return Status::FromErrno("remove " + meta.string(), ec.value());
  // The rest (unlinking a big sparse delta takes a while) goes after the
  // thawed tenant's first reply (remove_consumed_snapshot).
  const std::string consumed = dir + kConsumedSuffix;
  fs::remove_all(consumed, ec);
  if (env().Rename(dir.c_str(), consumed.c_str()) != 0) fs::remove_all(dir, ec);
  return Status::Ok();
}

void remove_consumed_snapshot(const std::string& dir) {
  std::error_code ec;
  fs::remove_all(dir + kConsumedSuffix, ec);
}

}  // namespace pgthaw::engine
