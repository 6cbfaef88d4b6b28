// The extensions PGlite ships as packages of their own (pglite.lock.json's
// "extensions", unpacked into the share tree by scripts/build_engine.py):
// each is created in a real tenant, answers a real query, and goes on after
// the tenant is hibernated and thawed.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <string>

#include "engine/template.h"
#include "engine/tenant_store.h"
#include "engine/test_support.h"

namespace pgthaw::engine {
namespace {

using testing::rows;
using testing::scalar;
using testing::TempDir;

class PackagedExtensions : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tmpl = Template::Ensure(testing::test_engine(), tmp_.sub("root"));
    ASSERT_TRUE(tmpl.ok()) << tmpl.status().ToString();
    tmpl_ = std::make_unique<Template>(std::move(tmpl).value());
    root_ = tmp_.sub("tenant");
    std::filesystem::create_directories(root_);
    Open();
  }
  void Open() {
    OpenReport report;
    auto db = open_tenant(testing::test_engine(), *tmpl_, root_, &report);
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
  }
  // `check` before and after a hibernation and thaw.
  void BothSidesOfAThaw(const std::function<void()>& check) {
    check();
    ASSERT_TRUE(hibernate_tenant(std::move(db_), root_).ok());
    Open();
    check();
  }

  TempDir tmp_;
  std::unique_ptr<Template> tmpl_;
  std::string root_;
  std::unique_ptr<Instance> db_;
};

TEST_F(PackagedExtensions, PgvectorHnswOrdersAsBruteForce) {
  testing::run(*db_,
               "create extension vector; "
               "create table items (id int primary key, v vector(3)); "
               "insert into items select g, array[sin(g), cos(g), sin(g * 0.37)]::vector "
               "from generate_series(1, 1000) g; "
               "create index on items using hnsw (v vector_l2_ops)");
  const std::string nearest =
      "select string_agg(id::text, ',' order by d, id) from (select id, v <-> '[0.5,0.5,0.1]' "
      "as d from items order by v <-> '[0.5,0.5,0.1]' limit 10) s";
  BothSidesOfAThaw([&] {
    testing::run(*db_, "set enable_indexscan = off");
    const std::string brute = scalar(*db_, nearest);
    testing::run(*db_, "set enable_indexscan = on");
    const std::string indexed = scalar(*db_, nearest);
    EXPECT_EQ(std::count(indexed.begin(), indexed.end(), ','), 9) << indexed;
    EXPECT_EQ(indexed, brute);
    EXPECT_NE(rows(*db_, "explain select id from items order by v <-> '[0.5,0.5,0.1]' limit 10")
                  .find("items_v_idx"),
              std::string::npos);
  });
}

TEST_F(PackagedExtensions, AgeCypherMatchReturnsCreatedNodes) {
  testing::run(*db_,
               "create extension age; load 'age'; set search_path = ag_catalog, \"$user\", public; "
               "select create_graph('people'); "
               "select * from cypher('people', $$ create (:person {name: 'ada'}), "
               "(:person {name: 'alan'}) $$) as (v agtype)");
  BothSidesOfAThaw([&] {
    EXPECT_EQ(rows(*db_,
                   "load 'age'; set search_path = ag_catalog, \"$user\", public; "
                   "select * from cypher('people', $$ match (p:person) return p.name "
                   "order by p.name $$) as (name agtype)"),
              "\"ada\"\n\"alan\"\n");
  });
}

TEST_F(PackagedExtensions, PgmqSendReadArchive) {
  testing::run(*db_, "create extension pgmq; select pgmq.create('jobs')");
  BothSidesOfAThaw([&] {
    std::string id = scalar(*db_, "select * from pgmq.send('jobs', '{\"n\": 1}')");
    EXPECT_EQ(scalar(*db_, "select message->>'n' from pgmq.read('jobs', 30, 1)"), "1");
    EXPECT_EQ(scalar(*db_, "select pgmq.archive('jobs', " + id + "::bigint)"), "t");
    EXPECT_EQ(scalar(*db_, "select count(*) >= 1 from pgmq.a_jobs where msg_id = " + id), "t");
  });
}

TEST_F(PackagedExtensions, PgUuidv7IdsAreOrdered) {
  testing::run(*db_, "create extension pg_uuidv7; create table ids (g int, id uuid)");
  BothSidesOfAThaw([&] {
    // Time-ordered across milliseconds (within one, the rest is random).
    testing::run(*db_,
                 "truncate ids; do $$ begin for i in 1..20 loop insert into ids values (i, "
                 "uuid_generate_v7()); perform pg_sleep(0.002); end loop; end $$");
    EXPECT_EQ(scalar(*db_,
                     "select string_agg(g::text, ',' order by id) = string_agg(g::text, ',' "
                     "order by g) from ids"),
              "t");
    EXPECT_EQ(scalar(*db_,
                     "select uuid_v7_to_timestamptz(uuid_generate_v7()) > now() - "
                     "interval '1 minute'"),
              "t");
  });
}

TEST_F(PackagedExtensions, PgtapPlanWithPassingAndFailingOk) {
  testing::run(*db_, "create extension pgtap");
  BothSidesOfAThaw([&] {
    testing::run(*db_, "discard temp");  // pgtap's plan lives in the session's temp tables
    std::string tap = rows(*db_,
                           "select plan(2) union all select ok(true, 'holds') union all "
                           "select ok(false, 'fails') union all select * from finish()");
    EXPECT_NE(tap.find("1..2"), std::string::npos) << tap;
    EXPECT_NE(tap.find("ok 1 - holds"), std::string::npos) << tap;
    EXPECT_NE(tap.find("not ok 2 - fails"), std::string::npos) << tap;
  });
}

TEST_F(PackagedExtensions, PgHashidsEncodesAndDecodes) {
  testing::run(*db_, "create extension pg_hashids");
  BothSidesOfAThaw([&] {
    const std::string id = scalar(*db_, "select id_encode(1001, 'salt', 8)");
    EXPECT_GE(id.size(), 8u);
    EXPECT_EQ(scalar(*db_, "select (id_decode('" + id + "', 'salt', 8))[1]"), "1001");
  });
}

TEST_F(PackagedExtensions, PgIvmKeepsAnIncrementalViewCurrent) {
  testing::run(*db_,
               "create extension pg_ivm; create table sales (region text, amount int); "
               "insert into sales values ('n', 10), ('s', 5); "
               "select pgivm.create_immv('totals', "
               "'select region, sum(amount) as total from sales group by region')");
  BothSidesOfAThaw([&] {
    testing::run(*db_, "insert into sales values ('n', 1)");
    const std::string n = scalar(*db_, "select total from totals where region = 'n'");
    EXPECT_EQ(n, scalar(*db_, "select sum(amount) from sales where region = 'n'"));
  });
}

// pg_textsearch refuses to work unless it was preloaded at backend start
// (shared_preload_libraries), which pgthaw does not do for every tenant:
// CREATE EXTENSION says so in its own words.
TEST_F(PackagedExtensions, PgTextsearchSaysItNeedsPreloading) {
  auto results = testing::run(*db_, "create extension pg_textsearch");
  ASSERT_EQ(results.size(), 1u);
  ASSERT_TRUE(results[0].error.has_value());
  EXPECT_NE(results[0].error->message().find("shared_preload_libraries"), std::string::npos)
      << results[0].error->message();
}

}  // namespace
}  // namespace pgthaw::engine
