// runtime::TenantReplica (tenant_replica.h).
#include "runtime/tenant_replica.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/build_id.h"
#include "common/byte_codec.h"
#include "common/digest.h"
#include "common/durable_file.h"
#include "common/env.h"
#include "common/zstd_frame.h"

namespace pgthaw::runtime {

namespace fs = std::filesystem;

namespace {

constexpr int kManifestFormat = 1;
// What a manifest says it is signed for: a tenant's manifest cannot be
// replayed as a template's, nor one tenant's as another's (kind and name
// are in the signed body and checked).
constexpr std::string_view kSignatureDomain = "pgthaw-manifest-v1\n";
constexpr size_t kMinKeyBytes = 32;
// Bounds on what is read from the store before it is checked.
constexpr uint64_t kMaxManifestBytes = uint64_t{64} << 20;
constexpr uint64_t kMaxFileBytes = uint64_t{4} << 30;  // a blob's sparse stream
constexpr size_t kMaxEntries = 1'000'000;
// In a template directory: this template is the store's (pushed or pulled),
// so nothing needs checking at the next start.
constexpr std::string_view kTemplateMarker = "in-store";

uint64_t micros_since(std::chrono::steady_clock::time_point start) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::steady_clock::now() - start)
                                   .count());
}

// A file as a sparse stream: its size, then (offset, length, bytes) per
// data extent, holes left out.
Result<std::string> read_sparse(const std::string& path) {
  int fd = env().Open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return Status::FromErrno("stat " + path, err);
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  ByteWriter w;
  w.u64(size);
  Status status;
  off_t at = 0;
  while (static_cast<uint64_t>(at) < size) {
    off_t data = lseek(fd, at, SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;  // only a hole is left
    off_t hole = data < 0 ? static_cast<off_t>(size) : lseek(fd, data, SEEK_HOLE);
    if (data < 0) data = at;  // no SEEK_DATA here: all of it is data
    if (hole < 0) hole = static_cast<off_t>(size);
    const auto len = static_cast<uint64_t>(hole - data);
    w.u64(static_cast<uint64_t>(data));
    w.u64(len);
    std::string& out = w.str();
    const size_t from = out.size();
    out.resize(from + len);
    uint64_t done = 0;
    while (done < len) {
      ssize_t n = env().Pread(fd, out.data() + from + done, len - done,
                              static_cast<off_t>(data + static_cast<off_t>(done)));
      if (n <= 0) {
        status = n < 0 ? Status::FromErrno("read " + path, errno)
                       : Status::IoError("read " + path + ": shorter than it was");
        break;
      }
      done += static_cast<uint64_t>(n);
    }
    if (!status.ok()) break;
    at = hole;
  }
  close(fd);
  if (!status.ok()) return status;
  return std::move(w.str());
}

// Writes a sparse stream (checked whole first) as the new file `path`.
Status write_sparse(const std::string& path, std::string_view stream, bool durable) {
  ByteReader r(stream);
  const uint64_t size = r.u64();
  if (!r.ok() || size > kMaxFileBytes) return Status::Corruption(path + ": bad file size");
  struct Extent {
    uint64_t offset;
    std::string_view bytes;
  };
  std::vector<Extent> extents;
  uint64_t end = 0;
  while (r.ok() && !r.at_end()) {
    const uint64_t offset = r.u64();
    const uint64_t len = r.u64();
    if (!r.ok() || offset < end || len > size || offset > size - len) {
      return Status::Corruption(path + ": extents out of order or out of bounds");
    }
    std::string_view bytes = r.take(len);
    if (!r.ok()) break;
    extents.push_back({offset, bytes});
    end = offset + len;
  }
  PGTHAW_RETURN_IF_ERROR(r.status(path));
  int fd = env().Open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return Status::FromErrno("create " + path, errno);
  Status status;
  for (const Extent& e : extents) {
    size_t done = 0;
    while (status.ok() && done < e.bytes.size()) {
      ssize_t n = env().Pwrite(fd, e.bytes.data() + done, e.bytes.size() - done,
                               static_cast<off_t>(e.offset + done));
      if (n < 0) status = Status::FromErrno("write " + path, errno);
      if (n > 0) done += static_cast<size_t>(n);
    }
  }
  if (status.ok() && env().Ftruncate(fd, static_cast<off_t>(size)) != 0) {
    status = Status::FromErrno("truncate " + path, errno);
  }
  if (status.ok() && durable && env().Fsync(fd) != 0) {
    status = Status::FromErrno("fsync " + path, errno);
  }
  close(fd);
  return status;
}

bool portable_template_path(const std::string& rel) {
  if (rel.empty() || rel.front() == '/' || rel.find('\0') != std::string::npos) return false;
  for (const auto& part : fs::path(rel)) {
    if (part == "." || part == ".." || part.empty()) return false;
  }
  const std::string top = fs::path(rel).begin()->string();
  return top == "data" || top == "snapshot";
}

std::string tenant_manifest_key(const std::string& id) { return "tenants/" + id + "/manifest"; }
std::string template_manifest_key(const std::string& build) {
  return "templates/" + build + "/manifest";
}
std::string blob_key(const std::string& sha256_hex) { return "blobs/" + sha256_hex; }

}  // namespace

