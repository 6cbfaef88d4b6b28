// vfs::FileSystem: the virtual POSIX namespace and fd table of one wasm
// instance. The host layer's Emscripten syscall imports translate guest
// pointers and call it.
//
// SANDBOX RULE. A guest path is made absolute (against the cwd, or the path
// of `dirfd`'s directory) and normalised lexically: ".", ".." and repeated
// '/' are removed, and ".." at "/" stays at "/". The result is matched to the
// longest mount prefix; a path under no mount (and not a built-in device or
// an ancestor directory of a mount) is ENOENT. A host-directory mount then
// uses `host_dir + "/" + remainder`, where the remainder has no "." or ".."
// components, so no guest path names anything outside the mounted host
// directories. Symlinks are never followed in host directories: lookups use
// openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) relative to the mount root
// (per-component O_NOFOLLOW if openat2 is missing), and symlinkat() there
// returns EPERM. Symlinks exist only in MemDir mounts; following one restarts
// the rule above with the link's target, so it cannot escape either.
// Writes under read-only mounts give EROFS; rename/link across mounts EXDEV.
// Overlay mounts apply the same rule to both layers (overlay_dir.h).
//
// NUMBERS. Every number crossing this API is in the guest's wasm32
// Emscripten numbering: open flags, *at flags, whence, fcntl commands
// (wasm_abi.h) and errno values (wasm_errno.h). Operations return a
// non-negative result or a negative wasm errno (-44 for ENOENT), like the
// Emscripten __syscall_* imports, so the host can hand them straight back.
// Setup (create) returns Status.
//
// FDS. fds 0, 1, 2 are open at construction on /dev/stdin, /dev/stdout,
// /dev/stderr. New fds are the lowest free ones, below kMaxFds (4096), else
// EMFILE. dup() shares the open file description (one host fd, one offset);
// it copies one pointer, so Postgres' 1,000 dups per start are cheap. Host
// files are read and written with pread/pwrite at offsets kept here.
//
// OWNERSHIP AND THREADS. Owned by the host layer, one per wasm instance. Not
// thread-safe: one caller at a time (MemDirs shared with another FileSystem
// are included in that rule; see mem_dir.h). Nothing blocks: reads of empty
// pipes return EAGAIN (pipe.h), poll() answers immediately.
//
// CONTRACTS. Path arguments are only read during the call. Out-parameters
// (Stat*, vectors, strings) are written only on success. A failed openat()
// leaves the fd table unchanged and creates nothing unless the error came
// after O_CREAT had created the file (only EMFILE is checked before, so that
// cannot happen for it).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "vfs/mount.h"
#include "vfs/open_file.h"
#include "vfs/types.h"
#include "vfs/wasm_abi.h"
#include "vfs/wasm_errno.h"

namespace pgthaw::vfs {

struct FileSystemOptions {
  std::vector<Mount> mounts;  // prefixes must differ; "/" is allowed
  // fsync/fdatasync reach the host disk (and O_DSYNC is passed on) only when
  // true; otherwise they return 0 without a syscall.
  bool durable = false;
  std::string cwd = "/";  // must be an existing directory
  // Receives complete lines (without '\n') written to the stdout (fd == 1)
  // and stderr (fd == 2) devices; partial lines are flushed when the last
  // description of that device closes and at destruction. May be empty.
  std::function<void(int fd, std::string_view line)> stdio_sink;
  // Disk quotas of host or overlay mounts (mount.h), by mount prefix.
  std::vector<DiskQuota> disk_quotas;
};

class FileSystem {
 public:
  static constexpr int kMaxFds = 4096;

  // Opens the host-directory mounts. Fails if a mount is malformed, a host
  // directory cannot be opened or the cwd is not a directory.
  static Result<std::unique_ptr<FileSystem>> create(FileSystemOptions options);
  ~FileSystem();  // flushes partial stdout/stderr lines
  FileSystem(const FileSystem&) = delete;
  FileSystem& operator=(const FileSystem&) = delete;

  // --- opening and closing ------------------------------------------------
  // The lowest free fd. O_CREAT applies the umask to `mode`; O_DIRECTORY
  // requires a directory (read with getdents).
  int openat(int dirfd, std::string_view path, int flags, uint32_t mode);
  int close(int fd);
  int dup(int fd);
  // EINVAL if oldfd == newfd or flags other than O_CLOEXEC; closes newfd
  // first if it is open.
  int dup3(int oldfd, int newfd, int flags);
  // Writes [read_fd, write_fd]. flags: O_NONBLOCK, O_CLOEXEC.
  int pipe2(int flags, std::array<int, 2>* fds);

