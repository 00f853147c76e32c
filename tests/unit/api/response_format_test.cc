// api/response_format and the error bodies of api/errors: JSON is one line and
// a newline (or, with pretty=true, indented by two spaces), `pretty` is
// validated like every parameter, and a 5xx body never names an endpoint.
#include "api/response_format.h"

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "tests/support/test_paths.h"

namespace sh::api {
namespace {

using json = nlohmann::json;

TEST(TakePretty, TrueFalseAndEverythingElse) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> query;
    bool ok;
    bool pretty;
  };
  const std::vector<Case> cases = {
      {{}, true, false},
      {{{"pretty", "true"}}, true, true},
      {{{"pretty", "false"}}, true, false},
      {{{"offset", "3"}, {"pretty", "true"}, {"format", "json"}}, true, true},
      {{{"pretty", "TRUE"}}, false, false},
      {{{"pretty", "1"}}, false, false},
      {{{"pretty", ""}}, false, false},
      {{{"pretty", "bogus"}}, false, false},
      {{{"pretty", "true"}, {"pretty", "true"}}, false, false},
  };
  for (const Case& c : cases) {
    auto q = c.query;
    bool pretty = !c.pretty;
    auto e = take_pretty(&q, &pretty);
    SCOPED_TRACE(c.query.empty() ? "(none)" : c.query.back().second);
    EXPECT_EQ(!e.has_value(), c.ok);
    if (e) {
      EXPECT_EQ(e->error_code, kBadParameter);
      EXPECT_EQ(e->status(), 400);
      EXPECT_NE(e->message.find("pretty"), std::string::npos) << e->message;
    }
    EXPECT_EQ(pretty, c.pretty);
    for (const auto& [k, v] : q) EXPECT_NE(k, "pretty") << "pretty is removed from the query";
  }
  std::vector<std::pair<std::string, std::string>> q = {{"offset", "3"}, {"pretty", "true"}, {"format", "json"}};
  bool pretty = false;
  ASSERT_FALSE(take_pretty(&q, &pretty));
  ASSERT_EQ(q.size(), 2u);
  EXPECT_EQ(q[0].first, "offset");
  EXPECT_EQ(q[1].first, "format") << "the other parameters keep their order";
}

TEST(TakePretty, OnlyJsonRoutesTakeIt) {
  for (const RouteSpec& spec : route_specs()) {
    const bool json_route = spec.path != "/" && spec.path != "/metrics" && spec.path != "/openapi.yaml" &&
                            spec.path.find("/stream") == std::string_view::npos;
    EXPECT_EQ(route_takes_pretty(spec.id), json_route) << spec.path;
    for (std::string_view p : spec.query_params) EXPECT_NE(p, "pretty") << "handled before the route's own";
  }
}

// openapi/openapi.yaml references the shared `pretty` parameter on exactly the
// routes that take it (api/routes.h lists only each route's own parameters).
TEST(TakePretty, TheDocumentListsItOnExactlyTheseRoutes) {
  std::ifstream f(sh::testing::source_dir() + "/openapi/openapi.yaml");
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string doc = ss.str();
  const std::string ref = "- $ref: '#/components/parameters/pretty'";
  for (const RouteSpec& spec : route_specs()) {
    const std::string head = "\n  " + std::string(spec.path) + ":\n";
    const size_t at = doc.find(head);
    ASSERT_NE(at, std::string::npos) << spec.path << " is not in openapi.yaml";
    const size_t end = doc.find("\n  /", at + head.size());
    const std::string section = doc.substr(at, end == std::string::npos ? std::string::npos : end - at);
    EXPECT_EQ(section.find(ref) != std::string::npos, route_takes_pretty(spec.id))
        << spec.path << ": the document and route_takes_pretty disagree";
  }
}

HttpResponse json_body(std::string body) {
  HttpResponse r;
  r.body = std::move(body);
  return r;
}

TEST(FinishJsonBody, CompactIsOneLineAndANewline) {
  HttpResponse r = json_body(R"({"a":[1,2],"b":{"c":"x\ny"}})");
  finish_json_body(false, &r);
  EXPECT_EQ(r.body, "{\"a\":[1,2],\"b\":{\"c\":\"x\\ny\"}}\n") << "only a newline is added";
  finish_json_body(false, &r);
  EXPECT_EQ(r.body.back(), '\n');
  EXPECT_NE(r.body[r.body.size() - 2], '\n') << "never two";

  HttpResponse text = json_body("a 1\n# no newline added");
  text.content_type = "text/plain";
  finish_json_body(true, &text);
  EXPECT_EQ(text.body, "a 1\n# no newline added") << "not JSON: untouched";
  HttpResponse empty = json_body("");
  empty.status = 304;
  finish_json_body(true, &empty);
  EXPECT_EQ(empty.body, "");
}

