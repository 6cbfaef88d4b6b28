// wire_bytes: the few protocol v3 bytes the engine benchmark needs: a simple
// Query message to feed engine::Instance::Exec, and a walk over the backend's
// reply that turns an ErrorResponse into a Status. Deliberately tiny and
// local; src/pgwire/ is the real codec.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace pgthaw::bench {

// 'Q', int32 length (itself included), SQL, '\0'.
std::string query_message(std::string_view sql);

// Ok when REPLY is whole messages ending in ReadyForQuery with no
// ErrorResponse; otherwise names the error (severity, SQLSTATE, message).
Status check_reply(std::string_view reply, std::string_view sql);

// The first column of the first DataRow in REPLY, as text.
Result<std::string> first_value(std::string_view reply);

}  // namespace pgthaw::bench
