// tenant_sql: the protocol messages the thaw benchmark sends and the checks
// on their replies (pgwire::frontend to encode, pgwire::collect_results to
// decode). Encoding and checking stay outside the timed Exec() calls.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "engine/instance.h"
#include "pgwire/result.h"

namespace pgthaw::bench {

// One simple Query message.
Result<std::string> simple_query(std::string_view sql);

// Runs SQL with the simple protocol; a protocol failure or any ErrorResponse
// in the reply is an error naming the statement.
Result<std::vector<pgwire::StatementResult>> run_sql(engine::Instance& instance,
                                                     std::string_view sql);

// The single value SQL returns (one row, one column), as text.
Result<std::string> run_scalar(engine::Instance& instance, std::string_view sql);

// OK when REPLY holds exactly one result with one row whose only value is
// EXPECTED (WHAT names the query in the error).
Status check_single_value(std::string_view reply, std::string_view what, std::string_view expected);

// The indexed lookup of the hibernated-tenant rows, extended protocol with
// the key as parameter $1 (as a driver sends it): Parse, Bind, Execute, Sync.
inline constexpr const char* kIndexedQuerySql = "select pad from big where id = $1";
Result<std::string> indexed_query(int id);

// OK when REPLY is one row whose pad is PAD_BYTES long.
Status check_indexed_reply(std::string_view reply, int id, int pad_bytes);

}  // namespace pgthaw::bench
