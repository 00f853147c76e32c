// End to end: --cors-origin with a list of exact origins, against the real
// binary — a listed origin is echoed back (with Vary: Origin and the exposed
// headers), an unlisted one gets no CORS headers, preflights answer from the
// route table, and a bad list stops the server at start-up.
#include <string>

#include <gtest/gtest.h>

#include "tests/e2e/support/process.h"

namespace sh::testing {
namespace {

TEST(CorsE2E, ListedOriginsAreEchoedUnlistedOnesGetNothing) {
  TempDir dir;
  const std::string store = "file://" + dir.path();
  ASSERT_EQ(run_command({streamhouse_binary(), "segment", "write", "--store", store, "--topic", "t",
                         "--partition", "0"},
                        "{\"value\":\"a\"}\n")
                .exit_code,
            0);
  ServerProcess server({"--store", store, "--cors-origin", "https://a.example, http://localhost:3000"});
  ASSERT_GT(server.port(), 0);

  auto r = http_get(server.url("/topics"), {"Origin: https://a.example"});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["access-control-allow-origin"], "https://a.example");
  EXPECT_EQ(r.headers["vary"], "Origin, Accept-Encoding") << "one Vary: CORS's and compression's";
  EXPECT_NE(r.headers["access-control-expose-headers"].find("Retry-After"), std::string::npos);

  r = http_get(server.url("/topics"), {"Origin: http://localhost:3000"});
  EXPECT_EQ(r.headers["access-control-allow-origin"], "http://localhost:3000");

  r = http_get(server.url("/topics"), {"Origin: https://evil.example"});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers.count("access-control-allow-origin"), 0u) << "an unlisted origin gets no CORS header";
  EXPECT_EQ(r.headers["vary"], "Origin, Accept-Encoding") << "caches must still key on Origin";

  r = http_request("OPTIONS", server.url("/topics/t/partitions/0/records"), "",
                   {"Origin: https://a.example", "Access-Control-Request-Method: GET"});
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers["access-control-allow-origin"], "https://a.example");
  EXPECT_NE(r.headers["access-control-allow-methods"].find("GET"), std::string::npos);

  auto bad = run_command({streamhouse_binary(), "serve", "--store", store, "--listen", "127.0.0.1:0",
                          "--cors-origin", "https://a.example/path"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE((bad.err + bad.out).find("--cors-origin"), std::string::npos) << bad.err << bad.out;
}

}  // namespace
}  // namespace sh::testing
