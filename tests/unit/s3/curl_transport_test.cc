// The libcurl transport over real sockets: keep-alive, bodies, timeouts and
// truncated answers.
#include "core/storage/s3/curl_transport.h"

#include <gtest/gtest.h>

#include "tests/unit/s3/test_http_server.h"

namespace sh::s3 {
namespace {

using testing::TestHttpServer;
using testing::TestRequest;
using testing::TestResponse;

TransportRequest request_to(const TestHttpServer& s, std::string method, std::string path) {
  TransportRequest r;
  r.method = std::move(method);
  r.scheme = "http";
  r.host = "127.0.0.1";
  r.port = s.port();
  r.path = std::move(path);
  r.set_header("Host", r.host_header());
  return r;
}

TEST(CurlTransport, ReusesConnectionsAcrossRequests) {
  TestHttpServer server([](const TestRequest& r) {
    TestResponse resp;
    resp.body = "echo " + r.path;
    resp.headers = {{"ETag", "\"v1\""}};
    return resp;
  });
  ASSERT_TRUE(server.ok());
  CurlTransport t({});
  for (int i = 0; i < 5; ++i) {
    auto r = t.send(request_to(server, "GET", "/a b/" + std::to_string(i)), {});
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "echo /a b/" + std::to_string(i)) << "path is percent-encoded on the wire and decoded by the server";
    EXPECT_EQ(r->header("etag").value_or(""), "\"v1\"") << "header names are lower-cased";
  }
  EXPECT_EQ(t.connections_opened(), 1) << "five sequential requests should share one keep-alive connection";
  EXPECT_EQ(server.connections(), 1);
}

TEST(CurlTransport, PutSendsBodyWithContentLength) {
  TestHttpServer server([](const TestRequest& r) {
    TestResponse resp;
    auto cl = r.headers.find("content-length");
    resp.body = r.method + " " + std::to_string(r.body.size()) + " " + (cl == r.headers.end() ? "-" : cl->second) +
                (r.headers.count("transfer-encoding") ? " chunked" : "");
    return resp;
  });
  ASSERT_TRUE(server.ok());
  CurlTransport t({});
  std::string body(100000, 'x');
  TransportRequest req = request_to(server, "PUT", "/obj");
  req.body = body;
  auto r = t.send(req, {});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->body, "PUT 100000 100000");
}

TEST(CurlTransport, TimeoutIsReportedAsRetryableTimeout) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse resp;
    resp.delay_ms = 1500;
    return resp;
  });
  ASSERT_TRUE(server.ok());
  CurlTransport t({});
  SendOptions so;
  so.timeout_ms = 200;
  auto start = std::chrono::steady_clock::now();
  auto r = t.send(request_to(server, "GET", "/slow"), so);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kTimeout);
  EXPECT_TRUE(r.error().retryable());
  EXPECT_LT(took, 1000) << "the timeout must cut the request short";
}

TEST(CurlTransport, TruncatedBodyIsRetryableUnavailable) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse resp;
    resp.body = std::string(200000, 'y');
    resp.truncate = true;
    return resp;
  });
  ASSERT_TRUE(server.ok());
  CurlTransport t({});
  auto r = t.send(request_to(server, "GET", "/cut"), {});
  ASSERT_FALSE(r.ok()) << "a body shorter than Content-Length must not be accepted";
  EXPECT_EQ(r.error().code(), Errc::kUnavailable);
  EXPECT_TRUE(r.error().retryable());
}

TEST(CurlTransport, OversizedBodyIsBadResponse) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse resp;
    resp.body = std::string(10000, 'z');
    return resp;
  });
  ASSERT_TRUE(server.ok());
  CurlTransport t({});
  SendOptions so;
  so.max_body_bytes = 100;
  auto r = t.send(request_to(server, "GET", "/big"), so);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kBadResponse);
}

TEST(CurlTransport, ConnectionRefusedIsRetryableUnavailable) {
  CurlTransport t({});
  TransportRequest r;
  r.scheme = "http";
  r.host = "127.0.0.1";
  r.port = 1;
  r.set_header("Host", r.host_header());
  auto resp = t.send(r, {});
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.error().code(), Errc::kUnavailable);
  EXPECT_TRUE(resp.error().retryable());
  EXPECT_NE(resp.error().message().find("127.0.0.1:1"), std::string::npos) << resp.error().message();
}

}  // namespace
}  // namespace sh::s3
