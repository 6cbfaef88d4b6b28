// FileSystem operations on names: mkdir, unlink/rmdir, rename, link,
// symlink, readlink, access, chmod, chown, truncate, utimens, chdir.
// Each resolves its paths (filesystem.cc) and dispatches on the backend.
#include <sys/stat.h>

#include <cstdint>

#include "vfs/filesystem.h"
#include "vfs/path.h"

namespace pgthaw::vfs {

namespace abi = wasm_abi;
namespace err = wasm_errno;

namespace {

void apply_times(MemNode* node, const Timespec* times) {
  Timespec now = now_timespec();
  Timespec* fields[2] = {&node->atime, &node->mtime};
  for (int i = 0; i < 2; ++i) {
    if (times == nullptr || times[i].nsec == abi::kUTIME_NOW) {
      *fields[i] = now;
    } else if (times[i].nsec != abi::kUTIME_OMIT) {
      *fields[i] = times[i];
    }
  }
  node->ctime = now;
}

}  // namespace

int FileSystem::mkdirat(int dirfd, std::string_view path, uint32_t mode) {
  Resolved r;
  if (int rc = resolve(dirfd, path, false, &r); rc < 0) return rc;
  const uint32_t perms = mode & ~umask_ & 07777;
  switch (r.kind) {
    case Resolved::Kind::kDevice:
    case Resolved::Kind::kVirtualDir:
      return -err::kEEXIST;
    case Resolved::Kind::kMem: {
      const MountPoint& mp = mount(r);
      std::shared_ptr<MemNode> node;
      if (mp.mem->lookup(r.rel, &node) == 0) return -err::kEEXIST;
      std::shared_ptr<MemNode> dir;
      std::string_view name;
      if (int rc = mp.mem->lookup_parent(r.rel, &dir, &name); rc < 0) return rc;
      if (mp.read_only) return -err::kEROFS;
      dir->children.emplace(std::string(name),
                            std::make_shared<MemNode>(MemNode::Type::kDir, perms));
      dir->touch_modified();
      return 0;
    }
    case Resolved::Kind::kHost: {
      const MountPoint& mp = mount(r);
      if (mp.overlay != nullptr) return mp.overlay->mkdir(r.rel, perms);
      if (mp.read_only) {
        Stat st;
        return mp.host->stat(r.rel, &st) == 0 ? -err::kEEXIST : -err::kEROFS;
      }
      return mp.host->mkdir(r.rel, perms);
    }
  }
  return -err::kEINVAL;
}

int FileSystem::unlinkat(int dirfd, std::string_view path, int flags) {
  reopen_all_deferred();  // while their paths still name their files
  if (flags != 0 && flags != abi::kAT_REMOVEDIR) return -err::kEINVAL;
  const bool rmdir = flags == abi::kAT_REMOVEDIR;
  Resolved r;
  if (int rc = resolve(dirfd, path, false, &r); rc < 0) return rc;
  if (r.kind == Resolved::Kind::kDevice) return rmdir ? -err::kENOTDIR : -err::kEBUSY;
  // Mount points and their ancestors cannot go away.
  if (r.kind == Resolved::Kind::kVirtualDir || r.rel.empty()) {
    return rmdir ? -err::kEBUSY : -err::kEISDIR;
  }
  const MountPoint& mp = mount(r);
  if (r.kind == Resolved::Kind::kHost && mp.overlay != nullptr) {
    int64_t freed = rmdir ? 0 : counted_file_bytes(r.mount, r.rel, /*last_link_only=*/true);
    int rc = mp.overlay->unlink(r.rel, rmdir);
    if (rc == 0) detach_lower(r.mount, r.path);
    if (rc == 0) release_disk(r.mount, freed);
    return rc;
  }
  if (r.kind == Resolved::Kind::kHost) {
    if (mp.read_only) {
      Stat st;
      if (int rc = mp.host->stat(r.rel, &st); rc < 0) return rc;
      return -err::kEROFS;
    }
    int64_t freed = rmdir ? 0 : counted_file_bytes(r.mount, r.rel, /*last_link_only=*/true);
    int rc = mp.host->unlink(r.rel, rmdir);
    if (rc == 0) release_disk(r.mount, freed);
    return rc;
  }
  std::shared_ptr<MemNode> dir;
  std::string_view name;
  if (int rc = mp.mem->lookup_parent(r.rel, &dir, &name); rc < 0) return rc;
  auto it = dir->children.find(name);
  if (it == dir->children.end()) return -err::kENOENT;
  MemNode& node = *it->second;
  if (rmdir) {
    if (!node.is_dir()) return -err::kENOTDIR;
    if (!node.children.empty()) return -err::kENOTEMPTY;
  } else if (node.is_dir()) {
    return -err::kEISDIR;
  }
  if (mp.read_only) return -err::kEROFS;
  if (node.nlink > 0) --node.nlink;
  node.ctime = now_timespec();
  dir->children.erase(it);
  dir->touch_modified();
  return 0;
}

int FileSystem::renameat(int olddirfd, std::string_view oldpath, int newdirfd,
                         std::string_view newpath) {
  reopen_all_deferred();  // while their paths still name their files
  Resolved from, to;
  if (int rc = resolve(olddirfd, oldpath, false, &from); rc < 0) return rc;
  if (int rc = resolve(newdirfd, newpath, false, &to); rc < 0) return rc;
  auto fixed = [](const Resolved& r) {
    return r.kind == Resolved::Kind::kDevice || r.kind == Resolved::Kind::kVirtualDir ||
           r.rel.empty();
  };
  if (fixed(from) || fixed(to)) return -err::kEBUSY;
  if (from.mount != to.mount) return -err::kEXDEV;
  const MountPoint& mp = mount(from);
  if (mp.read_only) return -err::kEROFS;
  if (from.kind == Resolved::Kind::kHost && mp.overlay != nullptr) {
    // A lower file is copied up, then renamed in upper (directories with
    // lower contents are EXDEV, see overlay_dir.h).
    Stat st;
    if (mp.overlay->locate(from.rel, &st) == OverlayDir::kLower &&
        (st.mode & abi::kS_IFMT) != abi::kS_IFDIR) {
      if (int rc = copy_up_path(from.mount, from.rel, INT64_MAX); rc < 0) return rc;
    }
    // A file renamed over is gone (WAL segments are recycled this way).
    int64_t freed = to.path == from.path ? 0 : counted_file_bytes(to.mount, to.rel, true);
    int rc = mp.overlay->rename(from.rel, to.rel);
    if (rc == 0) detach_lower(to.mount, to.path);
    if (rc == 0) release_disk(to.mount, freed);
    return rc;
  }
  if (from.kind == Resolved::Kind::kHost) {
    int64_t freed = to.path == from.path ? 0 : counted_file_bytes(to.mount, to.rel, true);
    int rc = mp.host->rename(from.rel, to.rel);
    if (rc == 0) release_disk(to.mount, freed);
    return rc;
  }

  std::shared_ptr<MemNode> odir, ndir;
  std::string_view oname, nname;
  if (int rc = mp.mem->lookup_parent(from.rel, &odir, &oname); rc < 0) return rc;
  auto oit = odir->children.find(oname);
  if (oit == odir->children.end()) return -err::kENOENT;
  if (int rc = mp.mem->lookup_parent(to.rel, &ndir, &nname); rc < 0) return rc;
  std::shared_ptr<MemNode> node = oit->second;
  if (node->is_dir() && to.path != from.path && path_is_under(to.path, from.path)) {
    return -err::kEINVAL;  // into its own subtree
  }
  auto nit = ndir->children.find(nname);
  if (nit != ndir->children.end()) {
    MemNode& existing = *nit->second;
    if (nit->second == node) return 0;
    if (node->is_dir()) {
      if (!existing.is_dir()) return -err::kENOTDIR;
      if (!existing.children.empty()) return -err::kENOTEMPTY;
    } else if (existing.is_dir()) {
      return -err::kEISDIR;
    }
    if (existing.nlink > 0) --existing.nlink;
    nit->second = node;
  } else {
    ndir->children.emplace(std::string(nname), node);
  }
  odir->children.erase(oit);
  odir->touch_modified();
  ndir->touch_modified();
  node->ctime = now_timespec();
  return 0;
}

int FileSystem::linkat(int olddirfd, std::string_view oldpath, int newdirfd,
                       std::string_view newpath, int flags) {
  if (flags & ~(abi::kAT_SYMLINK_FOLLOW | abi::kAT_EMPTY_PATH)) return -err::kEINVAL;
  Resolved from, to;
  if (int rc = resolve(olddirfd, oldpath, flags & abi::kAT_SYMLINK_FOLLOW, &from); rc < 0) {
    return rc;
  }
  if (int rc = resolve(newdirfd, newpath, false, &to); rc < 0) return rc;
  if (to.kind == Resolved::Kind::kDevice || to.kind == Resolved::Kind::kVirtualDir ||
      to.rel.empty()) {
    return -err::kEEXIST;
  }
  if (from.kind == Resolved::Kind::kDevice || from.kind == Resolved::Kind::kVirtualDir) {
    return -err::kEPERM;
  }
  if (from.mount != to.mount) return -err::kEXDEV;
  const MountPoint& mp = mount(from);
  if (mp.read_only) return -err::kEROFS;
  if (from.kind == Resolved::Kind::kHost && mp.overlay != nullptr) {
    Stat st;
    if (int rc = mp.overlay->stat(to.rel, &st); rc == 0) return -err::kEEXIST;
    if (mp.overlay->locate(from.rel, &st) == OverlayDir::kLower &&
        (st.mode & abi::kS_IFMT) == abi::kS_IFREG) {
      if (int rc = copy_up_path(from.mount, from.rel, INT64_MAX); rc < 0) return rc;
    }
    return mp.overlay->link(from.rel, to.rel);
  }
  if (from.kind == Resolved::Kind::kHost) return mp.host->link(from.rel, to.rel);

  std::shared_ptr<MemNode> node, dir;
  std::string_view name;
  if (int rc = mp.mem->lookup(from.rel, &node); rc < 0) return rc;
  if (node->is_dir()) return -err::kEPERM;
  if (int rc = mp.mem->lookup_parent(to.rel, &dir, &name); rc < 0) return rc;
  if (!dir->children.emplace(std::string(name), node).second) return -err::kEEXIST;
  ++node->nlink;
  node->ctime = now_timespec();
  dir->touch_modified();
  return 0;
}

int FileSystem::symlinkat(std::string_view target, int newdirfd, std::string_view linkpath) {
  if (target.empty()) return -err::kENOENT;
  Resolved r;
  if (int rc = resolve(newdirfd, linkpath, false, &r); rc < 0) return rc;
  switch (r.kind) {
    case Resolved::Kind::kDevice:
    case Resolved::Kind::kVirtualDir:
      return -err::kEEXIST;
    case Resolved::Kind::kHost:
      return -err::kEPERM;  // sandbox rule: no symlinks in host directories
    case Resolved::Kind::kMem:
      break;
  }
  const MountPoint& mp = mount(r);
  std::shared_ptr<MemNode> dir;
  std::string_view name;
  if (int rc = mp.mem->lookup_parent(r.rel, &dir, &name); rc < 0) {
    return rc == -err::kEBUSY ? -err::kEEXIST : rc;
  }
  if (dir->children.count(name) > 0) return -err::kEEXIST;
  if (mp.read_only) return -err::kEROFS;
  auto node = std::make_shared<MemNode>(MemNode::Type::kSymlink, 0777);
  node->target = std::string(target);
  dir->children.emplace(std::string(name), std::move(node));
  dir->touch_modified();
  return 0;
}

int FileSystem::readlinkat(int dirfd, std::string_view path, std::string* target) {
  Resolved r;
  if (int rc = resolve(dirfd, path, false, &r); rc < 0) return rc;
  std::string out;
  switch (r.kind) {
    case Resolved::Kind::kDevice:
    case Resolved::Kind::kVirtualDir:
      return -err::kEINVAL;
    case Resolved::Kind::kHost:
      if (int rc = mount(r).overlay != nullptr ? mount(r).overlay->readlink(r.rel, &out)
                                               : mount(r).host->readlink(r.rel, &out);
          rc < 0) {
        return rc;
      }
      break;
    case Resolved::Kind::kMem: {
      std::shared_ptr<MemNode> node;
      if (int rc = mount(r).mem->lookup(r.rel, &node); rc < 0) return rc;
      if (node->type != MemNode::Type::kSymlink) return -err::kEINVAL;
      out = node->target;
      break;
    }
  }
  *target = std::move(out);
  return static_cast<int>(target->size());
}

int FileSystem::faccessat(int dirfd, std::string_view path, int mode, int flags) {
  if (mode & ~(abi::kR_OK | abi::kW_OK | abi::kX_OK)) return -err::kEINVAL;
  const bool follow = !(flags & abi::kAT_SYMLINK_NOFOLLOW);
  Resolved r;
  if (int rc = resolve(dirfd, path, follow, &r); rc < 0) return rc;
  Stat st;
  if (int rc = stat_resolved(r, follow, &st); rc < 0) return rc;
  if (mode == abi::kF_OK) return 0;
  if (mode & abi::kW_OK) {
    bool read_only =
        r.kind == Resolved::Kind::kVirtualDir ||
        ((r.kind == Resolved::Kind::kHost || r.kind == Resolved::Kind::kMem) && mount(r).read_only);
    if (read_only || !(st.mode & 0222)) return -err::kEACCES;
  }
  if ((mode & abi::kR_OK) && !(st.mode & 0444)) return -err::kEACCES;
  if ((mode & abi::kX_OK) && !(st.mode & 0111)) return -err::kEACCES;
  return 0;
}

int FileSystem::fchmodat(int dirfd, std::string_view path, uint32_t mode, int flags) {
  const bool follow = !(flags & abi::kAT_SYMLINK_NOFOLLOW);
  Resolved r;
  if (int rc = resolve(dirfd, path, follow, &r); rc < 0) return rc;
  switch (r.kind) {
    case Resolved::Kind::kDevice:
      return 0;
    case Resolved::Kind::kVirtualDir:
      return -err::kEROFS;
    case Resolved::Kind::kHost:
      if (mount(r).read_only) return -err::kEROFS;
      if (mount(r).overlay != nullptr) {
        if (int rc = copy_up_path(r.mount, r.rel, INT64_MAX); rc < 0) return rc;
        return mount(r).overlay->upper().chmod(r.rel, mode);
      }
      return mount(r).host->chmod(r.rel, mode);
    case Resolved::Kind::kMem: {
      std::shared_ptr<MemNode> node;
      if (int rc = mount(r).mem->lookup(r.rel, &node); rc < 0) return rc;
      if (mount(r).read_only) return -err::kEROFS;
      node->perms = mode & 07777;
      node->ctime = now_timespec();
      return 0;
    }
  }
  return -err::kEINVAL;
}

int FileSystem::fchownat(int dirfd, std::string_view path, int flags) {
  const bool follow = !(flags & abi::kAT_SYMLINK_NOFOLLOW);
  Resolved r;
  if (int rc = resolve(dirfd, path, follow, &r); rc < 0) return rc;
  Stat st;
  return stat_resolved(r, follow, &st);
}

int FileSystem::truncate_counted(const Resolved& r, int64_t length,
                                 const std::function<int()>& do_truncate) {
  int64_t size = counted_file_bytes(r.mount, r.rel, /*last_link_only=*/false);
  int64_t charged = 0;
  if (int rc = charge_path_growth(r.mount, r.rel, size, length, &charged); rc < 0) return rc;
  int rc = do_truncate();
  if (rc < 0) {
    release_disk(r.mount, charged);
  } else if (length < size) {
    release_disk(r.mount, size - length);
  }
  return rc;
}

int FileSystem::truncate(int dirfd, std::string_view path, int64_t length) {
  if (length < 0) return -err::kEINVAL;
  Resolved r;
  if (int rc = resolve(dirfd, path, true, &r); rc < 0) return rc;
  switch (r.kind) {
    case Resolved::Kind::kDevice:
      return -err::kEINVAL;
    case Resolved::Kind::kVirtualDir:
      return -err::kEISDIR;
    case Resolved::Kind::kHost:
      if (mount(r).read_only) return -err::kEROFS;
      if (mount(r).overlay != nullptr) {
        Stat st;
        if (int rc = mount(r).overlay->stat(r.rel, &st); rc < 0) return rc;
        if ((st.mode & abi::kS_IFMT) == abi::kS_IFDIR) return -err::kEISDIR;
        if (int rc = copy_up_path(r.mount, r.rel, length); rc < 0) return rc;
        return truncate_counted(r, length,
                                [&] { return mount(r).overlay->truncate(r.rel, length); });
      }
      return truncate_counted(r, length, [&] { return mount(r).host->truncate(r.rel, length); });
    case Resolved::Kind::kMem: {
      std::shared_ptr<MemNode> node;
      if (int rc = mount(r).mem->lookup(r.rel, &node); rc < 0) return rc;
      if (node->is_dir()) return -err::kEISDIR;
      if (mount(r).read_only) return -err::kEROFS;
      if (length > kMaxMemFileBytes) return -err::kEFBIG;
      if (int rc = node->resize_data(static_cast<size_t>(length)); rc < 0) return rc;
      node->touch_modified();
      return 0;
    }
  }
  return -err::kEINVAL;
}

int FileSystem::utimensat(int dirfd, std::string_view path, const Timespec* times, int flags) {
  if (path.empty() && (flags & abi::kAT_EMPTY_PATH) && dirfd != abi::kAT_FDCWD) {
    OpenFile* f = file(dirfd);
    if (f == nullptr) return -err::kEBADF;
    if (f->host_fd >= 0) {
      if (mounts_[f->mount].read_only) return -err::kEROFS;
      if (int rc = make_writable(*f); rc < 0) return rc;
      return HostDir::futimens(f->host_fd, times);
    }
    if (f->node != nullptr) {
      if (mounts_[f->mount].read_only) return -err::kEROFS;
      apply_times(f->node.get(), times);
    }
    return 0;
  }
  if (path.empty() && (flags & abi::kAT_EMPTY_PATH)) path = cwd_;
  Resolved r;
  if (int rc = resolve(dirfd, path, !(flags & abi::kAT_SYMLINK_NOFOLLOW), &r); rc < 0) return rc;
  switch (r.kind) {
    case Resolved::Kind::kDevice:
    case Resolved::Kind::kVirtualDir:
      return 0;
    case Resolved::Kind::kHost:
      if (mount(r).read_only) return -err::kEROFS;
      if (mount(r).overlay != nullptr) {
        if (int rc = copy_up_path(r.mount, r.rel, INT64_MAX); rc < 0) return rc;
        return mount(r).overlay->upper().utimens(r.rel, times);
      }
      return mount(r).host->utimens(r.rel, times);
    case Resolved::Kind::kMem: {
      std::shared_ptr<MemNode> node;
      if (int rc = mount(r).mem->lookup(r.rel, &node); rc < 0) return rc;
      if (mount(r).read_only) return -err::kEROFS;
      apply_times(node.get(), times);
      return 0;
    }
  }
  return -err::kEINVAL;
}

int FileSystem::chdir(std::string_view path) {
  Resolved r;
  if (int rc = resolve(abi::kAT_FDCWD, path, true, &r); rc < 0) return rc;
  Stat st;
  if (int rc = stat_resolved(r, true, &st); rc < 0) return rc;
  if ((st.mode & abi::kS_IFMT) != abi::kS_IFDIR) return -err::kENOTDIR;
  cwd_ = r.path;
  return 0;
}

int FileSystem::fchdir(int fd) {
  const OpenFile* f = file(fd);
  if (f == nullptr) return -err::kEBADF;
  if (!f->is_dir()) return -err::kENOTDIR;
  cwd_ = f->path;
  return 0;
}

uint32_t FileSystem::umask(uint32_t mask) {
  uint32_t old = umask_;
  umask_ = mask & 0777;
  return old;
}

}  // namespace pgthaw::vfs
