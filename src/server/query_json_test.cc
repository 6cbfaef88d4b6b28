// The HTTP result cap of query_json: the JSON size measured from backend
// bytes matches what the reply dumps to, a result past the cap is 413
// result_too_large without being built, and the engine-side reply cap leaves
// room for any result whose JSON fits.
#include "server/query_json.h"

#include <gtest/gtest.h>

#include <string>

#include "pgwire/backend_encode.h"

namespace pgthaw::server {
namespace {

using pgwire::FieldDescription;
using pgwire::Row;

// RowDescription, rows, CommandComplete, ReadyForQuery.
std::string reply_with(const std::vector<FieldDescription>& fields, const std::vector<Row>& rows) {
  std::string out;
  EXPECT_TRUE(pgwire::backend::row_description(out, fields).ok());
  for (const Row& row : rows) EXPECT_TRUE(pgwire::backend::data_row(out, row).ok());
  EXPECT_TRUE(pgwire::backend::command_complete(out, "SELECT " + std::to_string(rows.size())).ok());
  pgwire::backend::ready_for_query(out, pgwire::TransactionStatus::kIdle);
  return out;
}

// The dumped size of the parts the cap measures: "fields" and "rows".
uint64_t dumped_bytes(const Reply& reply) {
  return reply.body["fields"].dump().size() + reply.body["rows"].dump().size();
}

TEST(QueryJson, MeasuredJsonSizeMatchesTheDumpedResult) {
  FieldDescription name, note;
  name.name = "name";
  name.type_oid = 25;
  note.name = "n\"o\\te";
  note.type_oid = 25;
  std::vector<Row> rows;
  for (int i = 0; i < 100; ++i) {
    rows.push_back({std::string("row ") + std::to_string(i), std::nullopt});
    rows.push_back({std::string("quote \" back \\ tab \t nl \n ctl \x01 end"), std::string("ü")});
  }
  std::string bytes = reply_with({name, note}, rows);
  Reply reply = results_reply(bytes);
  ASSERT_EQ(reply.status, 200) << reply.body.dump();
  uint64_t dumped = dumped_bytes(reply);
  uint64_t measured = result_json_bytes(bytes);
  // Brackets and commas are counted per row and field, not per array.
  EXPECT_GE(measured, dumped - 8);
  EXPECT_LE(measured, dumped + 8 + 2 * 30);
}

TEST(QueryJson, ResultPastTheCapIsTooLargeAndStopsCounting) {
  FieldDescription g;
  g.name = "g";
  g.type_oid = 23;
  std::vector<Row> rows;
  for (int i = 0; i < 10000; ++i) rows.push_back({std::to_string(i)});
  std::string bytes = reply_with({g}, rows);
  uint64_t total = result_json_bytes(bytes);
  Reply fits = results_reply(bytes, total + 100);
  EXPECT_EQ(fits.status, 200);
  EXPECT_EQ(fits.body["rows"].size(), 10000u);
  Reply capped = results_reply(bytes, total / 2);
  EXPECT_EQ(capped.status, 413);
  EXPECT_EQ(capped.body["error"]["code"], "result_too_large");
  EXPECT_EQ(capped.body["error"]["limitBytes"], total / 2);
  EXPECT_FALSE(capped.body.contains("rows"));
  // Counting stops soon after the cap.
  EXPECT_LT(result_json_bytes(bytes, 1000), 1100u);
}

TEST(QueryJson, ReplyCapLeavesRoomForAnyResultThatFits) {
  // The densest wire form per JSON byte: rows of no columns ("[]," in JSON,
  // 7 bytes on the wire), then one-character values.
  FieldDescription one;
  one.name = "c";
  for (const std::vector<FieldDescription>& fields :
       {std::vector<FieldDescription>{}, std::vector<FieldDescription>{one}}) {
    std::vector<Row> rows(20000, fields.empty() ? Row{} : Row{std::string("1")});
    std::string bytes = reply_with(fields, rows);
    uint64_t json = result_json_bytes(bytes);
    EXPECT_LE(bytes.size(), reply_cap_for_json(json)) << fields.size() << " columns";
  }
  EXPECT_EQ(reply_cap_for_json(0), 0u);  // no cap
}

}  // namespace
}  // namespace pgthaw::server
