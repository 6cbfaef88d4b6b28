// The GNU build id of the running executable: snapshots record it and only
// load into the binary that made them (they hold code offsets).
#pragma once

#include <string>

namespace pgthaw {

// Hex build id, or "unknown" when the binary carries none.
const std::string& build_id();

}  // namespace pgthaw
