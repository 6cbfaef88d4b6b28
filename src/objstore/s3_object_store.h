// `s3://BUCKET/PREFIX`: objects in an S3-compatible service (AWS S3,
// Cloudflare R2, Ceph RGW, MinIO; s3rver in tests), over one kept-alive
// HTTP/1.1 connection with path-style addressing, every request signed with
// SigV4. Key K is the object PREFIX/K of BUCKET.
//
// Calls are serialized on the one connection. A request whose connection
// fails or that gets a 5xx is retried, a bounded number of times with
// doubling waits (S3Options). A retried PutIfAbsent whose first try did
// land reports AlreadyExists: the service cannot tell the two apart.
#pragma once

#include <memory>
#include <optional>

#include "common/thread_annotations.h"
#include "objstore/http_connection.h"
#include "objstore/object_store.h"
#include "objstore/s3_options.h"

namespace pgthaw::objstore {

class S3ObjectStore final : public ObjectStore {
 public:
  // Validates OPTIONS; connects on the first request.
  static Result<std::unique_ptr<S3ObjectStore>> Open(S3Options options);

  // PutIfAbsent sends If-None-Match: *; the 412 (or 409) of a service that
  // honours it (AWS S3 since August 2024; R2, MinIO, Ceph RGW by their docs)
  // is AlreadyExists. A service that ignores the header replaces the object.
  Status Put(std::string_view key, std::string_view bytes) override;
  Status PutIfAbsent(std::string_view key, std::string_view bytes) override;
  Result<std::string> Get(std::string_view key) override;
  Result<ObjectInfo> Head(std::string_view key) override;
  // ListObjectsV2, page by page (continuation tokens).
  Result<std::vector<std::string>> List(std::string_view prefix) override;
  Status Delete(std::string_view key) override;

 private:
  struct Call;
  explicit S3ObjectStore(S3Options options);
  Status PutObject(std::string_view key, std::string_view bytes, bool if_absent);
  // Sends CALL with retries; a response is any the service gave (errors
  // included) after the last try.
  Result<HttpResponse> Send(const Call& call);
  std::string ObjectPath(std::string_view key) const;
  // "s3://bucket/prefix/KEY" for messages.
  std::string Describe(std::string_view key) const;

  const S3Options options_;
  const std::string key_prefix_;  // options_.prefix with a trailing '/', or ""
  Mutex mutex_;
  HttpConnection connection_ GUARDED_BY(mutex_);
};

}  // namespace pgthaw::objstore
