#include "common/build_id.h"

#include <elf.h>
#include <link.h>

#include <cstdio>
#include <cstring>

namespace pgthaw {
namespace {

int find_note(struct dl_phdr_info* info, size_t, void* out) {
  // The first object is the executable itself.
  auto* id = static_cast<std::string*>(out);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_NOTE) continue;
    const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
    const char* end = p + ph.p_memsz;
    while (p + sizeof(ElfW(Nhdr)) <= end) {
      auto* note = reinterpret_cast<const ElfW(Nhdr)*>(p);
      const char* name = p + sizeof(ElfW(Nhdr));
      const auto* desc =
          reinterpret_cast<const unsigned char*>(name + ((note->n_namesz + 3) & ~3u));
      if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
          std::memcmp(name, "GNU", 4) == 0) {
        char hex[3];
        for (unsigned j = 0; j < note->n_descsz; ++j) {
          std::snprintf(hex, sizeof hex, "%02x", desc[j]);
          *id += hex;
        }
        return 1;
      }
      p = reinterpret_cast<const char*>(desc) + ((note->n_descsz + 3) & ~3u);
    }
  }
  return 1;  // only the executable counts
}

}  // namespace

const std::string& build_id() {
  static const std::string id = [] {
    std::string s;
    dl_iterate_phdr(find_note, &s);
    return s.empty() ? std::string("unknown") : s;
  }();
  return id;
}

}  // namespace pgthaw
