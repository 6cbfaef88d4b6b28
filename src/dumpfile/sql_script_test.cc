// SqlScript (sql_script.h) on real files: statement boundaries under each
// of Postgres' quoting forms, psql meta-commands, COPY data blocks read in
// chunks of any size, and the errors of truncated scripts.
#include "dumpfile/sql_script.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

namespace pgthaw::dumpfile {
namespace {

using Kind = ScriptStatementKind;

std::string write_file(const std::string& name, const std::string& content) {
  const std::string path = testing::TempDir() + "/sql_script_test_" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  return path;
}

std::unique_ptr<SqlScript> open_script(const std::string& content, size_t max_bytes = 0) {
  const auto* test = testing::UnitTest::GetInstance()->current_test_info();
  const std::string path = write_file(std::string(test->name()) + ".sql", content);
  auto script = max_bytes ? SqlScript::Open(path, max_bytes) : SqlScript::Open(path);
  EXPECT_TRUE(script.ok()) << script.status().ToString();
  return script.ok() ? std::move(script).value() : nullptr;
}

// Every statement's text, skipping any COPY data.
std::vector<std::string> texts(const std::string& content) {
  auto script = open_script(content);
  std::vector<std::string> out;
  for (;;) {
    auto next = script->Next();
    EXPECT_TRUE(next.ok()) << next.status().ToString();
    if (!next.ok() || !next->has_value()) break;
    out.push_back((*next)->text);
  }
  return out;
}

ScriptStatement next_statement(SqlScript& script) {
  auto next = script.Next();
  EXPECT_TRUE(next.ok()) << next.status().ToString();
  if (!next.ok() || !next->has_value()) {
    ADD_FAILURE() << "no statement";
    return {};
  }
  return **next;
}

// All COPY data of the statement just read, in chunks of `max_bytes`.
std::string copy_data(SqlScript& script, size_t max_bytes) {
  std::string data;
  for (int calls = 0; calls < 1'000'000; ++calls) {
    std::string chunk;
    auto more = script.ReadCopyData(chunk, max_bytes);
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok()) break;
    data += chunk;
    if (!*more) break;
  }
  return data;
}

TEST(SqlScript, SplitsStatementsAndGivesTheLineEachStartsOn) {
  auto script = open_script("SET a = 1;\nSELECT 2; SELECT 3;\n\n  CREATE TABLE t (\n  a int\n);\n");
  ScriptStatement first = next_statement(*script);
  EXPECT_EQ(first.kind, Kind::kSql);
  EXPECT_EQ(first.text, "SET a = 1;");
  EXPECT_EQ(first.line, 1u);
  EXPECT_FALSE(first.copy_from_stdin);
  ScriptStatement second = next_statement(*script);
  EXPECT_EQ(second.text, "SELECT 2;");
  EXPECT_EQ(second.line, 2u);
  ScriptStatement third = next_statement(*script);
  EXPECT_EQ(third.text, "SELECT 3;");
  EXPECT_EQ(third.line, 2u);
  ScriptStatement fourth = next_statement(*script);
  EXPECT_EQ(fourth.text, "CREATE TABLE t (\n  a int\n);");
  EXPECT_EQ(fourth.line, 4u);
  auto end = script->Next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
}

TEST(SqlScript, SemicolonsInsideLiteralsIdentifiersAndCommentsDoNotEndAStatement) {
  EXPECT_EQ(texts("SELECT 'a;b', 'it''s;';\nSELECT 2;"),
            (std::vector<std::string>{"SELECT 'a;b', 'it''s;';", "SELECT 2;"}));
  EXPECT_EQ(texts("SELECT 1 AS \"we;ird\"\"x;\";"),
            (std::vector<std::string>{"SELECT 1 AS \"we;ird\"\"x;\";"}));
  EXPECT_EQ(texts("SELECT 1 -- not the end;\n + 1;"),
            (std::vector<std::string>{"SELECT 1 -- not the end;\n + 1;"}));
  EXPECT_EQ(texts("SELECT /* a; /* nested; */ still; */ 1;"),
            (std::vector<std::string>{"SELECT /* a; /* nested; */ still; */ 1;"}));
}

TEST(SqlScript, EscapeStringsTakeBackslashEscapesPlainStringsDoNot) {
  // E'x\';y': the \' is an escaped quote, so the ; is inside.
  EXPECT_EQ(texts("SELECT E'x\\';y', e'\\\\';SELECT 2;"),
            (std::vector<std::string>{"SELECT E'x\\';y', e'\\\\';", "SELECT 2;"}));
  // Standard strings: a backslash is an ordinary character.
  EXPECT_EQ(texts("SELECT 'x\\';SELECT 2;"),
            (std::vector<std::string>{"SELECT 'x\\';", "SELECT 2;"}));
  // A word ending in e is no E prefix.
  EXPECT_EQ(texts("SELECT some'x\\';SELECT 2;"),
            (std::vector<std::string>{"SELECT some'x\\';", "SELECT 2;"}));
}

TEST(SqlScript, DollarQuotesWithAndWithoutTags) {
  EXPECT_EQ(texts("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\nSELECT 2;"),
            (std::vector<std::string>{
                "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;", "SELECT 2;"}));
  EXPECT_EQ(texts("DO $fn$ BEGIN PERFORM $$;$$; PERFORM '$fn'; END $fn$;SELECT 2;"),
            (std::vector<std::string>{"DO $fn$ BEGIN PERFORM $$;$$; PERFORM '$fn'; END $fn$;",
                                      "SELECT 2;"}));
  EXPECT_EQ(texts("SELECT $_$a;$_$, $a1$ $a $a1 ; $a1$;SELECT 2;"),
            (std::vector<std::string>{"SELECT $_$a;$_$, $a1$ $a $a1 ; $a1$;", "SELECT 2;"}));
  EXPECT_EQ(texts("SELECT $x$ $$ is no end; $x$; SELECT 2;"),
            (std::vector<std::string>{"SELECT $x$ $$ is no end; $x$;", "SELECT 2;"}));
}

TEST(SqlScript, DollarSignsThatOpenNoQuote) {
  // $1 is a parameter, a tag cannot start with a digit, and $ inside a
  // word belongs to it.
  EXPECT_EQ(texts("PREPARE p AS SELECT $1;SELECT 2;"),
            (std::vector<std::string>{"PREPARE p AS SELECT $1;", "SELECT 2;"}));
  EXPECT_EQ(texts("SELECT $1a$;SELECT 2;"),
            (std::vector<std::string>{"SELECT $1a$;", "SELECT 2;"}));
  EXPECT_EQ(texts("SELECT a$b$c;SELECT 2;"),
            (std::vector<std::string>{"SELECT a$b$c;", "SELECT 2;"}));
}

TEST(SqlScript, SemicolonsInsideParenthesesDoNotEndAStatement) {
  const std::string rule =
      "CREATE RULE r AS ON INSERT TO public.t DO INSTEAD ( INSERT INTO public.a VALUES (1);\n"
      " INSERT INTO public.b VALUES (2);\n);";
  EXPECT_EQ(texts(rule + "\nSELECT 1;"), (std::vector<std::string>{rule, "SELECT 1;"}));
  // A stray ')' does not make the depth negative.
  EXPECT_EQ(texts("SELECT 1);SELECT 2;"), (std::vector<std::string>{"SELECT 1);", "SELECT 2;"}));
}

TEST(SqlScript, BeginAtomicBodiesAreOneStatement) {
  const std::string function =
      "CREATE FUNCTION public.f(x integer) RETURNS integer\n"
      "    LANGUAGE sql\n"
      "    BEGIN ATOMIC\n"
      " SELECT CASE WHEN (x > 0) THEN 1 ELSE 0 END AS c;\n"
      " SELECT 2;\n"
      "END;";
  const std::string procedure =
      "CREATE OR REPLACE PROCEDURE public.p()\n"
      "    LANGUAGE sql\n"
      "    BEGIN ATOMIC\n"
      " INSERT INTO public.t VALUES (1);\n"
      "END;";
  EXPECT_EQ(texts(function + "\n\n" + procedure + "\nBEGIN;\nSELECT 1;\nEND;"),
            (std::vector<std::string>{function, procedure, "BEGIN;", "SELECT 1;", "END;"}));
  // Only BEGIN ATOMIC opens a body: a function may be called begin.
  const std::string named_begin =
      "CREATE FUNCTION public.begin() RETURNS integer\n    LANGUAGE sql\n    AS $$ SELECT 1 $$;";
  EXPECT_EQ(texts(named_begin + "\nSELECT 2;"),
            (std::vector<std::string>{named_begin, "SELECT 2;"}));
}

TEST(SqlScript, CommentsAndBlankLinesBetweenStatementsAreDropped) {
  auto script = open_script(
      "--\n-- PostgreSQL database dump\n--\n\n/* a block; comment */\n\n"
      "SET statement_timeout = 0;\n\n--\n-- Name: t; Type: TABLE\n--\n\n"
      "CREATE TABLE public.t (a integer);\n\n-- the end\n/* dangling");
  ScriptStatement first = next_statement(*script);
  EXPECT_EQ(first.text, "SET statement_timeout = 0;");
  EXPECT_EQ(first.line, 7u);
  ScriptStatement second = next_statement(*script);
  EXPECT_EQ(second.text, "CREATE TABLE public.t (a integer);");
  EXPECT_EQ(second.line, 13u);
  auto end = script->Next();
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_FALSE(end->has_value());
}

TEST(SqlScript, TrailingStatementWithoutSemicolonAndEmptyFiles) {
  EXPECT_EQ(texts("SELECT 1;\nSELECT 2\n\n"), (std::vector<std::string>{"SELECT 1;", "SELECT 2"}));
  EXPECT_EQ(texts(""), std::vector<std::string>{});
  EXPECT_EQ(texts(" \n\t\n-- only a comment\n"), std::vector<std::string>{});
}

TEST(SqlScript, MetaCommandsComeBackWithTheirKind) {
  auto script = open_script(
      "\\restrict aBc123\n\nSET x = 1;\n\\connect -reuse-previous=on \"dbname='db'\"\r\n"
      "\\c other\n\\pset pager off\n\\unrestrict aBc123\n");
  ScriptStatement restrict = next_statement(*script);
  EXPECT_EQ(restrict.kind, Kind::kRestrict);
  EXPECT_EQ(restrict.text, "\\restrict aBc123");
  EXPECT_EQ(restrict.line, 1u);
  EXPECT_EQ(next_statement(*script).text, "SET x = 1;");
  ScriptStatement connect = next_statement(*script);
  EXPECT_EQ(connect.kind, Kind::kConnect);
  EXPECT_EQ(connect.text, "\\connect -reuse-previous=on \"dbname='db'\"");
  EXPECT_EQ(connect.line, 4u);
  EXPECT_EQ(next_statement(*script).kind, Kind::kConnect);
  ScriptStatement other = next_statement(*script);
  EXPECT_EQ(other.kind, Kind::kMeta);
  EXPECT_EQ(other.text, "\\pset pager off");
  ScriptStatement unrestrict = next_statement(*script);
  EXPECT_EQ(unrestrict.kind, Kind::kRestrict);
  EXPECT_EQ(unrestrict.line, 7u);
  auto end = script->Next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
}

TEST(SqlScript, BackslashesInsideAStatementAreNoMetaCommand) {
  EXPECT_EQ(texts("SELECT 1\n\\ 2;"), (std::vector<std::string>{"SELECT 1\n\\ 2;"}));
}

const char kCopyScript[] =
    "SET x = 1;\n"
    "COPY public.t (id, body, \"from\") FROM stdin;\n"
    "1\tplain\t\\N\n"
    "2\ttab\\there\tback\\\\slash\n"
    "3\t\\\\.\tnot the end\n"
    "\\\\.\n"
    "4\t\\.x\t\n"
    "\\.\n"
    "\n"
    "SELECT pg_catalog.setval('public.t_id_seq', 4, true);\n";

const char kCopyData[] =
    "1\tplain\t\\N\n"
    "2\ttab\\there\tback\\\\slash\n"
    "3\t\\\\.\tnot the end\n"
    "\\\\.\n"
    "4\t\\.x\t\n";

TEST(SqlScript, CopyFromStdinDataUpToTheBackslashDotLine) {
  auto script = open_script(kCopyScript);
  EXPECT_EQ(next_statement(*script).text, "SET x = 1;");
  ScriptStatement copy = next_statement(*script);
  EXPECT_EQ(copy.text, "COPY public.t (id, body, \"from\") FROM stdin;");
  EXPECT_TRUE(copy.copy_from_stdin);
  EXPECT_EQ(copy.line, 2u);
  EXPECT_EQ(copy_data(*script, 1 << 20), kCopyData);
  ScriptStatement setval = next_statement(*script);
  EXPECT_EQ(setval.text, "SELECT pg_catalog.setval('public.t_id_seq', 4, true);");
  EXPECT_EQ(setval.line, 10u);
  EXPECT_FALSE(setval.copy_from_stdin);
}

TEST(SqlScript, SmallChunksGiveTheSameCopyData) {
  for (size_t max_bytes : {1, 2, 3, 5, 8, 13, 21, 64}) {
    auto script = open_script(kCopyScript);
    next_statement(*script);
    ASSERT_TRUE(next_statement(*script).copy_from_stdin);
    EXPECT_EQ(copy_data(*script, max_bytes), kCopyData) << max_bytes;
    EXPECT_EQ(next_statement(*script).line, 10u);
  }
}

TEST(SqlScript, ChunksHoldWholeLinesUpToAboutMaxBytes) {
  auto script = open_script("COPY t FROM stdin;\naaaa\nbbbb\ncccc\n\\.\n");
  ASSERT_TRUE(next_statement(*script).copy_from_stdin);
  std::string chunk;
  auto more = script->ReadCopyData(chunk, 6);
  ASSERT_TRUE(more.ok());
  EXPECT_TRUE(*more);
  EXPECT_EQ(chunk, "aaaa\nbbbb\n");  // the second line started below 6 bytes
  chunk.clear();
  more = script->ReadCopyData(chunk, 6);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  EXPECT_EQ(chunk, "cccc\n");
  more = script->ReadCopyData(chunk, 6);
  EXPECT_FALSE(more.ok());  // no COPY in progress any more
}

TEST(SqlScript, EmptyCopyAndTerminatorVariants) {
  auto script = open_script(
      "copy t (a) from STDIN;\n\\.\nCOPY u FROM stdin;\nx\n\\.\r\nCOPY v FROM stdin;\ny\n\\.");
  ASSERT_TRUE(next_statement(*script).copy_from_stdin);
  EXPECT_EQ(copy_data(*script, 100), "");
  ASSERT_TRUE(next_statement(*script).copy_from_stdin);
  EXPECT_EQ(copy_data(*script, 100), "x\n");
  ASSERT_TRUE(next_statement(*script).copy_from_stdin);
  EXPECT_EQ(copy_data(*script, 100), "y\n");
  auto end = script->Next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
}

TEST(SqlScript, OnlyCopyFromStdinHasData) {
  auto script = open_script(
      "COPY t FROM '/tmp/x';\nCOPY t TO stdout;\nCOPY (SELECT 'from stdin') TO stdout;\n"
      "SELECT 1 FROM stdin;\n");
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(next_statement(*script).copy_from_stdin) << i;
}

TEST(SqlScript, NextSkipsCopyDataTheCallerDidNotRead) {
  auto script = open_script(kCopyScript);
  next_statement(*script);
  ASSERT_TRUE(next_statement(*script).copy_from_stdin);
  std::string chunk;
  ASSERT_TRUE(script->ReadCopyData(chunk, 1).ok());
  EXPECT_EQ(next_statement(*script).line, 10u);
}

TEST(SqlScript, MissingBackslashDotIsCorruptionNamingTheLines) {
  auto script = open_script("SELECT 1;\nCOPY t FROM stdin;\n1\n2\n");
  next_statement(*script);
  ASSERT_TRUE(next_statement(*script).copy_from_stdin);
  std::string chunk;
  Result<bool> more = true;
  while (more.ok() && *more) more = script->ReadCopyData(chunk, 1);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.status().code(), StatusCode::kCorruption);
  EXPECT_NE(more.status().message().find("line 5"), std::string::npos) << more.status().message();
  EXPECT_NE(more.status().message().find("statement at line 2"), std::string::npos);
  EXPECT_EQ(chunk, "1\n2\n");
}

