// The Last-Event-ID of a topic stream (api/topic_stream_handler.h): the KafkaSSE
// array the stream sends as SSE ids, parsed back into per-partition starts,
// and everything else refused with 40001 before the stream opens.
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "api/topic_stream_handler.h"

namespace sh::api {
namespace {

using Starts = std::map<int32_t, read::StartPosition>;

TEST(TopicLastEventId, OffsetsResumeAfterThemAndTimestampsStartThere) {
  Starts s;
  auto e = parse_topic_last_event_id(
      R"([{"topic":"t","partition":2,"offset":41},{"topic":"t","partition":0,"offset":-1},)"
      R"({"partition":5,"timestamp":1700000000000,"topic":"t"},{"topic":"t","partition":7,"offset":9223372036854775806}])",
      "t", &s);
  ASSERT_FALSE(e.has_value()) << e->message;
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[2].kind, read::StartPosition::Kind::kOffset);
  EXPECT_EQ(s[2].offset, 42u) << "resume after the last offset received";
  EXPECT_EQ(s[0].offset, 0u) << "-1: nothing received from offset 0 yet";
  EXPECT_EQ(s[5].kind, read::StartPosition::Kind::kTimestamp);
  EXPECT_EQ(s[5].timestamp, 1700000000000);
  EXPECT_EQ(s[7].offset, 9223372036854775807u);
}

TEST(TopicLastEventId, AnythingElseIsABadParameter) {
  for (const char* bad : {
           "", "x", "[", "{}", "[]", "[1]", "null", R"(["t"])",
           R"([{"topic":"u","partition":0,"offset":1}])",
           R"([{"topic":"t","partition":0,"offset":-2}])",
           R"([{"topic":"t","partition":0,"offset":9223372036854775807}])",
           R"([{"topic":"t","partition":0,"offset":18446744073709551615}])",
           R"([{"topic":"t","partition":0,"offset":1e3}])",
           R"([{"topic":"t","partition":0,"offset":true}])",
           R"([{"topic":"t","partition":2147483648,"offset":1}])",
           R"([{"topic":"t","partition":"0","offset":1}])",
           R"([{"topic":"t","offset":1}])",
           R"([{"topic":"t","partition":0}])",
           R"([{"topic":"t","partition":0,"offset":1,"timestamp":2}])",
           R"([{"topic":"t","partition":0,"timestamp":"now"}])",
           R"([{"topic":"t","partition":0,"offset":1,"x":1}])",
           R"([{"topic":"t","partition":0,"offset":1},{"topic":"t","partition":0,"offset":3}])",
           R"([{"topic":1,"partition":0,"offset":1}])",
       }) {
    Starts s{{9, read::StartPosition::at(1)}};
    auto e = parse_topic_last_event_id(bad, "t", &s);
    ASSERT_TRUE(e.has_value()) << "accepted: " << bad;
    EXPECT_EQ(e->error_code, kBadParameter) << bad;
    EXPECT_NE(e->message.find("Last-Event-ID"), std::string::npos) << e->message;
    EXPECT_EQ(s.size(), 1u) << "output untouched on error: " << bad;
  }
}

}  // namespace
}  // namespace sh::api