  // --- data -----------------------------------------------------------------
  int64_t read(int fd, void* buf, size_t len);
  int64_t write(int fd, const void* buf, size_t len);
  int64_t pread(int fd, void* buf, size_t len, int64_t offset);
  int64_t pwrite(int fd, const void* buf, size_t len, int64_t offset);
  // New offset. ESPIPE for pipes and devices other than /dev/blob. For
  // directories the offset is an entry index (0 rewinds; the host converts
  // from the guest's byte positions).
  int64_t seek(int fd, int64_t offset, int whence);
  int ftruncate(int fd, int64_t length);
  // mode must be 0; makes the file at least offset + length bytes long.
  int fallocate(int fd, int mode, int64_t offset, int64_t length);
  // 0, or ESPIPE for pipes (advice is ignored).
  int fadvise(int fd);
  // Real fsync/fdatasync of host files when options.durable; else 0.
  int fsync(int fd);
  int fdatasync(int fd);

  // --- metadata -------------------------------------------------------------
  int fstat(int fd, Stat* st);
  // flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH (empty path = dirfd itself).
  int stat(int dirfd, std::string_view path, Stat* st, int flags);
  // mode: F_OK or R_OK|W_OK|X_OK, judged on the permission bits (the guest
  // is uid 0 but Emscripten checks bits anyway). W_OK on a read-only mount
  // is EACCES.
  int faccessat(int dirfd, std::string_view path, int mode, int flags);
  int fchmodat(int dirfd, std::string_view path, uint32_t mode, int flags);
  int fchmod(int fd, uint32_t mode);
  // Owners are not modelled: 0 if the path / fd exists.
  int fchownat(int dirfd, std::string_view path, int flags);
  int fchown(int fd);
  int truncate(int dirfd, std::string_view path, int64_t length);
  // times: {atime, mtime} or null for now; nsec may be UTIME_NOW/UTIME_OMIT.
  // flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH.
  int utimensat(int dirfd, std::string_view path, const Timespec* times, int flags);
  // WASI filetype (2 char device, 3 directory, 4 regular file and pipes,
  // 7 symlink) or -EBADF. A table lookup: called 11,000 times on stdin.
  int fdstat_filetype(int fd) const;
  // 1 for the stdio devices (ttys to musl), 0 otherwise, or -EBADF.
  int isatty(int fd) const;

  // --- namespace ------------------------------------------------------------
  int mkdirat(int dirfd, std::string_view path, uint32_t mode);
  // flags: 0 (file) or AT_REMOVEDIR; anything else EINVAL.
  int unlinkat(int dirfd, std::string_view path, int flags);
  int renameat(int olddirfd, std::string_view oldpath, int newdirfd, std::string_view newpath);
  int linkat(int olddirfd, std::string_view oldpath, int newdirfd, std::string_view newpath,
             int flags);
  // EPERM except in MemDir mounts.
  int symlinkat(std::string_view target, int newdirfd, std::string_view linkpath);
  // The link's target (the host copies at most bufsize bytes, unterminated);
  // EINVAL for anything but a symlink.
  int readlinkat(int dirfd, std::string_view path, std::string* target);
  // Entries from the directory's current position, at most max_entries;
  // "." and ".." come first. Empty at the end.
  int getdents(int fd, size_t max_entries, std::vector<DirEntry>* out);

  // --- process state ----------------------------------------------------------
  const std::string& getcwd() const { return cwd_; }
  int chdir(std::string_view path);
  int fchdir(int fd);
  // Sets the umask and returns the old one (starts at 022).
  uint32_t umask(uint32_t mask);
  // F_DUPFD (lowest fd >= arg), F_DUPFD_CLOEXEC, F_GETFD/F_SETFD (0),
  // F_GETFL, F_SETFL (only O_APPEND and O_NONBLOCK change), F_SETLK/F_SETLKW
  // (0, no locking). F_GETLK returns 0 and means "unlocked": the host writes
  // l_type = F_UNLCK (wasm_abi::kF_UNLCK, 2) into the guest's struct flock.
  // Anything else EINVAL.
  int fcntl(int fd, int cmd, int arg);
  // Current readiness, ignoring any timeout: pipes are readable when they
  // hold data or have no writer left, writable when they have room; files
  // and devices are always ready; bad fds get POLLNVAL. Returns the number
  // of entries with non-zero revents.
  int poll(std::span<PollFd> fds);

  // --- /dev/blob ------------------------------------------------------------
  // Reads of /dev/blob serve `bytes` from each description's position.
  void set_blob_input(std::string bytes);
  // Everything written to /dev/blob since the last call.
  std::string take_blob_output();

