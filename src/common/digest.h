// SHA-256 and HMAC-SHA256 (OpenSSL), as raw bytes or lowercase hex.
#pragma once

#include <string>
#include <string_view>

namespace pgthaw {

std::string sha256(std::string_view bytes);                            // 32 raw bytes
std::string hmac_sha256(std::string_view key, std::string_view data);  // 32 raw bytes
std::string hex(std::string_view bytes);
// Compares in time that does not depend on where they differ (MACs).
bool equal_in_constant_time(std::string_view a, std::string_view b);

}  // namespace pgthaw
