// tenant_sql: encoders and reply checks for the thaw benchmark.
#include "tenant_sql.h"

#include <optional>

#include "pgwire/frontend.h"

namespace pgthaw::bench {
namespace {

// The results of REPLY, or the first ErrorResponse in it as a Status.
Result<std::vector<pgwire::StatementResult>> results_of(std::string_view reply,
                                                        std::string_view what) {
  auto results = pgwire::collect_results(reply);
  if (!results.ok()) return results.status().Annotate(std::string(what) + ": ");
  for (const pgwire::StatementResult& r : results.value()) {
    if (r.error) return Status::EngineError(std::string(what) + ": " + r.error->summary());
  }
  return results;
}

// The one value of a one-row, one-column result set.
Result<std::string> single_value(const std::vector<pgwire::StatementResult>& results,
                                 std::string_view what) {
  if (results.size() != 1 || results[0].rows.size() != 1 || results[0].rows[0].size() != 1 ||
      !results[0].rows[0][0]) {
    return Status::Internal(std::string(what) + ": expected one non-null value");
  }
  return *results[0].rows[0][0];
}

}  // namespace

Result<std::string> simple_query(std::string_view sql) {
  std::string out;
  PGTHAW_RETURN_IF_ERROR(pgwire::frontend::query(out, sql));
  return out;
}

Result<std::vector<pgwire::StatementResult>> run_sql(engine::Instance& instance,
                                                     std::string_view sql) {
  Result<std::string> request = simple_query(sql);
  if (!request.ok()) return request.status();
  Result<std::string> reply = instance.Exec(request.value());
  if (!reply.ok()) return reply.status().Annotate(std::string(sql) + ": ");
  return results_of(reply.value(), sql);
}

Result<std::string> run_scalar(engine::Instance& instance, std::string_view sql) {
  auto results = run_sql(instance, sql);
  if (!results.ok()) return results.status();
  return single_value(results.value(), sql);
}

Status check_single_value(std::string_view reply, std::string_view what,
                          std::string_view expected) {
  auto results = results_of(reply, what);
  if (!results.ok()) return results.status();
  Result<std::string> value = single_value(results.value(), what);
  if (!value.ok()) return value.status();
  if (value.value() != expected) {
    return Status::Internal(std::string(what) + ": got '" + value.value() + "', expected '" +
                            std::string(expected) + "'");
  }
  return Status::Ok();
}

Result<std::string> indexed_query(int id) {
  std::string out;
  PGTHAW_RETURN_IF_ERROR(pgwire::frontend::parse(out, "", kIndexedQuerySql, {23}));  // int4
  PGTHAW_RETURN_IF_ERROR(
      pgwire::frontend::bind(out, "", "", {}, {std::optional<std::string>(std::to_string(id))}));
  PGTHAW_RETURN_IF_ERROR(pgwire::frontend::execute(out, ""));
  pgwire::frontend::sync(out);
  return out;
}

Status check_indexed_reply(std::string_view reply, int id, int pad_bytes) {
  std::string what = std::string(kIndexedQuerySql) + " [$1=" + std::to_string(id) + "]";
  auto results = results_of(reply, what);
  if (!results.ok()) return results.status();
  Result<std::string> pad = single_value(results.value(), what);
  if (!pad.ok()) return pad.status();
  if (static_cast<int>(pad.value().size()) != pad_bytes) {
    return Status::Internal(what + ": pad is " + std::to_string(pad.value().size()) +
                            " bytes, expected " + std::to_string(pad_bytes));
  }
  return Status::Ok();
}

}  // namespace pgthaw::bench
