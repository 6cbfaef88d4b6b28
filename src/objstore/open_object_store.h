// The store a `--store` URL names.
#pragma once

#include <memory>
#include <string_view>

#include "objstore/object_store.h"

namespace pgthaw::objstore {

// "file:DIR" -> FileObjectStore at DIR (created if missing);
// "s3://BUCKET" or "s3://BUCKET/PREFIX" -> S3ObjectStore with its endpoint,
// region and credentials from the environment (S3Options::FromEnvironment).
// InvalidArgument for anything else.
Result<std::unique_ptr<ObjectStore>> open_object_store(std::string_view url);

}  // namespace pgthaw::objstore
