// FileSystem construction, path resolution (the sandbox rule) and openat.
// Other path operations are in namespace_ops.cc, fd operations in fd_ops.cc.
#include "vfs/filesystem.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

#include "vfs/path.h"

namespace pgthaw::vfs {

namespace abi = wasm_abi;
namespace err = wasm_errno;

namespace {

constexpr int kMaxSymlinkHops = 40;
constexpr uint32_t kVirtualDev = 1;
constexpr uint32_t kDeviceDev = 5;

}  // namespace

FileSystem::FileSystem(FileSystemOptions options) : options_(std::move(options)) {
  created_at_ = now_timespec();
}

Result<std::unique_ptr<FileSystem>> FileSystem::create(FileSystemOptions options) {
  std::vector<Mount> mounts = std::move(options.mounts);
  options.mounts.clear();
  std::string cwd = options.cwd;
  std::unique_ptr<FileSystem> fs(new FileSystem(std::move(options)));
  for (Mount& m : mounts) {
    MountPoint mp;
    std::string prefix;
    if (auto* h = std::get_if<HostDirMount>(&m)) {
      prefix = h->virtual_prefix;
      mp.read_only = h->read_only;
      Result<std::unique_ptr<HostDir>> dir = HostDir::open(h->host_dir);
      if (!dir.ok()) return dir.status();
      mp.host = std::move(dir).value();
    } else if (auto* o = std::get_if<OverlayMount>(&m)) {
      prefix = o->virtual_prefix;
      Result<std::unique_ptr<OverlayDir>> dir =
          OverlayDir::open(o->lower_dirs, o->upper_dir, fs->options_.durable);
      if (!dir.ok()) return dir.status();
      mp.overlay = std::move(dir).value();
    } else {
      auto& mem = std::get<MemDirMount>(m);
      prefix = mem.virtual_prefix;
      mp.read_only = mem.read_only;
      mp.save_contents = mem.save_contents;
      if (mem.dir == nullptr)
        return Status::InvalidArgument("MemDirMount without a MemDir: " + prefix);
      mp.mem = mem.dir;
    }
    if (prefix.empty() || prefix[0] != '/') {
      return Status::InvalidArgument("mount prefix must be absolute: " + prefix);
    }
    mp.prefix = normalize_path("/", prefix);
    if (find_device(mp.prefix) != nullptr) {
      return Status::InvalidArgument("mount prefix shadows a device: " + mp.prefix);
    }
    for (const MountPoint& other : fs->mounts_) {
      if (other.prefix == mp.prefix)
        return Status::InvalidArgument("duplicate mount: " + mp.prefix);
    }
    fs->mounts_.push_back(std::move(mp));
  }
  for (DiskQuota& q : fs->options_.disk_quotas) {
    std::string prefix = normalize_path("/", q.virtual_prefix);
    auto found = std::find_if(fs->mounts_.begin(), fs->mounts_.end(),
                              [&](const MountPoint& mp) { return mp.prefix == prefix; });
    if (found == fs->mounts_.end() || found->mem != nullptr) {
      return Status::InvalidArgument("disk quota for no host or overlay mount: " + prefix);
    }
    found->quota = std::move(q);
  }
  fs->options_.disk_quotas.clear();
  auto add_ancestors = [&fs](std::string_view p) {
    while (p != "/") {
      p = split_last(p).first;
      fs->ancestor_dirs_.emplace(p);
    }
  };
  for (const MountPoint& mp : fs->mounts_) add_ancestors(mp.prefix);
  for (const DeviceInfo& d : all_devices()) add_ancestors(d.path);
  // Longest prefix first, so the first match is the longest.
  std::stable_sort(
      fs->mounts_.begin(), fs->mounts_.end(),
      [](const MountPoint& a, const MountPoint& b) { return a.prefix.size() > b.prefix.size(); });

  // fds 0, 1, 2.
  const Device stdio[] = {Device::kStdin, Device::kStdout, Device::kStderr};
  for (int fd = 0; fd < 3; ++fd) {
    auto f = std::make_shared<OpenFile>();
    f->kind = FileKind::kDevice;
    f->device = stdio[fd];
    f->path = std::string(device_info(stdio[fd]).path);
    f->flags = fd == 0 ? abi::kO_RDONLY : abi::kO_WRONLY;
    fs->install(fd, std::move(f));
  }
  if (int rc = fs->chdir(cwd); rc < 0) {
    return Status::InvalidArgument("cwd is not a directory in the virtual namespace: " + cwd);
  }
  return fs;
}

FileSystem::~FileSystem() {
  flush_stdio(Device::kStdout);
  flush_stdio(Device::kStderr);
}

// --- resolution ---------------------------------------------------------------

int FileSystem::resolve(int dirfd, std::string_view path, bool follow_last, Resolved* out) const {
  if (path.empty()) return -err::kENOENT;
  if (int rc = check_path_limits(path); rc < 0) return rc;
  std::string_view base = cwd_;
  if (path[0] != '/' && dirfd != abi::kAT_FDCWD) {
    const OpenFile* f = file(dirfd);
    if (f == nullptr) return -err::kEBADF;
    if (!f->is_dir()) return -err::kENOTDIR;
    base = f->path;
  }
  bool trailing_slash = path.back() == '/';
  int rc = resolve_abs(normalize_path(base, path), follow_last || trailing_slash, out);
  if (rc < 0) return rc;
  out->trailing_slash = trailing_slash;
  return 0;
}

int FileSystem::resolve_abs(std::string abs, bool follow_last, Resolved* out) const {
  for (int hops = 0;; ++hops) {
    if (const DeviceInfo* d = find_device(abs)) {
      *out = Resolved{};
      out->kind = Resolved::Kind::kDevice;
      out->device = d->device;
      out->path = std::move(abs);
      return 0;
    }
    int m = -1;
    for (size_t i = 0; i < mounts_.size(); ++i) {
      if (path_is_under(abs, mounts_[i].prefix)) {
        m = static_cast<int>(i);
        break;
      }
    }
    if (m < 0) {
      if (!is_virtual_dir(abs)) return -err::kENOENT;
      *out = Resolved{};
      out->kind = Resolved::Kind::kVirtualDir;
      out->path = std::move(abs);
      return 0;
    }
    const MountPoint& mp = mounts_[m];
    std::string_view rel = path_remainder(abs, mp.prefix);
    if (is_virtual_dir(abs) && !backend_has(mp, rel)) {
      // e.g. "/pglite" under a MemDir mounted at "/" that has no such dir.
      *out = Resolved{};
      out->kind = Resolved::Kind::kVirtualDir;
      out->path = std::move(abs);
      return 0;
    }
    if (mp.mem != nullptr) {
      size_t consumed = 0;
      std::string target;
      if (mp.mem->find_symlink(rel, follow_last, &consumed, &target) == 1) {
        // Restart the whole rule from the link's directory with its target.
        if (hops >= kMaxSymlinkHops) return -err::kELOOP;
        std::string link_path = join_path(mp.prefix, rel.substr(0, consumed));
        std::string link_dir(split_last(link_path).first);
        std::string rest(rel.substr(consumed));  // "" or "/..."
        abs = normalize_path(link_dir, target + rest);
        continue;
      }
    }
    *out = Resolved{};
    out->kind = mp.mem != nullptr ? Resolved::Kind::kMem : Resolved::Kind::kHost;
    out->mount = m;
    out->rel = std::string(rel);
    out->path = std::move(abs);
    return 0;
  }
}

bool FileSystem::backend_has(const MountPoint& mp, std::string_view rel) const {
  if (mp.mem != nullptr) {
    std::shared_ptr<MemNode> node;
    return mp.mem->lookup(rel, &node) == 0;
  }
  Stat st;
  return host_stat(mp, rel, &st) == 0;
}

void FileSystem::add_mount_children(std::string_view dir, std::vector<DirEntry>* entries) const {
  auto add = [&](std::string_view p, uint8_t leaf_type) {
    if (p == dir || !path_is_under(p, dir)) return;
    std::string_view rest = path_remainder(p, dir);
    size_t slash = rest.find('/');
    std::string_view name = rest.substr(0, slash);
    uint8_t type = slash == std::string_view::npos ? leaf_type : abi::kDT_DIR;
    for (const DirEntry& e : *entries) {
      if (e.name == name) return;
    }
    uint64_t ino = std::hash<std::string>{}(join_path(dir, name)) | (uint64_t{1} << 62);
    entries->push_back(DirEntry{ino, type, std::string(name), 0});
  };
  for (const MountPoint& mp : mounts_) add(mp.prefix, abi::kDT_DIR);
  for (const DeviceInfo& d : all_devices()) add(d.path, abi::kDT_CHR);
}

Stat FileSystem::virtual_dir_stat(std::string_view path) const {
  Stat st;
  st.dev = kVirtualDev;
  st.ino = std::hash<std::string_view>{}(path) | (uint64_t{1} << 62);
  st.mode = abi::kS_IFDIR | 0555;
  st.nlink = 2;
  st.size = 4096;
  st.blocks = 8;
  st.atime = st.mtime = st.ctime = created_at_;
  return st;
}

Stat FileSystem::device_stat(Device device) const {
  const DeviceInfo& d = device_info(device);
  Stat st;
  st.dev = kDeviceDev;
  st.ino = d.ino;
  st.mode = abi::kS_IFCHR | 0666;
  st.rdev = d.rdev;
  st.size = device == Device::kBlob ? static_cast<int64_t>(blob_input_.size()) : 0;
  st.atime = st.mtime = st.ctime = created_at_;
  return st;
}

int FileSystem::stat_resolved(const Resolved& r, bool follow_last, Stat* st) const {
  Stat s;
  switch (r.kind) {
    case Resolved::Kind::kDevice:
      s = device_stat(r.device);
      break;
    case Resolved::Kind::kVirtualDir:
      s = virtual_dir_stat(r.path);
      break;
    case Resolved::Kind::kMem: {
      std::shared_ptr<MemNode> node;
      if (int rc = mount(r).mem->lookup(r.rel, &node); rc < 0) return rc;
      s = node->stat(memdir_dev(mount(r).mem->id()));
      break;
    }
    case Resolved::Kind::kHost:
      if (int rc = host_stat(mount(r), r.rel, &s); rc < 0) return rc;
      // Host symlinks are never followed (sandbox rule).
      if (follow_last && (s.mode & abi::kS_IFMT) == abi::kS_IFLNK) return -err::kELOOP;
      break;
  }
  if (r.trailing_slash && (s.mode & abi::kS_IFMT) != abi::kS_IFDIR) return -err::kENOTDIR;
  *st = s;
  return 0;
}

int FileSystem::stat(int dirfd, std::string_view path, Stat* st, int flags) {
  if (path.empty() && (flags & abi::kAT_EMPTY_PATH)) {
    if (dirfd == abi::kAT_FDCWD) return stat(abi::kAT_FDCWD, cwd_, st, 0);
    return fstat(dirfd, st);
  }
  bool follow = !(flags & abi::kAT_SYMLINK_NOFOLLOW);
  Resolved r;
  if (int rc = resolve(dirfd, path, follow, &r); rc < 0) return rc;
  return stat_resolved(r, follow, st);
}

// --- openat -------------------------------------------------------------------

int FileSystem::openat(int dirfd, std::string_view path, int flags, uint32_t mode) {
  // EMFILE is checked before anything is created, as Linux does.
  if (lowest_free_fd(0) < 0) return -err::kEMFILE;
  std::shared_ptr<OpenFile> f;
  if (int rc = open_description(dirfd, path, flags, mode, &f); rc < 0) return rc;
  return install(lowest_free_fd(0), std::move(f));
}

int FileSystem::open_description(int dirfd, std::string_view path, int flags, uint32_t mode,
                                 std::shared_ptr<OpenFile>* out) {
  const bool create = flags & abi::kO_CREAT;
  const bool excl = create && (flags & abi::kO_EXCL);
  const int access = flags & abi::kO_ACCMODE;
  if (access == abi::kO_ACCMODE) return -err::kEINVAL;
  // O_CREAT|O_EXCL never follows a final symlink (POSIX).
  const bool follow = !(flags & abi::kO_NOFOLLOW) && !excl;
  Resolved r;
  if (int rc = resolve(dirfd, path, follow, &r); rc < 0) return rc;
  if (r.trailing_slash && create) return -err::kEISDIR;

  auto f = std::make_shared<OpenFile>();
  f->path = r.path;
  // What F_GETFL reports; the create-time bits are spent (as in Emscripten).
  f->flags = flags & ~(abi::kO_EXCL | abi::kO_TRUNC | abi::kO_NOFOLLOW);
  switch (r.kind) {
    case Resolved::Kind::kDevice:
      if (excl) return -err::kEEXIST;
      if (flags & abi::kO_DIRECTORY) return -err::kENOTDIR;
      f->kind = FileKind::kDevice;
      f->device = r.device;
      if (r.device == Device::kConnections) {
        if (access != abi::kO_RDONLY) return -err::kEACCES;
        if (connections_report_) f->report = connections_report_();
      }
      break;
    case Resolved::Kind::kVirtualDir:
      if (excl) return -err::kEEXIST;
      if (access != abi::kO_RDONLY || create) return -err::kEISDIR;
      f->kind = FileKind::kVirtualDir;
      break;
    case Resolved::Kind::kMem:
      if (int rc = open_mem(r, flags, mode, f.get()); rc < 0) return rc;
      break;
    case Resolved::Kind::kHost:
      if (int rc = open_host(r, flags, mode, f.get()); rc < 0) return rc;
      break;
  }
  *out = std::move(f);
  return 0;
}

int FileSystem::open_mem(const Resolved& r, int flags, uint32_t mode, OpenFile* f) {
  const MountPoint& mp = mount(r);
  const int access = flags & abi::kO_ACCMODE;
  std::shared_ptr<MemNode> node;
  int rc = mp.mem->lookup(r.rel, &node);
  if (rc == -err::kENOENT && (flags & abi::kO_CREAT)) {
    std::shared_ptr<MemNode> dir;
    std::string_view name;
    if (rc = mp.mem->lookup_parent(r.rel, &dir, &name); rc < 0) return rc;
    if (mp.read_only) return -err::kEROFS;
    node = mp.mem->new_node(MemNode::Type::kFile, mode & ~umask_ & 07777);
    dir->children.emplace(std::string(name), node);
    dir->touch_modified();
  } else if (rc < 0) {
    return rc;
  } else {
    if ((flags & abi::kO_CREAT) && (flags & abi::kO_EXCL)) return -err::kEEXIST;
    if (node->type == MemNode::Type::kSymlink) return -err::kELOOP;
    if (node->is_dir()) {
      if (access != abi::kO_RDONLY || (flags & abi::kO_CREAT)) return -err::kEISDIR;
    } else {
      if (flags & abi::kO_DIRECTORY) return -err::kENOTDIR;
      if (mp.read_only && (access != abi::kO_RDONLY || (flags & abi::kO_TRUNC))) {
        return -err::kEROFS;
      }
      if ((flags & abi::kO_TRUNC) && !node->data.empty()) {
        node->resize_data(0);
        node->touch_modified();
      }
    }
  }
  if (r.trailing_slash && !node->is_dir()) return -err::kENOTDIR;
  f->kind = node->is_dir() ? FileKind::kMemDir : FileKind::kMemFile;
  f->node = std::move(node);
  f->mount = r.mount;
  f->memdir_id = mp.mem->id();
  return 0;
}

int FileSystem::open_host(const Resolved& r, int flags, uint32_t mode, OpenFile* f) {
  const MountPoint& mp = mount(r);
  const int access = flags & abi::kO_ACCMODE;
  // O_NONBLOCK keeps a FIFO planted in a host directory from blocking us;
  // it changes nothing for regular files and directories.
  int host_flags = to_host_open_flags(flags, options_.durable) | O_NONBLOCK | O_NOCTTY;
  int fd;
  bool from_lower = false;
  std::shared_ptr<LayeredFile> layered;
  // What O_TRUNC frees of an existing (upper) file.
  int64_t truncated = (flags & abi::kO_TRUNC) && !mp.read_only
                          ? counted_file_bytes(r.mount, r.rel, /*last_link_only=*/false)
                          : 0;
  if (mp.overlay != nullptr) {
    // O_TRUNC of a lower file: copy up as an empty file, so every lower
    // description of it sees the truncation too.
    if (flags & abi::kO_TRUNC) {
      Stat st;
      if (mp.overlay->locate(r.rel, &st) == OverlayDir::kLower &&
          (st.mode & abi::kS_IFMT) == abi::kS_IFREG) {
        if (int rc = copy_up_path(r.mount, r.rel, 0); rc < 0) return rc;
      }
    }
    fd = mp.overlay->open(r.rel, host_flags, mode & ~umask_ & 07777, &from_lower, &layered);
  } else if (mp.read_only) {
    if (access != abi::kO_RDONLY || (flags & abi::kO_TRUNC)) return -err::kEROFS;
    fd = mp.host->open_file(r.rel, host_flags & ~(O_CREAT | O_EXCL), 0);
    if (fd == -err::kENOENT && (flags & abi::kO_CREAT)) return -err::kEROFS;
    if (fd >= 0 && (flags & abi::kO_CREAT) && (flags & abi::kO_EXCL)) {
      ::close(fd);
      return -err::kEEXIST;
    }
  } else {
    fd = mp.host->open_file(r.rel, host_flags, mode & ~umask_ & 07777);
  }
  if (fd < 0) return fd;
  release_disk(r.mount, truncated);
  struct stat s;
  if (::fstat(fd, &s) < 0) {
    int rc = neg_wasm_errno_from_host();
    ::close(fd);
    return rc;
  }
  bool is_dir = S_ISDIR(s.st_mode);
  int rc = 0;
  if (!is_dir && !S_ISREG(s.st_mode)) rc = -err::kEACCES;  // no host devices/FIFOs
  if (r.trailing_slash && !is_dir) rc = -err::kENOTDIR;
  if (rc < 0) {
    ::close(fd);
    return rc;
  }
  f->kind = is_dir ? FileKind::kHostDir : FileKind::kHostFile;
  f->host_fd = fd;
  f->lower = from_lower;
  f->layered = std::move(layered);
  f->mount = r.mount;
  return 0;
}

}  // namespace pgthaw::vfs
