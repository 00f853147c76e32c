// parse_commit_body (api/commit_body.h): the body of POST /consumer-groups/{g}/offsets,
// the same checks the handler made inline before it was extracted for fuzzing.
#include "api/commit_body.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sh::api {
namespace {

// The error message for `body`, or "" if it was accepted.
std::string refusal(const std::string& body) {
  std::vector<OffsetCommit> out;
  auto e = parse_commit_body(body, &out);
  if (!e) return "";
  EXPECT_EQ(e->error_code, kBadBody) << body;
  return e->message;
}

TEST(CommitBody, AcceptsCommitsInOrderWithOptionalMetadata) {
  std::vector<OffsetCommit> out;
  auto e = parse_commit_body(
      R"({"offsets":[{"topic":"orders","partition":2,"offset":42,"metadata":"worker-3"},)"
      R"({"topic":"a.b_c-d","partition":0,"offset":0,"metadata":null},{"topic":"x","partition":1,"offset":7}]})",
      &out);
  ASSERT_FALSE(e) << e->message;
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].topic, "orders");
  EXPECT_EQ(out[0].partition, 2);
  EXPECT_EQ(out[0].offset, 42u);
  EXPECT_EQ(out[0].metadata, "worker-3");
  EXPECT_EQ(out[1].topic, "a.b_c-d");
  EXPECT_EQ(out[1].metadata, "") << "null metadata is empty";
  EXPECT_EQ(out[2].offset, 7u);
}

TEST(CommitBody, RefusesMalformedShapes) {
  EXPECT_NE(refusal("{not json"), "");
  EXPECT_NE(refusal("[]"), "");
  EXPECT_NE(refusal(R"({"offsets":[]})"), "") << "an empty commit";
  EXPECT_NE(refusal(R"({"offsets":{}})"), "");
  EXPECT_EQ(refusal(R"({"offsets":[{"topic":"t","partition":0,"offset":1}],"x":1})"),
            "body has fields other than \"offsets\"");
  EXPECT_EQ(refusal(R"({"offsets":[5]})"), "each offset must be an object");
  EXPECT_EQ(refusal(R"({"offsets":[{"topic":"t","partition":0,"offset":1,"colour":"red"}]})"),
            "unknown field 'colour' in an offset");
  EXPECT_EQ(refusal(R"({"offsets":[{"topic":"t","partition":"0","offset":1}]})"),
            "each offset needs topic (string), partition and offset (integers)");
  EXPECT_EQ(refusal(R"({"offsets":[{"topic":"t","partition":0,"offset":1.5}]})"),
            "each offset needs topic (string), partition and offset (integers)");
  EXPECT_EQ(refusal(R"({"offsets":[{"topic":"t","offset":1}]})"),
            "each offset needs topic (string), partition and offset (integers)");
}

TEST(CommitBody, ChecksTopicPartitionAndOffsetRanges) {
  EXPECT_NE(refusal(R"({"offsets":[{"topic":"..","partition":0,"offset":1}]})").find("topic name"),
            std::string::npos);
  EXPECT_NE(refusal(R"({"offsets":[{"topic":"a/b","partition":0,"offset":1}]})"), "");
  EXPECT_EQ(refusal(R"({"offsets":[{"topic":"t","partition":-1,"offset":1}]})"), "partition out of range");
  EXPECT_EQ(refusal(R"({"offsets":[{"topic":"t","partition":2147483648,"offset":1}]})"),
            "partition out of range");
  EXPECT_EQ(refusal(R"({"offsets":[{"topic":"t","partition":18446744073709551615,"offset":1}]})"),
            "partition out of range")
      << "an unsigned partition above 2^63 must not wrap to a valid one";
  EXPECT_EQ(refusal(R"({"offsets":[{"topic":"t","partition":2147483647,"offset":1}]})"), "");
  EXPECT_EQ(refusal(R"({"offsets":[{"topic":"t","partition":0,"offset":-1}]})"), "offset must be >= 0");

  std::vector<OffsetCommit> out;
  ASSERT_FALSE(parse_commit_body(
      R"({"offsets":[{"topic":"t","partition":0,"offset":18446744073709551615}]})", &out));
  EXPECT_EQ(out.at(0).offset, static_cast<uint64_t>(INT64_MAX))
      << "offsets above 2^63-1 are clamped (the handler then finds them above the high watermark)";
}

TEST(CommitBody, LimitsMetadata) {
  const std::string at_limit(kMaxCommitMetadataBytes, 'm');
  EXPECT_EQ(refusal(R"({"offsets":[{"topic":"t","partition":0,"offset":1,"metadata":")" + at_limit + "\"}]}"),
            "");
  EXPECT_EQ(refusal(R"({"offsets":[{"topic":"t","partition":0,"offset":1,"metadata":")" + at_limit +
                    "m\"}]}"),
            "metadata longer than 4096 bytes");
  EXPECT_EQ(refusal(R"({"offsets":[{"topic":"t","partition":0,"offset":1,"metadata":5}]})"),
            "metadata must be a string");
}

}  // namespace
}  // namespace sh::api
