// Release of an open file description's host resources (see open_file.h).
#include "vfs/open_file.h"

#include <unistd.h>

namespace pgthaw::vfs {

OpenFile::~OpenFile() {
  if (host_fd >= 0) ::close(host_fd);
  if (pipe != nullptr) {
    if (kind == FileKind::kPipeRead) --pipe->readers;
    if (kind == FileKind::kPipeWrite) --pipe->writers;
  }
}

}  // namespace pgthaw::vfs
