// The rules every object key follows, for every store: what S3 and a
// directory tree can both hold without one key reaching outside the store
// or aliasing another.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/status.h"

namespace pgthaw::objstore {

// S3's limit on a key, in bytes.
inline constexpr size_t kMaxObjectKeyBytes = 1024;

// Ok if KEY is 1 to kMaxObjectKeyBytes bytes of '/'-separated segments, none
// of them empty (no leading, trailing or doubled '/'), "." or "..", and holds
// no NUL. InvalidArgument naming the rule otherwise.
Status validate_object_key(std::string_view key);

// Ok if PREFIX (of List()) could start a valid key: "" or at most
// kMaxObjectKeyBytes bytes with no NUL, no leading '/' and no complete
// segment that is empty, "." or "..".
Status validate_object_key_prefix(std::string_view prefix);

}  // namespace pgthaw::objstore
