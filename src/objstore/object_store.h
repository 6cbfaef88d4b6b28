// ObjectStore: where tenants' durable state lives when it leaves the host,
// as whole objects named by keys ("tenants/acme/snapshot-0007"). Two
// implementations: FileObjectStore (`file:DIR`, the embedded default) and
// S3ObjectStore (`s3://BUCKET/PREFIX`, any S3-compatible service).
//
// Objects are written and read whole; there are no appends and no partial
// reads. Every key passes validate_object_key() (object_key.h) first: a bad
// key is InvalidArgument, never a request or a path.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgthaw::objstore {

// What Head() tells about an object without reading it.
struct ObjectInfo {
  uint64_t size = 0;
  // Changes whenever the object's bytes do; opaque (S3's ETag, quotes
  // included; the file store's inode, mtime and size).
  std::string etag;
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // Writes KEY's object whole, replacing one that is there. Readers see the
  // old object or the new one, never a mix.
  virtual Status Put(std::string_view key, std::string_view bytes) = 0;
  // Writes KEY's object only if there is none: AlreadyExists otherwise. Of
  // two concurrent calls for one key, exactly one succeeds.
  virtual Status PutIfAbsent(std::string_view key, std::string_view bytes) = 0;
  // KEY's object's bytes; NotFound if there is none.
  virtual Result<std::string> Get(std::string_view key) = 0;
  // KEY's object's size and etag; NotFound if there is none.
  virtual Result<ObjectInfo> Head(std::string_view key) = 0;
  // Every key that starts with PREFIX (which need not be a whole key or end
  // in '/'; "" lists all), in ascending byte order.
  virtual Result<std::vector<std::string>> List(std::string_view prefix) = 0;
  // Removes KEY's object; Ok if there was none.
  virtual Status Delete(std::string_view key) = 0;
};

}  // namespace pgthaw::objstore
