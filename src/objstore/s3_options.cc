#include "objstore/s3_options.h"

#include <cctype>
#include <cstdlib>

#include "objstore/object_key.h"

namespace pgthaw::objstore {

namespace {

std::string getenv_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

// S3's bucket naming rules, the part that matters for a path: 3 to 63
// lowercase letters, digits, '.' and '-', starting and ending alphanumeric.
bool valid_bucket_name(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  for (char c : name) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-')) {
      return false;
    }
  }
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  return alnum(name.front()) && alnum(name.back());
}

bool valid_endpoint(std::string_view endpoint) {
  if (endpoint.empty()) return false;
  size_t colon = endpoint.rfind(':');
  std::string_view host = endpoint.substr(0, colon);
  if (host.empty()) return false;
  for (char c : host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-')) return false;
  }
  if (colon == std::string_view::npos) return true;
  std::string_view port = endpoint.substr(colon + 1);
  if (port.empty() || port.size() > 5) return false;
  for (char c : port) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  int number = std::atoi(std::string(port).c_str());
  return number > 0 && number < 65536;
}

}  // namespace

Result<std::string> endpoint_from_url(std::string_view url) {
  constexpr std::string_view kHttp = "http://";
  if (url.starts_with("https://")) {
    return Status::InvalidArgument("S3 endpoint " + std::string(url) +
                                   ": https is not supported yet; use http://");
  }
  if (!url.starts_with(kHttp)) {
    return Status::InvalidArgument("S3 endpoint " + std::string(url) + " is not an http:// URL");
  }
  std::string_view rest = url.substr(kHttp.size());
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (!valid_endpoint(rest)) {
    return Status::InvalidArgument("S3 endpoint " + std::string(url) +
                                   " is not http://host[:port]");
  }
  return std::string(rest);
}

Result<S3Options> S3Options::FromEnvironment(std::string_view bucket, std::string_view prefix) {
  S3Options options;
  options.bucket = std::string(bucket);
  options.prefix = std::string(prefix);
  options.credentials.access_key_id = getenv_or_empty("AWS_ACCESS_KEY_ID");
  options.credentials.secret_access_key = getenv_or_empty("AWS_SECRET_ACCESS_KEY");
  options.credentials.session_token = getenv_or_empty("AWS_SESSION_TOKEN");
  std::string region = getenv_or_empty("AWS_REGION");
  if (region.empty()) region = getenv_or_empty("AWS_DEFAULT_REGION");
  if (!region.empty()) options.region = region;
  const std::string endpoint_url = getenv_or_empty("AWS_ENDPOINT_URL");
  if (endpoint_url.empty()) {
    return Status::InvalidArgument(
        "AWS_ENDPOINT_URL is not set: the S3 store needs an http://host:port endpoint "
        "(https, and with it AWS's default endpoints, is not supported yet)");
  }
  Result<std::string> endpoint = endpoint_from_url(endpoint_url);
  if (!endpoint.ok()) return endpoint.status();
  options.endpoint = std::move(endpoint.value());
  if (options.credentials.access_key_id.empty() || options.credentials.secret_access_key.empty()) {
    return Status::InvalidArgument("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set");
  }
  PGTHAW_RETURN_IF_ERROR(options.Validate());
  return options;
}

Status S3Options::Validate() const {
  if (!valid_endpoint(endpoint)) {
    return Status::InvalidArgument("S3 endpoint \"" + endpoint + "\" is not host[:port]");
  }
  if (!valid_bucket_name(bucket)) {
    return Status::InvalidArgument("S3 bucket name \"" + bucket +
                                   "\" is not 3-63 lowercase letters, digits, '.' or '-'");
  }
  if (!prefix.empty()) {
    std::string_view trimmed = prefix;
    if (trimmed.ends_with('/')) trimmed.remove_suffix(1);
    PGTHAW_RETURN_IF_ERROR(validate_object_key(trimmed).Annotate("S3 prefix: "));
  }
  if (region.empty()) return Status::InvalidArgument("S3 region is empty");
  for (char c : region) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-')) {
      return Status::InvalidArgument("S3 region \"" + region + "\" is not a region name");
    }
  }
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return Status::InvalidArgument("S3 credentials: access key id and secret key are required");
  }
  if (max_attempts < 1) return Status::InvalidArgument("S3 max_attempts must be at least 1");
  if (list_page_size < 1 || list_page_size > 1000) {
    return Status::InvalidArgument("S3 list_page_size must be 1 to 1000");
  }
  return Status::Ok();
}

}  // namespace pgthaw::objstore
