// FileSystem::save_state() and restore_state(): the fd table, process state,
// pipes and per-instance MemDir trees of one instance as a binary blob, for
// snapshots of running Postgres instances.
//
// FORMAT (version 1; integers little-endian, str = u32 length + bytes):
//
//   "PGTHAWFS" u32 version
//   str cwd, u32 umask, i32 next_pipe_id
//   u32 n, n x mount:  str prefix, u8 type (0 host, 1 overlay, 2 mem),
//                      u8 has_tree, [u32 root node]
//   u32 n, n x node:   u8 type (MemNode::Type), u32 perms, u32 nlink,
//                      3 x (i64 sec, i64 nsec) atime/mtime/ctime,
//                      str data (file) or target (symlink),
//                      u32 n, n x (str name, u32 node)  (directories)
//   u32 n, n x pipe:   i32 id, str buffered bytes
//   u32 n, n x description:
//                      u8 kind (FileKind), str path, i32 flags, i64 offset,
//                      i32 mount, u32 node (kByPath: look the path up),
//                      i32 pipe_id, u8 listed,
//                      [u32 n, n x (u64 ino, u8 type, str name, i64 index)]
//   u32 n, n x fd:     i32 fd, u32 description
//
// Nodes are the MemNodes of every mount with has_tree (whole trees; a node
// linked twice appears once) plus nodes only open descriptions still hold
// (unlinked files, written without children). Host files and devices are
// recorded by path and re-opened on restore; a description shared by
// several fds is written once, so restore shares it again.
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <unordered_map>

#include "vfs/filesystem.h"
#include "vfs/path.h"

