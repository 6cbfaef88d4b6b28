// pgthaw_engine: the engine benchmark's rows for pgthaw itself, driven
// through engine::Engine / engine::Instance with protocol v3 bytes.
#pragma once

#include <string>

#include "bench_rows.h"
#include "common/status.h"

namespace pgthaw::bench {

// Measures rows 1-5 in WORK_DIR/pgthaw (created; must not exist or be empty).
Result<EngineBenchRows> measure_pgthaw(const std::string& work_dir);

}  // namespace pgthaw::bench
