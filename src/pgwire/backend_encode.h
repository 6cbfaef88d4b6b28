// Encoders for backend (server -> client) protocol v3 messages, for the
// wire listener and for tests that fake a server.
//
// Each function appends one complete message to `out`. Those that take text
// or counts return InvalidArgument when the input cannot be put on the wire
// (a NUL inside a C string, more than 32767 columns, a message over 2 GiB);
// on failure nothing is appended. Stateless and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "pgwire/backend.h"
#include "pgwire/message.h"

namespace pgthaw::pgwire::backend {

// 'E' / 'N'. Fields S, V, C, M go first in that order, then the rest by
// code. Codes must be nonzero and values free of NUL.
Status error_response(std::string& out, const ErrorFields& fields);
Status notice_response(std::string& out, const ErrorFields& fields);
// An ErrorResponse with S and V = `severity`, C and M.
Status error_response(std::string& out, std::string_view severity, std::string_view sqlstate,
                      std::string_view message);

void authentication_ok(std::string& out);  // 'R', code 0
// AuthenticationSASL ('R', code 10): the mechanisms, preferred first.
Status authentication_sasl(std::string& out, const std::vector<std::string>& mechanisms);
// AuthenticationSASLContinue (11) and AuthenticationSASLFinal (12).
Status authentication_sasl_continue(std::string& out, std::string_view data);
Status authentication_sasl_final(std::string& out, std::string_view data);
Status parameter_status(std::string& out, std::string_view name, std::string_view value);  // 'S'
void backend_key_data(std::string& out, int32_t pid, uint32_t secret_key);                 // 'K'
// Protocol 3.2 keys of 4 to 256 bytes.
Status backend_key_data(std::string& out, int32_t pid, std::string_view secret_key);
void ready_for_query(std::string& out, TransactionStatus status);  // 'Z'

Status row_description(std::string& out, const std::vector<FieldDescription>& fields);  // 'T'
Status data_row(std::string& out, const Row& row);                                      // 'D'
Status command_complete(std::string& out, std::string_view tag);                        // 'C'
void empty_query_response(std::string& out);                                            // 'I'

Status copy_in_response(std::string& out, const CopyResponse& response);    // 'G'
Status copy_out_response(std::string& out, const CopyResponse& response);   // 'H'
Status copy_both_response(std::string& out, const CopyResponse& response);  // 'W'
Status copy_data(std::string& out, std::string_view bytes);                 // 'd'
void copy_done(std::string& out);                                           // 'c'

// Extended-protocol replies.
void parse_complete(std::string& out);                                                   // '1'
void bind_complete(std::string& out);                                                    // '2'
void close_complete(std::string& out);                                                   // '3'
void no_data(std::string& out);                                                          // 'n'
void portal_suspended(std::string& out);                                                 // 's'
Status parameter_description(std::string& out, const std::vector<uint32_t>& type_oids);  // 't'

Status notification_response(std::string& out, const Notification& notification);  // 'A'

}  // namespace pgthaw::pgwire::backend
