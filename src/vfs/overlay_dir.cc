// Copy-on-write overlay of two host directories (see overlay_dir.h).
#include "vfs/overlay_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/env.h"
#include "vfs/path.h"
#include "vfs/wasm_abi.h"
#include "vfs/wasm_errno.h"

namespace pgthaw::vfs {
namespace {

namespace abi = wasm_abi;
namespace err = wasm_errno;

constexpr std::string_view kLogName = kWhiteoutLogName;
constexpr std::string_view kTempPrefix = "copyup-";

bool is_dir_mode(uint32_t mode) { return (mode & abi::kS_IFMT) == abi::kS_IFDIR; }
bool is_reg_mode(uint32_t mode) { return (mode & abi::kS_IFMT) == abi::kS_IFREG; }

// Closes a host fd at scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

int write_all(int fd, const char* p, size_t n, int64_t off) {
  while (n > 0) {
    ssize_t w = env().Pwrite(fd, p, n, off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return neg_wasm_errno_from_host();
    p += w;
    n -= static_cast<size_t>(w);
    off += w;
  }
  return 0;
}

void close_parts(std::vector<LayeredFile::Part>* parts) {
  for (LayeredFile::Part& p : *parts) ::close(p.fd);
  parts->clear();
}

std::string parent_of(std::string_view rel) { return std::string(split_last(rel).first); }

}  // namespace

Result<std::unique_ptr<OverlayDir>> OverlayDir::open(const std::vector<std::string>& lower_dirs,
                                                     const std::string& upper_dir, bool durable) {
  Result<std::unique_ptr<LayerStack>> lower = LayerStack::open(lower_dirs);
  if (!lower.ok()) return lower.status();
  Result<std::unique_ptr<HostDir>> upper = HostDir::open(upper_dir);
  if (!upper.ok()) return upper.status();
  std::unique_ptr<OverlayDir> ov(
      new OverlayDir(std::move(lower).value(), std::move(upper).value(), durable));
  // A brand-new overlay has no metadata yet; it is created on the first
  // whiteout or copy-up, so creating a tenant writes (and syncs) nothing.
  Stat meta;
  if (ov->upper_->stat(kMetaDirName, &meta) == 0) {
    PGTHAW_RETURN_IF_ERROR(ov->init_meta());
    if (list_chunk_maps(*ov->upper_, &ov->partial_) < 0) {
      return Status::IoError("list the chunk maps of " + upper_dir);
    }
  }
  return ov;
}

OverlayDir::~OverlayDir() {
  if (log_fd_ >= 0) ::close(log_fd_);
}

Status OverlayDir::init_meta() {
  const std::string where = upper_->host_dir() + "/" + std::string(kMetaDirName);
  int rc = upper_->mkdir(kMetaDirName, 0700);
  if (rc == 0 && durable_) {
    if (int s = sync_dir(""); s < 0) return Status::IoError("fsync overlay upper " + where);
  }
  if (rc < 0 && rc != -err::kEEXIST) return Status::IoError("mkdir " + where);

  // Stray copy-up temporaries from a crash: never renamed into place.
  {
    int dfd = upper_->open_file(kMetaDirName, O_RDONLY | O_DIRECTORY, 0);
    if (dfd < 0) return Status::IoError("open " + where);
    std::vector<DirEntry> entries;
    rc = HostDir::list(dfd, &entries);
    for (const DirEntry& e : entries) {
      if (e.name.starts_with(kTempPrefix)) ::unlinkat(dfd, e.name.c_str(), 0);
    }
    ::close(dfd);
    if (rc < 0) return Status::IoError("list " + where);
  }
  meta_ready_ = true;
  Stat log;
  return upper_->stat(kLogName, &log) == 0 ? open_log() : Status::Ok();
}

Status OverlayDir::open_log() {
  const std::string where = upper_->host_dir() + "/" + std::string(kLogName);
  int fd = upper_->open_file(kLogName, O_RDWR | O_CREAT, 0600);
  if (fd < 0) return Status::IoError("open " + where);
  Fd log(fd);
  struct stat s;
  if (::fstat(fd, &s) < 0) return Status::FromErrno("fstat " + where, errno);
  std::string bytes(static_cast<size_t>(s.st_size), '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = env().Pread(fd, bytes.data() + got, bytes.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::FromErrno("read " + where, n < 0 ? errno : EIO);
    got += static_cast<size_t>(n);
  }
  auto parsed = parse_whiteout_log(bytes, &hidden_);
  if (!parsed.ok()) return Status::Corruption(parsed.status().message() + ": " + where);
  size_t good = *parsed;  // end of the last complete record
  if (good == 0) {
    // New (or torn before its magic was complete): start it.
    if (env().Ftruncate(fd, 0) < 0 ||
        write_all(fd, kWhiteoutLogMagic, sizeof(kWhiteoutLogMagic), 0) < 0) {
      return Status::FromErrno("write " + where, errno);
    }
    good = sizeof(kWhiteoutLogMagic);
    if (durable_ && (env().Fsync(fd) < 0 || sync_dir(kMetaDirName) < 0)) {
      return Status::FromErrno("fsync " + where, errno);
    }
  } else if (good < bytes.size()) {
    // A torn last record: cut it, so appends follow the last good one.
    if (env().Ftruncate(fd, static_cast<off_t>(good)) < 0 || (durable_ && env().Fsync(fd) < 0)) {
      return Status::FromErrno("truncate " + where, errno);
    }
  }
  ::close(log.release());
  log_fd_ = upper_->open_file(kLogName, O_WRONLY | O_APPEND, 0);
  if (log_fd_ < 0) return Status::IoError("open " + where);
  return Status::Ok();
}

bool OverlayDir::is_meta(std::string_view rel) {
  return rel.starts_with(kMetaDirName) &&
         (rel.size() == kMetaDirName.size() || rel[kMetaDirName.size()] == '/');
}

bool OverlayDir::lower_visible(std::string_view rel) const {
  return !is_meta(rel) && !hidden_by(hidden_, rel);
}

int OverlayDir::add_hidden(std::string_view rel) {
  if (!lower_visible(rel)) return 0;  // already hidden (or below a hidden path)
  if (int rc = ensure_meta(); rc < 0) return rc;
  if (log_fd_ < 0 && !open_log().ok()) return -err::kEIO;
  std::string rec(4, '\0');
  uint32_t len = static_cast<uint32_t>(rel.size());
  std::memcpy(rec.data(), &len, 4);
  rec.append(rel);
  // One write: O_APPEND makes it land at the end even after a torn record
  // was cut off at open.
  ssize_t n;
  do {
    n = env().Write(log_fd_, rec.data(), rec.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) return neg_wasm_errno_from_host();
  if (static_cast<size_t>(n) != rec.size()) return -err::kEIO;
  if (durable_ && env().Fdatasync(log_fd_) < 0) return neg_wasm_errno_from_host();
  hidden_.emplace(rel);
  return 0;
}

int OverlayDir::locate(std::string_view rel, Stat* st) const {
  if (is_meta(rel)) return -err::kENOENT;
  int rc = upper_->stat(rel, st);
  if (rc == 0) return kUpper;
  if (rc != -err::kENOENT && rc != -err::kENOTDIR) return rc;
  if (!lower_visible(rel)) return rc;
  int lrc = lower_->stat(rel, st);
  return lrc == 0 ? kLower : lrc;
}

int OverlayDir::stat(std::string_view rel, Stat* st) const {
  Stat s;
  int rc = locate(rel, &s);
  if (rc < 0) return rc;
  *st = s;
  return 0;
}

int OverlayDir::check_dir(std::string_view dir_rel) const {
  Stat st;
  int rc = locate(dir_rel, &st);
  if (rc < 0) return rc;
  return is_dir_mode(st.mode) ? 0 : -err::kENOTDIR;
}

int OverlayDir::sync_dir(std::string_view rel) const {
  if (!durable_) return 0;
  int fd = upper_->open_file(rel, O_RDONLY | O_DIRECTORY, 0);
  if (fd == -err::kENOENT) return 0;  // nothing of the tenant's there
  if (fd < 0) return fd;
  int rc = env().Fsync(fd) < 0 ? neg_wasm_errno_from_host() : 0;
  ::close(fd);
  return rc;
}

void OverlayDir::owe_sync_of_parent(std::string_view rel) {
  if (durable_) owed_syncs_.insert(parent_of(rel));
}

int OverlayDir::sync_owed() {
  while (!owed_syncs_.empty()) {
    if (int rc = sync_dir(*owed_syncs_.begin()); rc < 0) return rc;
    owed_syncs_.erase(owed_syncs_.begin());
  }
  return 0;
}

int OverlayDir::copy_up_dirs(std::string_view dir_rel) {
  if (dir_rel.empty()) return 0;  // the upper root always exists
  for (size_t i = 0;; ++i) {
    i = dir_rel.find('/', i);
    std::string_view p = dir_rel.substr(0, i);
    Stat st;
    int rc = upper_->stat(p, &st);
    if (rc == 0) {
      if (!is_dir_mode(st.mode)) return -err::kENOTDIR;
    } else if (rc == -err::kENOENT) {
      if (!lower_visible(p)) return -err::kENOENT;
      if (rc = lower_->stat(p, &st); rc < 0) return rc;
      if (!is_dir_mode(st.mode)) return -err::kENOTDIR;
      if (rc = upper_->mkdir(p, st.mode & 07777); rc < 0 && rc != -err::kEEXIST) return rc;
      // mkdir applied the process umask; the copy keeps lower's mode.
      if (rc = upper_->chmod(p, st.mode & 07777); rc < 0) return rc;
      owe_sync_of_parent(p);
    } else {
      return rc;
    }
    if (i == std::string_view::npos) return 0;
  }
}

int OverlayDir::ensure_meta() {
  if (meta_ready_) return 0;
  return init_meta().ok() ? 0 : -err::kEIO;
}

std::string OverlayDir::temp_name() {
  return std::string(kMetaDirName) + "/" + std::string(kTempPrefix) + std::to_string(::getpid()) +
         "-" + std::to_string(next_temp_++);
}

int OverlayDir::copy_up(std::string_view rel, int64_t max_bytes) {
  Stat st;
  int where = locate(rel, &st);
  if (where < 0) return where;
  if (where == kUpper) return 0;
  if (is_dir_mode(st.mode)) return copy_up_dirs(rel);
  if (!is_reg_mode(st.mode)) return -err::kEPERM;  // lower symlinks etc. stay put
  if (int rc = copy_up_dirs(parent_of(rel)); rc < 0) return rc;
  if (max_bytes >= st.size && st.size >= ChunkMap::kPartialMinBytes &&
      !chunk_map_name(rel).empty()) {
    return copy_up_partial(rel, st);
  }

  std::shared_ptr<LayeredFile> src;
  if (int rc = lower_->open_reader(rel, &src); rc < 0) return rc;
  if (int rc = ensure_meta(); rc < 0) return rc;
  const std::string tmp = temp_name();
  int dst_fd = upper_->open_file(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (dst_fd < 0) return dst_fd;
  Fd dst(dst_fd);
  auto fail = [&](int rc) {
    upper_->unlink(tmp, false);
    return rc;
  };
  int64_t len = std::min(st.size, std::max<int64_t>(max_bytes, 0));
  if (int rc = src->copy_to(dst.fd, len); rc < 0) return fail(rc);
  if (::fchmod(dst.fd, st.mode & 07777) < 0) return fail(neg_wasm_errno_from_host());
  Timespec times[2] = {st.atime, st.mtime};
  if (len == st.size) HostDir::futimens(dst.fd, times);  // best effort, like cp -p
  if (durable_ && env().Fsync(dst.fd) < 0) return fail(neg_wasm_errno_from_host());
  if (int rc = upper_->rename(tmp, rel); rc < 0) return fail(rc);
  owe_sync_of_parent(rel);
  return 0;
}

int OverlayDir::copy_up_partial(std::string_view rel, const Stat& st) {
  if (int rc = ensure_meta(); rc < 0) return rc;
  if (partial_.empty()) {
    int rc = upper_->mkdir(ChunkMap::kDirName, 0700);
    if (rc == 0) rc = sync_dir(kMetaDirName);
    if (rc < 0 && rc != -err::kEEXIST) return rc;
  }
  const std::string tmp = temp_name();
  int dst_fd = upper_->open_file(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (dst_fd < 0) return dst_fd;
  Fd dst(dst_fd);
  auto fail = [&](int rc) {
    upper_->unlink(tmp, false);
    return rc;
  };
  if (env().Ftruncate(dst.fd, st.size) < 0 || ::fchmod(dst.fd, st.mode & 07777) < 0) {
    return fail(neg_wasm_errno_from_host());
  }
  Timespec times[2] = {st.atime, st.mtime};
  HostDir::futimens(dst.fd, times);  // best effort, like cp -p
  FileIdentity id;
  if (int rc = file_identity(dst.fd, &id); rc < 0) return fail(rc);
  // The map first: once the sparse file has the name, its holes must never
  // read as the tenant's zeros.
  const std::string map_name = chunk_map_name(rel);
  const std::string bytes = ChunkMap(id, st.size).serialize();
  int map_fd = upper_->open_file(map_name, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (map_fd < 0) return fail(map_fd);
  int rc = write_all(map_fd, bytes.data(), bytes.size(), 0);
  if (rc == 0 && durable_ && (env().Fdatasync(map_fd) < 0 || env().Fsync(dst.fd) < 0)) {
    rc = neg_wasm_errno_from_host();
  }
  ::close(map_fd);
  if (rc == 0) rc = sync_dir(ChunkMap::kDirName);
  if (rc < 0) return fail(rc);
  partial_.insert(chunk_map_file_name(rel));
  if (rc = upper_->rename(tmp, rel); rc < 0) return fail(rc);
  owe_sync_of_parent(rel);
  return 0;
}

bool OverlayDir::upper_partial_name(std::string_view rel) const {
  return !partial_.empty() && partial_.count(chunk_map_file_name(rel)) > 0;
}

int OverlayDir::partial_upper(std::string_view rel, std::shared_ptr<LayeredFile>* out) {
  out->reset();
  if (!upper_partial_name(rel)) return 0;
  if (auto it = live_.find(rel); it != live_.end()) {
    if ((*out = it->second.lock()) != nullptr) return 0;
    live_.erase(it);
  }
  int top = upper_->open_file(rel, O_RDWR, 0);
  if (top == -err::kENOENT || top == -err::kENOTDIR || top == -err::kEISDIR) return 0;
  if (top < 0) return top;
  std::vector<LayeredFile::Part> parts(1);
  parts[0].fd = top;
  if (int rc = load_chunk_map(*upper_, rel, top, &parts[0].map); rc < 0) {
    close_parts(&parts);
    return rc;
  }
  if (parts[0].map == nullptr) {  // a stale map: the file was replaced
    close_parts(&parts);
    retire_map(rel);
    return 0;
  }
  int map_fd = upper_->open_file(chunk_map_name(rel), O_RDWR, 0);
  int rc = map_fd < 0 ? map_fd : lower_->open_chain(rel, &parts);
  if (rc < 0) {
    if (map_fd >= 0) ::close(map_fd);
    close_parts(&parts);
    return rc == -err::kENOENT ? -err::kEIO : rc;  // the copy lost what is under it
  }
  *out = std::make_shared<LayeredFile>(std::move(parts), map_fd, durable_);
  live_[std::string(rel)] = *out;
  return 0;
}

void OverlayDir::retire_map(std::string_view rel) {
  if (!upper_partial_name(rel)) return;
  if (auto it = live_.find(rel); it != live_.end()) {
    if (auto live = it->second.lock()) live->forget_name();
    live_.erase(it);
  }
  upper_->unlink(chunk_map_name(rel), false);  // a leftover is stale by identity anyway
  partial_.erase(chunk_map_file_name(rel));
}

int OverlayDir::make_whole(std::string_view rel) {
  std::shared_ptr<LayeredFile> file;
  if (int rc = partial_upper(rel, &file); rc < 0 || file == nullptr) return rc;
  if (int rc = file->fill_all(); rc < 0) return rc;
  // The data is whole and synced: the map can go.
  if (int rc = upper_->unlink(chunk_map_name(rel), false); rc < 0 && rc != -err::kENOENT) {
    return rc;
  }
  if (int rc = sync_dir(ChunkMap::kDirName); rc < 0) return rc;
  file->became_whole();
  live_.erase(live_.find(rel));
  partial_.erase(chunk_map_file_name(rel));
  return 0;
}

int OverlayDir::make_all_whole() {
  // make_whole erases from partial_: iterate over a copy.
  const std::set<std::string, std::less<>> names = partial_;
  for (const std::string& name : names) {
    if (int rc = make_whole(chunk_map_rel(name)); rc < 0) return rc;
  }
  return 0;
}

int OverlayDir::open_reader(std::string_view rel, std::shared_ptr<LayeredFile>* out) {
  bool from_lower = false;
  std::shared_ptr<LayeredFile> layered;
  int fd = open(rel, O_RDONLY, 0, &from_lower, &layered);
  if (fd < 0) return fd;
  if (layered != nullptr) {
    ::close(fd);
    *out = std::move(layered);
    return 0;
  }
  std::vector<LayeredFile::Part> parts(1);
  parts[0].fd = fd;
  *out = std::make_shared<LayeredFile>(std::move(parts));
  return 0;
}

int OverlayDir::truncate(std::string_view rel, int64_t length) {
  std::shared_ptr<LayeredFile> file;
  if (int rc = partial_upper(rel, &file); rc < 0) return rc;
  return file != nullptr ? file->truncate(length) : upper_->truncate(rel, length);
}

int OverlayDir::copy_to_anonymous(int lower_fd, const LayeredFile* layered) {
  struct stat s;
  if (::fstat(lower_fd, &s) < 0) return neg_wasm_errno_from_host();
  if (int rc = ensure_meta(); rc < 0) return rc;
  const std::string tmp = temp_name();
  int fd = upper_->open_file(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return fd;
  upper_->unlink(tmp, false);
  int rc = layered != nullptr ? layered->copy_to(fd, s.st_size)
                              : copy_file_bytes(lower_fd, fd, s.st_size);
  if (rc < 0) {
    ::close(fd);
    return rc;
  }
  return fd;
}

int OverlayDir::open(std::string_view rel, int host_flags, uint32_t mode, bool* from_lower,
                     std::shared_ptr<LayeredFile>* layered) {
  *from_lower = false;
  layered->reset();
  if (is_meta(rel)) return (host_flags & O_CREAT) ? -err::kEACCES : -err::kENOENT;
  Stat st;
  int where = locate(rel, &st);
  if (where == kUpper) {
    int fd = upper_->open_file(rel, host_flags, mode);
    if (fd >= 0 && is_reg_mode(st.mode) && upper_partial_name(rel)) {
      if (int rc = partial_upper(rel, layered); rc < 0) {
        ::close(fd);
        return rc;
      }
    }
    return fd;
  }
  if (where == kLower) {
    if ((host_flags & O_CREAT) && (host_flags & O_EXCL)) return -err::kEEXIST;
    const int access = host_flags & O_ACCMODE;
    if (is_dir_mode(st.mode) && (access != O_RDONLY || (host_flags & O_CREAT))) {
      return -err::kEISDIR;
    }
    int fd =
        lower_->open_file(rel, O_RDONLY | (host_flags & (O_DIRECTORY | O_NONBLOCK | O_NOCTTY)), 0);
    if (fd < 0) return fd;
    *from_lower = true;
    if (is_reg_mode(st.mode) && lower_->serves_partial(rel)) {
      if (int rc = lower_->open_reader(rel, layered); rc < 0) {
        ::close(fd);
        return rc;
      }
    }
    return fd;
  }
  if (where != -err::kENOENT || !(host_flags & O_CREAT)) return where;
  std::string parent = parent_of(rel);
  if (int rc = check_dir(parent); rc < 0) return rc;
  if (int rc = copy_up_dirs(parent); rc < 0) return rc;
  return upper_->open_file(rel, host_flags, mode);
}

int OverlayDir::mkdir(std::string_view rel, uint32_t mode) {
  if (is_meta(rel)) return -err::kEACCES;
  Stat st;
  int where = locate(rel, &st);
  if (where > 0) return -err::kEEXIST;
  if (where != -err::kENOENT) return where;
  std::string parent = parent_of(rel);
  if (int rc = check_dir(parent); rc < 0) return rc;
  if (int rc = copy_up_dirs(parent); rc < 0) return rc;
  // A hidden lower directory of this name stays hidden: the new one is
  // opaque.
  return upper_->mkdir(rel, mode);
}

int OverlayDir::unlink(std::string_view rel, bool is_dir) {
  Stat st;
  int where = locate(rel, &st);
  if (where < 0) return where;
  if (is_dir) {
    if (!is_dir_mode(st.mode)) return -err::kENOTDIR;
    std::vector<DirEntry> entries;
    if (int rc = list(rel, &entries); rc < 0) return rc;
    if (!entries.empty()) return -err::kENOTEMPTY;
  } else if (is_dir_mode(st.mode)) {
    return -err::kEISDIR;
  }
  Stat lst;
  bool in_lower = lower_visible(rel) && lower_->stat(rel, &lst) == 0;
  // Whiteout first: a crash before the upper removal leaves the name
  // visible (the unlink did not happen), never a resurrected lower file.
  if (in_lower) {
    if (int rc = add_hidden(rel); rc < 0) return rc;
  }
  if (where != kUpper) return 0;
  int rc = upper_->unlink(rel, is_dir);
  if (rc == 0 && !is_dir) retire_map(rel);
  return rc;
}

int OverlayDir::rename(std::string_view old_rel, std::string_view new_rel) {
  if (is_meta(old_rel)) return -err::kENOENT;
  if (is_meta(new_rel)) return -err::kEACCES;
  Stat ost, nst;
  int owhere = locate(old_rel, &ost);
  if (owhere < 0) return owhere;
  int nwhere = locate(new_rel, &nst);
  if (nwhere < 0 && nwhere != -err::kENOENT) return nwhere;
  if (old_rel == new_rel) return 0;
  const bool old_dir = is_dir_mode(ost.mode);
  Stat lst;
  const bool old_in_lower = lower_visible(old_rel) && lower_->stat(old_rel, &lst) == 0;
  if (old_dir) {
    if (old_in_lower) return -err::kEXDEV;  // its lower contents cannot move
    if (path_is_under(std::string("/") + std::string(new_rel),
                      std::string("/") + std::string(old_rel))) {
      return -err::kEINVAL;
    }
    if (nwhere > 0) {
      if (!is_dir_mode(nst.mode)) return -err::kENOTDIR;
      std::vector<DirEntry> entries;
      if (int rc = list(new_rel, &entries); rc < 0) return rc;
      if (!entries.empty()) return -err::kENOTEMPTY;
    }
  } else {
    if (owhere != kUpper) return -err::kEXDEV;  // caller must copy up first
    if (nwhere > 0 && is_dir_mode(nst.mode)) return -err::kEISDIR;
    // A map names one path: the file moves whole.
    if (int rc = make_whole(old_rel); rc < 0) return rc;
  }
  std::string new_parent = parent_of(new_rel);
  if (int rc = check_dir(new_parent); rc < 0) return rc;
  if (int rc = copy_up_dirs(new_parent); rc < 0) return rc;
  // Whiteout first (see unlink): until the upper rename happens the old
  // upper copy keeps the name visible.
  if (old_in_lower) {
    if (int rc = add_hidden(old_rel); rc < 0) return rc;
  }
  int rc = upper_->rename(old_rel, new_rel);
  if (rc == 0 && !old_dir) retire_map(new_rel);  // what it replaced
  return rc;
}

int OverlayDir::link(std::string_view old_rel, std::string_view new_rel) {
  if (is_meta(old_rel)) return -err::kENOENT;
  if (is_meta(new_rel)) return -err::kEACCES;
  Stat ost, nst;
  int owhere = locate(old_rel, &ost);
  if (owhere < 0) return owhere;
  if (is_dir_mode(ost.mode)) return -err::kEPERM;
  int nwhere = locate(new_rel, &nst);
  if (nwhere > 0) return -err::kEEXIST;
  if (nwhere != -err::kENOENT) return nwhere;
  if (owhere != kUpper) return -err::kEXDEV;  // caller must copy up first
  std::string new_parent = parent_of(new_rel);
  if (int rc = check_dir(new_parent); rc < 0) return rc;
  if (int rc = copy_up_dirs(new_parent); rc < 0) return rc;
  if (int rc = make_whole(old_rel); rc < 0) return rc;  // a map names one path
  return upper_->link(old_rel, new_rel);
}

int OverlayDir::readlink(std::string_view rel, std::string* target) const {
  Stat st;
  int where = locate(rel, &st);
  if (where < 0) return where;
  return where == kUpper ? upper_->readlink(rel, target) : lower_->readlink(rel, target);
}

int OverlayDir::list(std::string_view rel, std::vector<DirEntry>* out) const {
  if (is_meta(rel)) return -err::kENOENT;
  std::vector<DirEntry> entries;
  std::set<std::string, std::less<>> names;
  bool found = false;
  int fd = upper_->open_file(rel, O_RDONLY | O_DIRECTORY, 0);
  if (fd >= 0) {
    found = true;
    int rc = HostDir::list(fd, &entries);
    ::close(fd);
    if (rc < 0) return rc;
    if (rel.empty()) {
      std::erase_if(entries, [](const DirEntry& e) { return e.name == kMetaDirName; });
    }
    for (const DirEntry& e : entries) names.insert(e.name);
  } else if (fd != -err::kENOENT && fd != -err::kENOTDIR) {
    return fd;
  }
  if (lower_visible(rel)) {
    std::vector<DirEntry> lower_entries;
    int rc = lower_->list(rel, &lower_entries);
    if (rc == 0) {
      // A lower directory under an upper non-directory is shadowed.
      Stat ust;
      if (!found && upper_->stat(rel, &ust) == 0) return -err::kENOTDIR;
      found = true;
      for (DirEntry& e : lower_entries) {
        if (names.count(e.name) > 0) continue;
        std::string child = rel.empty() ? e.name : std::string(rel) + "/" + e.name;
        if (!lower_visible(child)) continue;
        entries.push_back(std::move(e));
      }
    } else if (rc != -err::kENOENT && rc != -err::kENOTDIR) {
      return rc;
    }
  }
  if (!found) return -err::kENOENT;
  for (DirEntry& e : entries) out->push_back(std::move(e));
  return 0;
}

}  // namespace pgthaw::vfs
