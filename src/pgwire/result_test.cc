// Tests of collect_results and format_unaligned.
#include "pgwire/result.h"

#include <gtest/gtest.h>

#include "pgwire/backend_encode.h"

namespace pgthaw::pgwire {
namespace {

using namespace std::string_literals;

FieldDescription text_field(std::string name) { return {std::move(name), 0, 0, 25, -1, -1, 0}; }

ErrorFields error(std::string severity, std::string code, std::string message) {
  ErrorFields e;
  e.fields = {{'S', severity}, {'V', severity}, {'C', code}, {'M', message}};
  return e;
}

TEST(CollectResults, SimpleSelect) {
  // Built by hand: T (one int4 column "n"), D "1", C "SELECT 1", Z idle.
  std::string bytes = "T\0\0\0\x1a\0\x01"s + "n\0"s +
                      "\0\0\0\0"
                      "\0\0"
                      "\0\0\0\x17"
                      "\0\x04"
                      "\xff\xff\xff\xff"
                      "\0\0"s +
                      "D\0\0\0\x0b\0\x01"s +
                      "\0\0\0\x01"
                      "1"s +
                      "C\0\0\0\x0d"
                      "SELECT 1\0"s +
                      "Z\0\0\0\x05I"s;
  ReplyInfo info;
  auto r = collect_results(bytes, &info);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  const StatementResult& s = (*r)[0];
  ASSERT_EQ(s.fields.size(), 1u);
  EXPECT_EQ(s.fields[0].name, "n");
  EXPECT_EQ(s.fields[0].type_oid, 23u);
  EXPECT_EQ(s.rows, (std::vector<Row>{{"1"}}));
  EXPECT_EQ(s.command_tag, "SELECT 1");
  EXPECT_FALSE(s.error);
  EXPECT_TRUE(s.complete);
  EXPECT_EQ(info.ready_status, TransactionStatus::kIdle);
  EXPECT_EQ(format_unaligned(s), "1\n");
}

TEST(CollectResults, ErrorReply) {
  std::string bytes = "E\0\0\0\x37"s + "SERROR\0"s + "VERROR\0"s + "C42P01\0"s +
                      "Mrelation \"t\" does not exist\0"s + "\0"s + "Z\0\0\0\x05I"s;
  ReplyInfo info;
  auto r = collect_results(bytes, &info);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  ASSERT_TRUE((*r)[0].error);
  EXPECT_EQ((*r)[0].error->sqlstate(), "42P01");
  EXPECT_EQ((*r)[0].error->message(), "relation \"t\" does not exist");
  EXPECT_EQ((*r)[0].command_tag, "");
  EXPECT_EQ(info.ready_status, TransactionStatus::kIdle);
}

TEST(CollectResults, MultiStatementWithNoticesAndError) {
  std::string b;
  ASSERT_TRUE(backend::command_complete(b, "CREATE TABLE").ok());
  ASSERT_TRUE(backend::row_description(b, {text_field("a"), text_field("b")}).ok());
  ASSERT_TRUE(backend::data_row(b, {"x", std::nullopt}).ok());
  ASSERT_TRUE(backend::data_row(b, {""s, "y|z"}).ok());
  ASSERT_TRUE(backend::command_complete(b, "SELECT 2").ok());
  ASSERT_TRUE(backend::notice_response(b, error("WARNING", "25P01", "no transaction")).ok());
  ASSERT_TRUE(backend::command_complete(b, "COMMIT").ok());
  backend::empty_query_response(b);
  ASSERT_TRUE(backend::error_response(b, "ERROR", "22012", "division by zero").ok());
  backend::ready_for_query(b, TransactionStatus::kFailed);

  ReplyInfo info;
  auto r = collect_results(b, &info);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 5u);
  EXPECT_EQ((*r)[0].command_tag, "CREATE TABLE");
  EXPECT_TRUE((*r)[0].fields.empty());
  EXPECT_EQ(format_unaligned((*r)[0]), "");

  EXPECT_EQ((*r)[1].command_tag, "SELECT 2");
  EXPECT_EQ((*r)[1].fields.size(), 2u);
  EXPECT_EQ(format_unaligned((*r)[1]), "x|\n|y|z\n");

  EXPECT_EQ((*r)[2].command_tag, "COMMIT");
  ASSERT_EQ((*r)[2].notices.size(), 1u);
  EXPECT_EQ((*r)[2].notices[0].message(), "no transaction");

