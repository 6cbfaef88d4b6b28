// engine::Instance::Exec with a reply sink, against the real engine: a long
// reply leaves in chunks of whole messages while it is made, byte for byte
// what the unstreamed reply holds, and a sink that gives up stops the
// statement and leaves the instance usable.
#include <string>
#include <vector>

#include "engine/instance.h"
#include "engine/test_support.h"
#include "pgwire/frontend.h"
#include "pgwire/wire_format.h"

namespace pgthaw::engine {
namespace {

using testing::boot;
using testing::copy_template_database;
using testing::rows;
using testing::scalar;
using testing::TempDir;

std::string simple_query(const std::string& sql) {
  std::string q;
  EXPECT_TRUE(pgwire::frontend::query(q, sql).ok());
  return q;
}

// About 11 MB of DataRows.
constexpr char kLongResult[] = "select g, repeat('x', 100) from generate_series(1, 100000) g";

class ReplyStream : public ::testing::Test {
 protected:
  void SetUp() override {
    copy_template_database(tmp_.sub("db"));
    db_ = boot(tmp_.sub("db"));
    ASSERT_NE(db_, nullptr);
  }
  TempDir tmp_;
  std::unique_ptr<Instance> db_;
};

TEST_F(ReplyStream, ChunksAreWholeMessagesAndAddUpToTheReply) {
  auto whole = db_->Exec(simple_query(kLongResult));
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();

  std::vector<std::string> chunks;
  ExecOptions options;
  options.sink = [&](std::string_view messages) {
    chunks.emplace_back(messages);
    return true;
  };
  auto rest = db_->Exec(simple_query(kLongResult), options);
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  ASSERT_GT(chunks.size(), 10u);
  std::string streamed;
  for (const std::string& c : chunks) {
    // Whole messages, each about a chunk: the engine never held the reply.
    EXPECT_TRUE(pgwire::split_messages(c).ok());
    EXPECT_LE(c.size(), 2 * 256 * 1024u);
    streamed += c;
  }
  // What Exec returns is the tail, with the trailing ReadyForQuery.
  EXPECT_LT(rest->size(), 256 * 1024u);
  EXPECT_TRUE(pgwire::ends_at_ready(*rest));
  EXPECT_TRUE(db_->AtReady());
  EXPECT_EQ(streamed + *rest, *whole);
}

TEST_F(ReplyStream, AShortReplyIsNotStreamed) {
  int calls = 0;
  ExecOptions options;
  options.sink = [&](std::string_view) { return ++calls > 0; };
  auto reply = db_->Exec(simple_query("select 1"), options);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(pgwire::ends_at_ready(*reply));
}

TEST_F(ReplyStream, ASinkThatGivesUpStopsTheStatement) {
  // A sequence is not transactional: it shows how many rows were made.
  rows(*db_, "create sequence made");
  int calls = 0;
  ExecOptions options;
  options.sink = [&](std::string_view) { return ++calls < 3; };
  auto reply =
      db_->Exec(simple_query("select nextval('made') from generate_series(1, 5000000)"), options);
  EXPECT_EQ(reply.status().code(), StatusCode::kAborted) << reply.status().ToString();
  EXPECT_EQ(calls, 3);  // never called again once it gave up
  // The reply's end was dropped too, so whoever uses the session next syncs
  // it first.
  EXPECT_FALSE(db_->AtReady());
  std::string sync;
  pgwire::frontend::sync(sync);
  auto synced = db_->Exec(sync);
  ASSERT_TRUE(synced.ok());
  EXPECT_TRUE(pgwire::ends_at_ready(*synced));
  EXPECT_TRUE(db_->AtReady());
  // Stopped soon after, not run to its end.
  EXPECT_LT(std::stoll(scalar(*db_, "select last_value from made")), 1000000);
  // The cancel did not linger into the next statement.
  EXPECT_EQ(scalar(*db_, "select count(*) from generate_series(1, 100000)"), "100000");
}

TEST_F(ReplyStream, InsideATransactionBlockTheBlockIsAbortedNotLost) {
  rows(*db_, "begin");
  ExecOptions options;
  options.sink = [](std::string_view) { return false; };
  auto reply = db_->Exec(simple_query(kLongResult), options);
  EXPECT_EQ(reply.status().code(), StatusCode::kAborted);
  EXPECT_TRUE(db_->InTransaction());
  rows(*db_, "rollback");
  EXPECT_FALSE(db_->InTransaction());
  EXPECT_EQ(scalar(*db_, "select 'after'"), "after");
}

}  // namespace
}  // namespace pgthaw::engine