Result<std::unique_ptr<TenantReplica>> TenantReplica::Create(
    std::shared_ptr<objstore::ObjectStore> store, std::string key, engine::TenantStore layout,
    bool durable) {
  if (store == nullptr) return Status::InvalidArgument("a replica needs an object store");
  if (key.size() < kMinKeyBytes) {
    return Status::InvalidArgument("the fleet key must be at least " +
                                   std::to_string(kMinKeyBytes) + " bytes");
  }
  return std::unique_ptr<TenantReplica>(
      new TenantReplica(std::move(store), std::move(key), std::move(layout), durable));
}

Result<std::string> TenantReplica::PushTree(
    const std::string& kind, const std::string& name, const std::string& dir,
    const std::vector<engine::TenantStore::PortableEntry>& entries) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& e : entries) {
    if (e.dir) {
      files.push_back({{"path", e.rel}, {"dir", true}});
      continue;
    }
    auto stream = read_sparse(dir + "/" + e.rel);
    if (!stream.ok()) return stream.status();
    const std::string digest = hex(sha256(*stream));
    const std::string key = blob_key(digest);
    // Blobs are named by their content: one already there is this one.
    if (!store_->Head(key).ok()) {
      const std::string frame = zstd_compress(*stream);
      PGTHAW_RETURN_IF_ERROR(store_->Put(key, frame));
      bytes_up_ += frame.size();
    }
    files.push_back({{"path", e.rel}, {"size", stream->size()}, {"sha256", digest}});
  }
  const nlohmann::json body = {{"format", kManifestFormat},
                               {"kind", kind},
                               {"name", name},
                               {"build", build_id()},
                               {"files", std::move(files)}};
  const std::string text = body.dump();
  const nlohmann::json manifest = {
      {"body", text}, {"hmac", hex(hmac_sha256(key_, std::string(kSignatureDomain) + text))}};
  return manifest.dump();
}

