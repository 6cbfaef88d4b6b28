#include "objstore/open_object_store.h"

#include "objstore/file_object_store.h"
#include "objstore/s3_object_store.h"
#include "objstore/s3_options.h"

namespace pgthaw::objstore {

Result<std::unique_ptr<ObjectStore>> open_object_store(std::string_view url) {
  constexpr std::string_view kFile = "file:";
  constexpr std::string_view kS3 = "s3://";
  if (url.starts_with(kFile)) {
    std::string_view dir = url.substr(kFile.size());
    if (dir.empty()) return Status::InvalidArgument("store URL \"file:\" names no directory");
    if (dir.find('\0') != std::string_view::npos) {
      return Status::InvalidArgument("store URL's directory holds a NUL byte");
    }
    Result<std::unique_ptr<FileObjectStore>> store = FileObjectStore::Open(std::string(dir));
    if (!store.ok()) return store.status();
    return std::unique_ptr<ObjectStore>(std::move(store.value()));
  }
  if (url.starts_with(kS3)) {
    std::string_view rest = url.substr(kS3.size());
    const size_t slash = rest.find('/');
    std::string_view bucket = rest.substr(0, slash);
    std::string_view prefix = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
    if (bucket.empty()) {
      return Status::InvalidArgument("store URL \"" + std::string(url) + "\" names no bucket");
    }
    Result<S3Options> options = S3Options::FromEnvironment(bucket, prefix);
    if (!options.ok()) return options.status().Annotate("store URL " + std::string(url) + ": ");
    Result<std::unique_ptr<S3ObjectStore>> store = S3ObjectStore::Open(std::move(options.value()));
    if (!store.ok()) return store.status();
    return std::unique_ptr<ObjectStore>(std::move(store.value()));
  }
  return Status::InvalidArgument("store URL \"" + std::string(url.substr(0, 200)) +
                                 "\" is neither file:DIR nor s3://BUCKET/PREFIX");
}

}  // namespace pgthaw::objstore
