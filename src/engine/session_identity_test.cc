// ExecOptions::as_session_user (host/guest_identity.h) on a real tenant: a
// client's exchange is authenticated as the role the server made its
// session user, so nothing it sends makes it the superuser again, and the
// server's own statements are the superuser's once it is over.
#include <gtest/gtest.h>

#include "engine/template.h"
#include "engine/test_support.h"
#include "pgwire/frontend.h"
#include "pgwire/result.h"

namespace pgthaw::engine {
namespace {

using testing::TempDir;

class SessionIdentity : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tmpl = Template::Ensure(testing::test_engine(), tmp_.sub("root"));
    ASSERT_TRUE(tmpl.ok()) << tmpl.status().ToString();
    auto db = tmpl->NewTenant(tmp_.sub("tenant"));
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    ASSERT_EQ(testing::rows(*db_,
                            "CREATE ROLE app LOGIN; ALTER SCHEMA public OWNER TO app; "
                            "SET SESSION AUTHORIZATION app; SELECT current_user"),
              "app\n");
  }

  // `sql` as the client: the last statement's rows, or "ERROR <sqlstate>".
  std::string as_client(const std::string& sql) {
    std::string query;
    EXPECT_TRUE(pgwire::frontend::query(query, sql).ok());
    ExecOptions options;
    options.as_session_user = true;
    auto reply = db_->Exec(query, options);
    EXPECT_TRUE(reply.ok()) << reply.status().ToString();
    if (!reply.ok()) return "";
    auto results = pgwire::collect_results(*reply);
    EXPECT_TRUE(results.ok());
    if (!results.ok() || results->empty()) return "";
    for (const pgwire::StatementResult& r : *results) {
      if (r.error) return "ERROR " + r.error->sqlstate();
    }
    return pgwire::format_unaligned(results->back());
  }

  TempDir tmp_;
  std::unique_ptr<Instance> db_;
};

TEST_F(SessionIdentity, TheClientStaysItsRole) {
  EXPECT_EQ(as_client("SELECT current_user, session_user"), "app|app\n");
  EXPECT_EQ(as_client("SET SESSION AUTHORIZATION postgres"), "ERROR 42501");
  EXPECT_EQ(as_client("SELECT pg_catalog.set_config('session_authorization', 'postgres', false)"),
            "ERROR 42501");
  EXPECT_EQ(as_client("SET ROLE postgres"), "ERROR 42501");
  EXPECT_EQ(as_client("RESET SESSION AUTHORIZATION; SELECT current_user, session_user"),
            "app|app\n");
  EXPECT_EQ(as_client("DISCARD ALL"), "");
  EXPECT_EQ(as_client("SELECT current_user, session_user, "
                      "current_setting('is_superuser')"),
            "app|app|off\n");
  EXPECT_EQ(as_client("SET SESSION AUTHORIZATION app; SELECT current_user"), "app\n");
}

TEST_F(SessionIdentity, NoSuperuserPowers) {
  EXPECT_EQ(as_client("ALTER SYSTEM SET work_mem = '1MB'"), "ERROR 42501");
  EXPECT_EQ(as_client("SELECT pg_catalog.pg_read_file('PG_VERSION')"), "ERROR 42501");
  EXPECT_EQ(as_client("COPY (SELECT 1) TO '/tmp/out'"), "ERROR 42501");
  EXPECT_EQ(as_client("SET allow_system_table_mods = on"), "ERROR 42501");
  EXPECT_EQ(as_client("ALTER ROLE app SUPERUSER"), "ERROR 42501");
  // What it owns, it may use.
  EXPECT_EQ(as_client("CREATE TABLE t (x int); INSERT INTO t VALUES (1); SELECT count(*) FROM t"),
            "1\n");
}

TEST_F(SessionIdentity, TheServerIsTheSuperuserAfterTheExchange) {
  EXPECT_EQ(as_client("SELECT 1"), "1\n");
  EXPECT_EQ(testing::rows(*db_, "SET SESSION AUTHORIZATION postgres; SELECT current_user"),
            "postgres\n");
  // Without the option, a statement is the server's, as the superuser.
  EXPECT_EQ(testing::rows(*db_,
                          "SET SESSION AUTHORIZATION app; SET SESSION AUTHORIZATION postgres; "
                          "SELECT current_user"),
            "postgres\n");
}

}  // namespace
}  // namespace pgthaw::engine
