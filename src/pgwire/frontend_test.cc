// Tests of the frontend encoders, FrontendParser and the frontend decoders.
#include "pgwire/frontend.h"

#include <gtest/gtest.h>

#include "pgwire/frontend_parser.h"

namespace pgthaw::pgwire {
namespace {

using namespace std::string_literals;

// The value of a Result the test expects to be ok (a default T if not).
template <typename T>
T must(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : T();
}

// Frames `bytes` as a non-startup stream and returns its single message.
FrontendMessage only_message(const std::string& bytes) {
  FrontendParser p(/*at_connection_start=*/false);
  p.feed(bytes);
  auto m = p.next();
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m.ok() && m->has_value());
  FrontendMessage out = m.ok() && m->has_value() ? **m : FrontendMessage();
  auto rest = p.next();
  EXPECT_TRUE(rest.ok() && !rest->has_value()) << "more than one message";
  EXPECT_EQ(p.buffered_bytes(), 0u);
  return out;
}

TEST(FrontendEncode, QueryHasExactBytes) {
  std::string out;
  ASSERT_TRUE(frontend::query(out, "SELECT 1").ok());
  EXPECT_EQ(out, "Q\0\0\0\x0dSELECT 1\0"s);
}

TEST(FrontendEncode, SyncFlushTerminateCopyDoneAreEmpty) {
  std::string out;
  frontend::sync(out);
  frontend::flush(out);
  frontend::terminate(out);
  frontend::copy_done(out);
  EXPECT_EQ(out, "S\0\0\0\x04"s + "H\0\0\0\x04"s + "X\0\0\0\x04"s + "c\0\0\0\x04"s);
}

TEST(FrontendEncode, NulInTextIsRejectedAndAppendsNothing) {
  std::string out = "keep";
  EXPECT_EQ(frontend::query(out, "SELECT\0 1"s).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(frontend::parse(out, "s\0"s, "SELECT 1").ok());
  EXPECT_FALSE(frontend::bind(out, "p", "s\0"s, {}, {}).ok());
  EXPECT_FALSE(frontend::startup_message(out, {{"user", "a\0b"s}}).ok());
  EXPECT_FALSE(frontend::copy_fail(out, "x\0"s).ok());
  EXPECT_FALSE(frontend::describe(out, 'X', "s").ok());
  EXPECT_FALSE(frontend::close(out, 'Q', "s").ok());
  EXPECT_FALSE(frontend::execute(out, "p", -1).ok());
  EXPECT_FALSE(frontend::cancel_request(out, 1, std::string_view()).ok());
  EXPECT_EQ(out, "keep");
}

TEST(FrontendEncode, TooManyBindParametersIsRejected) {
  std::string out;
  std::vector<std::optional<std::string>> params(70000);
  EXPECT_FALSE(frontend::bind(out, "", "", {}, params).ok());
  EXPECT_TRUE(out.empty());
}

TEST(FrontendRoundTrip, Query) {
  std::string out;
  ASSERT_TRUE(frontend::query(out, "SELECT 'é';").ok());
  FrontendMessage m = only_message(out);
  EXPECT_EQ(m.type, 'Q');
  EXPECT_EQ(must(decode_query(m.payload)), "SELECT 'é';");
}

TEST(FrontendRoundTrip, Parse) {
  std::string out;
  ASSERT_TRUE(frontend::parse(out, "s1", "SELECT $1::int + $2", {23, 0}).ok());
  FrontendMessage m = only_message(out);
  EXPECT_EQ(m.type, 'P');
  auto p = decode_parse(m.payload);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->statement, "s1");
  EXPECT_EQ(p->query, "SELECT $1::int + $2");
  EXPECT_EQ(p->param_type_oids, (std::vector<uint32_t>{23, 0}));
}

TEST(FrontendRoundTrip, BindWithNullsAndBinary) {
  std::string out;
  std::vector<std::optional<std::string>> params = {"42", std::nullopt, ""s, "\0\1\2"s};
  ASSERT_TRUE(frontend::bind(out, "portal", "stmt", {0, 0, 0, 1}, params, {1}).ok());
  FrontendMessage m = only_message(out);
  EXPECT_EQ(m.type, 'B');
  auto b = decode_bind(m.payload);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->portal, "portal");
  EXPECT_EQ(b->statement, "stmt");
  EXPECT_EQ(b->param_formats, (std::vector<int16_t>{0, 0, 0, 1}));
  EXPECT_EQ(b->params, params);
  EXPECT_EQ(b->result_formats, (std::vector<int16_t>{1}));
}

