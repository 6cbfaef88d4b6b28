// owner_statement (owner_statement.h) and quote_identifier
// (sql_identifier.h): the SQL pg_restore runs for an entry's owner, with
// identifiers quoted as pg_dump quotes them.
#include "dumpfile/owner_statement.h"

#include <gtest/gtest.h>

#include "dumpfile/sql_identifier.h"

namespace pgthaw::dumpfile {
namespace {

ArchiveEntry entry(std::string desc, std::string schema, std::string tag, std::string owner,
                   std::string drop_stmt) {
  ArchiveEntry e;
  e.desc = std::move(desc);
  e.schema = std::move(schema);
  e.tag = std::move(tag);
  e.owner = std::move(owner);
  e.drop_stmt = std::move(drop_stmt);
  return e;
}

TEST(QuoteIdentifier, BareOnlyWhenPostgresWouldReadItBack) {
  EXPECT_EQ(quote_identifier("items"), "items");
  EXPECT_EQ(quote_identifier("_t1$"), "\"_t1$\"");  // '$' is quoted, as fmtId does
  EXPECT_EQ(quote_identifier("t_1"), "t_1");
  EXPECT_EQ(quote_identifier("Items"), "\"Items\"");
  EXPECT_EQ(quote_identifier("1st"), "\"1st\"");
  EXPECT_EQ(quote_identifier("two words"), "\"two words\"");
  EXPECT_EQ(quote_identifier("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(quote_identifier(""), "\"\"");
  EXPECT_EQ(quote_identifier("caf\xc3\xa9"), "\"caf\xc3\xa9\"");
  // Reserved, column-name and type-or-function keywords are quoted;
  // unreserved ones are not.
  EXPECT_EQ(quote_identifier("user"), "\"user\"");
  EXPECT_EQ(quote_identifier("select"), "\"select\"");
  EXPECT_EQ(quote_identifier("integer"), "\"integer\"");
  EXPECT_EQ(quote_identifier("left"), "\"left\"");
  EXPECT_EQ(quote_identifier("json_table"), "\"json_table\"");
  EXPECT_EQ(quote_identifier("system_user"), "\"system_user\"");
  EXPECT_EQ(quote_identifier("name"), "name");
  EXPECT_EQ(quote_identifier("data"), "data");
  EXPECT_EQ(quote_identifier("owner"), "owner");
}

TEST(OwnerStatement, TableIsNamedWithItsSchema) {
  EXPECT_EQ(owner_statement(entry("TABLE", "public", "t", "alice", "DROP TABLE public.t;\n")),
            "ALTER TABLE public.t OWNER TO alice;");
  EXPECT_EQ(owner_statement(entry("TABLE", "Mixed Case", "user", "Bob Smith",
                                  "DROP TABLE \"Mixed Case\".\"user\";\n")),
            "ALTER TABLE \"Mixed Case\".\"user\" OWNER TO \"Bob Smith\";");
  EXPECT_EQ(owner_statement(entry("SEQUENCE", "app", "items_id_seq", "alice", "DROP ...")),
            "ALTER SEQUENCE app.items_id_seq OWNER TO alice;");
  EXPECT_EQ(owner_statement(entry("VIEW", "app", "v", "alice", "DROP VIEW app.v;\n")),
            "ALTER VIEW app.v OWNER TO alice;");
}

TEST(OwnerStatement, FunctionIsNamedAsItsDropStatementNamesIt) {
  // The tag holds the signature without the schema; the drop statement has
  // both.
  ArchiveEntry function = entry("FUNCTION", "app", "add(integer, integer)", "alice",
                                "DROP FUNCTION app.add(integer, integer);\n");
  EXPECT_EQ(owner_statement(function), "ALTER FUNCTION app.add(integer, integer) OWNER TO alice;");
  EXPECT_EQ(owner_statement(entry("AGGREGATE", "app", "total(numeric)", "alice",
                                  "DROP AGGREGATE app.total(numeric);")),
            "ALTER AGGREGATE app.total(numeric) OWNER TO alice;");
  EXPECT_EQ(
      owner_statement(entry("PROCEDURE", "app", "bump()", "alice", "DROP PROCEDURE app.bump();\n")),
      "ALTER PROCEDURE app.bump() OWNER TO alice;");
  EXPECT_EQ(owner_statement(entry("FUNCTION", "app", "f()", "alice", "garbage")), "");
}

TEST(OwnerStatement, SchemaAndOtherObjectsOutsideSchemas) {
  EXPECT_EQ(owner_statement(entry("SCHEMA", "", "app", "alice", "DROP SCHEMA app;\n")),
            "ALTER SCHEMA app OWNER TO alice;");
  // pg_dump 15+ writes a comment, not CREATE SCHEMA, for public; the
  // owner is still set.
  EXPECT_EQ(owner_statement(entry("SCHEMA", "", "public", "pg_database_owner",
                                  "-- *not* dropping schema, since initdb creates it\n")),
            "ALTER SCHEMA public OWNER TO pg_database_owner;");
  EXPECT_EQ(owner_statement(entry("PUBLICATION", "", "pub", "alice", "DROP PUBLICATION pub;\n")),
            "ALTER PUBLICATION pub OWNER TO alice;");
  EXPECT_EQ(owner_statement(entry("TEXT SEARCH CONFIGURATION", "app", "cfg", "alice", "DROP")),
            "ALTER TEXT SEARCH CONFIGURATION app.cfg OWNER TO alice;");
}

TEST(OwnerStatement, NoneWithoutOwnerOrDropOrForUnownedKinds) {
  EXPECT_EQ(owner_statement(entry("TABLE", "public", "t", "", "DROP TABLE public.t;\n")), "");
  EXPECT_EQ(owner_statement(entry("TABLE", "public", "t", "alice", "")), "");
  for (const char* kind :
       {"INDEX", "CONSTRAINT", "FK CONSTRAINT", "DEFAULT", "TRIGGER", "RULE", "POLICY", "CAST",
        "ACL", "COMMENT", "TABLE DATA", "SEQUENCE SET", "STATISTICS DATA", "SOMETHING NEW"}) {
    EXPECT_EQ(owner_statement(entry(kind, "public", "x", "alice", "DROP x;\n")), "") << kind;
  }
}

TEST(OwnerStatement, LargeObjectsOneStatementEach) {
  ArchiveEntry metadata = entry("BLOB METADATA", "", "BLOB METADATA", "alice", "-");
  metadata.defn = "16401\n16402\n";
  EXPECT_EQ(owner_statement(metadata),
            "ALTER LARGE OBJECT 16401 OWNER TO alice;\nALTER LARGE OBJECT 16402 OWNER TO alice;");
  EXPECT_EQ(owner_statement(entry("BLOB", "", "16401", "alice", "SELECT lo_unlink('16401');\n")),
            "ALTER LARGE OBJECT 16401 OWNER TO alice;");
}

}  // namespace
}  // namespace pgthaw::dumpfile
