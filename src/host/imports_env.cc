// Environment, identity, name lookup and sockets.
//
// The backend does its client I/O through the read/write callbacks, never
// through sockets, so the socket syscalls answer ENOSYS (a client program
// gets a descriptor for its libpq socket, which the host carries). getaddrinfo is
// needed (pg_hba.conf parsing) but only for numeric addresses: no DNS.
#include <arpa/inet.h>

#include <cstdlib>

#include "host/imports.h"

using pgthaw::host::Host;
using pgthaw::host::host_of;
using pgthaw::host::neg;

namespace {

constexpr int32_t kEaiNoName = -2, kEaiFamily = -6, kEaiService = -8;
constexpr uint32_t kGuestAfInet = 2, kGuestAfInet6 = 10;

}  // namespace

extern "C" {

u32 Z_wasi_snapshot_preview1Z_environ_sizes_get(struct Z_wasi_snapshot_preview1_instance_t* env,
                                                u32 count, u32 buf_size) {
  Host* h = host_of(env);
  uint32_t bytes = 0;
  for (const std::string& e : h->environment()) bytes += static_cast<uint32_t>(e.size() + 1);
  h->Store<uint32_t>(count, static_cast<uint32_t>(h->environment().size()));
  h->Store<uint32_t>(buf_size, bytes);
  return 0;
}

u32 Z_wasi_snapshot_preview1Z_environ_get(struct Z_wasi_snapshot_preview1_instance_t* env, u32 ptrs,
                                          u32 buf) {
  Host* h = host_of(env);
  for (const std::string& e : h->environment()) {
    uint8_t* dst = h->Bytes(buf, e.size() + 1);
    if (dst == nullptr || !h->Store<uint32_t>(ptrs, buf)) return pgthaw::host::kWasmEFAULT;
    std::memcpy(dst, e.c_str(), e.size() + 1);
    buf += static_cast<uint32_t>(e.size() + 1);
    ptrs += 4;
  }
  return 0;
}

// Postgres refuses to run as root; PGlite's glue answers 0 here and its C side
// (pgl_getuid) reports 123. We answer as the glue does.
u32 Z_envZ___syscall_getuid32(struct Z_env_instance_t*) { return 0; }
u32 Z_envZ___syscall_geteuid32(struct Z_env_instance_t*) { return 0; }
u32 Z_envZ___syscall_getgid32(struct Z_env_instance_t*) { return 0; }
u32 Z_envZ___syscall_getegid32(struct Z_env_instance_t*) { return 0; }

u32 Z_envZ_getaddrinfo(struct Z_env_instance_t* env, u32 node, u32 service, u32 hints, u32 res) {
  Host* h = host_of(env);
  uint32_t want_family = hints ? h->Load<uint32_t>(hints + 4) : 0;
  uint32_t socktype = hints ? h->Load<uint32_t>(hints + 8) : 0;
  uint32_t protocol = hints ? h->Load<uint32_t>(hints + 12) : 0;
  std::string host_name = node ? std::string(h->CString(node)) : "127.0.0.1";
  uint16_t port = 0;
  if (service != 0) {
    std::string s(h->CString(service));
    char* end = nullptr;
    unsigned long p = std::strtoul(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || p > 65535) return static_cast<u32>(kEaiService);
    port = static_cast<uint16_t>(p);
  }
  uint8_t addr[16];
  uint32_t family;
  if (inet_pton(AF_INET, host_name.c_str(), addr) == 1) {
    family = kGuestAfInet;
  } else if (inet_pton(AF_INET6, host_name.c_str(), addr) == 1) {
    family = kGuestAfInet6;
  } else {
    return static_cast<u32>(kEaiNoName);  // numeric only: no DNS
  }
  if (want_family != 0 && want_family != family) return static_cast<u32>(kEaiFamily);

  uint32_t salen = family == kGuestAfInet ? 16 : 28;
  uint32_t sa = h->GuestMalloc(salen);
  uint32_t ai = h->GuestMalloc(32);
  if (sa == 0 || ai == 0) return static_cast<u32>(-10);  // EAI_MEMORY
  std::memset(h->Bytes(sa, salen), 0, salen);
  std::memset(h->Bytes(ai, 32), 0, 32);
  h->Store<uint16_t>(sa, static_cast<uint16_t>(family));
  h->Store<uint16_t>(sa + 2, htons(port));
  if (family == kGuestAfInet) {
    std::memcpy(h->Bytes(sa + 4, 4), addr, 4);
  } else {
    std::memcpy(h->Bytes(sa + 8, 16), addr, 16);
  }
  h->Store<uint32_t>(ai + 4, family);
  h->Store<uint32_t>(ai + 8, socktype ? socktype : 1);   // SOCK_STREAM
  h->Store<uint32_t>(ai + 12, protocol ? protocol : 6);  // IPPROTO_TCP
  h->Store<uint32_t>(ai + 16, salen);
  h->Store<uint32_t>(ai + 20, sa);
  h->Store<uint32_t>(res, ai);
  return 0;
}

u32 Z_envZ_getnameinfo(struct Z_env_instance_t* env, u32 sa, u32 salen, u32 host, u32 hostlen,
                       u32 serv, u32 servlen, u32 /*flags*/) {
  Host* h = host_of(env);
  uint16_t family = h->Load<uint16_t>(sa);
  char text[INET6_ADDRSTRLEN] = {};
  if (family == kGuestAfInet && salen >= 16) {
    inet_ntop(AF_INET, h->Bytes(sa + 4, 4), text, sizeof text);
  } else if (family == kGuestAfInet6 && salen >= 28) {
    inet_ntop(AF_INET6, h->Bytes(sa + 8, 16), text, sizeof text);
  } else {
    return static_cast<u32>(kEaiFamily);
  }
  if (host != 0 && hostlen > 0) {
    std::string s(text);
    if (s.size() + 1 > hostlen) return static_cast<u32>(-12);  // EAI_OVERFLOW
    std::memcpy(h->Bytes(host, s.size() + 1), s.c_str(), s.size() + 1);
  }
  if (serv != 0 && servlen > 0) {
    std::string p = std::to_string(ntohs(h->Load<uint16_t>(sa + 2)));
    if (p.size() + 1 > servlen) return static_cast<u32>(-12);
    std::memcpy(h->Bytes(serv, p.size() + 1), p.c_str(), p.size() + 1);
  }
  return 0;
}

#define PGTHAW_NO_SOCKETS(name)                                                         \
  u32 Z_envZ___syscall_##name(struct Z_env_instance_t*, u32, u32, u32, u32, u32, u32) { \
    return neg(pgthaw::host::kWasmENOSYS);                                              \
  }
PGTHAW_NO_SOCKETS(bind)
PGTHAW_NO_SOCKETS(connect)
PGTHAW_NO_SOCKETS(listen)
PGTHAW_NO_SOCKETS(accept4)
PGTHAW_NO_SOCKETS(recvfrom)
PGTHAW_NO_SOCKETS(sendto)
#undef PGTHAW_NO_SOCKETS

// A client program's libpq socket is the host's wire peer (HostOptions):
// its reads and writes go through the callbacks, so the descriptor only has
// to be one it can close. Postgres itself gets ENOSYS.
u32 Z_envZ___syscall_socket(struct Z_env_instance_t* env, u32, u32, u32, u32, u32, u32) {
  Host* h = host_of(env);
  if (!h->wire().has_peer()) return neg(pgthaw::host::kWasmENOSYS);
  return static_cast<u32>(h->fs().openat(pgthaw::vfs::wasm_abi::kAT_FDCWD, "/dev/null",
                                         pgthaw::vfs::wasm_abi::kO_RDWR, 0));
}

}  // extern "C"
