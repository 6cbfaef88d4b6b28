// A tenant's one engine session is shared by its wire connections and its
// HTTP queries (pg_connection.h states the invariant). These tests send the
// protocol exchanges that used to leave that session skipping to Sync or
// inside an exchange, over real sockets to a real listener and HTTP role,
// and show that the client sees what Postgres would show it, the next user
// (HTTP, a new libpq connection, another tenant) finds the session clean,
// and nothing of it is in the snapshot a restart thaws.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/test_support.h"
#include "pgwire/frontend.h"
#include "pgwire/wire_format.h"
#include "server/pg_http_test_server.h"

namespace pgthaw::server {
namespace {

using engine::testing::TempDir;
using testing::Conn;
using testing::first_sqlstate;
using testing::HttpResult;
using testing::PgHttpServer;
using testing::PgResult;
using testing::RawClient;
using testing::startup_packet;

class PgSharedSessionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    server_ = new PgHttpServer(dir_->sub("data"));
    ASSERT_TRUE(server_->ok());
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }

  // A raw connection past its startup (ReadyForQuery read).
  static std::unique_ptr<RawClient> raw(const std::string& tenant) {
    auto c = std::make_unique<RawClient>(server_->pg_port());
    c->send(startup_packet({{"user", "raw"}, {"database", tenant}}));
    auto hello = c->read_until_ready();
    EXPECT_FALSE(hello.empty());
    if (!hello.empty()) {
      EXPECT_EQ(hello.back().type, 'Z');
    }
    return c;
  }

  // The value of a one-row, one-column query over a new libpq connection.
  static std::string libpq_value(const std::string& tenant, const std::string& sql) {
    Conn c(PQconnectdb(server_->conninfo(tenant).c_str()));
    if (PQstatus(c.get()) != CONNECTION_OK) {
      ADD_FAILURE() << "connect to " << tenant << ": " << PQerrorMessage(c.get());
      return "";
    }
    PgResult r(PQexec(c.get(), sql.c_str()));
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r.get());
      return "";
    }
    return PQgetvalue(r.get(), 0, 0);
  }

  // An HTTP statement that must run, answered with its command tag.
  static std::string http_command(const std::string& tenant, const std::string& sql) {
    HttpResult r = server_->Direct(tenant, sql);
    EXPECT_EQ(r.status, 200) << sql << ": " << r.body;
    return r.json.is_object() ? r.json.value("command", std::string("<none>")) : "<not json>";
  }

  // The single value an HTTP query returns.
  static std::string http_value(const std::string& tenant, const std::string& sql) {
    HttpResult r = server_->Direct(tenant, sql);
    EXPECT_EQ(r.status, 200) << sql << ": " << r.body;
    if (!r.json.is_object() || r.json["rows"].size() != 1) return "<no row>";
    return r.json["rows"][0][0].get<std::string>();
  }

  // The tenant takes writes over HTTP and new wire connections; a bystander
  // tenant answers too.
  static void expect_healthy(const std::string& tenant, int id) {
    EXPECT_EQ(http_command(tenant, "insert into t values (" + std::to_string(id) + ")"),
              "INSERT 0 1");
    EXPECT_EQ(libpq_value(tenant, "select count(*) from t where id = " + std::to_string(id)), "1");
    EXPECT_EQ(libpq_value("bystander", "select 40 + 2"), "42");
  }

  static TempDir* dir_;
  static PgHttpServer* server_;
};

TempDir* PgSharedSessionTest::dir_ = nullptr;
PgHttpServer* PgSharedSessionTest::server_ = nullptr;

// ---- Protocol bytes ----

std::string parse(const std::string& sql, const std::string& name = "") {
  std::string out;
  EXPECT_TRUE(pgwire::frontend::parse(out, name, sql).ok());
  return out;
}
std::string bind(const std::string& statement = "") {
  std::string out;
  EXPECT_TRUE(pgwire::frontend::bind(out, "", statement, {}, {}).ok());
  return out;
}
std::string execute() {
  std::string out;
  EXPECT_TRUE(pgwire::frontend::execute(out, "").ok());
  return out;
}
std::string query(const std::string& sql) {
  std::string out;
  EXPECT_TRUE(pgwire::frontend::query(out, sql).ok());
  return out;
}
std::string sync() {
  std::string out;
  pgwire::frontend::sync(out);
  return out;
}
std::string flush() {
  std::string out;
  pgwire::frontend::flush(out);
  return out;
}

