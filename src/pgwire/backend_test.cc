// Tests of BackendParser, the backend decoders and the backend encoders.
#include "pgwire/backend.h"

#include <gtest/gtest.h>

#include <random>

#include "pgwire/backend_encode.h"
#include "pgwire/wire_format.h"

namespace pgthaw::pgwire {
namespace {

using namespace std::string_literals;

// The value of a Result the test expects to be ok (a default T if not).
template <typename T>
T must(Result<T> r) {
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : T();
}

// A reply to "SELECT 1 AS a, NULL::text AS b", built by hand.
const std::string kSimpleReply =
    // RowDescription: 2 fields, length 46.
    "T\0\0\0\x2e\0\x02"s +
    // "a": table 0, attnum 0, int4 (23), typlen 4, typmod -1, text.
    "a\0"s +
    "\0\0\0\0"
    "\0\0"
    "\0\0\0\x17"
    "\0\x04"
    "\xff\xff\xff\xff"
    "\0\0"s +
    // "b": text (25), typlen -1.
    "b\0"s +
    "\0\0\0\0"
    "\0\0"
    "\0\0\0\x19"
    "\xff\xff"
    "\xff\xff\xff\xff"
    "\0\0"s +
    // DataRow: 2 columns, "1" and NULL, length 15.
    "D\0\0\0\x0f\0\x02"s +
    "\0\0\0\x01"
    "1"s +
    "\xff\xff\xff\xff"s +
    // CommandComplete "SELECT 1", length 13.
    "C\0\0\0\x0d"
    "SELECT 1\0"s +
    // ReadyForQuery idle.
    "Z\0\0\0\x05I"s;

// ErrorResponse S/V/C/M (length 55), then ReadyForQuery idle.
const std::string kErrorReply = "E\0\0\0\x37"s + "SERROR\0"s + "VERROR\0"s + "C42P01\0"s +
                                "Mrelation \"t\" does not exist\0"s + "\0"s + "Z\0\0\0\x05I"s;

TEST(BackendDecode, SimpleQueryReply) {
  auto messages = BackendParser::split(kSimpleReply);
  ASSERT_TRUE(messages.ok()) << messages.status().ToString();
  ASSERT_EQ(messages->size(), 4u);
  const auto& m = *messages;
  EXPECT_EQ(m[0].type, 'T');
  EXPECT_EQ(m[1].type, 'D');
  EXPECT_EQ(m[2].type, 'C');
  EXPECT_EQ(m[3].type, 'Z');

  auto fields = decode_row_description(m[0].payload);
  ASSERT_TRUE(fields.ok()) << fields.status().ToString();
  ASSERT_EQ(fields->size(), 2u);
  EXPECT_EQ((*fields)[0], (FieldDescription{"a", 0, 0, 23, 4, -1, 0}));
  EXPECT_EQ((*fields)[1], (FieldDescription{"b", 0, 0, 25, -1, -1, 0}));

  auto row = decode_data_row(m[1].payload);
  ASSERT_TRUE(row.ok()) << row.status().ToString();
  EXPECT_EQ(*row, (Row{"1", std::nullopt}));

  EXPECT_EQ(must(decode_command_complete(m[2].payload)), "SELECT 1");
  EXPECT_EQ(must(decode_ready_for_query(m[3].payload)), TransactionStatus::kIdle);
}

TEST(BackendDecode, ErrorReply) {
  auto messages = BackendParser::split(kErrorReply);
  ASSERT_TRUE(messages.ok()) << messages.status().ToString();
  ASSERT_EQ(messages->size(), 2u);
  EXPECT_EQ((*messages)[0].type, 'E');
  auto e = decode_error_fields((*messages)[0].payload);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->severity(), "ERROR");
  EXPECT_EQ(e->severity_nonlocalized(), "ERROR");
  EXPECT_EQ(e->sqlstate(), "42P01");
  EXPECT_EQ(e->message(), "relation \"t\" does not exist");
  EXPECT_EQ(e->detail(), "");
  EXPECT_FALSE(e->has('D'));
  EXPECT_EQ(e->fields.size(), 4u);
  EXPECT_EQ(e->summary(), "ERROR:  relation \"t\" does not exist");
  EXPECT_EQ(must(decode_ready_for_query((*messages)[1].payload)), TransactionStatus::kIdle);
}

TEST(BackendParserTest, BytesFedOneAtATime) {
  BackendParser p;
  std::string types;
  for (char c : kSimpleReply + kErrorReply) {
    p.feed(std::string_view(&c, 1));
    while (true) {
      auto m = p.next();
      ASSERT_TRUE(m.ok()) << m.status().ToString();
      if (!m->has_value()) break;
      types.push_back((*m)->type);
    }
  }
  EXPECT_EQ(types, "TDCZEZ");
  EXPECT_EQ(p.buffered_bytes(), 0u);
}

TEST(BackendParserTest, BadLengthIsStickyError) {
  BackendParser p;
  p.feed("Z\0\0\0\x02I"s);
  auto m = p.next();
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  p.feed("Z\0\0\0\x05I"s);
  EXPECT_FALSE(p.next().ok());

  BackendParser limited({.max_message_bytes = 8});
  limited.feed("D\0\0\0\x0d"s);
  EXPECT_FALSE(limited.next().ok());
}

TEST(BackendParserTest, SplitRejectsPartialLastMessage) {
  for (size_t n = 1; n < kSimpleReply.size(); ++n) {
    auto r = BackendParser::split(kSimpleReply.substr(0, n));
    bool boundary = n == 47 || n == 63 || n == 77;  // ends of T, D, C
    EXPECT_EQ(r.ok(), boundary) << "prefix " << n;
  }
}

// Every strict prefix of a well-formed payload must fail to decode.
template <typename Decode>
void expect_prefixes_fail(const std::string& payload, Decode decode, const char* what) {
  for (size_t n = 0; n < payload.size(); ++n) {
    EXPECT_FALSE(decode(std::string_view(payload).substr(0, n)).ok()) << what << " prefix " << n;
  }
}

TEST(BackendDecode, TruncatedPayloadsFail) {
  auto messages = BackendParser::split(kSimpleReply + kErrorReply);
  ASSERT_TRUE(messages.ok());
  const auto& m = *messages;
  expect_prefixes_fail(m[0].payload, decode_row_description, "RowDescription");
  expect_prefixes_fail(m[1].payload, decode_data_row, "DataRow");
  expect_prefixes_fail(m[2].payload, decode_command_complete, "CommandComplete");
  expect_prefixes_fail(m[3].payload, decode_ready_for_query, "ReadyForQuery");
  expect_prefixes_fail(m[4].payload, decode_error_fields, "ErrorResponse");
}

TEST(BackendDecode, GarbageFails) {
  EXPECT_FALSE(decode_data_row("\xff\xff"s).ok());                // count -1
  EXPECT_FALSE(decode_data_row("\0\x01\xff\xff\xff\xfe"s).ok());  // length -2
  EXPECT_FALSE(decode_data_row("\0\x01\x7f\xff\xff\xff"s).ok());  // length 2 GiB
  EXPECT_FALSE(decode_data_row("\0\0\0"s).ok());                  // trailing byte
  EXPECT_FALSE(decode_row_description("\x7f\xff"s).ok());         // 32767 fields, no bytes
  EXPECT_FALSE(decode_ready_for_query("X").ok());
  EXPECT_FALSE(decode_ready_for_query("II").ok());
  EXPECT_FALSE(decode_backend_key_data("\0\0\0\x01\0\0"s).ok());
  EXPECT_FALSE(decode_authentication("\0\0\0\x05\0\0"s).ok());  // MD5 salt short
  EXPECT_FALSE(decode_authentication("\0\0\0\x63"s).ok());      // code 99
  EXPECT_FALSE(decode_error_fields("Mno terminator"s).ok());
  EXPECT_FALSE(decode_error_fields("Mmsg\0"s).ok());  // no final zero byte
  EXPECT_FALSE(decode_empty({'1', "x"}).ok());
  EXPECT_TRUE(decode_empty({'1', ""}).ok());
}

// Random bytes through every decoder and the parser: errors, never a crash
// (run under ASan/UBSan to catch out-of-bounds reads).
TEST(BackendDecode, RandomBytesNeverCrash) {
  std::mt19937 rng(12345);
  auto messages = BackendParser::split(kSimpleReply + kErrorReply);
  ASSERT_TRUE(messages.ok());
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    if (i % 2 == 0) {
      s.resize(rng() % 48);
      for (char& c : s) c = static_cast<char>(rng() % 4 == 0 ? 0 : rng());
    } else {
      // Mutate a valid payload: flip a byte, maybe truncate.
      s = (*messages)[rng() % messages->size()].payload;
      if (!s.empty()) s[rng() % s.size()] = static_cast<char>(rng());
      if (rng() % 2 && !s.empty()) s.resize(rng() % s.size());
    }
    (void)decode_row_description(s);
    (void)decode_data_row(s);
    (void)decode_command_complete(s);
    (void)decode_error_fields(s);
    (void)decode_parameter_status(s);
    (void)decode_backend_key_data(s);
    (void)decode_ready_for_query(s);
    (void)decode_copy_response(s);
    (void)decode_parameter_description(s);
    (void)decode_notification(s);
    (void)decode_authentication(s);
    (void)decode_negotiate_protocol_version(s);
    BackendParser p;
    p.feed(s);
    for (int j = 0; j < 64; ++j) {
      auto m = p.next();
      if (!m.ok() || !m->has_value()) break;
    }
  }
}

