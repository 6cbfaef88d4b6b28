// Lexical path handling for the virtual namespace: joining, normalising and
// prefix matching of guest paths. Pure string functions, no syscalls; the
// sandbox rule in filesystem.h depends on normalize_path() never producing a
// path with a "." or ".." component.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace pgthaw::vfs {

inline constexpr size_t kMaxPathBytes = 4096;  // PATH_MAX, including the NUL
inline constexpr size_t kMaxNameBytes = 255;   // NAME_MAX

// Makes `path` absolute against `base` (an absolute normalised path) unless it
// already starts with '/', then removes ".", empty components and "..". ".."
// at "/" stays at "/". The result starts with '/' and has no trailing '/'
// except for "/" itself.
std::string normalize_path(std::string_view base, std::string_view path);

// 0, or -ENAMETOOLONG (wasm) when the guest path or one component is too long.
int check_path_limits(std::string_view path);

// True if `path` is `prefix` or lies below it. Both absolute and normalised.
bool path_is_under(std::string_view path, std::string_view prefix);

// The part of `path` below `prefix` without a leading '/' ("" for prefix
// itself). Requires path_is_under(path, prefix).
std::string_view path_remainder(std::string_view path, std::string_view prefix);

// "/a/b/c" -> {"/a/b", "c"}; "a/b" -> {"a", "b"}; "c" -> {"", "c"};
// "/c" -> {"/", "c"}; "/" -> {"/", ""}.
std::pair<std::string_view, std::string_view> split_last(std::string_view path);

// Joins a normalised directory and a child name.
std::string join_path(std::string_view dir, std::string_view name);

}  // namespace pgthaw::vfs