// "1 2 D C Z" for ParseComplete, BindComplete, DataRow, CommandComplete,
// ReadyForQuery; NoticeResponses left out.
std::string types(const std::vector<pgwire::Message>& messages) {
  std::string out;
  for (const auto& m : messages) {
    if (m.type == 'N') continue;
    if (!out.empty()) out += ' ';
    out += m.type;
  }
  return out;
}

char ready_status(const std::vector<pgwire::Message>& messages) {
  return !messages.empty() && messages.back().type == 'Z' && messages.back().payload.size() == 1
             ? messages.back().payload[0]
             : '?';
}

std::vector<std::string> data_values(const std::vector<pgwire::Message>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages) {
    if (m.type != 'D') continue;
    auto row = pgwire::decode_data_row(m.payload);
    if (row.ok() && row->size() == 1 && (*row)[0]) out.push_back(*(*row)[0]);
  }
  return out;
}

// Reads up to and including the first message of `type`.
std::vector<pgwire::Message> read_through(RawClient& c, char type) {
  std::vector<pgwire::Message> out;
  EXPECT_TRUE(c.read_until(out, [type](const pgwire::Message& m) { return m.type == type; }))
      << "no '" << type << "' from the server";
  return out;
}

// ---- Tests ----

// The fuzzer's case: Parse("", "selec 1") fails, then a Query with no Sync.
// Postgres discards the Query (it skips to Sync after an extended error) and
// so does the listener for that client; the session is clean for everyone
// else at once, and stays clean through a restart.
TEST_F(PgSharedSessionTest, ParseErrorThenQueryWithoutSyncLeavesNothingBehind) {
  const std::string tenant = "parse_error_query";
  EXPECT_EQ(http_command(tenant, "create table t(id int)"), "CREATE TABLE");
  EXPECT_EQ(http_command("bystander", "select 1"), "SELECT 1");

  // What the client sees: the error, nothing for "select 2", ReadyForQuery
  // only at its Sync; then the connection works.
  {
    auto a = raw(tenant);
    a->send(parse("selec 1") + query("select 2") + sync());
    auto reply = a->read_until_ready();
    EXPECT_EQ(types(reply), "E Z");
    EXPECT_EQ(first_sqlstate(reply), "42601");
    EXPECT_EQ(ready_status(reply), 'I');
    a->send(query("select 3"));
    reply = a->read_until_ready();
    EXPECT_EQ(data_values(reply), std::vector<std::string>{"3"});
  }
  expect_healthy(tenant, 1);

  // The reproducer: the same without Sync, then the client vanishes.
  {
    auto b = raw(tenant);
    b->send(parse("selec 1") + query("select 2"));
    EXPECT_EQ(first_sqlstate(read_through(*b, 'E')), "42601");
  }
  expect_healthy(tenant, 2);
  {
    auto c = raw(tenant);  // gone before the listener may even read it
    c->send(parse("selec 1") + query("select 2"));
  }
  expect_healthy(tenant, 3);

  // Inside a transaction block: the block is aborted, as in Postgres, and
  // the connection holds the tenant until its ROLLBACK.
  {
    auto d = raw(tenant);
    d->send(query("begin"));
    EXPECT_EQ(ready_status(d->read_until_ready()), 'T');
    d->send(parse("selec 1") + query("select 2"));
    EXPECT_EQ(first_sqlstate(read_through(*d, 'E')), "42601");
    d->send(query("select 4") + sync());
    auto reply = d->read_until_ready();
    EXPECT_EQ(types(reply), "Z");
    EXPECT_EQ(ready_status(reply), 'E');
    d->send(query("rollback"));
    EXPECT_EQ(ready_status(d->read_until_ready()), 'I');
  }
  {
    auto e = raw(tenant);  // the same, vanishing inside the aborted block
    e->send(query("begin") + parse("selec 1") + query("select 2"));
    read_through(*e, 'E');
  }
  expect_healthy(tenant, 4);

  // Durable, and no skip state in the snapshot the restart thaws.
  server_->Restart();
  ASSERT_TRUE(server_->ok());
  EXPECT_EQ(http_value(tenant, "select string_agg(id::text, ',' order by id) from t"), "1,2,3,4");
  expect_healthy(tenant, 5);
}

