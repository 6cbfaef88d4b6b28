// Turning a captured backend reply into per-statement results, and printing
// rows the way `psql -A -t` does.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "pgwire/backend.h"

namespace pgthaw::pgwire {

// What one statement produced. A result ends at CommandComplete,
// EmptyQueryResponse, ErrorResponse or PortalSuspended.
struct StatementResult {
  std::vector<FieldDescription> fields;  // from RowDescription; empty if none
  std::vector<Row> rows;
  std::string command_tag;           // "SELECT 2", "INSERT 0 1"; "" if none
  std::optional<ErrorFields> error;  // set if the statement failed
  std::vector<ErrorFields> notices;  // NoticeResponses seen while it ran
  bool empty_query = false;          // ended by EmptyQueryResponse
  bool suspended = false;            // ended by PortalSuspended (Execute row limit)
  // False only for a result cut off by the end of the bytes (no C/I/E/s).
  bool complete = true;
  std::vector<uint32_t> parameter_type_oids;  // from ParameterDescription
  std::optional<CopyResponse> copy_out;       // set after CopyOutResponse
  std::string copy_out_data;                  // CopyData payloads, concatenated
  std::optional<CopyResponse> copy_in;        // set after CopyInResponse
};

// What a reply carried besides statement results.
struct ReplyInfo {
  // The last ReadyForQuery's status; nullopt if the bytes had none.
  std::optional<TransactionStatus> ready_status;
  // Notices after the last result (not followed by one).
  std::vector<ErrorFields> trailing_notices;
  std::vector<ParameterStatus> parameter_statuses;
  std::vector<Notification> notifications;
};

// Decodes whole backend messages in `backend_bytes` into one StatementResult
// per CommandComplete / EmptyQueryResponse / ErrorResponse (and
// PortalSuspended). Rows and fields seen with no terminating message yet
// (a reply to Flush, or a COPY IN awaiting data) form a last result with
// complete == false. ParseComplete, BindComplete, CloseComplete, NoData,
// CopyDone, BackendKeyData, Authentication and NegotiateProtocolVersion are
// accepted and skipped. InvalidArgument on a framing error, a malformed
// payload or an unknown message type. `info`, if given, receives the rest.
Result<std::vector<StatementResult>> collect_results(std::string_view backend_bytes,
                                                     ReplyInfo* info = nullptr);

// Rows as `psql -A -t` prints them: values separated by '|', NULL as "",
// each row ending in "\n"; no header, no footer, no command tag. Rows with
// no columns print nothing, as in psql.
std::string format_unaligned(const StatementResult& result);

}  // namespace pgthaw::pgwire
