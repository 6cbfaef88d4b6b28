// vfs::OpenFile: one open file description (what POSIX shares between an fd
// and its dup()s), and OpenFileInfo, its serialisable summary.
//
// Snapshot readiness: everything needed to re-open a description is plain
// data here (kind, virtual path, flags, offset, which MemDir); host fds and
// MemNode pointers are caches that a restore recreates by path. Nothing in
// this struct points into guest memory.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "vfs/device.h"
#include "vfs/layered_file.h"
#include "vfs/mem_dir.h"
#include "vfs/pipe.h"
#include "vfs/types.h"

namespace pgthaw::vfs {

enum class FileKind {
  kHostFile,
  kHostDir,
  kMemFile,
  kMemDir,
  kVirtualDir,  // a mount-point ancestor such as "/" or "/pglite"
  kDevice,
  kPipeRead,
  kPipeWrite,
};

struct OpenFile {
  OpenFile() = default;
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;
  ~OpenFile();  // closes host_fd, releases its pipe end

  FileKind kind = FileKind::kDevice;
  std::string path;  // normalised virtual path at open time ("pipe:[n]" for pipes)
  int flags = 0;     // guest open flags (wasm_abi::kO_*)
  // Byte offset; for directories the index of the next getdents entry.
  int64_t offset = 0;
  int mount = -1;  // index of the mount (host/mem kinds)
  uint64_t memdir_id = 0;

  // Caches, rebuilt from the above on restore.
  // A host file restore_state() has not reopened yet: its first use does
  // (FileSystem::file), so a thaw opens only the files the guest touches.
  bool deferred = false;
  int host_fd = -1;  // kHostFile, kHostDir
  // Overlay mounts: host_fd is the read-only lower file (or directory). The
  // first modification through this description copies the file up and
  // every lower description of it gets the upper file (overlay_ops.cc).
  bool lower = false;
  // A lower description whose name was removed or replaced: a modification
  // gives it a private anonymous copy instead.
  bool lower_unlinked = false;
  // Overlay files whose bytes span layers (a partial copy-up, layered_file.h):
  // reads, writes, truncation and syncs go through it, shared by every
  // description of the file; host_fd is still this description's fd of the
  // top copy (for fstat, fchmod, fallocate).
  std::shared_ptr<LayeredFile> layered;
  std::shared_ptr<MemNode> node;  // kMemFile, kMemDir
  Device device = Device::kNone;  // kDevice
  // /dev/pgthaw-connections: the report as it was when this description
  // was opened, so every read of one open sees one consistent text.
  std::string report;
  std::shared_ptr<Pipe> pipe;     // kPipeRead, kPipeWrite
  int pipe_id = -1;               // pipes: names the pipe (both ends)
  bool listed = false;            // directories: `listing` is valid
  std::vector<DirEntry> listing;  // directories: "." and ".." first

  bool is_dir() const {
    return kind == FileKind::kHostDir || kind == FileKind::kMemDir || kind == FileKind::kVirtualDir;
  }
};

// A summary of one fd (save_state() records more: see snapshot_state.cc).
struct OpenFileInfo {
  int fd = -1;
  FileKind kind = FileKind::kDevice;
  std::string path;
  int flags = 0;
  int64_t offset = 0;
  uint64_t memdir_id = 0;  // mem kinds: MemDir::id()
  int pipe_id = -1;        // pipes: equal for the two ends of one pipe
};

}  // namespace pgthaw::vfs
