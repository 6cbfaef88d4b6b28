#include "server/random_secret.h"

#include <openssl/rand.h>

#include "server/scram.h"

namespace pgthaw::server {

Result<std::string> random_bytes(size_t count) {
  std::string out(count, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(count)) != 1) {
    return Status::Internal("RAND_bytes failed");
  }
  return out;
}

std::string base64url_unpadded(std::string_view bytes) {
  std::string text = scram::base64_encode(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

}  // namespace pgthaw::server
