// End to end: a records response that ends below the high watermark is
// immutable — a strong ETag, a year of public caching, and If-None-Match
// answered 304 with no body; one that reaches the head stays no-store.
#include <string>

#include <gtest/gtest.h>

#include "tests/e2e/support/process.h"

namespace sh::testing {
namespace {

TEST(CachingE2E, CommittedRangesAreImmutableAndTheHeadIsNot) {
  TempDir dir;
  const std::string store = "file://" + dir.path();
  std::string lines;
  for (int i = 0; i < 10; ++i) lines += "{\"value\":\"v" + std::to_string(i) + "\"}\n";
  ASSERT_EQ(run_command({streamhouse_binary(), "segment", "write", "--store", store, "--topic", "t",
                         "--partition", "0"},
                        lines)
                .exit_code,
            0);
  ServerProcess server({"--store", store});
  ASSERT_GT(server.port(), 0);
  const std::string range = server.url("/topics/t/partitions/0/records?offset=2&max_records=3");

  auto r = http_get(range);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string etag = r.headers["etag"];
  ASSERT_FALSE(etag.empty()) << "a range below the high watermark has a validator";
  EXPECT_EQ(etag.front(), '"') << "a strong ETag: " << etag;
  EXPECT_EQ(r.headers["cache-control"], "public, max-age=31536000, immutable");

  auto again = http_get(range);
  EXPECT_EQ(again.headers["etag"], etag) << "the same range, the same validator";
  EXPECT_EQ(http_get(server.url("/topics/t/partitions/0/records?offset=2&max_records=3&format=base64"))
                .headers["etag"] == etag,
            false)
      << "another format is another representation";

  auto nm = http_get(range, {"If-None-Match: " + etag});
  EXPECT_EQ(nm.status, 304);
  EXPECT_TRUE(nm.body.empty());
  EXPECT_EQ(nm.headers["etag"], etag);
  EXPECT_EQ(http_get(range, {"If-None-Match: \"other\", W/" + etag}).status, 304) << "lists, weak comparison";
  EXPECT_EQ(http_get(range, {"If-None-Match: \"other\""}).status, 200);

  // Reaching the head: the next read may hold more, so nothing may be cached.
  auto head = http_get(server.url("/topics/t/partitions/0/records?offset=8"));
  ASSERT_EQ(head.status, 200);
  EXPECT_EQ(head.headers.count("etag"), 0u);
  EXPECT_EQ(head.headers["cache-control"], "no-store");
  EXPECT_EQ(http_get(server.url("/topics/t/partitions/0/records?offset=8"), {"If-None-Match: *"}).status, 200)
      << "no validator, no 304";
}

}  // namespace
}  // namespace sh::testing
