// parse_jsonl_record (service/jsonl_input.h): one input line of `segment write`.
#include "service/jsonl_input.h"

#include <gtest/gtest.h>

#include <string>

namespace sh::service {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;

struct Parsed {
  bool ok = false;
  Record r;
  bool has_offset = false;
  std::string error;
};

Parsed parse(const std::string& line) {
  Parsed p;
  p.ok = parse_jsonl_record(line, kNow, &p.r, &p.has_offset, &p.error);
  return p;
}

TEST(JsonlInput, ParsesEveryField) {
  auto p = parse(R"({"offset":7,"timestamp":-5,"key":"AAEC","key_encoding":"base64",)"
                 R"("value":"hello","value_encoding":"string","headers":[{"key":"a","value":null},{"key":"b","value":"x"}]})");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_TRUE(p.has_offset);
  EXPECT_EQ(p.r.offset, 7u);
  EXPECT_EQ(p.r.timestamp, -5);
  EXPECT_EQ(p.r.key, std::string("\x00\x01\x02", 3));
  EXPECT_EQ(p.r.value, "hello");
  ASSERT_EQ(p.r.headers.size(), 2u);
  EXPECT_EQ(p.r.headers[0], (RecordHeader{"a", std::nullopt}));
  EXPECT_EQ(p.r.headers[1], (RecordHeader{"b", "x"}));
}

TEST(JsonlInput, DefaultsAndJsonValues) {
  auto p = parse(R"({"value":{"b":[1,2],"a":null},"headers":{"h":"v"}})");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_FALSE(p.has_offset) << "the caller assigns the next offset";
  EXPECT_EQ(p.r.timestamp, kNow) << "a line without timestamp gets the default";
  EXPECT_EQ(p.r.key, std::nullopt);
  EXPECT_EQ(p.r.value, R"({"a":null,"b":[1,2]})") << "non-string values are stored as compact JSON";
  EXPECT_EQ(p.r.headers, (std::vector<RecordHeader>{{"h", "v"}}));

  auto tomb = parse(R"({"key":"k","value":null})");
  ASSERT_TRUE(tomb.ok) << tomb.error;
  EXPECT_EQ(tomb.r.value, std::nullopt) << "null value is a tombstone";
}

TEST(JsonlInput, RefusesInvalidLinesNamingTheField) {
  EXPECT_EQ(parse("{not json").error, "not valid JSON");
  EXPECT_EQ(parse("[1]").error, "each line must be a JSON object");
  EXPECT_EQ(parse(R"({"value":"v","colour":"red"})").error, "unknown field 'colour'");
  EXPECT_EQ(parse(R"({"key":"k"})").error, "value is required (null for a tombstone)");
  EXPECT_EQ(parse(R"({"offset":-1,"value":"v"})").error, "offset must be a non-negative integer");
  EXPECT_EQ(parse(R"({"offset":1.5,"value":"v"})").error, "offset must be a non-negative integer");
  EXPECT_EQ(parse(R"({"offset":9223372036854775808,"value":"v"})").error, "offset must be below 2^63");
  EXPECT_TRUE(parse(R"({"offset":9223372036854775807,"value":"v"})").ok);
  EXPECT_EQ(parse(R"({"timestamp":"now","value":"v"})").error,
            "timestamp must be an integer (milliseconds since the epoch)");
  EXPECT_EQ(parse(R"({"key":5,"value":"v"})").error, "key must be a string or null");
  EXPECT_EQ(parse(R"({"value":"@@","value_encoding":"base64"})").error, "value is not valid base64");
  EXPECT_EQ(parse(R"({"value":"v","value_encoding":"hex"})").error,
            "value_encoding must be \"string\" or \"base64\"");
  EXPECT_EQ(parse(R"({"value":"v","headers":{"h":1}})").error,
            "header 'h' must have a string or null value");
  EXPECT_EQ(parse(R"({"value":"v","headers":[{"value":"x"}]})").error,
            "headers list entries must be {\"key\": string, \"value\": string|null}");
  EXPECT_EQ(parse(R"({"value":"v","headers":"h"})").error,
            "headers must be an object of strings or a list of {key, value}");
}

TEST(JsonlInput, StateOfAPreviousLineDoesNotLeak) {
  Record r;
  bool has_offset = false;
  std::string error;
  ASSERT_TRUE(parse_jsonl_record(R"({"offset":3,"key":"k","value":"v","headers":{"h":"x"}})", kNow, &r,
                                 &has_offset, &error));
  ASSERT_TRUE(parse_jsonl_record(R"({"value":"w"})", kNow, &r, &has_offset, &error)) << error;
  EXPECT_FALSE(has_offset);
  EXPECT_EQ(r.key, std::nullopt);
  EXPECT_TRUE(r.headers.empty());
}

}  // namespace
}  // namespace sh::service
