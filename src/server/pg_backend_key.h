// The BackendKeyData of a new Postgres connection: its process id and its
// cancel key, the pair a CancelRequest must quote.
//
// Both come from the kernel's CSPRNG (getrandom(2)), so no client can guess
// another's key and cancel its queries: Postgres' own keys are random too
// (pg_strong_random). The pid is positive and unique among the listener's
// live connections (it is the key of PgListenerShared::connections), never
// sequential, so a pid tells nothing about other connections either.
#pragma once

#include <cstdint>
#include <functional>

#include "common/status.h"

namespace pgthaw::server {

struct BackendKey {
  int32_t pid = 0;
  uint32_t secret = 0;
};

// `taken(pid)` is true for pids in use. IoError if the kernel gives no
// random bytes (the caller refuses the connection).
Result<BackendKey> new_backend_key(const std::function<bool(int32_t)>& taken);

// `size` bytes from getrandom(2).
Status fill_random(void* out, size_t size);

}  // namespace pgthaw::server