TEST(SqlScript, TextAfterCopyOnItsLineIsCorruption) {
  auto script = open_script("COPY t FROM stdin; SELECT 1;\n\\.\n");
  auto next = script->Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), StatusCode::kCorruption);
}

TEST(SqlScript, FileEndingInsideAQuoteIsCorruption) {
  for (const char* text : {"SELECT 'abc;\n", "SELECT E'abc\\';", "SELECT \"abc;",
                           "DO $x$ abc; $y$;", "SELECT 1 /* abc;"}) {
    auto script = open_script(text);
    auto next = script->Next();
    ASSERT_FALSE(next.ok()) << text;
    EXPECT_EQ(next.status().code(), StatusCode::kCorruption) << text;
    EXPECT_NE(next.status().message().find("statement at line 1"), std::string::npos);
  }
}

TEST(SqlScript, StatementLongerThanTheLimitIsRefused) {
  auto script = open_script("SELECT 1;\nSELECT '" + std::string(200, 'x') + "';\n", 100);
  EXPECT_TRUE(script->Next().ok());
  auto next = script->Next();
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(next.status().message().find("line 2"), std::string::npos);
}

TEST(SqlScript, StatementsAndCopyDataAcrossBufferBoundaries) {
  // Several MiB, so that statements, quotes and COPY lines straddle the
  // 1 MiB read buffer.
  std::string content;
  std::string expected_data;
  size_t statements = 0;
  for (int i = 0; content.size() < (size_t{3} << 20); ++i) {
    content += "INSERT INTO t VALUES (" + std::to_string(i) + ", 'x;y''" + std::to_string(i) +
               "', $q$;$q$);\n";
    ++statements;
    if (i % 1000 == 0) {
      content += "COPY t FROM stdin;\n";
      for (int j = 0; j < 50; ++j) {
        const std::string line = std::to_string(i) + "\t" + std::string(j * 7, 'd') + "\n";
        content += line;
        expected_data += line;
      }
      content += "\\.\n";
      ++statements;
    }
  }
  auto script = open_script(content);
  size_t seen = 0;
  std::string data;
  for (;;) {
    auto next = script->Next();
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    if (!next->has_value()) break;
    ++seen;
    if ((*next)->copy_from_stdin) {
      data += copy_data(*script, 4096);
    } else {
      ASSERT_EQ((*next)->text.back(), ';');
      ASSERT_EQ((*next)->text.rfind("INSERT INTO t VALUES (", 0), 0u) << (*next)->text;
    }
  }
  EXPECT_EQ(seen, statements);
  EXPECT_EQ(data, expected_data);
}

TEST(SqlScript, MissingFileIsAnIoError) {
  auto script = SqlScript::Open(testing::TempDir() + "/sql_script_test_no_such_file.sql");
  ASSERT_FALSE(script.ok());
  EXPECT_EQ(script.status().code(), StatusCode::kIoError);
}

}  // namespace
}  // namespace pgthaw::dumpfile
