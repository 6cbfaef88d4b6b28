// thaw_measure: the four pgthaw sections of bench_thaw, each on the real
// engine (engine::Engine, Template, open_tenant, hibernate_tenant) under a
// directory of the run's temp work dir. Each fills its figures and returns
// the first failure; it leaves no live instance behind either way.
#pragma once

#include <string>

#include "common/status.h"
#include "engine/engine.h"
#include "engine/template.h"
#include "thaw_report.h"

namespace pgthaw::bench {

// 1. CONFIG.new_tenants new tenants under DIR: open_tenant() (kCreated) +
// first `select 1`, then Abandon() and remove the tenant's directory (both
// untimed), so memory and disk stay bounded. Warm-up tenants come first.
Status measure_new_tenants(const engine::Engine& engine, const engine::Template& tmpl,
                           const std::string& dir, const ThawConfig& config, NewTenantFigures* out);

// 4. Pss/USS/Rss of this process before and after CONFIG.memory_tenants
// tenants under DIR, each alive after a first query; then releases them.
Status measure_memory(const engine::Engine& engine, const engine::Template& tmpl,
                      const std::string& dir, const ThawConfig& config, MemoryFigures* out);

// 2. Creates the tenant at ROOT with table `big` (CONFIG.table_rows rows of
// CONFIG.pad_bytes), hibernates it, then times CONFIG.thaw_cycles cycles of
// open_tenant() (must thaw) + one indexed query, hibernating between them.
// Leaves the tenant hibernated.
Status measure_hibernated(const engine::Engine& engine, const engine::Template& tmpl,
                          const std::string& root, const ThawConfig& config,
                          HibernatedFigures* out);

// 3. Thaws the tenant measure_hibernated() left at ROOT and shuts it down
// cleanly (no snapshot remains), then times CONFIG.boot_repeats cycles of
// Instance::Boot(ROOT/data, lower) + one indexed query, Close() after each.
Status measure_boot(const engine::Engine& engine, const engine::Template& tmpl,
                    const std::string& root, const ThawConfig& config, BootFigures* out);

}  // namespace pgthaw::bench
