// FileSystem glue for overlay mounts (overlay_dir.h): copy-up on the first
// modification, and moving the open descriptions of a copied-up file to the
// upper copy.
//
// A lower description holds a read-only host fd of the template file. When a
// modification comes (through it, or through a path naming the same file),
// the file is copied up once and EVERY lower description of that path gets a
// host fd of the upper copy: dups share the description, so they follow; a
// separate open of the same file follows too, so no reader keeps seeing the
// template's stale bytes.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "vfs/filesystem.h"
#include "vfs/path.h"

namespace pgthaw::vfs {

namespace abi = wasm_abi;
namespace err = wasm_errno;

int FileSystem::copy_up_path(int m, std::string_view rel, int64_t max_bytes) {
  const MountPoint& mp = mounts_[m];
  Stat st;
  if (mp.overlay->locate(rel, &st) != OverlayDir::kLower) return 0;
  // The copy is the tenant's: it counts against the mount's disk quota.
  int64_t copied = (st.mode & abi::kS_IFMT) == abi::kS_IFREG ? std::min(st.size, max_bytes) : 0;
  int64_t charged = 0;
  if (int rc = charge_path_growth(m, rel, 0, copied, &charged); rc < 0) return rc;
  if (int rc = mp.overlay->copy_up(rel, max_bytes); rc < 0) {
    release_disk(m, charged);
    return rc;
  }
  const std::string path = rel.empty() ? mp.prefix : join_path(mp.prefix, rel);
  for (const std::shared_ptr<OpenFile>& f : fds_) {
    // A description with several fds is seen several times; after the first
    // swap it is no longer lower.
    if (f == nullptr || !f->lower || f->lower_unlinked || f->mount != m || f->path != path) {
      continue;
    }
    if (int rc = reopen_upper(*f, rel); rc < 0) return rc;
  }
  return 0;
}

int FileSystem::reopen_upper(OpenFile& f, std::string_view rel) {
  const MountPoint& mp = mounts_[f.mount];
  int host_flags =
      f.kind == FileKind::kHostDir
          ? O_RDONLY | O_DIRECTORY
          : to_host_open_flags(f.flags & ~(abi::kO_CREAT | abi::kO_EXCL | abi::kO_TRUNC),
                               options_.durable) |
                O_NONBLOCK | O_NOCTTY;
  int fd = mp.overlay->upper().open_file(rel, host_flags, 0);
  if (fd < 0) return fd;
  std::shared_ptr<LayeredFile> layered;
  if (f.kind == FileKind::kHostFile) {
    if (int rc = mp.overlay->partial_upper(rel, &layered); rc < 0) {
      ::close(fd);
      return rc;
    }
  }
  ::close(f.host_fd);
  f.host_fd = fd;
  f.layered = std::move(layered);
  f.lower = false;
  return 0;
}

int FileSystem::make_writable(OpenFile& f) {
  if (!f.lower) return 0;
  const MountPoint& mp = mounts_[f.mount];
  if (f.lower_unlinked) {
    // The name is gone or names another file now: give this description a
    // private copy, as if it had been copied up before the unlink.
    if (f.kind != FileKind::kHostFile) return -err::kENOENT;
    int fd = mp.overlay->copy_to_anonymous(f.host_fd, f.layered.get());
    if (fd < 0) return fd;
    ::close(f.host_fd);
    f.host_fd = fd;
    f.layered.reset();
    f.lower = false;
    return 0;
  }
  std::string_view rel = path_remainder(f.path, mp.prefix);
  if (int rc = copy_up_path(f.mount, rel, INT64_MAX); rc < 0) return rc;
  return f.lower ? reopen_upper(f, rel) : 0;
}

void FileSystem::detach_lower(int m, std::string_view path) {
  for (const std::shared_ptr<OpenFile>& f : fds_) {
    if (f != nullptr && f->lower && f->mount == m && f->path == path) f->lower_unlinked = true;
  }
}

int FileSystem::sync_lower_dir(const OpenFile& f) const {
  const MountPoint& mp = mounts_[f.mount];
  return mp.overlay->sync_dir(path_remainder(f.path, mp.prefix));
}

}  // namespace pgthaw::vfs