// Bind or Execute without Sync never reaches the engine; after a Flush the
// exchange is the connection's until it leaves, and then it is rolled back.
TEST_F(PgSharedSessionTest, ExecuteOrBindWithoutSyncThenDisconnectLeavesTheTenantHealthy) {
  const std::string tenant = "no_sync";
  EXPECT_EQ(http_command(tenant, "create table t(id int)"), "CREATE TABLE");
  int id = 0;
  {
    auto c = raw(tenant);
    c->send(bind() + execute());
  }
  expect_healthy(tenant, ++id);
  {
    auto c = raw(tenant);
    c->send(parse("insert into t values (100)") + bind() + execute());
  }
  expect_healthy(tenant, ++id);
  {
    // Flush: the insert runs, uncommitted; the client leaves.
    auto c = raw(tenant);
    c->send(parse("insert into t values (101)") + bind() + execute() + flush());
    EXPECT_EQ(types(read_through(*c, 'C')), "1 2 C");
  }
  expect_healthy(tenant, ++id);
  {
    // An error before Flush: skipping to Sync, held by this connection.
    auto c = raw(tenant);
    c->send(bind("no_such_statement") + execute() + flush());
    EXPECT_EQ(first_sqlstate(read_through(*c, 'E')), "26000");
  }
  expect_healthy(tenant, ++id);
  {
    auto c = raw(tenant);
    c->send(bind("no_such_statement") + execute() + query("select 1"));
    EXPECT_EQ(first_sqlstate(read_through(*c, 'E')), "26000");
  }
  expect_healthy(tenant, ++id);
  {
    auto c = raw(tenant);
    c->send(execute() + query("select 1"));
    EXPECT_EQ(first_sqlstate(read_through(*c, 'E')), "34000");
  }
  expect_healthy(tenant, ++id);
  {
    // Flush alone reserves nothing: HTTP runs while this client idles.
    auto c = raw(tenant);
    c->send(flush());
    expect_healthy(tenant, ++id);
  }
  EXPECT_EQ(http_value(tenant, "select count(*) from t where id >= 100"), "0");
  EXPECT_EQ(http_value(tenant, "select count(*) from t"), std::to_string(id));
}

