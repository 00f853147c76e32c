// CorsPolicy (--cors-origin): '*', a list of exact origins echoed back only to
// themselves, and bad entries refused at start-up.
#include "api/cors.h"

#include <gtest/gtest.h>

namespace sh::api {
namespace {

TEST(CorsPolicy, OffByDefault) {
  auto p = CorsPolicy::parse("");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->enabled());
  const std::string origin = "https://a.example";
  EXPECT_EQ(p->allow_origin(&origin), "");
}

TEST(CorsPolicy, StarAllowsEveryOriginWithoutVary) {
  auto p = CorsPolicy::parse("*");
  ASSERT_TRUE(p.ok());
  const std::string origin = "https://anything.example";
  EXPECT_EQ(p->allow_origin(&origin), "*");
  EXPECT_EQ(p->allow_origin(nullptr), "*");
  EXPECT_FALSE(p->varies());
}

TEST(CorsPolicy, AListEchoesOnlyItsOwnOriginsExactly) {
  auto p = CorsPolicy::parse("https://dash.example.com, http://localhost:3000");
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  EXPECT_TRUE(p->varies());
  for (const std::string o : {"https://dash.example.com", "http://localhost:3000"}) {
    EXPECT_EQ(p->allow_origin(&o), o) << "the request's own origin, never the raw list";
  }
  for (const std::string o : {"https://evil.example", "https://dash.example.com.evil", "http://dash.example.com",
                              "http://localhost:3001", "null", ""}) {
    EXPECT_EQ(p->allow_origin(&o), "") << "unlisted origin '" << o << "' gets no CORS header";
  }
  EXPECT_EQ(p->allow_origin(nullptr), "") << "no Origin header, no CORS header";
}

TEST(CorsPolicy, BadEntriesAreRefusedNamingThem) {
  for (const char* bad : {"dash.example.com", "https://a.example/", "https://a.example/path", "*,https://a.example",
                          "ftp://a.example", "https://", "https://a.example,,https://b.example"}) {
    auto p = CorsPolicy::parse(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.error().code(), Errc::kInvalidArgument) << bad;
    EXPECT_NE(p.error().message().find("--cors-origin"), std::string::npos) << p.error().message();
  }
}

}  // namespace
}  // namespace sh::api