namespace pgthaw::vfs {

namespace abi = wasm_abi;
namespace err = wasm_errno;

namespace {

constexpr char kMagic[8] = {'P', 'G', 'T', 'H', 'A', 'W', 'F', 'S'};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kByPath = 0xffffffff;
enum MountType : uint8_t { kMountHost = 0, kMountOverlay = 1, kMountMem = 2 };

class Writer {
 public:
  void raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  void u8(uint8_t v) { raw(&v, 1); }
  void u32(uint32_t v) { raw(&v, 4); }  // little-endian hosts only (x86-64, arm64)
  void i32(int32_t v) { raw(&v, 4); }
  void u64(uint64_t v) { raw(&v, 8); }
  void i64(int64_t v) { raw(&v, 8); }
  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    raw(s.data(), s.size());
  }
  void time(const Timespec& t) {
    i64(t.sec);
    i64(t.nsec);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

// Reads past the end set bad() and return zeros.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool bad() const { return bad_; }
  bool at_end() const { return pos_ == in_.size(); }
  bool raw(void* p, size_t n) {
    if (bad_ || in_.size() - pos_ < n) {
      bad_ = true;
      std::memset(p, 0, n);
      return false;
    }
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  template <typename T>
  T num() {
    T v;
    raw(&v, sizeof(v));
    return v;
  }
  uint8_t u8() { return num<uint8_t>(); }
  uint32_t u32() { return num<uint32_t>(); }
  int32_t i32() { return num<int32_t>(); }
  uint64_t u64() { return num<uint64_t>(); }
  int64_t i64() { return num<int64_t>(); }
  std::string str() {
    uint32_t n = u32();
    if (bad_ || in_.size() - pos_ < n) {
      bad_ = true;
      return {};
    }
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  Timespec time() {
    Timespec t;
    t.sec = i64();
    t.nsec = i64();
    return t;
  }
  // A count of items at least `min_bytes` each: bounded by what is left.
  uint32_t count(size_t min_bytes) {
    uint32_t n = u32();
    if (!bad_ && static_cast<uint64_t>(n) * min_bytes > in_.size() - pos_) bad_ = true;
    return bad_ ? 0 : n;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  bool bad_ = false;
};

struct SavedNode {
  MemNode::Type type = MemNode::Type::kFile;
  uint32_t perms = 0;
  uint32_t nlink = 1;
  Timespec atime, mtime, ctime;
  std::string bytes;  // data or target
  std::vector<std::pair<std::string, uint32_t>> children;
};

struct SavedDesc {
  FileKind kind = FileKind::kDevice;
  std::string path;
  int32_t flags = 0;
  int64_t offset = 0;
  int32_t mount = -1;
  uint32_t node = kByPath;
  int32_t pipe_id = -1;
  bool listed = false;
  std::vector<DirEntry> listing;
};

bool is_mem_kind(FileKind k) { return k == FileKind::kMemFile || k == FileKind::kMemDir; }
bool is_pipe_kind(FileKind k) { return k == FileKind::kPipeRead || k == FileKind::kPipeWrite; }

}  // namespace

// --- save -----------------------------------------------------------------------------

Result<std::string> FileSystem::save_state() const {
  if (pay_owed_host_syncs() < 0) return Status::IoError("sync an owed host file or directory");
  // Restore reopens files by path: the names copy-ups made must be durable.
  for (const MountPoint& mp : mounts_) {
    if (mp.overlay != nullptr && mp.overlay->sync_owed() < 0) {
      return Status::IoError("sync the copied-up directories of " + mp.prefix);
    }
  }
  // Descriptions in fd order, each once.
  std::vector<const OpenFile*> descs;
  std::unordered_map<const OpenFile*, uint32_t> desc_index;
  std::vector<std::pair<int, uint32_t>> fd_to_desc;
  for (size_t fd = 0; fd < fds_.size(); ++fd) {
    const OpenFile* f = fds_[fd].get();
    if (f == nullptr) continue;
    auto [it, fresh] = desc_index.emplace(f, static_cast<uint32_t>(descs.size()));
    if (fresh) descs.push_back(f);
    fd_to_desc.emplace_back(static_cast<int>(fd), it->second);
  }
  auto where = [&](const OpenFile& f) {
    for (const auto& [fd, d] : fd_to_desc) {
      if (descs[d] == &f) return "fd " + std::to_string(fd) + " (" + f.path + ")";
    }
    return f.path;
  };

  // MemNodes: whole trees of the saved mounts, then nodes only descriptions
  // hold.
  std::vector<const MemNode*> nodes;
  std::vector<bool> with_children;
  std::unordered_map<const MemNode*, uint32_t> node_index;
  auto add_node = [&](const MemNode* n, bool children) {
    auto [it, fresh] = node_index.emplace(n, static_cast<uint32_t>(nodes.size()));
    if (fresh) {
      nodes.push_back(n);
      with_children.push_back(children);
    }
    return it->second;
  };
  std::vector<uint32_t> mount_root(mounts_.size(), kByPath);
  for (size_t m = 0; m < mounts_.size(); ++m) {
    if (mounts_[m].mem == nullptr || !mounts_[m].save_contents) continue;
    mount_root[m] = add_node(mounts_[m].mem->root().get(), true);
    for (size_t i = mount_root[m]; i < nodes.size(); ++i) {  // breadth-first
      if (!nodes[i]->is_dir()) continue;
      for (const auto& [name, child] : nodes[i]->children) add_node(child.get(), true);
    }
  }

  std::vector<SavedDesc> saved(descs.size());
  std::map<int, const Pipe*> pipes;
  for (size_t i = 0; i < descs.size(); ++i) {
    const OpenFile& f = *descs[i];
    SavedDesc& d = saved[i];
    d.kind = f.kind;
    d.path = f.path;
    d.flags = f.flags;
    d.offset = f.offset;
    d.mount = f.mount;
    d.pipe_id = f.pipe_id;
    d.listed = f.listed;
    if (f.listed) d.listing = f.listing;
    if (is_pipe_kind(f.kind)) pipes.emplace(f.pipe_id, f.pipe.get());
    if (is_mem_kind(f.kind)) {
      const MountPoint& mp = mounts_[f.mount];
      std::shared_ptr<MemNode> named;
      bool by_path = !mp.save_contents &&
                     mp.mem->lookup(path_remainder(f.path, mp.prefix), &named) == 0 &&
                     named == f.node;
      if (!by_path) {
        auto it = node_index.find(f.node.get());
        d.node = it != node_index.end() ? it->second : add_node(f.node.get(), false);
      }
    }
    // A deferred file still has its path: names change only after every
    // deferred description has been reopened (reopen_all_deferred).
    if (f.kind == FileKind::kHostFile && !f.deferred) {
      // The snapshot reopens partial copies by their maps: save them now.
      if (f.layered != nullptr && !f.lower) {
        if (int rc = f.layered->flush(); rc < 0) {
          return Status::IoError("save the chunk map of " + where(f) + " (wasm errno " +
                                 std::to_string(-rc) + ")");
        }
      }
      // Restore re-opens by path: the path must still name this file.
      // (Directories are listed by path anyway; restore checks the kind.)
      const MountPoint& mp = mounts_[f.mount];
      struct stat open_st;
      Stat named;
      if (::fstat(f.host_fd, &open_st) < 0) return Status::FromErrno("fstat " + where(f), errno);
      if (f.lower_unlinked || host_stat(mp, path_remainder(f.path, mp.prefix), &named) < 0 ||
          named.ino != open_st.st_ino || named.dev != static_cast<uint32_t>(open_st.st_dev)) {
        return Status::NotFound(where(f) + " was unlinked or replaced while open");
      }
    }
  }

  Writer w;
  w.raw(kMagic, sizeof(kMagic));
  w.u32(kVersion);
  w.str(cwd_);
  w.u32(umask_);
  w.i32(next_pipe_id_);
  w.u32(static_cast<uint32_t>(mounts_.size()));
  for (size_t m = 0; m < mounts_.size(); ++m) {
    const MountPoint& mp = mounts_[m];
    w.str(mp.prefix);
    w.u8(mp.mem != nullptr ? kMountMem : mp.overlay != nullptr ? kMountOverlay : kMountHost);
    w.u8(mount_root[m] != kByPath);
    if (mount_root[m] != kByPath) w.u32(mount_root[m]);
  }
  w.u32(static_cast<uint32_t>(nodes.size()));
  for (size_t i = 0; i < nodes.size(); ++i) {
    const MemNode& n = *nodes[i];
    w.u8(static_cast<uint8_t>(n.type));
    w.u32(n.perms);
    w.u32(n.nlink);
    w.time(n.atime);
    w.time(n.mtime);
    w.time(n.ctime);
    if (n.type == MemNode::Type::kFile) {
      w.str(std::string_view(reinterpret_cast<const char*>(n.data.data()), n.data.size()));
    } else {
      w.str(n.target);
    }
    if (n.is_dir() && with_children[i]) {
      w.u32(static_cast<uint32_t>(n.children.size()));
      for (const auto& [name, child] : n.children) {
        w.str(name);
        w.u32(node_index.at(child.get()));
      }
    } else {
      w.u32(0);
    }
  }
  w.u32(static_cast<uint32_t>(pipes.size()));
  for (const auto& [id, pipe] : pipes) {
    w.i32(id);
    w.str(pipe->contents());
  }
  w.u32(static_cast<uint32_t>(saved.size()));
  for (const SavedDesc& d : saved) {
    w.u8(static_cast<uint8_t>(d.kind));
    w.str(d.path);
    w.i32(d.flags);
    w.i64(d.offset);
    w.i32(d.mount);
    w.u32(d.node);
    w.i32(d.pipe_id);
    w.u8(d.listed);
    if (d.listed) {
      w.u32(static_cast<uint32_t>(d.listing.size()));
      for (const DirEntry& e : d.listing) {
        w.u64(e.ino);
        w.u8(e.type);
        w.str(e.name);
        w.i64(e.index);
      }
    }
  }
  w.u32(static_cast<uint32_t>(fd_to_desc.size()));
  for (const auto& [fd, d] : fd_to_desc) {
    w.i32(fd);
    w.u32(d);
  }
  return w.take();
}

// --- restore --------------------------------------------------------------------------

Status FileSystem::restore_state(std::string_view state) {
  auto corrupt = [](const std::string& what) { return Status::Corruption("vfs state: " + what); };
  Reader r(state);
  char magic[sizeof(kMagic)];
  r.raw(magic, sizeof(magic));
  if (r.bad() || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) return corrupt("bad magic");
  if (uint32_t v = r.u32(); v != kVersion) {
    return corrupt("unsupported version " + std::to_string(v));
  }
  std::string cwd = r.str();
  uint32_t umask = r.u32();
  int32_t next_pipe_id = r.i32();

  // Mounts: saved index -> ours, by prefix.
  struct SavedMount {
    int ours = -1;
    uint32_t root = kByPath;
  };
  std::vector<SavedMount> smounts(r.count(6));
  for (SavedMount& sm : smounts) {
    std::string prefix = r.str();
    uint8_t type = r.u8();
    if (r.u8() != 0) sm.root = r.u32();
    if (r.bad()) break;
    for (size_t m = 0; m < mounts_.size(); ++m) {
      if (mounts_[m].prefix == prefix) sm.ours = static_cast<int>(m);
    }
    if (sm.ours < 0) return Status::InvalidArgument("vfs state: no mount at " + prefix);
    bool mem = mounts_[sm.ours].mem != nullptr;
    if (mem != (type == kMountMem)) {
      return Status::InvalidArgument("vfs state: mount " + prefix + " changed kind");
    }
  }

  std::vector<SavedNode> snodes(r.count(50));
  for (SavedNode& n : snodes) {
    uint8_t type = r.u8();
    if (type > static_cast<uint8_t>(MemNode::Type::kSymlink)) return corrupt("node type");
    n.type = static_cast<MemNode::Type>(type);
    n.perms = r.u32() & 07777;
    n.nlink = r.u32();
    n.atime = r.time();
    n.mtime = r.time();
    n.ctime = r.time();
    n.bytes = r.str();
    n.children.resize(r.count(8));
    for (auto& [name, idx] : n.children) {
      name = r.str();
      idx = r.u32();
    }
    if (r.bad()) break;
  }
  std::map<int, std::string> spipes;
  for (uint32_t n = r.count(8); n > 0 && !r.bad(); --n) {
    int32_t id = r.i32();
    spipes[id] = r.str();
  }
  std::vector<SavedDesc> sdescs(r.count(30));
  for (SavedDesc& d : sdescs) {
    uint8_t kind = r.u8();
    if (kind > static_cast<uint8_t>(FileKind::kPipeWrite)) return corrupt("description kind");
    d.kind = static_cast<FileKind>(kind);
    d.path = r.str();
    d.flags = r.i32();
    d.offset = r.i64();
    d.mount = r.i32();
    d.node = r.u32();
    d.pipe_id = r.i32();
    d.listed = r.u8() != 0;
    if (d.listed) {
      d.listing.resize(r.count(21));
      for (DirEntry& e : d.listing) {
        e.ino = r.u64();
        e.type = r.u8();
        e.name = r.str();
        e.index = r.i64();
      }
    }
    if (r.bad()) break;
  }
  std::vector<std::pair<int, uint32_t>> sfds(r.count(8));
  for (auto& [fd, d] : sfds) {
    fd = r.i32();
    d = r.u32();
  }
  if (r.bad() || !r.at_end()) return corrupt("truncated or trailing bytes");

  // Validate references before building anything.
  for (const SavedNode& n : snodes) {
    for (const auto& [name, idx] : n.children) {
      if (idx >= snodes.size() || name.empty() || name.find('/') != std::string::npos) {
        return corrupt("node child");
      }
    }
  }
  std::vector<bool> used_fd(kMaxFds, false);
  for (const auto& [fd, d] : sfds) {
    if (fd < 0 || fd >= kMaxFds || used_fd[fd] || d >= sdescs.size()) return corrupt("fd table");
    used_fd[fd] = true;
  }
  auto fd_name = [&](uint32_t desc) {
    for (const auto& [fd, d] : sfds) {
      if (d == desc) return "fd " + std::to_string(fd) + " (" + sdescs[desc].path + ")";
    }
    return sdescs[desc].path;
  };

  // MemNodes: roots of restored trees are the mounts' own root nodes (so
  // the MemDir sees the tree); their contents are replaced at commit.
  std::vector<std::shared_ptr<MemNode>> nodes(snodes.size());
  std::vector<int> node_mount(snodes.size(), -1);
  for (const SavedMount& sm : smounts) {
    if (sm.root == kByPath) continue;
    if (sm.root >= snodes.size() || nodes[sm.root] != nullptr ||
        snodes[sm.root].type != MemNode::Type::kDir) {
      return corrupt("mount root");
    }
    nodes[sm.root] = mounts_[sm.ours].mem->root();
  }
  // Each node belongs to the mount whose tree reaches it, and its file bytes
  // charge that MemDir's quota; an unlinked open file takes the first mount
  // with a quota (an instance's MemDirs share one).
  for (const SavedMount& sm : smounts) {
    if (sm.root == kByPath) continue;
    std::vector<uint32_t> pending{sm.root};
    while (!pending.empty()) {
      uint32_t i = pending.back();
      pending.pop_back();
      if (node_mount[i] >= 0) continue;
      node_mount[i] = sm.ours;
      for (const auto& [name, child] : snodes[i].children) pending.push_back(child);
    }
  }
  int quota_mount = -1;
  for (size_t m = 0; m < mounts_.size() && quota_mount < 0; ++m) {
    if (mounts_[m].mem != nullptr && mounts_[m].mem->quota() != nullptr) {
      quota_mount = static_cast<int>(m);
    }
  }
  for (size_t i = 0; i < snodes.size(); ++i) {
    if (nodes[i] != nullptr) continue;
    int m = node_mount[i] >= 0 ? node_mount[i] : quota_mount;
    nodes[i] = m >= 0 ? mounts_[m].mem->new_node(snodes[i].type, snodes[i].perms)
                      : std::make_shared<MemNode>(snodes[i].type, snodes[i].perms);
  }

  // Pipes.
  std::map<int, std::shared_ptr<Pipe>> pipes;
  for (auto& [id, bytes] : spipes) {
    if (bytes.size() > Pipe::kCapacityBytes) return corrupt("pipe size");
    auto p = std::make_shared<Pipe>();
    p->set_contents(std::move(bytes));
    pipes[id] = std::move(p);
  }

  // Descriptions. Failures leave this FileSystem untouched: what was opened
  // here is closed when `descs` goes away.
  std::vector<std::shared_ptr<OpenFile>> descs(sdescs.size());
  for (size_t i = 0; i < sdescs.size(); ++i) {
    SavedDesc& d = sdescs[i];
    std::shared_ptr<OpenFile> f;
    if (is_pipe_kind(d.kind)) {
      auto it = pipes.find(d.pipe_id);
      if (it == pipes.end()) return corrupt("pipe reference");
      f = std::make_shared<OpenFile>();
      f->kind = d.kind;
      f->pipe = it->second;
      f->pipe_id = d.pipe_id;
      if (d.kind == FileKind::kPipeRead) ++f->pipe->readers;
      if (d.kind == FileKind::kPipeWrite) ++f->pipe->writers;
    } else if (is_mem_kind(d.kind) && d.node != kByPath) {
      if (d.node >= nodes.size() || d.mount < 0 || static_cast<size_t>(d.mount) >= smounts.size()) {
        return corrupt("memdir reference of " + fd_name(static_cast<uint32_t>(i)));
      }
      const MountPoint& mp = mounts_[smounts[d.mount].ours];
      if ((d.kind == FileKind::kMemDir) != (snodes[d.node].type == MemNode::Type::kDir)) {
        return corrupt("memdir node type of " + fd_name(static_cast<uint32_t>(i)));
      }
      f = std::make_shared<OpenFile>();
      f->kind = d.kind;
      f->node = nodes[d.node];
      f->mount = smounts[d.mount].ours;
      f->memdir_id = mp.mem->id();
    } else if (d.kind == FileKind::kHostFile && d.mount >= 0 &&
               static_cast<size_t>(d.mount) < smounts.size()) {
      // Reopened on first use (FileSystem::file): a backend keeps many
      // relation files open and touches few of them per statement.
      f = std::make_shared<OpenFile>();
      f->kind = d.kind;
      f->mount = smounts[d.mount].ours;
      f->deferred = true;
    } else {
      int rc = reopen_saved(d.path, d.flags, d.kind, &f);
      if (rc < 0) {
        return Status::NotFound("restore " + fd_name(static_cast<uint32_t>(i)) +
                                ": cannot reopen (wasm errno " + std::to_string(-rc) + ")");
      }
      if (rc == kReopenedOtherKind) {
        return Status::NotFound("restore " + fd_name(static_cast<uint32_t>(i)) +
                                ": the path now names a different kind of file");
      }
    }
    f->path = d.path;
    f->flags = d.flags;
    f->offset = d.offset;
    f->listed = d.listed;
    f->listing = std::move(d.listing);
    descs[i] = std::move(f);
  }

  // The cwd must exist (in a restored MemDir tree it will).
  {
    Resolved res;
    Stat st;
    bool in_restored_tree = false;
    if (resolve_abs(cwd, true, &res) == 0 && res.kind == Resolved::Kind::kMem) {
      for (const SavedMount& sm : smounts)
        in_restored_tree |= sm.ours == res.mount && sm.root != kByPath;
    }
    if (!in_restored_tree &&
        (resolve_abs(cwd, true, &res) < 0 || stat_resolved(res, true, &st) < 0 ||
         (st.mode & abi::kS_IFMT) != abi::kS_IFDIR)) {
      return Status::NotFound("restore: cwd " + cwd + " is not a directory");
    }
  }

  // Commit: nothing below fails.
  for (size_t i = 0; i < snodes.size(); ++i) {
    SavedNode& s = snodes[i];
    MemNode& n = *nodes[i];
    n.perms = s.perms;
    n.nlink = s.nlink;
    n.atime = s.atime;
    n.mtime = s.mtime;
    n.ctime = s.ctime;
    n.children.clear();
    if (s.type == MemNode::Type::kFile) {
      // resize + memcpy: assigning from char iterators copies byte by byte.
      // The quota is charged whatever its limit: these bytes fit when saved.
      n.data.resize(s.bytes.size());
      if (!s.bytes.empty()) std::memcpy(n.data.data(), s.bytes.data(), s.bytes.size());
      if (n.quota != nullptr) n.quota->charge(static_cast<int64_t>(s.bytes.size()));
    } else if (s.type == MemNode::Type::kSymlink) {
      n.target = std::move(s.bytes);
    }
    for (auto& [name, idx] : s.children) n.children.emplace(std::move(name), nodes[idx]);
  }
  for (size_t fd = 0; fd < fds_.size(); ++fd) {
    if (fds_[fd] != nullptr) release(static_cast<int>(fd));
  }
  fds_.clear();
  for (const auto& [fd, d] : sfds) install(fd, descs[d]);
  cwd_ = std::move(cwd);
  umask_ = umask & 0777;
  next_pipe_id_ = std::max(next_pipe_id, pipes.empty() ? 0 : pipes.rbegin()->first + 1);
  return Status::Ok();
}

}  // namespace pgthaw::vfs