// Postgres runs a Query that comes before Sync when nothing failed. The
// listener ends the exchange first (as Postgres up to 16 does): its writes
// are committed, the Query runs in a transaction of its own, and the Sync
// then gets its own ReadyForQuery. (Postgres 18's engine, left to itself,
// keeps the exchange open past the Query; after the Sync the next command
// of anyone fails with XX000 and the exchange's insert is lost.)
TEST_F(PgSharedSessionTest, QueryBeforeSyncRunsWhenNothingFailed) {
  const std::string tenant = "query_before_sync";
  EXPECT_EQ(http_command(tenant, "create table t(id int)"), "CREATE TABLE");
  auto c = raw(tenant);
  c->send(parse("select 1") + bind() + execute() + query("select 2") + sync());
  auto reply = c->read_until_ready();
  EXPECT_EQ(types(reply), "1 2 D C T D C Z");
  EXPECT_EQ(data_values(reply), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(ready_status(reply), 'I');
  reply = c->read_until_ready();
  EXPECT_EQ(types(reply), "Z");
  c->send(query("select 5"));
  reply = c->read_until_ready();
  EXPECT_EQ(data_values(reply), std::vector<std::string>{"5"}) << first_sqlstate(reply);

  c->send(parse("insert into t values (1)") + bind() + execute() + query("select 2") + sync());
  EXPECT_EQ(types(c->read_until_ready()), "1 2 C T D C Z");
  EXPECT_EQ(types(c->read_until_ready()), "Z");
  expect_healthy(tenant, 2);
  // The same after a Flush: the exchange is held, then ended by the Query.
  c->send(parse("insert into t values (3)") + bind() + execute() + flush());
  EXPECT_EQ(types(read_through(*c, 'C')), "1 2 C");
  c->send(query("select 2") + sync());
  EXPECT_EQ(types(c->read_until_ready()), "T D C Z");
  EXPECT_EQ(types(c->read_until_ready()), "Z");
  expect_healthy(tenant, 4);
  EXPECT_EQ(http_value(tenant, "select string_agg(id::text, ',' order by id) from t"), "1,2,3,4");
}

// After Flush and an error the client's messages up to Sync are discarded
// (Postgres' skip to Sync), the others' are not.
TEST_F(PgSharedSessionTest, ErrorBeforeFlushSkipsToSyncForThatClientOnly) {
  const std::string tenant = "flush_error";
  EXPECT_EQ(http_command(tenant, "create table t(id int)"), "CREATE TABLE");
  auto c = raw(tenant);
  c->send(parse("selec 1") + flush());
  EXPECT_EQ(first_sqlstate(read_through(*c, 'E')), "42601");
  c->send(query("select 3") + parse("select 4") + bind() + execute() + sync());
  auto reply = c->read_until_ready();
  EXPECT_EQ(types(reply), "Z");
  EXPECT_EQ(ready_status(reply), 'I');
  expect_healthy(tenant, 1);
  c->send(query("select 6"));
  EXPECT_EQ(data_values(c->read_until_ready()), std::vector<std::string>{"6"});
}

// Postgres reads Sync, Flush, Describe, Close, Execute, CopyDone and
// CopyFail only up to 10,000 bytes and closes the connection past that; the
// listener does the same before the shared session could see one.
TEST_F(PgSharedSessionTest, OversizedSmallMessagesCloseOnlyTheirConnection) {
  const std::string tenant = "oversized";
  EXPECT_EQ(http_command(tenant, "create table t(id int)"), "CREATE TABLE");
  for (char type : {'S', 'H', 'D', 'E', 'C'}) {
    auto c = raw(tenant);
    std::string message(1, type);
    pgwire::put_int32(message, 4 + 20000);
    message.append(20000, 'x');
    c->send(message);
    auto messages = pgwire::BackendParser::split(c->read_all());
    ASSERT_TRUE(messages.ok());
    EXPECT_EQ(first_sqlstate(*messages), "08P01") << type;
  }
  expect_healthy(tenant, 1);
}

std::string copy_data(const std::string& line) {
  std::string out;
  EXPECT_TRUE(pgwire::frontend::copy_data(out, line).ok());
  return out;
}
std::string copy_done() {
  std::string out;
  pgwire::frontend::copy_done(out);
  return out;
}

// COPY FROM STDIN runs wherever the backend runs one: through the extended
// protocol, after extended messages with no Sync, in an exchange a Flush
// left open. Over HTTP, which has no way to send COPY data, it fails with
// "feature not supported", and the tenant goes on.
TEST_F(PgSharedSessionTest, CopyFromStdinRunsAnywhere) {
  const std::string tenant = "copy_anywhere";
  EXPECT_EQ(http_command(tenant, "create table t(id int)"), "CREATE TABLE");
  auto c = raw(tenant);
  c->send(parse("copy t from stdin") + bind() + execute() + sync());
  EXPECT_EQ(types(read_through(*c, 'G')), "1 2 G");
  c->send(copy_data("10\n") + copy_done() + sync());
  auto reply = c->read_until_ready();
  EXPECT_EQ(types(reply), "C Z");
  EXPECT_EQ(ready_status(reply), 'I');
  // Before a Query with no Sync: the Query runs after the exchange.
  c->send(parse("copy t from stdin") + bind() + execute() + flush());
  EXPECT_EQ(types(read_through(*c, 'G')), "1 2 G");
  c->send(copy_data("11\n") + copy_done() + sync());
  EXPECT_EQ(types(c->read_until_ready()), "C Z");
  // A COPY Query in an exchange left open by Flush.
  c->send(parse("insert into t values (100)") + bind() + execute() + flush());
  EXPECT_EQ(types(read_through(*c, 'C')), "1 2 C");
  c->send(query("copy t from stdin"));
  EXPECT_EQ(types(read_through(*c, 'G')), "G");
  c->send(copy_data("12\n") + copy_done());
  reply = c->read_until_ready();
  EXPECT_EQ(types(reply), "C Z");
  EXPECT_EQ(ready_status(reply), 'I');
  expect_healthy(tenant, 1);
  EXPECT_EQ(http_value(tenant, "select string_agg(id::text, ',' order by id) from t"),
            "1,10,11,12,100");

  for (const char* sql : {"copy t from stdin", "select 1; copy t from stdin"}) {
    HttpResult r = server_->Direct(tenant, sql);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_EQ(r.json["error"].value("sqlstate", ""), "0A000") << r.body;
  }
  HttpResult r = testing::post_json(
      server_->http_port(), "/direct",
      {{"sql", "copy t from stdin"}, {"params", nlohmann::json::array()}, {"tenant", tenant}});
  EXPECT_EQ(r.json["error"].value("sqlstate", ""), "0A000") << r.body;
  expect_healthy(tenant, 2);
  EXPECT_EQ(http_value(tenant, "select count(*) from t"), "6");
}

// A client that sends something other than COPY data during COPY: Postgres
// ends that connection ("protocol synchronization was lost"), and so does
// the listener, without letting the backend see the message (which would end
// the shared session). Terminate during COPY fails the COPY, then closes.
TEST_F(PgSharedSessionTest, CopyInterruptedByOtherMessages) {
  const std::string tenant = "copy_interrupted";
  EXPECT_EQ(http_command(tenant, "create table t(id int)"), "CREATE TABLE");
  auto c = raw(tenant);
  c->send(query("copy t from stdin"));
  EXPECT_EQ(types(read_through(*c, 'G')), "G");
  c->send(copy_data("1\n") + query("select 1"));
  auto reply = pgwire::BackendParser::split(c->read_all());
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(types(*reply), "E");
  EXPECT_EQ(first_sqlstate(*reply), "08P01");
  // The same when it was in the batch already: a second Execute after the
  // COPY's (the backend would read it as COPY input and end the session).
  auto e = raw(tenant);
  e->send(parse("copy t from stdin") + bind() + execute() + execute() + sync());
  auto batched = pgwire::BackendParser::split(e->read_all());
  ASSERT_TRUE(batched.ok());
  EXPECT_EQ(types(*batched), "1 2 G E");
  EXPECT_EQ(first_sqlstate(*batched), "08P01");
  auto d = raw(tenant);
  d->send(query("copy t from stdin"));
  EXPECT_EQ(types(read_through(*d, 'G')), "G");
  std::string terminate(1, 'X');
  terminate += std::string("\0\0\0\4", 4);
  d->send(copy_data("2\n") + terminate);
  d->read_all();
  expect_healthy(tenant, 1);
  EXPECT_EQ(http_value(tenant, "select count(*) from t"), "1");
}

// An HTTP query runs with the server's defaults whatever a connection set
// (vacuumdb sets search_path to ''), and the connection keeps its own.
TEST_F(PgSharedSessionTest, HttpQueriesRunWithTheServersDefaults) {
  const std::string tenant = "http_defaults";
  EXPECT_EQ(http_command(tenant, "create table t(id int)"), "CREATE TABLE");
  auto c = raw(tenant);
  c->send(query("select pg_catalog.set_config('search_path', '', false)"));
  c->read_until_ready();
  EXPECT_EQ(http_value(tenant, "select count(*) from t"), "0");
  EXPECT_EQ(http_value(tenant, "show search_path"), "public");
  c->send(query("show search_path"));
  EXPECT_EQ(data_values(c->read_until_ready()), std::vector<std::string>{""});
}

// A connection's startup values are its session's defaults while it is
// there (RESET returns to them), and never anyone else's.
TEST_F(PgSharedSessionTest, StartupValuesAreTheConnectionsDefaultsOnly) {
  const std::string tenant = "startup_defaults";
  const std::string server_zone = http_value(tenant, "show timezone");
  ASSERT_NE(server_zone, "Asia/Tokyo");
  {
    Conn c(PQconnectdb((server_->conninfo(tenant) + " options='-c TimeZone=Asia/Tokyo'").c_str()));
    ASSERT_EQ(PQstatus(c.get()), CONNECTION_OK) << PQerrorMessage(c.get());
    PgResult set(PQexec(c.get(), "set timezone = 'Europe/Paris'; reset timezone; show timezone"));
    ASSERT_EQ(PQresultStatus(set.get()), PGRES_TUPLES_OK) << PQresultErrorMessage(set.get());
    EXPECT_STREQ(PQgetvalue(set.get(), 0, 0), "Asia/Tokyo");
    EXPECT_EQ(http_value(tenant, "show timezone"), server_zone);
  }
  // The connection is gone (its end runs on the tenant soon after).
  std::string after;
  for (int i = 0; i < 100; ++i) {
    after = libpq_value(tenant, "reset timezone; show timezone");
    if (after == server_zone) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(after, server_zone);
}

}  // namespace
}  // namespace pgthaw::server
