// See layer_stack.h.
#include "vfs/layer_stack.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "vfs/overlay_dir.h"
#include "vfs/wasm_abi.h"
#include "vfs/wasm_errno.h"

namespace pgthaw::vfs {
namespace {

namespace abi = wasm_abi;
namespace err = wasm_errno;

bool is_dir_mode(uint32_t mode) { return (mode & abi::kS_IFMT) == abi::kS_IFDIR; }

// The whole of a frozen layer's whiteout log; empty if it has none.
Result<std::string> read_log(const HostDir& dir) {
  std::string bytes;
  int rc = read_layer_file(dir, kWhiteoutLogName, &bytes);
  if (rc == -err::kENOENT || rc == -err::kENOTDIR) return std::string();
  if (rc < 0) {
    return Status::IoError("read " + dir.host_dir() + "/" + std::string(kWhiteoutLogName) +
                           " (wasm errno " + std::to_string(-rc) + ")");
  }
  return bytes;
}

}  // namespace

Result<size_t> parse_whiteout_log(std::string_view bytes,
                                  std::set<std::string, std::less<>>* hidden) {
  if (bytes.size() < sizeof(kWhiteoutLogMagic)) return size_t{0};
  if (std::memcmp(bytes.data(), kWhiteoutLogMagic, sizeof(kWhiteoutLogMagic)) != 0) {
    return Status::Corruption("not an overlay whiteout log");
  }
  size_t good = sizeof(kWhiteoutLogMagic);
  while (good + 4 <= bytes.size()) {
    uint32_t len;
    std::memcpy(&len, bytes.data() + good, 4);  // little-endian hosts only (x86-64, arm64)
    if (len == 0 || len > kMaxWhiteoutRecordBytes || good + 4 + len > bytes.size()) break;
    hidden->emplace(bytes.substr(good + 4, len));
    good += 4 + len;
  }
  return good;
}

std::string whiteout_log(const std::set<std::string, std::less<>>& hidden) {
  std::string log(kWhiteoutLogMagic, sizeof(kWhiteoutLogMagic));
  for (const std::string& path : hidden) {
    const uint32_t len = static_cast<uint32_t>(path.size());
    log.append(reinterpret_cast<const char*>(&len), 4);  // little-endian hosts only
    log += path;
  }
  return log;
}

std::set<std::string, std::less<>> LayerStack::hidden_paths() const {
  std::set<std::string, std::less<>> all;
  for (const Layer& layer : layers_) all.insert(layer.hidden.begin(), layer.hidden.end());
  return all;
}

bool hidden_by(const std::set<std::string, std::less<>>& hidden, std::string_view rel) {
  if (hidden.empty()) return false;
  for (size_t i = 0;; ++i) {
    i = rel.find('/', i);
    if (hidden.count(rel.substr(0, i)) > 0) return true;
    if (i == std::string_view::npos) return false;
  }
}

Result<std::unique_ptr<LayerStack>> LayerStack::open(const std::vector<std::string>& dirs) {
  if (dirs.empty()) return Status::InvalidArgument("an overlay needs a lower layer");
  std::vector<Layer> layers;
  for (const std::string& d : dirs) {
    Result<std::unique_ptr<HostDir>> dir = HostDir::open(d, HostDir::Mutability::kFrozen);
    if (!dir.ok()) return dir.status();
    Layer layer{std::move(dir).value(), {}, {}};
    auto log = read_log(*layer.dir);
    if (!log.ok()) return log.status();
    if (auto parsed = parse_whiteout_log(*log, &layer.hidden); !parsed.ok()) {
      return Status::Corruption(parsed.status().message() + ": " + d);
    }
    if (int rc = list_chunk_maps(*layer.dir, &layer.partial); rc < 0) {
      return Status::IoError("list the chunk maps of " + d);
    }
    layers.push_back(std::move(layer));
  }
  auto stack = std::unique_ptr<LayerStack>(new LayerStack(std::move(layers)));
  for (const Layer& layer : stack->layers_) stack->any_partial_ |= !layer.partial.empty();
  return stack;
}

bool LayerStack::visible_in(size_t index, std::string_view rel) const {
  for (size_t above = index + 1; above < layers_.size(); ++above) {
    if (hidden_by(layers_[above].hidden, rel)) return false;
  }
  return true;
}

int LayerStack::locate(std::string_view rel, Stat* st, size_t* index) const {
  if (auto it = located_.find(rel); it != located_.end()) {
    *st = it->second.st;
    *index = it->second.index;
    return it->second.rc;
  }
  Located found{0, 0, Stat{}};
  found.rc = locate_uncached(rel, &found.st, &found.index);
  const bool lasting = found.rc == 0 || found.rc == -err::kENOENT || found.rc == -err::kENOTDIR;
  if (lasting && located_.size() < kMaxLocated) located_.emplace(std::string(rel), found);
  *st = found.st;
  *index = found.index;
  return found.rc;
}

int LayerStack::locate_uncached(std::string_view rel, Stat* st, size_t* index) const {
  if (OverlayDir::is_meta(rel)) return -err::kENOENT;
  int last = -err::kENOENT;
  for (size_t i = layers_.size(); i-- > 0;) {
    // A path hidden above layer i is hidden in every layer below it too.
    if (!visible_in(i, rel)) return last;
    int rc = layers_[i].dir->stat(rel, st);
    if (rc == 0) {
      *index = i;
      return 0;
    }
    if (rc != -err::kENOENT && rc != -err::kENOTDIR) return rc;
    last = rc;
  }
  return last;
}

int LayerStack::stat(std::string_view rel, Stat* st) const {
  size_t index;
  Stat s;
  int rc = locate(rel, &s, &index);
  if (rc == 0) *st = s;
  return rc;
}

int LayerStack::open_file(std::string_view rel, int host_flags, uint32_t mode) const {
  size_t index;
  Stat st;
  if (int rc = locate(rel, &st, &index); rc < 0) return rc;
  return layers_[index].dir->open_file(rel, host_flags, mode);
}

bool LayerStack::serves_partial(std::string_view rel) const {
  if (!any_partial_) return false;
  size_t index;
  Stat st;
  return locate(rel, &st, &index) == 0 &&
         layers_[index].partial.count(chunk_map_file_name(rel)) > 0;
}

int LayerStack::locate_below(size_t above, std::string_view rel, size_t* index) const {
  for (size_t i = above; i-- > 0;) {
    if (hidden_by(layers_[i + 1].hidden, rel)) break;
    Stat st;
    int rc = layers_[i].dir->stat(rel, &st);
    if (rc == -err::kENOENT || rc == -err::kENOTDIR) continue;
    if (rc < 0) return rc;
    if ((st.mode & abi::kS_IFMT) != abi::kS_IFREG) break;
    *index = i;
    return 0;
  }
  return -err::kEIO;  // a partial copy with nothing under it
}

int LayerStack::open_chain(std::string_view rel, std::vector<LayeredFile::Part>* parts) const {
  size_t index;
  Stat st;
  if (int rc = locate(rel, &st, &index); rc < 0) return rc;
  if ((st.mode & abi::kS_IFMT) != abi::kS_IFREG) return -err::kEINVAL;
  const std::string escaped = any_partial_ ? chunk_map_file_name(rel) : std::string();
  for (;;) {
    int fd = layers_[index].dir->open_file(rel, O_RDONLY, 0);
    if (fd < 0) return fd;
    LayeredFile::Part part;
    part.fd = fd;
    parts->push_back(std::move(part));
    if (layers_[index].partial.count(escaped) == 0) return 0;
    if (int rc = load_chunk_map(*layers_[index].dir, rel, fd, &parts->back().map); rc < 0) {
      return rc;
    }
    if (parts->back().map == nullptr) return 0;  // a stale map: the copy is whole
    if (int rc = locate_below(index, rel, &index); rc < 0) return rc;
  }
}

int LayerStack::open_reader(std::string_view rel, std::shared_ptr<LayeredFile>* out) const {
  std::vector<LayeredFile::Part> parts;
  int rc = open_chain(rel, &parts);
  if (rc < 0) {
    for (LayeredFile::Part& p : parts) ::close(p.fd);
    return rc;
  }
  *out = std::make_shared<LayeredFile>(std::move(parts));
  return 0;
}

int LayerStack::readlink(std::string_view rel, std::string* target) const {
  size_t index;
  Stat st;
  if (int rc = locate(rel, &st, &index); rc < 0) return rc;
  return layers_[index].dir->readlink(rel, target);
}

int LayerStack::list(std::string_view rel, std::vector<DirEntry>* out) const {
  if (OverlayDir::is_meta(rel)) return -err::kENOENT;
  std::vector<DirEntry> entries;
  std::set<std::string, std::less<>> names;
  bool found = false;
  for (size_t i = layers_.size(); i-- > 0;) {
    if (!visible_in(i, rel)) break;
    Stat st;
    int rc = layers_[i].dir->stat(rel, &st);
    if (rc == -err::kENOENT || rc == -err::kENOTDIR) continue;
    if (rc < 0) return rc;
    // A non-directory shadows the directories below it.
    if (!is_dir_mode(st.mode)) break;
    int fd = layers_[i].dir->open_file(rel, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0) return fd;
    std::vector<DirEntry> layer_entries;
    rc = HostDir::list(fd, &layer_entries);
    ::close(fd);
    if (rc < 0) return rc;
    found = true;
    for (DirEntry& e : layer_entries) {
      if (rel.empty() && e.name == OverlayDir::kMetaDirName) continue;
      if (names.count(e.name) > 0) continue;
      std::string child = rel.empty() ? e.name : std::string(rel) + "/" + e.name;
      if (!visible_in(i, child)) continue;
      names.insert(e.name);
      entries.push_back(std::move(e));
    }
  }
  if (!found) return -err::kENOENT;
  for (DirEntry& e : entries) out->push_back(std::move(e));
  return 0;
}

}  // namespace pgthaw::vfs