  EXPECT_TRUE((*r)[3].empty_query);
  ASSERT_TRUE((*r)[4].error);
  EXPECT_EQ((*r)[4].error->summary(), "ERROR:  division by zero");
  EXPECT_EQ(info.ready_status, TransactionStatus::kFailed);
  EXPECT_TRUE(info.trailing_notices.empty());
}

TEST(CollectResults, ExtendedProtocolWithSuspendedPortal) {
  std::string b;
  backend::parse_complete(b);
  ASSERT_TRUE(backend::parameter_description(b, {23}).ok());
  ASSERT_TRUE(backend::row_description(b, {text_field("v")}).ok());
  backend::bind_complete(b);
  ASSERT_TRUE(backend::data_row(b, {"1"}).ok());
  backend::portal_suspended(b);
  ASSERT_TRUE(backend::data_row(b, {"2"}).ok());
  ASSERT_TRUE(backend::command_complete(b, "SELECT 1").ok());
  backend::close_complete(b);
  backend::ready_for_query(b, TransactionStatus::kIdle);

  auto r = collect_results(b);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_TRUE((*r)[0].suspended);
  EXPECT_EQ((*r)[0].parameter_type_oids, (std::vector<uint32_t>{23}));
  EXPECT_EQ(format_unaligned((*r)[0]), "1\n");
  EXPECT_EQ(format_unaligned((*r)[1]), "2\n");
  EXPECT_EQ((*r)[1].command_tag, "SELECT 1");
}

TEST(CollectResults, CopyOutDataIsCollected) {
  std::string b;
  ASSERT_TRUE(backend::copy_out_response(b, {0, {0, 0}}).ok());
  ASSERT_TRUE(backend::copy_data(b, "1\ta\n").ok());
  ASSERT_TRUE(backend::copy_data(b, "2\t\\N\n").ok());
  backend::copy_done(b);
  ASSERT_TRUE(backend::command_complete(b, "COPY 2").ok());
  backend::ready_for_query(b, TransactionStatus::kIdle);
  auto r = collect_results(b);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  ASSERT_TRUE((*r)[0].copy_out);
  EXPECT_EQ((*r)[0].copy_out->column_formats.size(), 2u);
  EXPECT_EQ((*r)[0].copy_out_data, "1\ta\n2\t\\N\n");
  EXPECT_EQ((*r)[0].command_tag, "COPY 2");
}

TEST(CollectResults, UnterminatedResultAndTrailingNotices) {
  std::string b;
  ASSERT_TRUE(backend::copy_in_response(b, {0, {0}}).ok());
  auto r = collect_results(b);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_FALSE((*r)[0].complete);
  EXPECT_TRUE((*r)[0].copy_in);

  b.clear();
  ASSERT_TRUE(backend::command_complete(b, "DO").ok());
  ASSERT_TRUE(backend::notice_response(b, error("NOTICE", "00000", "late")).ok());
  ASSERT_TRUE(backend::parameter_status(b, "TimeZone", "UTC").ok());
  ASSERT_TRUE(backend::notification_response(b, {5, "c", "p"}).ok());
  backend::ready_for_query(b, TransactionStatus::kIdle);
  ReplyInfo info;
  r = collect_results(b, &info);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_TRUE((*r)[0].notices.empty());
  ASSERT_EQ(info.trailing_notices.size(), 1u);
  EXPECT_EQ(info.trailing_notices[0].message(), "late");
  EXPECT_EQ(info.parameter_statuses, (std::vector<ParameterStatus>{{"TimeZone", "UTC"}}));
  EXPECT_EQ(info.notifications, (std::vector<Notification>{{5, "c", "p"}}));
}

TEST(CollectResults, EmptyInputHasNoResults) {
  ReplyInfo info;
  auto r = collect_results("", &info);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  EXPECT_FALSE(info.ready_status);
}

TEST(CollectResults, MalformedInputFails) {
  std::string good;
  ASSERT_TRUE(backend::row_description(good, {text_field("a")}).ok());
  ASSERT_TRUE(backend::data_row(good, {"1"}).ok());
  ASSERT_TRUE(backend::command_complete(good, "SELECT 1").ok());
  backend::ready_for_query(good, TransactionStatus::kIdle);
  ASSERT_TRUE(collect_results(good).ok());
  for (size_t n = 1; n < good.size(); ++n) {
    // Cutting mid-message is a framing error; at a boundary it is fine.
    auto r = collect_results(std::string_view(good).substr(0, n));
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_FALSE(collect_results(good.substr(0, good.size() - 1)).ok());
  EXPECT_FALSE(collect_results("?\0\0\0\x04"s).ok());               // unknown type
  EXPECT_FALSE(collect_results("Z\0\0\0\x05Q"s).ok());              // bad status
  EXPECT_FALSE(collect_results("D\0\0\0\x06\0\x05"s).ok());         // 5 columns, no bytes
  EXPECT_FALSE(collect_results("\xff\xff\xff\xff\xff\xff"s).ok());  // garbage
  EXPECT_FALSE(collect_results("1\0\0\0\x05x"s).ok());              // non-empty ParseComplete
}

TEST(FormatUnaligned, MatchesPsqlTuplesOnly) {
  StatementResult s;
  s.fields = {text_field("a"), text_field("b"), text_field("c")};
  s.rows = {{"1", std::nullopt, "x"},
            {std::nullopt, std::nullopt, std::nullopt},
            {"multi\nline", "", "tab\there"}};
  EXPECT_EQ(format_unaligned(s), "1||x\n||\nmulti\nline||tab\there\n");

  StatementResult none;
  EXPECT_EQ(format_unaligned(none), "");

  StatementResult zero_columns;  // SELECT FROM generate_series(1, 2)
  zero_columns.rows = {{}, {}};
  EXPECT_EQ(format_unaligned(zero_columns), "");
}

}  // namespace
}  // namespace pgthaw::pgwire