TEST(FinishJsonBody, PrettyIsTheSameJsonIndentedByTwoSpaces) {
  const std::string compact =
      R"({"topic":"t","partition":0,"records":[{"offset":5,"value":{"k":[1,"caf\u00e9",null]},"headers":[]}],"next_offset":6})";
  HttpResponse r = json_body(compact);
  finish_json_body(true, &r);
  EXPECT_EQ(json::parse(r.body), json::parse(compact)) << r.body;
  EXPECT_EQ(r.body.substr(0, 15), "{\n  \"topic\": \"t") << r.body;
  EXPECT_NE(r.body.find("\n    {\n      \"offset\": 5"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.back(), '\n');
  EXPECT_EQ(r.body.find('\t'), std::string::npos);
  EXPECT_NE(r.body.find("café"), std::string::npos) << "UTF-8 stays UTF-8";
}

TEST(ErrorBodies, AreOneLineOfJsonAndANewline) {
  for (const HttpResponse& r :
       {error_response(kBadParameter, "two\nlines and a \"quote\""), error_response(ApiError{kBusy, "busy"}),
        offset_out_of_range_response("offset 9 is above the high watermark", 2, 7),
        error_response(kInternal, std::string("\xff\xfe", 2))}) {
    ASSERT_FALSE(r.body.empty());
    EXPECT_EQ(r.body.find('\n'), r.body.size() - 1) << "exactly one newline, at the end: " << r.body;
    const json j = json::parse(r.body);
    EXPECT_EQ(j["error_code"].get<int>() / 100, r.status);
    EXPECT_TRUE(j["message"].is_string());
  }
  HttpResponse pretty = error_response(kBadParameter, "bad");
  finish_json_body(true, &pretty);
  EXPECT_EQ(pretty.body, "{\n  \"error_code\": 40001,\n  \"message\": \"bad\"\n}\n");
}

// A message as the core could word it, with every kind of endpoint in it.
constexpr const char* kLeaky =
    "GET http://127.0.0.1:9000/bkt/pre/k?x=1: Failed to connect to 10.1.2.3 port 9000; "
    "retried via https://minio.internal:9443/, minio.internal:9443, localhost:8080, "
    "[::1]:9000 and [fe80::1] for s3://bkt/pre/topic/0/seg_00000000000000000100.bin";

TEST(PublicMessages, FiveHundredsNeverNameAnEndpoint) {
  for (Errc code : {Errc::kUnavailable, Errc::kTimeout, Errc::kPermissionDenied, Errc::kBadResponse,
                    Errc::kNotFound, Errc::kOutOfRange, Errc::kCorrupt, Errc::kPreconditionFailed,
                    Errc::kInternal}) {
    const ApiError e = to_api_error(Error(code, kLeaky));
    SCOPED_TRACE(e.message);
    ASSERT_GE(e.status(), 500);
    const std::string body = error_response(e).body;
    for (const char* secret : {"http://", "https://", "127.0.0.1", "10.1.2.3", "minio.internal", "9443",
                               ":9000", "localhost", "::1", "fe80"}) {
      EXPECT_EQ(body.find(secret), std::string::npos) << "'" << secret << "' reached the body: " << body;
    }
    if (code != Errc::kInternal) {
      EXPECT_NE(body.find("s3://bkt/pre/topic/0/seg_00000000000000000100.bin"), std::string::npos)
          << "the object is still named: " << body;
    }
  }
}

TEST(PublicMessages, StorageMessagesWithoutEndpointsAreKept) {
  const std::string corrupt = "t/0/seg_00000000000000000100.bin: block at 4096: CRC mismatch (stored 0x1a2b, computed 0x3c4d)";
  EXPECT_EQ(to_api_error(Error(Errc::kCorrupt, corrupt)).message, "corrupt segment: " + corrupt);
  const std::string s3 = "GET s3://bkt/pre/t/0/seg.bin bytes=0-9: HTTP 503 SlowDown (gave up after 5 attempts)";
  EXPECT_EQ(to_api_error(Error(Errc::kUnavailable, s3)).message, s3);
  EXPECT_EQ(to_api_error(Error(Errc::kTimeout, "reading t/0 at 1.5 s: deadline passed")).message,
            "reading t/0 at 1.5 s: deadline passed");
  const std::string bad = "offset 12 is out of range [3, 10]";
  EXPECT_EQ(to_api_error(Error(Errc::kOffsetOutOfRange, bad)).message, bad) << "4xx: the core text";
}

TEST(PublicMessages, PostgresFailuresAreAStableText) {
  const std::string pg =
      "cannot connect to PostgreSQL at postgres://streamhouse@db.internal:15432/streamhouse: connection to "
      "server at \"10.0.0.7\", port 15432 failed: Connection refused";
  for (Errc code : {Errc::kUnavailable, Errc::kTimeout, Errc::kPermissionDenied, Errc::kBadResponse}) {
    const ApiError e = to_api_error(Error(code, pg));
    EXPECT_NE(e.message.find("PostgreSQL"), std::string::npos) << e.message;
    for (const char* secret : {"db.internal", "15432", "10.0.0.7", "Connection refused", "streamhouse@"}) {
      EXPECT_EQ(e.message.find(secret), std::string::npos) << e.message;
    }
  }
  EXPECT_EQ(to_api_error(Error(Errc::kUnavailable, pg)).error_code, kStorageUnavailable);
  EXPECT_EQ(to_api_error(Error(Errc::kInternal, "bad state in cache.cc:123")).message, "internal error");
}

}  // namespace
}  // namespace sh::api
