#include "engine/data_dir_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <vector>

#include "common/env.h"
#include "host/data_dir_view.h"

namespace pgthaw::engine {

namespace fs = std::filesystem;

namespace {

constexpr const char* kMajorVersion = "18";
constexpr size_t kChunk = 256 * 1024;

struct ArchiveReadCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteCloser {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

Status errno_status(const std::string& what) {
  return Status::IoError(what + ": " + std::strerror(errno));
}

Status sync_path(const std::string& path, int flags) {
  int fd = env().Open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return errno_status("open " + path);
  int rc = env().Fsync(fd);
  ::close(fd);
  return rc == 0 ? Status::Ok() : errno_status("fsync " + path);
}

// The member's path below the data directory, or why it may not be one.
// PGlite writes "/PG_VERSION", tar tools "./PG_VERSION" or "PG_VERSION".
Result<std::string> member_path(const char* raw) {
  if (raw == nullptr) return Status::InvalidArgument("a member has no name");
  std::string out;
  std::string_view rest(raw);
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return Status::InvalidArgument("member \"" + std::string(raw) +
                                     "\" leaves the data directory (\"..\")");
    }
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

// What a Postgres data directory holds at its top.
constexpr std::string_view kTopNames[] = {"PG_VERSION",       "base",
                                          "global",           "postgresql.conf",
                                          "postmaster.pid",   "postmaster.opts",
                                          "backup_label",     "tablespace_map",
                                          "current_logfiles", "postgresql.auto.conf"};

bool allowed_top(std::string_view top) {
  return std::find(std::begin(kTopNames), std::end(kTopNames), top) != std::end(kTopNames) ||
         top.starts_with("pg_");
}

// Everything after the checks; `dest` is ours (made by the caller) and
// holds nothing but what this wrote, so no path in it is a link.
Status extract_into(archive* a, const std::string& dest, const ArchiveLimits& limits) {
  std::set<std::string> seen;
  std::vector<std::string> dirs{dest};
  uint64_t bytes = 0;
  std::string buffer(kChunk, '\0');
  archive_entry* entry = nullptr;
  for (;;) {
    int rc = archive_read_next_header(a, &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      return Status::InvalidArgument(std::string("not a readable tar archive: ") +
                                     archive_error_string(a));
    }
    if (seen.size() >= limits.max_members) {
      return Status::InvalidArgument("more than " + std::to_string(limits.max_members) +
                                     " members");
    }
    const char* raw = archive_entry_pathname(entry);
    auto rel = member_path(raw);
    if (!rel.ok()) return rel.status();
    const std::string shown = "member \"" + std::string(raw) + "\"";
    const mode_t type = archive_entry_filetype(entry);
    if (rel->empty()) {
      if (type == AE_IFDIR) continue;  // the data directory itself
      return Status::InvalidArgument(shown + " has no name");
    }
    if (archive_entry_hardlink(entry) != nullptr || type == AE_IFLNK) {
      return Status::InvalidArgument(shown + " is a link; a data directory has none");
    }
    if (type != AE_IFREG && type != AE_IFDIR) {
      return Status::InvalidArgument(shown + " is neither a file nor a directory");
    }
    if (archive_entry_sparse_count(entry) > 0) {
      return Status::InvalidArgument(shown + " is sparse; a data directory has no sparse files");
    }
    const std::string top = rel->substr(0, rel->find('/'));
    if (!allowed_top(top)) {
      return Status::InvalidArgument(shown + " is not part of a Postgres data directory");
    }
    if (!seen.insert(*rel).second) return Status::InvalidArgument(shown + " appears twice");
    // Parents first (archives need not list directories).
    const std::string path = dest + "/" + *rel;
    for (size_t at = rel->find('/'); at != std::string::npos; at = rel->find('/', at + 1)) {
      std::string parent = dest + "/" + rel->substr(0, at);
      if (::mkdir(parent.c_str(), 0700) == 0) {
        dirs.push_back(parent);
      } else if (errno != EEXIST) {
        return errno_status("mkdir " + parent);
      }
    }
    if (type == AE_IFDIR) {
      if (::mkdir(path.c_str(), 0700) == 0) {
        dirs.push_back(path);
      } else if (errno != EEXIST) {
        return errno_status("mkdir " + path);
      }
      continue;
    }
    const int64_t size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : -1;
    if (size < 0) return Status::InvalidArgument(shown + " has no size");
    if (static_cast<uint64_t>(size) > limits.max_bytes - std::min(bytes, limits.max_bytes)) {
      return Status::InvalidArgument(shown + " makes the archive larger than " +
                                     std::to_string(limits.max_bytes) + " bytes");
    }
    int fd = env().Open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return errno_status("create " + path);
    uint64_t written = 0;
    Status st = Status::Ok();
    for (;;) {
      la_ssize_t n = archive_read_data(a, buffer.data(), buffer.size());
      if (n == 0) break;
      if (n < 0) {
        st = Status::InvalidArgument(shown + ": " + archive_error_string(a));
        break;
      }
      written += static_cast<uint64_t>(n);
      if (written > static_cast<uint64_t>(size)) {
        st = Status::InvalidArgument(shown + " holds more than its size");
        break;
      }
      for (la_ssize_t off = 0; off < n;) {
        ssize_t w = env().Write(fd, buffer.data() + off, static_cast<size_t>(n - off));
        if (w < 0) {
          if (errno == EINTR) continue;
          st = errno_status("write " + path);
          break;
        }
        off += w;
      }
      if (!st.ok()) break;
    }
    if (st.ok() && env().Fsync(fd) != 0) st = errno_status("fsync " + path);
    ::close(fd);
    PGTHAW_RETURN_IF_ERROR(st);
    bytes += written;
  }
  // A data directory of this engine's major version, with its control file.
  std::string version;
  {
    int fd = env().Open((dest + "/PG_VERSION").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return Status::InvalidArgument("not a Postgres data directory: no PG_VERSION");
    char text[16] = {};
    ssize_t n = env().Read(fd, text, sizeof text - 1);
    ::close(fd);
    version.assign(text, n > 0 ? static_cast<size_t>(n) : 0);
    while (!version.empty() && (version.back() == '\n' || version.back() == '\r')) {
      version.pop_back();
    }
  }
  if (version != kMajorVersion) {
    return Status::InvalidArgument("a data directory of PostgreSQL " + version +
                                   "; this engine runs PostgreSQL " + kMajorVersion);
  }
  if (!fs::is_regular_file(dest + "/global/pg_control")) {
    return Status::InvalidArgument("not a Postgres data directory: no global/pg_control");
  }
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    PGTHAW_RETURN_IF_ERROR(sync_path(*it, O_RDONLY | O_DIRECTORY));
  }
  return Status::Ok();
}

using Member = host::DataDirView::Member;

Status write_member(archive* a, const host::DataDirView& view, const Member& m,
                    std::string& buffer) {
  std::unique_ptr<archive_entry, EntryFree> entry(archive_entry_new());
  archive_entry_set_pathname(entry.get(), m.rel.c_str());
  archive_entry_set_filetype(entry.get(), m.dir ? AE_IFDIR : AE_IFREG);
  archive_entry_set_perm(entry.get(), m.dir ? 0700 : 0600);
  archive_entry_set_size(entry.get(), m.dir ? 0 : m.size);
  archive_entry_set_mtime(entry.get(), m.mtime, 0);
  if (archive_write_header(a, entry.get()) != ARCHIVE_OK) {
    return Status::IoError("archive " + m.rel + ": " + archive_error_string(a));
  }
  if (m.dir) return Status::Ok();
  auto reader = view.OpenFile(m.rel);
  if (!reader.ok()) return reader.status();
  for (int64_t done = 0; done < m.size;) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(m.size - done, buffer.size()));
    int64_t n = (*reader)->pread(buffer.data(), want, done);
    if (n <= 0) {
      return n == 0 ? Status::IoError(m.rel + " shrank while it was archived")
                    : Status::IoError("read " + m.rel + ": wasm errno " + std::to_string(-n));
    }
    if (archive_write_data(a, buffer.data(), static_cast<size_t>(n)) != n) {
      return Status::IoError("archive " + m.rel + ": " + archive_error_string(a));
    }
    done += n;
  }
  return Status::Ok();
}

}  // namespace

