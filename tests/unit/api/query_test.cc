// Query-string validation: unknown and repeated parameters, strict integers.
#include <gtest/gtest.h>

#include "api/query.h"

namespace sh::api {
namespace {

TEST(ParseUint, StrictDecimal) {
  EXPECT_EQ(parse_uint("0"), 0u);
  EXPECT_EQ(parse_uint("18446744073709551615"), UINT64_MAX);
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1e3", "0x10", "18446744073709551616", "abc"}) {
    EXPECT_FALSE(parse_uint(bad).has_value()) << bad;
  }
  EXPECT_EQ(parse_int("-9223372036854775808"), INT64_MIN);
  EXPECT_FALSE(parse_int("+5").has_value());
}

TEST(QueryParams, RejectsUnknownAndRepeated) {
  QueryParams q;
  auto err = QueryParams::parse({{"offset", "1"}, {"colour", "red"}}, {"offset"}, &q);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->error_code, kUnknownParameter);
  EXPECT_NE(err->message.find("colour"), std::string::npos);
  err = QueryParams::parse({{"offset", "1"}, {"offset", "2"}}, {"offset"}, &q);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->error_code, kBadParameter);
  EXPECT_FALSE(QueryParams::parse({{"offset", "1"}}, {"offset"}, &q).has_value());
  EXPECT_EQ(q.get("offset"), "1");
}

TEST(QueryParams, RangeChecked) {
  QueryParams q;
  ASSERT_FALSE(QueryParams::parse({{"max_records", "10001"}}, {"max_records"}, &q).has_value());
  uint64_t v = 7;
  auto err = q.get_uint("max_records", 1, 10000, &v);
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->status(), 400);
  EXPECT_EQ(v, 7u) << "value untouched on error";
  ASSERT_FALSE(QueryParams::parse({{"max_records", "10000"}}, {"max_records"}, &q).has_value());
  EXPECT_FALSE(q.get_uint("max_records", 1, 10000, &v).has_value());
  EXPECT_EQ(v, 10000u);
}

}  // namespace
}  // namespace sh::api
