#include "server/pg_backend_key.h"

#include <sys/random.h>

#include <cerrno>

namespace pgthaw::server {

Status fill_random(void* out, size_t size) {
  auto* p = static_cast<unsigned char*>(out);
  while (size > 0) {
    ssize_t n = getrandom(p, size, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("getrandom", errno);
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<BackendKey> new_backend_key(const std::function<bool(int32_t)>& taken) {
  // A clash needs as many live connections as there are pids to be likely;
  // the bound only keeps a broken `taken` from looping forever.
  for (int attempt = 0; attempt < 64; ++attempt) {
    uint32_t words[2];
    PGTHAW_RETURN_IF_ERROR(fill_random(words, sizeof words));
    auto pid = static_cast<int32_t>(words[0] & 0x7fffffffu);
    if (pid == 0 || taken(pid)) continue;
    return BackendKey{pid, words[1]};
  }
  return Status::ResourceExhausted("no free backend pid");
}

}  // namespace pgthaw::server