Status extract_data_dir(const std::string& archive_path, const std::string& dest,
                        const ArchiveLimits& limits) {
  if (::mkdir(dest.c_str(), 0700) != 0) return errno_status("mkdir " + dest);
  std::unique_ptr<archive, ArchiveReadCloser> a(archive_read_new());
  archive_read_support_filter_gzip(a.get());
  archive_read_support_format_tar(a.get());
  Status st = Status::Ok();
  if (archive_read_open_filename(a.get(), archive_path.c_str(), kChunk) != ARCHIVE_OK) {
    st = Status::InvalidArgument(
        archive_path + ": not a .tar or .tar.gz archive: " + archive_error_string(a.get()));
  } else {
    st = extract_into(a.get(), dest, limits);
  }
  if (!st.ok()) {
    std::error_code ec;
    fs::remove_all(dest, ec);
    return st;
  }
  return Status::Ok();
}

Status archive_data_dir(const std::string& data, const std::vector<std::string>& lower,
                        const std::string& out, bool gzip) {
  auto view = host::DataDirView::Open(data, lower);
  if (!view.ok()) return view.status();
  const std::string temp = out + ".tmp";
  std::unique_ptr<archive, ArchiveWriteCloser> a(archive_write_new());
  // ustar: what PGlite's tar reader (tinytar) reads.
  archive_write_set_format_ustar(a.get());
  if (gzip) archive_write_add_filter_gzip(a.get());
  if (archive_write_open_filename(a.get(), temp.c_str()) != ARCHIVE_OK) {
    return Status::IoError(temp + ": " + archive_error_string(a.get()));
  }
  std::string buffer(kChunk, '\0');
  std::vector<std::string> pending{""};
  Status st = Status::Ok();
  while (st.ok() && !pending.empty()) {
    std::string dir = std::move(pending.back());
    pending.pop_back();
    std::vector<Member> members;
    st = view->List(dir, &members);
    for (size_t i = 0; st.ok() && i < members.size(); ++i) {
      st = write_member(a.get(), *view, members[i], buffer);
      if (members[i].dir) pending.push_back(members[i].rel);
    }
  }
  if (st.ok() && archive_write_close(a.get()) != ARCHIVE_OK) {
    st = Status::IoError(temp + ": " + archive_error_string(a.get()));
  }
  if (st.ok()) st = sync_path(temp, O_RDONLY);
  if (st.ok() && env().Rename(temp.c_str(), out.c_str()) != 0) st = errno_status("rename " + out);
  if (!st.ok()) ::unlink(temp.c_str());
  return st;
}

}  // namespace pgthaw::engine
