// Where an S3ObjectStore sends its requests and the credentials it signs
// them with.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"
#include "objstore/sigv4.h"

namespace pgthaw::objstore {

struct S3Options {
  // "host:port" (or "host" for port 80) of an S3-compatible service, spoken
  // to over plain HTTP with path-style addressing (http://endpoint/BUCKET/KEY).
  // TLS (https) is not supported yet.
  std::string endpoint;
  std::string region = "us-east-1";
  std::string bucket;
  // Prepended (with a '/') to every key; "" for none.
  std::string prefix;
  AwsCredentials credentials;

  // Per connect, request write and response read.
  std::chrono::milliseconds timeout{30000};
  // Tries of one request when the connection fails or the service answers 5xx.
  int max_attempts = 4;
  // The first retry's wait; each next one doubles it.
  std::chrono::milliseconds first_backoff{50};
  // max-keys of each ListObjectsV2 page (S3 caps it at 1000).
  int list_page_size = 1000;
  // The largest object Get() accepts: a response announcing more is an error.
  size_t max_object_bytes = size_t{1} << 30;

  // BUCKET and PREFIX with the rest from the environment:
  // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional),
  // AWS_REGION or else AWS_DEFAULT_REGION (default us-east-1), and
  // AWS_ENDPOINT_URL ("http://host:port"; required: https is not supported).
  static Result<S3Options> FromEnvironment(std::string_view bucket, std::string_view prefix);

  // InvalidArgument unless the options can make requests: an endpoint of
  // host[:port], a bucket name S3 allows, a prefix that is a valid key,
  // credentials, sane limits.
  Status Validate() const;
};

// The endpoint part of an http:// URL ("http://host:port/" -> "host:port");
// InvalidArgument for other schemes or a path.
Result<std::string> endpoint_from_url(std::string_view url);

}  // namespace pgthaw::objstore
