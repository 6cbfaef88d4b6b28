// host::WireChannel: the byte-level rules of a request's input and output
// (the engine tests drive the same class through a real backend).
#include "host/wire_channel.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pgthaw::host {
namespace {

// One wire message: type, big-endian length (counting itself), body.
std::string message(char type, const std::string& body) {
  std::string m(1, type);
  const uint32_t len = static_cast<uint32_t>(4 + body.size());
  for (int i = 3; i >= 0; --i) m.push_back(static_cast<char>(len >> (8 * i)));
  return m + body;
}

struct Recorder {
  int stops = 0;
  int withdrawals = 0;
  WireChannel::StatementStop hooks() {
    return {.stop = [this] { ++stops; }, .withdraw = [this] { ++withdrawals; }};
  }
};

std::string read_all(WireChannel& wire) {
  std::string got;
  char buffer[7];  // small, so reads are split
  while (size_t n = wire.Read(buffer, sizeof buffer)) got.append(buffer, n);
  return got;
}

TEST(WireChannel, ReadsServeTheRequestInPieces) {
  Recorder r;
  WireChannel wire(r.hooks(), nullptr);
  const std::string request = message('Q', std::string("select 1") + '\0');
  wire.SetInput(request);
  EXPECT_EQ(wire.input_remaining(), request.size());
  EXPECT_EQ(read_all(wire), request);
  EXPECT_EQ(wire.input_remaining(), 0u);
}

TEST(WireChannel, PastTheCapWritesAreDroppedAndTheStatementStoppedOnce) {
  Recorder r;
  WireChannel wire(r.hooks(), nullptr);
  wire.BeginOutput(/*max_bytes=*/10, nullptr);
  wire.Write("12345678");
  EXPECT_FALSE(wire.output_dropped());
  wire.Write("abc");
  wire.Write("more");
  EXPECT_TRUE(wire.output_dropped());
  EXPECT_EQ(wire.output(), "12345678");
  EXPECT_EQ(r.stops, 1);
  wire.EndOutput();
  EXPECT_EQ(r.withdrawals, 1);
  EXPECT_FALSE(wire.output_dropped());
  // The next request has no cap and nothing to withdraw.
  wire.BeginOutput(0, nullptr);
  wire.Write(std::string(100, 'x'));
  wire.EndOutput();
  EXPECT_EQ(r.stops, 1);
  EXPECT_EQ(r.withdrawals, 1);
}

TEST(WireChannel, ASinkGetsWholeMessagesAndTheLastStaysBehind) {
  Recorder r;
  WireChannel wire(r.hooks(), nullptr);
  std::vector<std::string> chunks;
  wire.BeginOutput(0, [&](std::string& messages) {
    chunks.push_back(messages);
    return true;
  });
  const std::string row = message('D', std::string(64 * 1024, 'r'));
  std::string sent;
  for (int i = 0; i < 8; ++i) {
    wire.Write(row);
    sent += row;
  }
  ASSERT_FALSE(chunks.empty());
  std::string streamed;
  for (const std::string& c : chunks) {
    EXPECT_EQ(c.size() % row.size(), 0u) << "a chunk ends inside a message";
    streamed += c;
  }
  EXPECT_FALSE(wire.output().empty()) << "the reply's last message stays";
  EXPECT_EQ(streamed + wire.output(), sent);
  wire.EndOutput();
  EXPECT_EQ(r.stops, 0);
}

TEST(WireChannel, ASinkWhoseClientIsGoneDropsTheRestAndStops) {
  Recorder r;
  WireChannel wire(r.hooks(), nullptr);
  wire.BeginOutput(0, [](std::string&) { return false; });
  const std::string row = message('D', std::string(300 * 1024, 'r'));
  wire.Write(row);
  wire.Write(row);
  EXPECT_TRUE(wire.output_dropped());
  EXPECT_TRUE(wire.output().empty());
  EXPECT_EQ(r.stops, 1);
  wire.EndOutput();
  EXPECT_EQ(r.withdrawals, 1);
}

TEST(WireChannel, ACopyWithNoSourceIsFailedAsAClientWould) {
  Recorder r;
  WireChannel wire(r.hooks(), nullptr);
  wire.SetInput("");
  wire.BeginOutput(0, nullptr);
  wire.Write(message('G', std::string(3, '\0')));  // CopyInResponse
  const std::string fail = read_all(wire);
  ASSERT_FALSE(fail.empty());
  EXPECT_EQ(fail[0], 'f');
  EXPECT_NE(fail.find("no COPY data"), std::string::npos);
  // Once: the backend's ERROR follows, and reads end.
  EXPECT_EQ(read_all(wire), "");
  wire.EndOutput();
}

TEST(WireChannel, ACopyWithASourceFlushesTheCopyInResponseFirstAndReadsToCopyDone) {
  Recorder r;
  WireChannel wire(r.hooks(), nullptr);
  const std::string copy_in = message('G', std::string(3, '\0'));
  const std::string data = message('d', "1\n");
  const std::string done = message('c', "");
  std::vector<std::string> seen_by_client;
  int asked = 0;
  wire.SetInput("");
  wire.BeginOutput(0, [&](std::string& messages) {
    seen_by_client.push_back(messages);
    return true;
  });
  wire.SetInputSource([&](std::string& more) {
    ++asked;
    // The client has the CopyInResponse before it is asked for data.
    ASSERT_EQ(seen_by_client.size(), 1u);
    EXPECT_EQ(seen_by_client[0], copy_in);
    more = asked == 1 ? data : done;
  });
  wire.Write(copy_in);
  EXPECT_EQ(read_all(wire), data + done);
  EXPECT_EQ(asked, 2);
  // Past CopyDone the source is not asked again.
  EXPECT_EQ(read_all(wire), "");
  EXPECT_EQ(asked, 2);
  wire.EndOutput();
}

TEST(WireChannel, AClientProgramsWritesGoToItsPeerAndReadsDrainTheReply) {
  Recorder r;
  std::vector<std::string> requests;
  WireChannel wire(r.hooks(), [&](std::string_view request, std::string& reply) {
    requests.emplace_back(request);
    reply += "answer:" + std::string(request);
  });
  EXPECT_TRUE(wire.has_peer());
  wire.Write("hello");
  EXPECT_EQ(read_all(wire), "answer:hello");
  EXPECT_EQ(read_all(wire), "");
  EXPECT_EQ(requests, std::vector<std::string>{"hello"});
  EXPECT_TRUE(wire.output().empty());
}

}  // namespace
}  // namespace pgthaw::host