TEST(FrontendRoundTrip, DescribeCloseExecute) {
  std::string out;
  ASSERT_TRUE(frontend::describe(out, 'S', "stmt").ok());
  ASSERT_TRUE(frontend::close(out, 'P', "").ok());
  ASSERT_TRUE(frontend::execute(out, "p", 10).ok());
  FrontendParser parser(false);
  parser.feed(out);

  auto d = parser.next();
  ASSERT_TRUE(d.ok() && d->has_value());
  EXPECT_EQ((*d)->type, 'D');
  auto dm = decode_describe((*d)->payload);
  ASSERT_TRUE(dm.ok());
  EXPECT_EQ(dm->kind, 'S');
  EXPECT_EQ(dm->name, "stmt");

  auto c = parser.next();
  ASSERT_TRUE(c.ok() && c->has_value());
  EXPECT_EQ((*c)->type, 'C');
  auto cm = decode_close((*c)->payload);
  ASSERT_TRUE(cm.ok());
  EXPECT_EQ(cm->kind, 'P');
  EXPECT_EQ(cm->name, "");

  auto e = parser.next();
  ASSERT_TRUE(e.ok() && e->has_value());
  EXPECT_EQ((*e)->type, 'E');
  auto em = decode_execute((*e)->payload);
  ASSERT_TRUE(em.ok());
  EXPECT_EQ(em->portal, "p");
  EXPECT_EQ(em->max_rows, 10);
}

TEST(FrontendRoundTrip, CopyDataAndFail) {
  std::string out;
  ASSERT_TRUE(frontend::copy_data(out, "1\tone\n\0"s).ok());
  FrontendMessage m = only_message(out);
  EXPECT_EQ(m.type, 'd');
  EXPECT_EQ(m.payload, "1\tone\n\0"s);

  out.clear();
  ASSERT_TRUE(frontend::copy_fail(out, "client gave up").ok());
  m = only_message(out);
  EXPECT_EQ(m.type, 'f');
  EXPECT_EQ(must(decode_copy_fail(m.payload)), "client gave up");
}

