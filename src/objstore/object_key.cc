#include "objstore/object_key.h"

#include <string>

namespace pgthaw::objstore {

namespace {

std::string quoted(std::string_view key) {
  std::string shown;
  for (char c : key.substr(0, 80)) {
    shown += (c == '\0') ? std::string("\\0") : std::string(1, c);
  }
  return "\"" + shown + (key.size() > 80 ? "...\"" : "\"");
}

// Checks the segments of TEXT up to its last '/' (all of them with
// `whole_key`: the tail of a prefix may still grow into a valid segment).
Status check_segments(std::string_view text, bool whole_key, const char* what) {
  if (text.size() > kMaxObjectKeyBytes) {
    return Status::InvalidArgument(std::string(what) + " is longer than " +
                                   std::to_string(kMaxObjectKeyBytes) + " bytes");
  }
  if (text.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument(std::string(what) + " " + quoted(text) + " holds a NUL byte");
  }
  if (!text.empty() && text.front() == '/') {
    return Status::InvalidArgument(std::string(what) + " " + quoted(text) + " starts with '/'");
  }
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('/', start);
    if (end == std::string_view::npos) {
      if (!whole_key) break;
      end = text.size();
    }
    std::string_view segment = text.substr(start, end - start);
    if (segment.empty()) {
      return Status::InvalidArgument(std::string(what) + " " + quoted(text) +
                                     " has an empty segment");
    }
    if (segment == "." || segment == "..") {
      return Status::InvalidArgument(std::string(what) + " " + quoted(text) + " has a \"" +
                                     std::string(segment) + "\" segment");
    }
    start = end + 1;
  }
  return Status::Ok();
}

}  // namespace

Status validate_object_key(std::string_view key) {
  if (key.empty()) return Status::InvalidArgument("object key is empty");
  return check_segments(key, /*whole_key=*/true, "object key");
}

Status validate_object_key_prefix(std::string_view prefix) {
  return check_segments(prefix, /*whole_key=*/false, "object key prefix");
}

}  // namespace pgthaw::objstore
