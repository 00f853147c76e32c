// Bearer tokens: the token file, scopes, and which routes need which scope.
#include "api/auth.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sh::api {
namespace {

const std::string kRead = "read-token-0123456789abcdef";
const std::string kCommit = "commit-token-0123456789abcdef";

std::shared_ptr<const TokenAuth> must_parse(const std::string& text) {
  auto r = TokenAuth::parse(text, "tokens.txt");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : nullptr;
}

TEST(TokenAuth, ReadTokenReadsButCannotCommit) {
  auto auth = must_parse(fmt::format("# dashboards\nread {}\n\ncommit {}\r\n", kRead, kCommit));
  ASSERT_TRUE(auth);
  EXPECT_EQ(auth->read_tokens(), 1u);
  EXPECT_EQ(auth->commit_tokens(), 1u);
  const std::string read = fmt::format("Bearer {}", kRead), commit = fmt::format("Bearer {}", kCommit);
  EXPECT_EQ(auth->check(&read, Scope::kRead), TokenAuth::Outcome::kAllowed);
  EXPECT_EQ(auth->check(&read, Scope::kCommit), TokenAuth::Outcome::kInsufficientScope)
      << "a dashboard's read token must not move offsets";
  EXPECT_EQ(auth->check(&commit, Scope::kRead), TokenAuth::Outcome::kAllowed) << "commit tokens read too";
  EXPECT_EQ(auth->check(&commit, Scope::kCommit), TokenAuth::Outcome::kAllowed);
  const std::string lower = fmt::format("bearer {}", kCommit);
  EXPECT_EQ(auth->check(&lower, Scope::kCommit), TokenAuth::Outcome::kAllowed) << "the scheme is case-insensitive";
}

TEST(TokenAuth, MissingMalformedAndWrongTokens) {
  auto auth = must_parse(fmt::format("read {}\n", kRead));
  ASSERT_TRUE(auth);
  EXPECT_EQ(auth->check(nullptr, Scope::kRead), TokenAuth::Outcome::kMissing);
  for (std::string h : std::vector<std::string>{"", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", kRead,
                                                fmt::format("Bearer{}", kRead)}) {
    EXPECT_EQ(auth->check(&h, Scope::kRead), TokenAuth::Outcome::kMissing) << "'" << h << "'";
  }
  for (std::string h : std::vector<std::string>{fmt::format("Bearer {}x", kRead), fmt::format("Bearer {}", kRead.substr(0, kRead.size() - 1)),
                        fmt::format("Bearer {}", kCommit), fmt::format("Bearer {}", std::string(kRead.size(), 'r'))}) {
    EXPECT_EQ(auth->check(&h, Scope::kRead), TokenAuth::Outcome::kInvalid) << "'" << h << "'";
  }
}

TEST(TokenAuth, BadFilesNameTheLineButNeverTheToken) {
  const std::string secret = "supersecret-0123456789";
  struct Case {
    std::string text;
    std::string want;
  } cases[] = {
      {"", "tokens.txt: no tokens"},
      {"# only a comment\n", "tokens.txt: no tokens"},
      {"read\n", "tokens.txt line 1: expected '<read|commit> <token>'"},
      {fmt::format("\nwrite {}\n", secret), "tokens.txt line 2: scope must be 'read' or 'commit'"},
      {"read short\n", "tokens.txt line 1: a token must be 16 to 512 visible ASCII characters without spaces"},
      {fmt::format("read {} more\n", secret), "tokens.txt line 1: a token must be 16 to 512 visible ASCII characters without spaces"},
      {fmt::format("read {}\ncommit {}\n", secret, secret), "tokens.txt line 2: token listed twice"},
  };
  for (const auto& c : cases) {
    auto r = TokenAuth::parse(c.text, "tokens.txt");
    ASSERT_FALSE(r.ok()) << c.text;
    EXPECT_EQ(r.error().message(), c.want);
    EXPECT_EQ(r.error().message().find("supersecret"), std::string::npos) << "a token leaked into an error";
  }
  auto missing = TokenAuth::load_file("/nonexistent/tokens.txt");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(), "cannot read token file /nonexistent/tokens.txt");
}

TEST(RouteScope, OpenProbesAndShellReadDataCommitOffsets) {
  for (RouteId id : {RouteId::kDashboard, RouteId::kHealthz, RouteId::kReadyz, RouteId::kOpenApi}) {
    EXPECT_EQ(route_scope(id, "GET", true), Scope::kNone);
  }
  EXPECT_EQ(route_scope(RouteId::kMetrics, "GET", false), Scope::kNone);
  EXPECT_EQ(route_scope(RouteId::kMetrics, "GET", true), Scope::kRead);
  for (RouteId id : {RouteId::kTopics, RouteId::kTopic, RouteId::kPartition, RouteId::kSegments,
                     RouteId::kRecords, RouteId::kRecordsStream, RouteId::kTopicRecords, RouteId::kGroups}) {
    EXPECT_EQ(route_scope(id, "GET", false), Scope::kRead);
    EXPECT_EQ(route_scope(id, "HEAD", false), Scope::kRead);
  }
  EXPECT_EQ(route_scope(RouteId::kGroupOffsets, "GET", false), Scope::kRead);
  EXPECT_EQ(route_scope(RouteId::kGroupOffsets, "POST", false), Scope::kCommit);
}

}  // namespace
}  // namespace sh::api