TEST(FrontendParserTest, StartupThenTypedMessages) {
  std::string out;
  ASSERT_TRUE(frontend::startup_message(out, {{"user", "postgres"}, {"database", "db"}}).ok());
  ASSERT_TRUE(frontend::query(out, "SELECT 1").ok());
  frontend::terminate(out);

  FrontendParser p(/*at_connection_start=*/true);
  EXPECT_TRUE(p.expecting_startup());
  p.feed(out);
  auto s = p.next();
  ASSERT_TRUE(s.ok() && s->has_value()) << s.status().ToString();
  EXPECT_EQ((*s)->type, '\0');
  EXPECT_EQ((*s)->startup_kind, StartupPacketKind::kStartup);
  EXPECT_FALSE(p.expecting_startup());
  auto sm = decode_startup_message((*s)->payload);
  ASSERT_TRUE(sm.ok()) << sm.status().ToString();
  EXPECT_EQ(sm->protocol_version, kProtocolVersion30);
  EXPECT_EQ(sm->major(), 3);
  EXPECT_EQ(sm->minor(), 0);
  EXPECT_EQ(sm->params,
            (std::map<std::string, std::string>{{"user", "postgres"}, {"database", "db"}}));

  auto q = p.next();
  ASSERT_TRUE(q.ok() && q->has_value());
  EXPECT_EQ((*q)->type, 'Q');
  EXPECT_EQ((*q)->startup_kind, StartupPacketKind::kNone);
  auto x = p.next();
  ASSERT_TRUE(x.ok() && x->has_value());
  EXPECT_EQ((*x)->type, 'X');
  auto none = p.next();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST(FrontendParserTest, SslRequestThenStartup) {
  std::string out;
  frontend::ssl_request(out);
  EXPECT_EQ(out, "\0\0\0\x08\x04\xd2\x16\x2f"s);  // 80877103
  frontend::gssenc_request(out);
  ASSERT_TRUE(frontend::startup_message(out, {{"user", "u"}}).ok());

  FrontendParser p(true);
  p.feed(out);
  auto ssl = p.next();
  ASSERT_TRUE(ssl.ok() && ssl->has_value());
  EXPECT_EQ((*ssl)->startup_kind, StartupPacketKind::kSslRequest);
  EXPECT_TRUE(p.expecting_startup());
  auto gss = p.next();
  ASSERT_TRUE(gss.ok() && gss->has_value());
  EXPECT_EQ((*gss)->startup_kind, StartupPacketKind::kGssEncRequest);
  EXPECT_TRUE(p.expecting_startup());
  auto st = p.next();
  ASSERT_TRUE(st.ok() && st->has_value());
  EXPECT_EQ((*st)->startup_kind, StartupPacketKind::kStartup);
  EXPECT_FALSE(p.expecting_startup());
}

TEST(FrontendParserTest, CancelRequestBothKeyForms) {
  std::string out;
  frontend::cancel_request(out, 1234, 0xdeadbeefu);
  EXPECT_EQ(out.size(), 16u);
  ASSERT_TRUE(frontend::cancel_request(out, 99, std::string(32, 'k')).ok());

  FrontendParser p(true);
  p.feed(out);
  auto c1 = p.next();
  ASSERT_TRUE(c1.ok() && c1->has_value());
  EXPECT_EQ((*c1)->startup_kind, StartupPacketKind::kCancelRequest);
  auto r1 = decode_cancel_request((*c1)->payload);
  ASSERT_TRUE(r1.ok()) << r1.status().ToString();
  EXPECT_EQ(r1->pid, 1234);
  EXPECT_EQ(r1->secret_key, "\xde\xad\xbe\xef"s);

  auto c2 = p.next();
  ASSERT_TRUE(c2.ok() && c2->has_value());
  auto r2 = decode_cancel_request((*c2)->payload);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->pid, 99);
  EXPECT_EQ(r2->secret_key, std::string(32, 'k'));
}

TEST(FrontendParserTest, BytesFedOneAtATime) {
  std::string out;
  frontend::ssl_request(out);
  ASSERT_TRUE(frontend::startup_message(out, {{"user", "u"}}).ok());
  ASSERT_TRUE(frontend::parse(out, "", "SELECT $1", {25}).ok());
  ASSERT_TRUE(frontend::bind(out, "", "", {}, {"x"}).ok());
  ASSERT_TRUE(frontend::execute(out, "", 0).ok());
  frontend::sync(out);

  FrontendParser p(true);
  std::vector<FrontendMessage> got;
  for (char c : out) {
    p.feed(std::string_view(&c, 1));
    while (true) {
      auto m = p.next();
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      if (!m->has_value()) break;
      got.push_back(std::move(**m));
    }
  }
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0].startup_kind, StartupPacketKind::kSslRequest);
  EXPECT_EQ(got[1].startup_kind, StartupPacketKind::kStartup);
  EXPECT_EQ(std::string({got[2].type, got[3].type, got[4].type, got[5].type}), "PBES");
  EXPECT_EQ(p.buffered_bytes(), 0u);
}