  // --- /dev/pgthaw-connections ------------------------------------------------
  // Opening /dev/pgthaw-connections (read-only; EACCES for writing) calls
  // `report` once and serves its text, seekably, to that description; with
  // no report set the file is empty. The server sets it around each
  // exchange (engine::ExecOptions::connections_report). Not snapshotted.
  void set_connections_report(std::function<std::string()> report) {
    connections_report_ = std::move(report);
  }

  // --- snapshots (snapshot_state.cc) ----------------------------------------
  // The fd table and process state as a versioned binary blob: every fd
  // (number, kind, virtual path, flags, offset, directory listing and
  // position) with shared descriptions shared, cwd, umask, pipes with their
  // buffered bytes, the whole tree of every MemDir mount with save_contents,
  // and the bytes of open MemDir files that no longer have a name. Host files
  // are recorded by path; fails if an open host file no longer has its path
  // (unlinked or renamed), since restore re-opens by path. Not recorded:
  // /dev/blob state and partial stdout/stderr lines.
  Result<std::string> save_state() const;
  // On a freshly created FileSystem whose mounts have the saved prefixes
  // (the host directories may differ): re-opens every description at its
  // path with its flags (O_CREAT/O_TRUNC/O_EXCL have no effect), restores
  // offsets, listings, sharing, pipes, MemDir contents, cwd and umask. Host
  // files are reopened on first use, not here (a thaw opens only what the
  // guest touches); one whose file is gone by then fails every use with
  // EBADF. Fails with a Status naming the fd and path if a directory is
  // gone; then nothing has changed and the caller falls back to booting
  // from files.
  Status restore_state(std::string_view state);

  // A host file or directory (outside the mounts) whose fsync is owed
  // before anything this file system makes durable: paid before the next
  // fsync or fdatasync of any file, and by save_state(). For a change that
  // must be durable before the guest's first durable write but need not hold
  // up what comes before it (a thaw's removal of the snapshot it consumed, a
  // new tenant's directory). Nothing when the file system is not durable.
  void owe_host_sync(std::string host_path);

  // --- introspection (tests, debugging) --------------------------------------
  std::vector<OpenFileInfo> describe_open_files() const;
  int open_fd_count() const;
  // Bytes held by the files of the MemDir mounts (each quota counted once;
  // MemDirs without a quota are not counted).
  int64_t memdir_bytes() const;
  uint32_t current_umask() const { return umask_; }

 private:
  // Where a normalised virtual path leads.
  struct Resolved {
    enum class Kind { kHost, kMem, kDevice, kVirtualDir };
    Kind kind = Kind::kVirtualDir;
    std::string path;  // normalised, symlinks in MemDirs expanded
    int mount = -1;
    std::string rel;  // below the mount, no leading '/'
    Device device = Device::kNone;
    bool trailing_slash = false;  // the guest path ended in '/': must be a dir
  };

  explicit FileSystem(FileSystemOptions options);

  // Path resolution (filesystem.cc).
  int resolve(int dirfd, std::string_view path, bool follow_last, Resolved* out) const;
  int resolve_abs(std::string abs, bool follow_last, Resolved* out) const;
  bool is_virtual_dir(std::string_view abs) const { return ancestor_dirs_.count(abs) > 0; }
  // For an ancestor directory inside a mount: does the backend have it?
  bool backend_has(const MountPoint& mp, std::string_view rel) const;
  void add_mount_children(std::string_view dir, std::vector<DirEntry>* entries) const;
  int stat_resolved(const Resolved& r, bool follow_last, Stat* st) const;
  Stat virtual_dir_stat(std::string_view path) const;
  Stat device_stat(Device device) const;
  const MountPoint& mount(const Resolved& r) const { return mounts_[r.mount]; }

  // Opening (filesystem.cc). open_description() is openat() without the fd.
  int open_description(int dirfd, std::string_view path, int flags, uint32_t mode,
                       std::shared_ptr<OpenFile>* out);
  int open_host(const Resolved& r, int flags, uint32_t mode, OpenFile* f);
  int host_stat(const MountPoint& mp, std::string_view rel, Stat* st) const {
    return mp.overlay != nullptr ? mp.overlay->stat(rel, st) : mp.host->stat(rel, st);
  }

