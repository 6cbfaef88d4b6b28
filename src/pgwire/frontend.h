// Encoders for frontend (client -> server) protocol v3 messages.
//
// Each function appends one complete message to `out`. Those that take text
// or counts return a Status: InvalidArgument when the input cannot be put on
// the wire (a NUL inside a C string, more than 65535 parameters, a message
// over 2 GiB); on failure nothing is appended. Stateless and thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgthaw::pgwire::frontend {

// 'Q': run one or more statements with the simple query protocol.
Status query(std::string& out, std::string_view sql);

// 'P': prepare `sql` as `stmt_name` ("" = the unnamed statement). An oid of 0
// leaves that parameter's type to the server.
Status parse(std::string& out, std::string_view stmt_name, std::string_view sql,
             const std::vector<uint32_t>& param_type_oids = {});

// 'B': bind `params` (nullopt = NULL) to statement `stmt` as `portal`.
// `param_formats` and `result_formats` hold 0 (text) or 1 (binary); empty
// means all text, one entry applies to all.
Status bind(std::string& out, std::string_view portal, std::string_view stmt,
            const std::vector<int16_t>& param_formats,
            const std::vector<std::optional<std::string>>& params,
            const std::vector<int16_t>& result_formats = {});

// 'D': describe a statement (kind 'S') or portal ('P').
Status describe(std::string& out, char kind, std::string_view name);

// 'E': run `portal`, returning at most `max_rows` rows (0 = no limit).
Status execute(std::string& out, std::string_view portal, int32_t max_rows = 0);

// 'C': close a statement (kind 'S') or portal ('P').
Status close(std::string& out, char kind, std::string_view name);

void sync(std::string& out);       // 'S'
void flush(std::string& out);      // 'H'
void terminate(std::string& out);  // 'X'

// COPY FROM STDIN traffic.
Status copy_data(std::string& out, std::string_view bytes);    // 'd'
void copy_done(std::string& out);                              // 'c'
Status copy_fail(std::string& out, std::string_view message);  // 'f'

// The untyped first packet: protocol version then name/value pairs such as
// "user", "database", "application_name", "options". `protocol` defaults to
// 3.0; "user" is required by servers but not checked here.
Status startup_message(std::string& out, const std::map<std::string, std::string>& params,
                       int32_t protocol = 3 << 16);

// Untyped CancelRequest with the key from BackendKeyData. Protocol 3.0 keys
// are 4 bytes; 3.2 allows up to 256, hence the byte-string form.
void cancel_request(std::string& out, int32_t pid, uint32_t secret_key);
Status cancel_request(std::string& out, int32_t pid, std::string_view secret_key);

void ssl_request(std::string& out);     // untyped, code 80877103
void gssenc_request(std::string& out);  // untyped, code 80877104

}  // namespace pgthaw::pgwire::frontend
