#include "objstore/s3_object_store.h"

#include <algorithm>
#include <ctime>
#include <thread>

#include "objstore/object_key.h"
#include "objstore/s3_xml.h"
#include "objstore/sigv4.h"

namespace pgthaw::objstore {

namespace {

// Error and listing bodies are small; anything longer is not S3's.
constexpr size_t kMaxXmlBodyBytes = 16 << 20;

std::string normalized_prefix(const std::string& prefix) {
  if (prefix.empty() || prefix.ends_with('/')) return prefix;
  return prefix + "/";
}

std::string amz_date_now() {
  std::time_t now = std::time(nullptr);
  std::tm utc;
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y%m%dT%H%M%SZ", &utc);
  return text;
}

std::string host_of(const std::string& endpoint) { return endpoint.substr(0, endpoint.rfind(':')); }

std::string port_of(const std::string& endpoint) {
  size_t colon = endpoint.rfind(':');
  return colon == std::string::npos ? "80" : endpoint.substr(colon + 1);
}

// "WHAT: HTTP 403 InvalidAccessKeyId: The AWS Access Key Id ..." for a
// non-2xx response: the service's XML <Code> and <Message>, cut short.
std::string describe_error(const std::string& what, const HttpResponse& response) {
  std::string message = what + ": HTTP " + std::to_string(response.status);
  if (std::optional<std::string> code = xml_first_element_text(response.body, "Code")) {
    message += " " + code->substr(0, 100);
    if (std::optional<std::string> text = xml_first_element_text(response.body, "Message")) {
      message += ": " + text->substr(0, 300);
    }
  }
  return message;
}

// The Status for a non-2xx response to WHAT, its code chosen by the HTTP
// status.
Status error_from_response(const std::string& what, const HttpResponse& response) {
  std::string message = describe_error(what, response);
  switch (response.status) {
    case 404:
      return Status::NotFound(std::move(message));
    case 401:
    case 403:
      return Status::Unauthenticated(std::move(message));
    case 503:
      return Status::Unavailable(std::move(message));
    default:
      return Status::IoError(std::move(message));
  }
}

}  // namespace

// One request before signing.
struct S3ObjectStore::Call {
  std::string method;
  std::string path;  // canonical URI, encoded
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;  // signed, besides the usual
  std::string_view body;
  size_t max_body_bytes = kMaxXmlBodyBytes;
};

Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::Open(S3Options options) {
  PGTHAW_RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<S3ObjectStore>(new S3ObjectStore(std::move(options)));
}

S3ObjectStore::S3ObjectStore(S3Options options)
    : options_(std::move(options)),
      key_prefix_(normalized_prefix(options_.prefix)),
      connection_(host_of(options_.endpoint), port_of(options_.endpoint), options_.timeout) {}

std::string S3ObjectStore::ObjectPath(std::string_view key) const {
  return "/" + options_.bucket + "/" + uri_encode(key_prefix_ + std::string(key), false);
}

std::string S3ObjectStore::Describe(std::string_view key) const {
  return "s3://" + options_.bucket + "/" + key_prefix_ + std::string(key);
}

Result<HttpResponse> S3ObjectStore::Send(const Call& call) {
  const std::string payload_sha256 = sha256_hex(call.body);
  Status last;
  std::chrono::milliseconds backoff = options_.first_backoff;
  MutexLock lock(mutex_);
  for (int attempt = 1; attempt <= options_.max_attempts; ++attempt) {
    if (attempt > 1) {
      std::this_thread::sleep_for(backoff);
      backoff *= 2;
    }
    // Signed afresh each try: the date is part of the signature.
    const std::string amz_date = amz_date_now();
    SigningRequest signing;
    signing.method = call.method;
    signing.canonical_uri = call.path;
    signing.query = call.query;
    signing.payload_sha256 = payload_sha256;
    signing.headers = call.headers;
    signing.headers.emplace_back("host", options_.endpoint);
    signing.headers.emplace_back("x-amz-content-sha256", payload_sha256);
    signing.headers.emplace_back("x-amz-date", amz_date);
    if (!options_.credentials.session_token.empty()) {
      signing.headers.emplace_back("x-amz-security-token", options_.credentials.session_token);
    }
    const SigV4Signature signature =
        sign_v4(signing, options_.credentials, options_.region, "s3", amz_date);

    HttpRequest request;
    request.method = call.method;
    request.target = call.path;
    if (!call.query.empty()) request.target += "?" + canonical_query_string(call.query);
    request.headers = signing.headers;
    request.headers.emplace_back("authorization", signature.authorization);
    request.body = call.body;

    Result<HttpResponse> response = connection_.RoundTrip(request, call.max_body_bytes);
    if (!response.ok()) {
      if (response.status().code() != StatusCode::kUnavailable) return response.status();
      last = response.status();
      continue;
    }
    if (response->status >= 500 && attempt < options_.max_attempts) {
      last = error_from_response(call.method + " " + call.path, *response);
      continue;
    }
    return response;
  }
  return last.Annotate(call.method + " " + call.path + " failed after " +
                       std::to_string(options_.max_attempts) + " tries: ");
}

Status S3ObjectStore::PutObject(std::string_view key, std::string_view bytes, bool if_absent) {
  PGTHAW_RETURN_IF_ERROR(validate_object_key(key));
  Call call;
  call.method = "PUT";
  call.path = ObjectPath(key);
  call.body = bytes;
  if (if_absent) call.headers.emplace_back("if-none-match", "*");
  Result<HttpResponse> response = Send(call);
  if (!response.ok()) return response.status();
  if (response->status == 200) return Status::Ok();
  const std::string what = "PUT " + Describe(key);
  // 412: the object exists; 409 ConditionalRequestConflict: a concurrent
  // conditional write to the key won.
  if (if_absent && (response->status == 412 || response->status == 409)) {
    return Status::AlreadyExists("object " + std::string(key) +
                                 " already exists: " + describe_error(what, *response));
  }
  return error_from_response(what, *response);
}

Status S3ObjectStore::Put(std::string_view key, std::string_view bytes) {
  return PutObject(key, bytes, /*if_absent=*/false);
}

Status S3ObjectStore::PutIfAbsent(std::string_view key, std::string_view bytes) {
  return PutObject(key, bytes, /*if_absent=*/true);
}

Result<std::string> S3ObjectStore::Get(std::string_view key) {
  PGTHAW_RETURN_IF_ERROR(validate_object_key(key));
  Call call;
  call.method = "GET";
  call.path = ObjectPath(key);
  call.max_body_bytes = options_.max_object_bytes;
  Result<HttpResponse> response = Send(call);
  if (!response.ok()) return response.status();
  if (response->status != 200) return error_from_response("GET " + Describe(key), *response);
  return std::move(response->body);
}

Result<ObjectInfo> S3ObjectStore::Head(std::string_view key) {
  PGTHAW_RETURN_IF_ERROR(validate_object_key(key));
  Call call;
  call.method = "HEAD";
  call.path = ObjectPath(key);
  Result<HttpResponse> response = Send(call);
  if (!response.ok()) return response.status();
  if (response->status != 200) return error_from_response("HEAD " + Describe(key), *response);
  if (!response->content_length) {
    return Status::Corruption("HEAD " + Describe(key) + ": no Content-Length in the response");
  }
  return ObjectInfo{*response->content_length, response->etag};
}

Result<std::vector<std::string>> S3ObjectStore::List(std::string_view prefix) {
  PGTHAW_RETURN_IF_ERROR(validate_object_key_prefix(prefix));
  const std::string full_prefix = key_prefix_ + std::string(prefix);
  const std::string what = "LIST " + Describe(prefix);
  std::vector<std::string> keys;
  std::string token;
  while (true) {
    Call call;
    call.method = "GET";
    call.path = "/" + options_.bucket;
    call.query = {{"list-type", "2"},
                  {"max-keys", std::to_string(options_.list_page_size)},
                  {"prefix", full_prefix}};
    if (!token.empty()) call.query.emplace_back("continuation-token", token);
    Result<HttpResponse> response = Send(call);
    if (!response.ok()) return response.status();
    if (response->status != 200) return error_from_response(what, *response);

    Result<std::vector<std::string>> page = xml_element_texts(response->body, "Key");
    if (!page.ok()) return page.status().Annotate(what + ": ");
    for (std::string& full_key : *page) {
      if (!full_key.starts_with(full_prefix)) {
        return Status::Corruption(what + ": the service listed " + full_key.substr(0, 200) +
                                  ", which lacks the prefix asked for");
      }
      std::string key = full_key.substr(key_prefix_.size());
      // Objects someone else wrote under names no store key can have
      // ("a//b") cannot be read through this interface: leave them out.
      if (validate_object_key(key).ok()) keys.push_back(std::move(key));
    }
    const bool truncated = xml_first_element_text(response->body, "IsTruncated") == "true";
    if (!truncated) break;
    std::optional<std::string> next =
        xml_first_element_text(response->body, "NextContinuationToken");
    if (!next || next->empty() || *next == token || next->size() > 4096) {
      return Status::Corruption(what + ": a truncated page without a new continuation token");
    }
    token = std::move(*next);
  }
  // S3 lists in UTF-8 binary order already; sorting makes it so for any
  // service (and merges nothing: keys are unique).
  std::sort(keys.begin(), keys.end());
  return keys;
}

Status S3ObjectStore::Delete(std::string_view key) {
  PGTHAW_RETURN_IF_ERROR(validate_object_key(key));
  Call call;
  call.method = "DELETE";
  call.path = ObjectPath(key);
  Result<HttpResponse> response = Send(call);
  if (!response.ok()) return response.status();
  // S3 answers 204 whether or not the key existed; some services say 404.
  if (response->status == 204 || response->status == 200 || response->status == 404) {
    return Status::Ok();
  }
  return error_from_response("DELETE " + Describe(key), *response);
}

}  // namespace pgthaw::objstore