// ---- Encoder round trips ----

Message only_message(const std::string& bytes) {
  auto m = BackendParser::split(bytes);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_TRUE(m.ok() && m->size() == 1);
  return m.ok() && m->size() == 1 ? (*m)[0] : Message();
}

TEST(BackendRoundTrip, ErrorAndNotice) {
  ErrorFields e;
  e.fields = {{'S', "ERROR"},
              {'V', "ERROR"},
              {'C', "23505"},
              {'M', "duplicate key"},
              {'D', "Key (id)=(1) already exists."},
              {'H', "hint"},
              {'P', "8"},
              {'W', "where"},
              {'s', "public"},
              {'t', "t"},
              {'n', "t_pkey"},
              {'F', "nbtinsert.c"},
              {'L', "666"},
              {'R', "_bt_check_unique"}};
  std::string out;
  ASSERT_TRUE(backend::error_response(out, e).ok());
  // S, V, C, M lead, as Postgres sends them.
  EXPECT_EQ(out.substr(5, 7), "SERROR\0"s);
  Message m = only_message(out);
  EXPECT_EQ(m.type, 'E');
  auto d = decode_error_fields(m.payload);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, e);
  EXPECT_EQ(d->constraint_name(), "t_pkey");
  EXPECT_EQ(d->position(), "8");
  EXPECT_EQ(d->routine(), "_bt_check_unique");

  out.clear();
  ErrorFields n;
  n.fields = {{'S', "NOTICE"}, {'V', "NOTICE"}, {'C', "00000"}, {'M', "hello"}};
  ASSERT_TRUE(backend::notice_response(out, n).ok());
  m = only_message(out);
  EXPECT_EQ(m.type, 'N');
  EXPECT_EQ(must(decode_error_fields(m.payload)), n);

  out.clear();
  ASSERT_TRUE(backend::error_response(out, "FATAL", "28000", "no such role").ok());
  m = only_message(out);
  auto f = decode_error_fields(m.payload);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->summary(), "FATAL:  no such role");
  EXPECT_EQ(f->sqlstate(), "28000");

  ErrorFields bad;
  bad.fields = {{'M', "a\0b"s}};
  out.clear();
  EXPECT_FALSE(backend::error_response(out, bad).ok());
  EXPECT_TRUE(out.empty());
}

