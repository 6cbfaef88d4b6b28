// Base64 (RFC 4648, with padding) of arbitrary bytes: how etcd's JSON gateway
// carries keys and values. OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock do the
// work; these wrappers fix the decoded length, which OpenSSL reports with the
// padding's zero bytes counted.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace pgthaw::fleet {

std::string Base64Encode(std::string_view bytes);
// Corruption when `text` is not base64 (bad characters, length not a
// multiple of 4).
Result<std::string> Base64Decode(std::string_view text);

}  // namespace pgthaw::fleet
