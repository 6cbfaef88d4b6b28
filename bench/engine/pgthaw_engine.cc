// pgthaw_engine: times initdb, boot, first query, warm select 1 and 10,000
// inserts on pgthaw's engine. Each Exec carries one simple Query message, so
// every statement is its own round trip, as for the other systems.
//
// What each row covers:
//   initdb_ms  Engine::Open() (first in the process, like PGlite's wasm
//              compile on its first create()) + Instance::Boot() of an empty
//              dir. extras.engine_open_ms is Open()'s share.
//   boot_ms    Instance::Boot() of that dir after a clean Close(); the Engine
//              stays open (a server boots many instances per Engine).
// Durability: EngineOptions::durable defaults to true (fsync reaches disk).
#include "pgthaw_engine.h"

#include <memory>

#include "engine/engine.h"
#include "engine/instance.h"
#include "stopwatch.h"
#include "wire_bytes.h"

namespace pgthaw::bench {
namespace {

using engine::Engine;
using engine::Instance;

// Runs SQL as one simple Query; an ErrorResponse is a failure.
Result<std::string> exec_sql(Instance& instance, std::string_view sql) {
  Result<std::string> reply = instance.Exec(query_message(sql));
  if (!reply.ok()) return reply.status();
  PGTHAW_RETURN_IF_ERROR(check_reply(reply.value(), sql));
  return reply;
}

Status run_sql(Instance& instance, std::string_view sql) {
  Result<std::string> reply = exec_sql(instance, sql);
  return reply.status();
}

}  // namespace

Result<EngineBenchRows> measure_pgthaw(const std::string& work_dir) {
  EngineBenchRows rows;
  rows.system = kSystemPgthaw;
  rows.notes =
      "C++ API, one simple Query per Exec; durable=true (fsync on); initdb_ms includes "
      "Engine::Open";
  const std::string data_dir = work_dir + "/pgthaw";

  // Row 1: initdb until ready.
  Stopwatch watch;
  Result<std::unique_ptr<Engine>> engine = Engine::Open();
  if (!engine.ok()) return engine.status();
  double open_ms = watch.ElapsedMs();
  Result<std::unique_ptr<Instance>> instance = Instance::Boot(*engine.value(), data_dir);
  if (!instance.ok()) return instance.status();
  rows.initdb_ms = watch.ElapsedMs();
  rows.extras.emplace_back("engine_open_ms", open_ms);
  PGTHAW_RETURN_IF_ERROR(run_sql(*instance.value(), "select 1"));  // untimed: it answers
  PGTHAW_RETURN_IF_ERROR(instance.value()->Close());
  instance.value().reset();

  // Row 2: boot of the cleanly closed directory.
  watch.Restart();
  instance = Instance::Boot(*engine.value(), data_dir);
  if (!instance.ok()) return instance.status();
  rows.boot_ms = watch.ElapsedMs();
  Instance& db = *instance.value();

  // Row 3: first query.
  watch.Restart();
  PGTHAW_RETURN_IF_ERROR(run_sql(db, "select 1"));
  rows.first_query_ms = watch.ElapsedMs();

  // Row 4: warm select 1.
  for (int i = 0; i < kWarmupQueries; ++i) PGTHAW_RETURN_IF_ERROR(run_sql(db, "select 1"));
  watch.Restart();
  for (int i = 0; i < kWarmQueries; ++i) PGTHAW_RETURN_IF_ERROR(run_sql(db, "select 1"));
  rows.warm_select1_us = watch.ElapsedMs() * 1000.0 / kWarmQueries;

  // Row 5: 10,000 single-row inserts in one transaction.
  PGTHAW_RETURN_IF_ERROR(
      run_sql(db, "create table bench_insert (id integer primary key, payload text)"));
  watch.Restart();
  PGTHAW_RETURN_IF_ERROR(run_sql(db, "begin"));
  for (int i = 0; i < kInsertRows; ++i) {
    std::string n = std::to_string(i);
    PGTHAW_RETURN_IF_ERROR(
        run_sql(db, "insert into bench_insert values (" + n + ", 'row " + n + "')"));
  }
  PGTHAW_RETURN_IF_ERROR(run_sql(db, "commit"));
  rows.insert10k_ms = watch.ElapsedMs();

  Result<std::string> count = exec_sql(db, "select count(*) from bench_insert");
  if (!count.ok()) return count.status();
  Result<std::string> counted = first_value(count.value());
  if (!counted.ok()) return counted.status();
  if (counted.value() != std::to_string(kInsertRows)) {
    return Status::Internal("expected " + std::to_string(kInsertRows) +
                            " rows after commit, found " + counted.value());
  }
  Result<std::string> version = exec_sql(db, "select version()");
  if (!version.ok()) return version.status();
  Result<std::string> text = first_value(version.value());
  if (!text.ok()) return text.status();
  rows.version = text.value().substr(0, text.value().find(" on "));
  PGTHAW_RETURN_IF_ERROR(db.Close());
  return rows;
}

}  // namespace pgthaw::bench