  // Overlay mounts (overlay_ops.cc).
  // If `rel` is served by the overlay's lower layer: copies it up (at most
  // `max_bytes` of a file) and moves every lower description of it to the
  // upper copy.
  int copy_up_path(int mount, std::string_view rel, int64_t max_bytes);
  // Before a modification through `f`: 0 at once unless f.lower.
  int make_writable(OpenFile& f);
  int reopen_upper(OpenFile& f, std::string_view rel);
  // Lower descriptions at `path` lost their name (unlink, rename over it).
  void detach_lower(int mount, std::string_view path);
  int sync_lower_dir(const OpenFile& f) const;
  // The overlay's owed directory syncs (OverlayDir::sync_owed), before
  // an fsync of anything on that mount.
  int pay_owed_syncs(const OpenFile& f);
  int pay_owed_host_syncs() const;
  int open_mem(const Resolved& r, int flags, uint32_t mode, OpenFile* f);

  // Disk quotas (quota_ops.cc). All are no-ops on mounts without one.
  // Before `f` (a host file) grows to `new_end` bytes: charges the growth
  // (*charged, 0 if none). 0 or -ENOSPC.
  int charge_file_growth(const OpenFile& f, int64_t new_end, int64_t* charged);
  // After an operation that was charged `charged` for growing to `wanted_end`
  // but reached only `reached_end` (a short or failed write: -1): gives the
  // difference back.
  void settle_file_growth(const OpenFile& f, int64_t charged, int64_t wanted_end,
                          int64_t reached_end);
  // The same for a path below mount `m` that is `old_size` bytes now.
  int charge_path_growth(int m, std::string_view rel, int64_t old_size, int64_t new_size,
                         int64_t* charged);
  void release_disk(int m, int64_t bytes);
  // truncate() of a host file in `dir` (a HostDir, or an overlay's upper).
  // Truncates a host or overlay file by path with `do_truncate`, keeping
  // the disk quota's count.
  int truncate_counted(const Resolved& r, int64_t length, const std::function<int()>& do_truncate);
  // The counted size of `rel` below mount `m`: a regular host file (the
  // upper one, on an overlay), and with `last_link_only` only if it has one
  // link (what removing the name frees); 0 otherwise or without a quota.
  // Call it before the operation, then release_disk() once it succeeded.
  int64_t counted_file_bytes(int m, std::string_view rel, bool last_link_only);
  // The quota of mount `m` with its usage counted (one walk, the first
  // time), or null.
  SpaceQuota* disk_quota(int m);

  // fd table (fd_ops.cc).
  // The description at `fd` (null: none), reopened first if deferred
  // (null if that fails: the file is gone).
  OpenFile* file(int fd) const;
  // A saved description's reopening by its path (restore_state, first use
  // of a deferred one): 0, a negative wasm errno, or kReopenedOtherKind
  // when the path now names another kind of file.
  static constexpr int kReopenedOtherKind = 1;
  int reopen_saved(std::string_view path, int flags, FileKind kind, std::shared_ptr<OpenFile>* out);
  int reopen_deferred(OpenFile& f);
  // Before a name changes (unlink, rename): deferred descriptions reopen
  // while their paths still name their files.
  void reopen_all_deferred();
  int lowest_free_fd(int from) const;
  int install(int fd, std::shared_ptr<OpenFile> f);
  void release(int fd);
  int fill_listing(OpenFile* f);
  int stat_open_file(const OpenFile& f, Stat* st) const;
  int64_t write_stdio(Device device, const char* data, size_t len);
  void flush_stdio(Device device);
  int64_t file_size(const OpenFile& f) const;
  // Positional I/O on seekable kinds (host/mem files, /dev/blob).
  int64_t read_at(OpenFile& f, void* buf, size_t len, int64_t offset);
  int64_t write_at(OpenFile& f, const void* buf, size_t len, int64_t offset);

  FileSystemOptions options_;       // constant after construction (mounts moved out)
  std::vector<MountPoint> mounts_;  // longest prefix first; constant but quota_counted
  // Strict ancestors of mount prefixes and device paths ("/", "/pglite",
  // "/dev", ...): directories even where no backend has them. Constant.
  std::set<std::string, std::less<>> ancestor_dirs_;
  std::vector<std::shared_ptr<OpenFile>> fds_;  // index = fd; null = free
  // owe_host_sync(); mutable: save_state() pays them.
  mutable std::vector<std::string> owed_host_syncs_;
  int open_count_ = 0;
  std::string cwd_ = "/";
  uint32_t umask_ = 022;
  int next_pipe_id_ = 0;
  std::string blob_input_;
  std::string blob_output_;
  std::function<std::string()> connections_report_;
  std::string stdio_line_[2];  // partial lines of stdout, stderr
  Timespec created_at_;        // times of virtual directories and devices
};

}  // namespace pgthaw::vfs
