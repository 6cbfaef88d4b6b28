// Secrets the server makes: random bytes from OpenSSL's CSPRNG, and the
// URL-safe text they are handed out as (tokens, generated passwords).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"

namespace pgthaw::server {

// `count` bytes from RAND_bytes; Internal if OpenSSL has none to give.
Result<std::string> random_bytes(size_t count);

// Base64url (RFC 4648 section 5) without padding.
std::string base64url_unpadded(std::string_view bytes);

}  // namespace pgthaw::server
