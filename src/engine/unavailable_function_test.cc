// Side modules that need what PGlite's main module does not export: a
// function (the encoding converters) is an ERROR for the statement that calls
// it, a variable makes the library fail to load; the instance lives.
#include "engine/instance.h"
#include "engine/template.h"
#include "engine/test_support.h"

namespace pgthaw::engine {
namespace {

using testing::boot;
using testing::copy_template_database;
using testing::run;
using testing::scalar;
using testing::TempDir;

TEST(UnavailableFunction, EncodingConversionIsAnErrorNotATrap) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  for (const char* sql : {"select convert('ABC'::bytea, 'LATIN2', 'MULE_INTERNAL')",
                          "select convert_from('\\xbcf6c7d0', 'EUC_KR')"}) {
    auto results = run(*db, sql);
    ASSERT_FALSE(results.empty());
    ASSERT_TRUE(results.back().error) << sql;
    EXPECT_EQ(results.back().error->sqlstate(), "0A000") << sql;
    EXPECT_NE(results.back().error->message().find("is not available in PGlite"),
              std::string::npos);
    EXPECT_TRUE(db->alive()) << sql;
  }
  // Conversions the main module carries itself still work.
  EXPECT_EQ(scalar(*db, "select convert_from(convert_to('abc', 'LATIN1'), 'LATIN1')"), "abc");
  EXPECT_EQ(scalar(*db, "select 1"), "1");
}

TEST(UnavailableFunction, LibraryNeedingAMissingVariableFailsToLoad) {
  TempDir tmp;
  copy_template_database(tmp.sub("db"));
  auto db = boot(tmp.sub("db"));
  ASSERT_NE(db, nullptr);
  // libpqwalreceiver reads variables PGlite's main module does not export.
  auto results = run(*db, "create subscription s1 connection 'x' publication p1");
  ASSERT_FALSE(results.empty());
  ASSERT_TRUE(results.back().error);
  EXPECT_EQ(results.back().error->sqlstate(), "58P01");
  EXPECT_NE(results.back().error->message().find("undefined symbol"), std::string::npos);
  EXPECT_TRUE(db->alive());
  EXPECT_EQ(scalar(*db, "select 1"), "1");
}

TEST(UnavailableFunction, TenantsRefuseClientEncodingsThatCannotConvert) {
  TempDir tmp;
  auto tmpl = Template::Ensure(testing::test_engine(), tmp.sub("root"));
  ASSERT_TRUE(tmpl.ok()) << tmpl.status().ToString();
  auto db = tmpl->NewTenant(tmp.sub("tenant"));
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  auto results = run(**db, "set client_encoding to 'EUC_JP'");
  ASSERT_TRUE(results.back().error);
  EXPECT_EQ(results.back().error->sqlstate(), "0A000");
  EXPECT_EQ(results.back().error->message(),
            "invalid value for parameter \"client_encoding\": \"EUC_JP\"");
  results = run(**db, "select convert('ABC'::bytea, 'LATIN2', 'MULE_INTERNAL')");
  ASSERT_TRUE(results.back().error);
  EXPECT_EQ(results.back().error->sqlstate(), "42883");
  EXPECT_TRUE((*db)->alive());
  EXPECT_EQ(scalar(**db, "show client_encoding"), "UTF8");
  EXPECT_EQ(scalar(**db, "select 'é'"), "é");
}

}  // namespace
}  // namespace pgthaw::engine
