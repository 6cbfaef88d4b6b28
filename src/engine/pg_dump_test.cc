// pg_dump.wasm against a real instance: the dump is pg_dump 18's own output.
#include "engine/pg_dump.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "engine/test_support.h"

namespace pgthaw::engine {
namespace {

using testing::TempDir;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

PgDumpRequest request_for(Instance& instance, const std::string& out_dir,
                          std::vector<std::string> args) {
  PgDumpRequest request;
  request.arguments = std::move(args);
  request.output_dir = out_dir;
  request.parameters = {{"server_version", testing::scalar(instance, "show server_version")},
                        {"server_encoding", "UTF8"},
                        {"client_encoding", "UTF8"},
                        {"standard_conforming_strings", "on"},
                        {"is_superuser", "on"},
                        {"session_authorization", "postgres"}};
  request.exchange = [&instance](std::string_view messages) { return instance.Exec(messages); };
  return request;
}

TEST(PgDump, PlainDumpIsPgDumpsOwnScript) {
  TempDir dir;
  testing::copy_template_database(dir.sub("data"));
  auto db = testing::boot(dir.sub("data"));
  testing::run(*db,
               "create table t (id int primary key, v text);"
               "insert into t select i, 'row ' || i from generate_series(1, 100) i;"
               "create function twice(x int) returns int language plpgsql as "
               "$$ begin return 2 * x; end $$;");
  std::filesystem::create_directories(dir.sub("out"));
  ASSERT_TRUE(run_pg_dump(testing::test_engine(), request_for(*db, dir.sub("out"), {})).ok());
  std::string dump = read_file(dir.sub("out") + "/" + kPgDumpFile);
  EXPECT_NE(dump.find("-- PostgreSQL database dump"), std::string::npos) << dump.substr(0, 400);
  EXPECT_NE(dump.find("CREATE TABLE public.t"), std::string::npos);
  EXPECT_NE(dump.find("CREATE FUNCTION public.twice"), std::string::npos);
  EXPECT_NE(dump.find("COPY public.t (id, v) FROM stdin;"), std::string::npos);
  EXPECT_NE(dump.find("100\trow 100\n"), std::string::npos);
}

TEST(PgDump, CustomFormatArchive) {
  TempDir dir;
  testing::copy_template_database(dir.sub("data"));
  auto db = testing::boot(dir.sub("data"));
  testing::run(*db, "create table t (id int); insert into t values (1), (2);");
  std::filesystem::create_directories(dir.sub("out"));
  Status st =
      run_pg_dump(testing::test_engine(), request_for(*db, dir.sub("out"), {"--format=custom"}));
  ASSERT_TRUE(st.ok()) << st.ToString();
  std::string dump = read_file(dir.sub("out") + "/" + kPgDumpFile);
  ASSERT_GE(dump.size(), 5u);
  EXPECT_EQ(dump.substr(0, 5), "PGDMP");
}

TEST(PgDump, PgDumpsOwnErrorIsReported) {
  TempDir dir;
  testing::copy_template_database(dir.sub("data"));
  auto db = testing::boot(dir.sub("data"));
  std::filesystem::create_directories(dir.sub("out"));
  Status st = run_pg_dump(testing::test_engine(),
                          request_for(*db, dir.sub("out"), {"--table=no_such_table"}));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("no matching tables were found"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace pgthaw::engine
