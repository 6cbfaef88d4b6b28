#include "server/read_only_query.h"

#include <cstdint>

#include "pgwire/backend.h"
#include "pgwire/frontend.h"

namespace pgthaw::server {

namespace bt = pgwire::backend_type;
namespace fe = pgwire::frontend;

namespace {

// A statement of ours, run through the extended protocol as the user's is,
// so that it sits in the same exchange.
Status append_statement(std::string& out, std::string_view sql) {
  PGTHAW_RETURN_IF_ERROR(fe::parse(out, "", sql));
  PGTHAW_RETURN_IF_ERROR(fe::bind(out, "", "", {}, {}));
  return fe::execute(out, "");
}

// The messages that end one statement's result.
bool ends_result(char type) {
  return type == bt::kCommandComplete || type == bt::kEmptyQueryResponse ||
         type == bt::kErrorResponse || type == bt::kPortalSuspended;
}

}  // namespace

Result<std::string> encode_read_only_query(const QueryRequest& request) {
  std::string out;
  PGTHAW_RETURN_IF_ERROR(append_statement(out, "BEGIN READ ONLY"));
  PGTHAW_RETURN_IF_ERROR(fe::parse(out, "", request.sql));
  PGTHAW_RETURN_IF_ERROR(fe::bind(out, "", "", {}, request.params));
  PGTHAW_RETURN_IF_ERROR(fe::describe(out, 'P', ""));
  PGTHAW_RETURN_IF_ERROR(fe::execute(out, ""));
  PGTHAW_RETURN_IF_ERROR(append_statement(out, "COMMIT"));
  fe::sync(out);
  PGTHAW_RETURN_IF_ERROR(fe::query(out, "ROLLBACK"));
  return out;
}

std::string read_only_statement_reply(std::string_view b) {
  // Where the reply is: BEGIN's messages, the statement's, COMMIT's (up to
  // the Sync's ReadyForQuery), then ROLLBACK's.
  enum class Part { kBegin, kStatement, kCommit, kRollback } part = Part::kBegin;
  std::string out;
  std::string_view last_ready;
  for (size_t at = 0; at < b.size();) {
    if (b.size() - at < 5) return "";
    uint32_t len = uint32_t{static_cast<uint8_t>(b[at + 1])} << 24 |
                   uint32_t{static_cast<uint8_t>(b[at + 2])} << 16 |
                   uint32_t{static_cast<uint8_t>(b[at + 3])} << 8 |
                   uint32_t{static_cast<uint8_t>(b[at + 4])};
    if (len < 4 || len - 4 > b.size() - at - 5) return "";
    const char type = b[at];
    std::string_view message = b.substr(at, 1 + size_t{len});
    at += message.size();
    if (type == bt::kReadyForQuery) {
      last_ready = message;
      part = Part::kRollback;
      continue;
    }
    switch (part) {
      case Part::kBegin:
        // BEGIN READ ONLY cannot fail short of a broken engine; if it does,
        // its error is the answer and nothing else ran.
        if (type == bt::kErrorResponse) {
          out += message;
          part = Part::kCommit;
        } else if (ends_result(type)) {
          part = Part::kStatement;
        }
        break;
      case Part::kStatement:
        out += message;
        if (ends_result(type)) part = Part::kCommit;
        break;
      case Part::kCommit:
        // Only a failure to commit matters to the client.
        if (type == bt::kErrorResponse) out += message;
        break;
      case Part::kRollback:
        break;
    }
  }
  out += last_ready;
  return out;
}

}  // namespace pgthaw::server
