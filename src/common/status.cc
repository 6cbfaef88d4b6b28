#include "common/status.h"

#include <cstring>

namespace pgthaw {

Status Status::FromErrno(const std::string& context, int host_errno) {
  return IoError(context + ": " + std::strerror(host_errno));
}

std::string Status::ToString() const {
  static const char* const kNames[] = {
      "OK",         "InvalidArgument", "NotFound",          "IoError",     "Corruption",
      "EngineTrap", "EngineError",     "ResourceExhausted", "Unavailable", "Aborted",
      "Internal",   "AlreadyExists",   "Unauthenticated"};
  if (ok()) return "OK";
  return std::string(kNames[static_cast<int>(code_)]) + ": " + message_;
}

}  // namespace pgthaw
