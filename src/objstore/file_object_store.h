// `file:DIR`: objects as files under DIR, for one host (the embedded
// default, and tests).
//
// Layout: key "a/b/c" is the file DIR/d_a/d_b/o_c. Directories and objects
// get different name prefixes so that keys "a" and "a/b" can both exist, as
// in S3; names starting with '.' are temp files being written. An object is
// written to a temp file in its directory, fsync()ed, then renamed (Put) or
// hard-linked (PutIfAbsent: link() fails if the name exists, so of two racing
// writers exactly one wins) onto its name, and the directory is fsync()ed.
// Emptied directories are left in place: removing them would race with a
// Put creating an object inside.
#pragma once

#include <memory>
#include <string>

#include "objstore/object_store.h"

namespace pgthaw::objstore {

class FileObjectStore final : public ObjectStore {
 public:
  // The store rooted at ROOT, created (with its parents) if missing.
  static Result<std::unique_ptr<FileObjectStore>> Open(const std::string& root);

  Status Put(std::string_view key, std::string_view bytes) override;
  Status PutIfAbsent(std::string_view key, std::string_view bytes) override;
  Result<std::string> Get(std::string_view key) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  Result<std::vector<std::string>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;

  const std::string& root() const { return root_; }

 private:
  explicit FileObjectStore(std::string root) : root_(std::move(root)) {}
  Status Write(std::string_view key, std::string_view bytes, bool replace);

  std::string root_;
};

}  // namespace pgthaw::objstore