TEST(BackendRoundTrip, StartupReplies) {
  std::string out;
  backend::authentication_ok(out);
  ASSERT_TRUE(backend::parameter_status(out, "server_version", "18.0").ok());
  backend::backend_key_data(out, 42, 0xcafef00du);
  ASSERT_TRUE(backend::backend_key_data(out, 43, std::string(32, '\x07')).ok());
  backend::ready_for_query(out, TransactionStatus::kInTransaction);
  auto m = BackendParser::split(out);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 5u);

  auto auth = decode_authentication((*m)[0].payload);
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ(auth->code, Authentication::kOk);
  auto ps = decode_parameter_status((*m)[1].payload);
  ASSERT_TRUE(ps.ok());
  EXPECT_EQ(*ps, (ParameterStatus{"server_version", "18.0"}));
  auto k = decode_backend_key_data((*m)[2].payload);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->pid, 42);
  EXPECT_EQ(k->secret_key32(), 0xcafef00du);
  auto k2 = decode_backend_key_data((*m)[3].payload);
  ASSERT_TRUE(k2.ok());
  EXPECT_EQ(k2->pid, 43);
  EXPECT_EQ(k2->secret_key, std::string(32, '\x07'));
  EXPECT_EQ(k2->secret_key32(), 0u);
  EXPECT_EQ(must(decode_ready_for_query((*m)[4].payload)), TransactionStatus::kInTransaction);
}