TEST(FrontendParserTest, LengthBelowFourIsRejectedAndSticky) {
  FrontendParser p(false);
  p.feed("Q\0\0\0\x03"s);
  auto m = p.next();
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(m.status().message().find("invalid length 3"), std::string::npos)
      << m.status().message();
  std::string more;
  frontend::sync(more);
  p.feed(more);
  EXPECT_FALSE(p.next().ok());
}

TEST(FrontendParserTest, OversizeLengthIsRejectedBeforeTheBodyArrives) {
  FrontendParser p(false, {.max_message_bytes = 100});
  p.feed("Q\0\0\0\x69"s);  // payload 101 bytes
  auto m = p.next();
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("exceeds the limit of 100"), std::string::npos)
      << m.status().message();

  FrontendParser fits(false, {.max_message_bytes = 100});
  fits.feed("Q\0\0\0\x68"s);  // payload 100 bytes: wait for it
  auto w = fits.next();
  ASSERT_TRUE(w.ok());
  EXPECT_FALSE(w->has_value());
}

TEST(FrontendParserTest, DefaultLimitIsOneGiB) {
  FrontendParser p(false);
  p.feed("d\x40\0\0\x05"s);  // payload 1 GiB + 1
  EXPECT_FALSE(p.next().ok());
  FrontendParser negative(false);
  negative.feed("d\xff\xff\xff\xff"s);
  EXPECT_FALSE(negative.next().ok());
}

TEST(FrontendParserTest, BadFirstPackets) {
  const std::string cases[] = {
      "\0\0\0\x04"s,                          // shorter than a request code
      "\0\0\0\x07\0\x03\0"s,                  // still too short
      "\0\x01\0\0"s,                          // 65536 bytes: over the startup limit
      "\0\0\0\x08\x04\xd2\x16\x31"s,          // 80877105: unknown request code
      "\0\0\0\x0c\x04\xd2\x16\x2f\0\0\0\0"s,  // SSLRequest of length 12
  };
  for (const std::string& bytes : cases) {
    FrontendParser p(true);
    p.feed(bytes);
    auto m = p.next();
    EXPECT_FALSE(m.ok()) << "accepted first packet of " << bytes.size() << " bytes";
  }
}

TEST(FrontendDecode, TruncatedPayloadsFail) {
  std::string out;
  ASSERT_TRUE(frontend::bind(out, "p", "s", {1}, {"abc", std::nullopt}, {0}).ok());
  std::string payload = out.substr(5);
  for (size_t n = 0; n < payload.size(); ++n) {
    EXPECT_FALSE(decode_bind(payload.substr(0, n)).ok()) << "prefix " << n;
  }
  out.clear();
  ASSERT_TRUE(frontend::parse(out, "s", "SELECT 1", {23}).ok());
  payload = out.substr(5);
  for (size_t n = 0; n < payload.size(); ++n) {
    EXPECT_FALSE(decode_parse(payload.substr(0, n)).ok()) << "prefix " << n;
  }
  EXPECT_FALSE(decode_startup_message("\0\x03\0\0user\0u\0"s).ok());             // no terminator
  EXPECT_FALSE(decode_startup_message("\0\x03\0\0user\0u\0user\0v\0\0"s).ok());  // duplicate
  EXPECT_FALSE(decode_cancel_request("\x04\xd2\x16\x2e\0\0\0\x01\0\0"s).ok());   // short key
  EXPECT_FALSE(decode_query("no terminator").ok());
  EXPECT_FALSE(decode_query("two\0strings\0"s).ok());
  EXPECT_FALSE(decode_describe("X\0"s).ok());
}

TEST(FrontendDecode, NegativeBindLengthOtherThanNullFails) {
  // portal "", stmt "", 0 formats, 1 param of length -2.
  std::string payload = "\0\0\0\0\0\x01\xff\xff\xff\xfe\0\0"s;
  EXPECT_FALSE(decode_bind(payload).ok());
}

}  // namespace
}  // namespace pgthaw::pgwire
