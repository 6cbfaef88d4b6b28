#include "objstore/file_object_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <filesystem>
#include <random>

#include "common/durable_file.h"
#include "common/env.h"
#include "objstore/object_key.h"

namespace pgthaw::objstore {

namespace {

constexpr std::string_view kDirPrefix = "d_";
constexpr std::string_view kObjectPrefix = "o_";
// NAME_MAX less the longer of the two name prefixes.
constexpr size_t kMaxSegmentBytes = 253;

// Where KEY (valid) lives: the directory of its object and the object's path.
struct ObjectLocation {
  std::string dir;
  std::string path;
};

Result<ObjectLocation> locate(const std::string& root, std::string_view key) {
  PGTHAW_RETURN_IF_ERROR(validate_object_key(key));
  ObjectLocation where{root, ""};
  size_t start = 0;
  while (true) {
    size_t end = key.find('/', start);
    std::string_view segment =
        key.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (segment.size() > kMaxSegmentBytes) {
      return Status::InvalidArgument("object key segment longer than " +
                                     std::to_string(kMaxSegmentBytes) +
                                     " bytes (a file store limit): " + std::string(segment));
    }
    if (end == std::string_view::npos) {
      where.path = where.dir + "/" + std::string(kObjectPrefix) + std::string(segment);
      return where;
    }
    where.dir += "/" + std::string(kDirPrefix) + std::string(segment);
    start = end + 1;
  }
}

// Creates the directories from ROOT down to DIR that are missing, each
// made durable in its parent.
Status make_dirs(const std::string& root, const std::string& dir) {
  size_t pos = root.size();
  while (pos < dir.size()) {
    size_t next = dir.find('/', pos + 1);
    if (next == std::string::npos) next = dir.size();
    const std::string path = dir.substr(0, next);
    if (::mkdir(path.c_str(), 0700) == 0) {
      PGTHAW_RETURN_IF_ERROR(fsync_dir(dir.substr(0, pos)));
    } else if (errno != EEXIST) {
      return Status::FromErrno("mkdir " + path, errno);
    }
    pos = next;
  }
  return Status::Ok();
}

// A name no other writer, in this process or another, uses at once.
std::string temp_name() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t process_salt = std::random_device{}();
  return ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(process_salt) + "-" +
         std::to_string(counter.fetch_add(1));
}

Status list_dir(const std::filesystem::path& dir, const std::string& key_prefix,
                std::string_view wanted, std::vector<std::string>& keys) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return Status::Ok();
  if (ec) return Status::IoError("list " + dir.string() + ": " + ec.message());
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) return Status::IoError("list " + dir.string() + ": " + ec.message());
    const std::string name = it->path().filename().string();
    std::error_code type_ec;
    if (name.starts_with(kObjectPrefix) && it->is_regular_file(type_ec)) {
      std::string key = key_prefix + name.substr(kObjectPrefix.size());
      if (key.starts_with(wanted)) keys.push_back(std::move(key));
    } else if (name.starts_with(kDirPrefix) && it->is_directory(type_ec)) {
      std::string sub = key_prefix + name.substr(kDirPrefix.size()) + "/";
      // Descend only where keys with the wanted prefix can be.
      if (sub.starts_with(wanted) || wanted.starts_with(sub)) {
        PGTHAW_RETURN_IF_ERROR(list_dir(it->path(), sub, wanted, keys));
      }
    }
  }
  if (ec) return Status::IoError("list " + dir.string() + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<FileObjectStore>> FileObjectStore::Open(const std::string& root) {
  if (root.empty()) return Status::InvalidArgument("file object store: empty directory");
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) return Status::IoError("create " + root + ": " + ec.message());
  if (!std::filesystem::is_directory(root, ec)) {
    return Status::InvalidArgument("file object store: " + root + " is not a directory");
  }
  std::string trimmed = root;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  return std::unique_ptr<FileObjectStore>(new FileObjectStore(std::move(trimmed)));
}

Status FileObjectStore::Write(std::string_view key, std::string_view bytes, bool replace) {
  Result<ObjectLocation> where = locate(root_, key);
  if (!where.ok()) return where.status();
  PGTHAW_RETURN_IF_ERROR(make_dirs(root_, where->dir));
  const std::string temp = where->dir + "/" + temp_name();
  if (Status st = write_file_synced(temp, bytes); !st.ok()) {
    ::unlink(temp.c_str());
    return st;
  }
  if (replace) {
    if (env().Rename(temp.c_str(), where->path.c_str()) != 0) {
      Status st = Status::FromErrno("rename " + temp + " to " + where->path, errno);
      ::unlink(temp.c_str());
      return st;
    }
  } else {
    // link() never replaces its target: the atomic "create if absent".
    int rc = ::link(temp.c_str(), where->path.c_str());
    int saved = errno;
    ::unlink(temp.c_str());
    if (rc != 0 && saved == EEXIST) {
      return Status::AlreadyExists("object " + std::string(key) + " already exists");
    }
    if (rc != 0) return Status::FromErrno("link " + temp + " to " + where->path, saved);
  }
  return fsync_dir(where->dir);
}

Status FileObjectStore::Put(std::string_view key, std::string_view bytes) {
  return Write(key, bytes, /*replace=*/true);
}

Status FileObjectStore::PutIfAbsent(std::string_view key, std::string_view bytes) {
  return Write(key, bytes, /*replace=*/false);
}

Result<std::string> FileObjectStore::Get(std::string_view key) {
  Result<ObjectLocation> where = locate(root_, key);
  if (!where.ok()) return where.status();
  Result<std::string> bytes = read_whole_file(where->path);
  if (!bytes.ok() && bytes.status().code() == StatusCode::kNotFound) {
    return Status::NotFound("object " + std::string(key) + " not found");
  }
  return bytes;
}

Result<ObjectInfo> FileObjectStore::Head(std::string_view key) {
  Result<ObjectLocation> where = locate(root_, key);
  if (!where.ok()) return where.status();
  struct stat st;
  if (::stat(where->path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::NotFound("object " + std::string(key) + " not found");
    return Status::FromErrno("stat " + where->path, errno);
  }
  // Every write installs a new inode, so the inode alone changes with the
  // bytes; mtime and size guard against inode reuse.
  ObjectInfo info;
  info.size = static_cast<uint64_t>(st.st_size);
  info.etag = std::to_string(st.st_ino) + "-" + std::to_string(st.st_mtim.tv_sec) + "." +
              std::to_string(st.st_mtim.tv_nsec) + "-" + std::to_string(st.st_size);
  return info;
}

Result<std::vector<std::string>> FileObjectStore::List(std::string_view prefix) {
  PGTHAW_RETURN_IF_ERROR(validate_object_key_prefix(prefix));
  std::vector<std::string> keys;
  PGTHAW_RETURN_IF_ERROR(list_dir(root_, "", prefix, keys));
  std::sort(keys.begin(), keys.end());
  return keys;
}

Status FileObjectStore::Delete(std::string_view key) {
  Result<ObjectLocation> where = locate(root_, key);
  if (!where.ok()) return where.status();
  if (::unlink(where->path.c_str()) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status::FromErrno("unlink " + where->path, errno);
  }
  return fsync_dir(where->dir);
}

}  // namespace pgthaw::objstore
