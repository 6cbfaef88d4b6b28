// Time imports. The guest runs in UTC (TZ=PGTZ=UTC; Postgres has its own
// zone database), so the host reports UTC and never consults the host zone.
#include <sys/random.h>

#include <chrono>
#include <ctime>

#include "host/imports.h"

using pgthaw::host::Host;
using pgthaw::host::host_of;

namespace {

// Emscripten's Date.now(): integral milliseconds since the epoch.
double date_now_ms() {
  using namespace std::chrono;
  return static_cast<double>(
      duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

// struct tm as the guest lays it out: ten i32 fields (gmtoff included).
void store_tm(Host* h, uint32_t addr, const std::tm& tm) {
  const int32_t fields[] = {tm.tm_sec,  tm.tm_min,  tm.tm_hour, tm.tm_mday, tm.tm_mon,
                            tm.tm_year, tm.tm_wday, tm.tm_yday, 0,          0};
  for (int i = 0; i < 10; ++i) h->Store<int32_t>(addr + 4 * i, fields[i]);
}

u32 time_to_tm(struct Z_env_instance_t* env, u64 time, u32 tm_addr) {
  std::time_t t = static_cast<std::time_t>(static_cast<int64_t>(time));
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return 1;
  store_tm(host_of(env), tm_addr, tm);
  return 0;
}

}  // namespace

extern "C" {

f64 Z_envZ_emscripten_date_now(struct Z_env_instance_t*) { return date_now_ms(); }

f64 Z_envZ_emscripten_get_now(struct Z_env_instance_t*) { return pgthaw::host::monotonic_ms(); }

u32 Z_wasi_snapshot_preview1Z_clock_time_get(struct Z_wasi_snapshot_preview1_instance_t* env,
                                             u32 id, u64 /*precision*/, u32 out) {
  uint64_t ns;
  if (id == 0) {
    ns = static_cast<uint64_t>(date_now_ms()) * 1000000;  // Date.now() resolution
  } else if (id <= 3) {
    ns = static_cast<uint64_t>(pgthaw::host::monotonic_ms() * 1e6);
  } else {
    return pgthaw::host::kWasmEINVAL;
  }
  return host_of(env)->Store<uint64_t>(out, ns) ? 0 : pgthaw::host::kWasmEFAULT;
}

void Z_envZ__tzset_js(struct Z_env_instance_t* env, u32 timezone, u32 daylight, u32 std_name,
                      u32 dst_name) {
  Host* h = host_of(env);
  h->Store<int32_t>(timezone, 0);
  h->Store<int32_t>(daylight, 0);
  for (uint32_t name : {std_name, dst_name}) {
    if (uint8_t* p = h->Bytes(name, 4)) std::memcpy(p, "UTC", 4);
  }
}

u32 Z_envZ__localtime_js(struct Z_env_instance_t* env, u64 time, u32 tm) {
  return time_to_tm(env, time, tm);
}

u32 Z_envZ__gmtime_js(struct Z_env_instance_t* env, u64 time, u32 tm) {
  return time_to_tm(env, time, tm);
}

// initdb.wasm only. Normalises the guest's struct tm in place, like mktime.
u64 Z_envZ__mktime_js(struct Z_env_instance_t* env, u32 tm_addr) {
  Host* h = host_of(env);
  std::tm tm{};
  tm.tm_sec = h->Load<int32_t>(tm_addr);
  tm.tm_min = h->Load<int32_t>(tm_addr + 4);
  tm.tm_hour = h->Load<int32_t>(tm_addr + 8);
  tm.tm_mday = h->Load<int32_t>(tm_addr + 12);
  tm.tm_mon = h->Load<int32_t>(tm_addr + 16);
  tm.tm_year = h->Load<int32_t>(tm_addr + 20);
  std::time_t t = timegm(&tm);
  std::tm norm{};
  gmtime_r(&t, &norm);
  store_tm(h, tm_addr, norm);
  return static_cast<u64>(static_cast<int64_t>(t));
}

u32 Z_wasi_snapshot_preview1Z_random_get(struct Z_wasi_snapshot_preview1_instance_t* env, u32 buf,
                                         u32 len) {
  uint8_t* p = host_of(env)->Bytes(buf, len);
  if (p == nullptr) return pgthaw::host::kWasmEFAULT;
  for (size_t done = 0; done < len;) {
    ssize_t n = getrandom(p + done, len - done, 0);
    if (n <= 0) return 29;  // EIO
    done += static_cast<size_t>(n);
  }
  return 0;
}

}  // extern "C"