TEST(BackendRoundTrip, RowsAndCommandComplete) {
  std::vector<FieldDescription> fields = {{"id", 16384, 1, 23, 4, -1, 0},
                                          {"payload", 16384, 2, 17, -1, -1, 1}};
  Row row = {"7", std::nullopt, ""s, "\0\xff"s};
  std::string out;
  ASSERT_TRUE(backend::row_description(out, fields).ok());
  ASSERT_TRUE(backend::data_row(out, row).ok());
  ASSERT_TRUE(backend::data_row(out, {}).ok());
  ASSERT_TRUE(backend::command_complete(out, "SELECT 2").ok());
  backend::empty_query_response(out);
  auto m = BackendParser::split(out);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 5u);
  EXPECT_EQ(must(decode_row_description((*m)[0].payload)), fields);
  EXPECT_EQ(must(decode_data_row((*m)[1].payload)), row);
  EXPECT_EQ(must(decode_data_row((*m)[2].payload)), Row{});
  EXPECT_EQ(must(decode_command_complete((*m)[3].payload)), "SELECT 2");
  EXPECT_EQ((*m)[4].type, 'I');
  EXPECT_TRUE(decode_empty({(*m)[4].type, (*m)[4].payload}).ok());
}

TEST(BackendRoundTrip, Copy) {
  std::string out;
  ASSERT_TRUE(backend::copy_in_response(out, {0, {0, 0}}).ok());
  ASSERT_TRUE(backend::copy_out_response(out, {1, {1}}).ok());
  ASSERT_TRUE(backend::copy_both_response(out, {0, {}}).ok());
  ASSERT_TRUE(backend::copy_data(out, "1\tx\n").ok());
  backend::copy_done(out);
  auto m = BackendParser::split(out);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 5u);
  EXPECT_EQ((*m)[0].type, 'G');
  EXPECT_EQ(must(decode_copy_response((*m)[0].payload)), (CopyResponse{0, {0, 0}}));
  EXPECT_EQ((*m)[1].type, 'H');
  EXPECT_EQ(must(decode_copy_response((*m)[1].payload)), (CopyResponse{1, {1}}));
  EXPECT_EQ((*m)[2].type, 'W');
  EXPECT_EQ(must(decode_copy_response((*m)[2].payload)), (CopyResponse{0, {}}));
  EXPECT_EQ((*m)[3].type, 'd');
  EXPECT_EQ((*m)[3].payload, "1\tx\n");
  EXPECT_EQ((*m)[4].type, 'c');
  EXPECT_TRUE((*m)[4].payload.empty());
}

TEST(BackendRoundTrip, ExtendedProtocolReplies) {
  std::string out;
  backend::parse_complete(out);
  backend::bind_complete(out);
  backend::close_complete(out);
  backend::no_data(out);
  backend::portal_suspended(out);
  ASSERT_TRUE(backend::parameter_description(out, {23, 25, 0}).ok());
  ASSERT_TRUE(backend::notification_response(out, {77, "chan", "payload"}).ok());
  auto m = BackendParser::split(out);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 7u);
  std::string types;
  for (const Message& msg : *m) types.push_back(msg.type);
  EXPECT_EQ(types, "123nstA");
  for (int i = 0; i < 5; ++i) EXPECT_TRUE((*m)[i].payload.empty());
  EXPECT_EQ(must(decode_parameter_description((*m)[5].payload)),
            (std::vector<uint32_t>{23, 25, 0}));
  EXPECT_EQ(must(decode_notification((*m)[6].payload)), (Notification{77, "chan", "payload"}));
}

TEST(BackendDecode, AuthenticationVariants) {
  auto md5 = decode_authentication("\0\0\0\x05salt"s);
  ASSERT_TRUE(md5.ok());
  EXPECT_EQ(md5->code, Authentication::kMd5Password);
  EXPECT_EQ(md5->data, "salt");
  auto sasl = decode_authentication("\0\0\0\x0aSCRAM-SHA-256\0SCRAM-SHA-256-PLUS\0\0"s);
  ASSERT_TRUE(sasl.ok()) << sasl.status().ToString();
  EXPECT_EQ(sasl->mechanisms, (std::vector<std::string>{"SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"}));
  auto cont = decode_authentication("\0\0\0\x0br=abc"s);
  ASSERT_TRUE(cont.ok());
  EXPECT_EQ(cont->data, "r=abc");
  auto npv = decode_negotiate_protocol_version("\0\0\0\x02\0\0\0\x01_pq_.x\0"s);
  ASSERT_TRUE(npv.ok());
  EXPECT_EQ(npv->newest_minor, 2);
  EXPECT_EQ(npv->unrecognized_options, (std::vector<std::string>{"_pq_.x"}));
}

TEST(BackendEncode, LimitsAreChecked) {
  std::string out;
  EXPECT_FALSE(backend::data_row(out, Row(40000)).ok());
  EXPECT_FALSE(backend::row_description(out, {{"a\0b"s}}).ok());
  EXPECT_FALSE(backend::command_complete(out, "X\0"s).ok());
  EXPECT_FALSE(backend::backend_key_data(out, 1, "abc").ok());
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace pgthaw::pgwire