Result<bool> TenantReplica::PullTree(const std::string& kind, const std::string& name,
                                     const std::string& manifest_key, const std::string& staging,
                                     bool (*allowed)(const std::string& rel)) {
  auto signed_manifest = store_->Get(manifest_key);
  if (!signed_manifest.ok()) {
    if (signed_manifest.status().code() == StatusCode::kNotFound) return false;
    return signed_manifest.status();
  }
  bytes_down_ += signed_manifest->size();
  const std::string what = "store object " + manifest_key;
  if (signed_manifest->size() > kMaxManifestBytes) return Status::Corruption(what + ": too large");
  auto outer = nlohmann::json::parse(*signed_manifest, nullptr, /*allow_exceptions=*/false);
  if (outer.is_discarded() || !outer.is_object() || !outer.contains("body") ||
      !outer["body"].is_string() || !outer.contains("hmac") || !outer["hmac"].is_string()) {
    return Status::Corruption(what + ": not a signed manifest");
  }
  const std::string text = outer["body"].get<std::string>();
  const std::string mac = hex(hmac_sha256(key_, std::string(kSignatureDomain) + text));
  if (!equal_in_constant_time(mac, outer["hmac"].get<std::string>())) {
    return Status::Unauthenticated(what + ": its signature does not verify under the fleet key");
  }
  // Signed by a node of this fleet: from here on the body is trusted to be
  // one of ours, and still checked to be the one asked for.
  auto body = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object() || body.value("format", 0) != kManifestFormat ||
      body.value("kind", "") != kind || body.value("name", "") != name || !body.contains("files") ||
      !body["files"].is_array()) {
    return Status::Corruption(what + ": not the " + kind + " manifest of " + name);
  }
  if (body.value("build", "") != build_id()) {
    return Status::InvalidArgument(what + " was written by build " + body.value("build", "?") +
                                   ", not this one (" + build_id() + ")");
  }
  if (body["files"].size() > kMaxEntries) return Status::Corruption(what + ": too many files");

  std::error_code ec;
  fs::create_directories(staging, ec);
  if (ec) return Status::FromErrno("mkdir " + staging, ec.value());
  for (const auto& f : body["files"]) {
    if (!f.is_object() || !f.contains("path") || !f["path"].is_string()) {
      return Status::Corruption(what + ": a file entry without a path");
    }
    const std::string rel = f["path"].get<std::string>();
    if (!allowed(rel)) return Status::Corruption(what + " names a path it may not: " + rel);
    const std::string path = staging + "/" + rel;
    if (f.value("dir", false)) {
      fs::create_directories(path, ec);
      if (ec) return Status::FromErrno("mkdir " + path, ec.value());
      continue;
    }
    const std::string digest = f.value("sha256", "");
    const uint64_t size = f.value("size", uint64_t{0});
    if (digest.size() != 64 || digest.find_first_not_of("0123456789abcdef") != std::string::npos ||
        size > kMaxFileBytes) {
      return Status::Corruption(what + ": bad entry for " + rel);
    }
    auto frame = store_->Get(blob_key(digest));
    if (!frame.ok()) return frame.status();
    bytes_down_ += frame->size();
    auto stream = zstd_decompress(*frame, size, "blob " + digest);
    if (!stream.ok()) return stream.status();
    if (stream->size() != size || !equal_in_constant_time(hex(sha256(*stream)), digest)) {
      return Status::Corruption("blob " + digest + " does not hold what " + rel + " held");
    }
    fs::create_directories(fs::path(path).parent_path(), ec);
    if (ec) return Status::FromErrno("mkdir " + path, ec.value());
    PGTHAW_RETURN_IF_ERROR(write_sparse(path, *stream, durable_));
  }
  if (durable_) {
    // Every directory of the tree, deepest first, then the tree's own.
    std::vector<std::string> dirs;
    for (fs::recursive_directory_iterator it(staging, ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it->is_directory(ec)) dirs.push_back(it->path().string());
    }
    for (auto d = dirs.rbegin(); d != dirs.rend(); ++d) PGTHAW_RETURN_IF_ERROR(fsync_dir(*d));
    PGTHAW_RETURN_IF_ERROR(fsync_dir(staging));
  }
  return true;
}

