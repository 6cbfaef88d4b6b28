// Lexical path normalisation for the virtual namespace (see path.h).
#include "vfs/path.h"

#include <vector>

#include "vfs/wasm_errno.h"

namespace pgthaw::vfs {

std::string normalize_path(std::string_view base, std::string_view path) {
  std::vector<std::string_view> parts;
  auto push_components = [&parts](std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      size_t j = s.find('/', i);
      if (j == std::string_view::npos) j = s.size();
      std::string_view c = s.substr(i, j - i);
      if (c.empty() || c == ".") {
        // skip
      } else if (c == "..") {
        if (!parts.empty()) parts.pop_back();  // ".." at "/" stays at "/"
      } else {
        parts.push_back(c);
      }
      i = j + 1;
    }
  };
  if (path.empty() || path[0] != '/') push_components(base);
  push_components(path);
  std::string out;
  for (std::string_view c : parts) {
    out += '/';
    out += c;
  }
  if (out.empty()) out.push_back('/');
  return out;
}

int check_path_limits(std::string_view path) {
  if (path.size() >= kMaxPathBytes) return -wasm_errno::kENAMETOOLONG;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end - start > kMaxNameBytes) return -wasm_errno::kENAMETOOLONG;
    start = end + 1;
  }
  return 0;
}

bool path_is_under(std::string_view path, std::string_view prefix) {
  if (prefix == "/") return !path.empty() && path[0] == '/';
  if (path.size() < prefix.size() || path.substr(0, prefix.size()) != prefix) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

std::string_view path_remainder(std::string_view path, std::string_view prefix) {
  if (prefix == "/") return path.substr(1);
  if (path.size() == prefix.size()) return {};
  return path.substr(prefix.size() + 1);
}

std::pair<std::string_view, std::string_view> split_last(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {std::string_view(), path};
  if (slash == 0) return {path.substr(0, 1), path.substr(1)};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

std::string join_path(std::string_view dir, std::string_view name) {
  std::string out(dir);
  if (out.empty() || out.back() != '/') out += '/';
  out += name;
  return out;
}

}  // namespace pgthaw::vfs
