// AWS Signature Version 4 for S3 requests sent with their headers: the
// canonical request, the string to sign, the derived signing key and the
// Authorization header, computed with OpenSSL (SHA-256, HMAC-SHA256).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgthaw::objstore {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless the credentials are temporary
};

// The parts of an HTTP request that SigV4 covers.
struct SigningRequest {
  std::string method;  // "GET"
  // The path as sent: each segment already URI-encoded (uri_encode(s, false)).
  std::string canonical_uri;
  // Query parameters, neither encoded nor sorted.
  std::vector<std::pair<std::string, std::string>> query;
  // Every header to sign (host and x-amz-content-sha256 and x-amz-date at
  // least), names in any case, in any order.
  std::vector<std::pair<std::string, std::string>> headers;
  // x-amz-content-sha256's value: the lowercase hex SHA-256 of the body.
  std::string payload_sha256;
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;range;x-amz-content-sha256;x-amz-date"
  std::string signature;       // lowercase hex
  std::string authorization;   // the Authorization header's value
};

// Lowercase hex SHA-256 of BYTES (HMAC: common/digest.h).
std::string sha256_hex(std::string_view bytes);

// SigV4's URI encoding: unreserved characters (A-Z a-z 0-9 - . _ ~) as they
// are, '/' as is unless `encode_slash`, every other byte as %XX (uppercase).
std::string uri_encode(std::string_view text, bool encode_slash);

// The "&"-joined sorted encoded query, as both the canonical request and
// the request target use it.
std::string canonical_query_string(const std::vector<std::pair<std::string, std::string>>& query);

// Signs REQUEST for SERVICE ("s3") in REGION at AMZ_DATE ("20130524T000000Z",
// the x-amz-date header's value).
SigV4Signature sign_v4(const SigningRequest& request, const AwsCredentials& credentials,
                       std::string_view region, std::string_view service,
                       std::string_view amz_date);

}  // namespace pgthaw::objstore