Status TenantReplica::PushTenant(const std::string& id) {
  const auto start = std::chrono::steady_clock::now();
  const std::string root = layout_.root(id);
  auto entries = layout_.PortableFiles(root, durable_);
  Status status = entries.status();
  if (status.ok()) {
    auto manifest = PushTree("tenant", id, root, *entries);
    status = manifest.status();
    // The manifest last: until it is replaced, the previous one (and the
    // blobs it names, which are never removed) is what a pull gets.
    if (status.ok()) status = store_->Put(tenant_manifest_key(id), *manifest);
    if (status.ok()) bytes_up_ += manifest->size();
  }
  push_us_ += micros_since(start);
  (status.ok() ? pushes_ : failures_)++;
  return status;
}

Result<bool> TenantReplica::PullTenant(const std::string& id, const std::string& staging) {
  const auto start = std::chrono::steady_clock::now();
  auto pulled = PullTree(
      "tenant", id, tenant_manifest_key(id), staging,
      [](const std::string& rel) { return engine::TenantStore::portable_tenant_path(rel); });
  pull_us_ += micros_since(start);
  if (!pulled.ok()) {
    ++failures_;
  } else if (*pulled) {
    ++pulls_;
  }
  return pulled;
}

Status TenantReplica::ForgetTenant(const std::string& id) {
  return store_->Delete(tenant_manifest_key(id));
}

Status TenantReplica::PushTemplate(const std::string& build, const std::string& dir) {
  const std::string marker = dir + "/" + std::string(kTemplateMarker);
  std::error_code ec;
  if (fs::exists(marker, ec)) return Status::Ok();  // pushed or pulled before
  auto all = engine::TenantStore::TreeFiles(dir);
  if (!all.ok()) return all.status();
  std::vector<engine::TenantStore::PortableEntry> entries;
  for (auto& e : *all) {
    if (portable_template_path(e.rel)) entries.push_back(std::move(e));
  }
  auto manifest = PushTree("template", build, dir, entries);
  if (!manifest.ok()) return manifest.status();
  Status put = store_->PutIfAbsent(template_manifest_key(build), *manifest);
  if (put.code() == StatusCode::kAlreadyExists) {
    // Another node's, or this one's from before its marker was written:
    // the same template if it names the same files.
    auto theirs = store_->Get(template_manifest_key(build));
    if (!theirs.ok()) return theirs.status();
    auto files_of = [](const std::string& signed_manifest) {
      auto outer = nlohmann::json::parse(signed_manifest, nullptr, false);
      if (!outer.is_object() || !outer.contains("body") || !outer["body"].is_string()) {
        return nlohmann::json();
      }
      auto body = nlohmann::json::parse(outer["body"].get<std::string>(), nullptr, false);
      return body.is_object() && body.contains("files") ? body["files"] : nlohmann::json();
    };
    if (files_of(*theirs) != files_of(*manifest)) {
      return Status::AlreadyExists("the store holds another template of build " + build);
    }
  } else if (!put.ok()) {
    return put;
  } else {
    bytes_up_ += manifest->size();
  }
  return write_file_atomically(marker, build + "\n", durable_);
}

Result<bool> TenantReplica::PullTemplate(const std::string& build, const std::string& staging) {
  auto pulled =
      PullTree("template", build, template_manifest_key(build), staging, portable_template_path);
  if (!pulled.ok() || !*pulled) return pulled;
  PGTHAW_RETURN_IF_ERROR(
      write_file_atomically(staging + "/" + std::string(kTemplateMarker), build + "\n", durable_));
  return true;
}

Result<bool> TenantReplica::HasTenant(const std::string& id) {
  auto head = store_->Head(tenant_manifest_key(id));
  if (head.ok()) return true;
  if (head.status().code() == StatusCode::kNotFound) return false;
  return head.status();
}

ReplicaStats TenantReplica::stats() const {
  ReplicaStats s;
  s.pushes = pushes_;
  s.pulls = pulls_;
  s.failures = failures_;
  s.bytes_up = bytes_up_;
  s.bytes_down = bytes_down_;
  s.push_us = push_us_;
  s.pull_us = pull_us_;
  return s;
}

}  // namespace pgthaw::runtime
