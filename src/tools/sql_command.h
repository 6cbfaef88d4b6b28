// `pgthaw sql --data-dir DIR "SQL" ...`: runs each statement in order against
// the database in DIR (created when absent or empty) and prints rows as
// `psql -A -t` does. On an error: the message and SQLSTATE on stderr, exit 1.
#pragma once

#include <string>
#include <vector>

namespace pgthaw::tools {

int run_sql_command(const std::string& data_dir, const std::vector<std::string>& statements);

}  // namespace pgthaw::tools
