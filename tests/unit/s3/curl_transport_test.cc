// The libcurl transports over real sockets: keep-alive, bodies, timeouts,
// truncated answers and dropped connections. Every behaviour test runs against
// both CurlTransport (easy interface) and CurlMultiTransport (one event loop),
// which must be indistinguishable to a caller; the multi-only tests cover
// concurrency on one loop, connection reuse under load and shutdown.
#include "core/storage/s3/curl_transport.h"

#include <fmt/format.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <optional>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/storage/s3/curl_multi_transport.h"
#include "tests/unit/s3/test_http_server.h"

namespace sh::s3 {
namespace {

using testing::TestHttpServer;
using testing::TestRequest;
using testing::TestResponse;

int64_t ms_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start)
      .count();
}

TransportRequest request_to(int port, std::string method, std::string path) {
  TransportRequest r;
  r.method = std::move(method);
  r.scheme = "http";
  r.host = "127.0.0.1";
  r.port = port;
  r.path = std::move(path);
  r.set_header("Host", r.host_header());
  return r;
}

TransportRequest request_to(const TestHttpServer& s, std::string method, std::string path) {
  return request_to(s.port(), std::move(method), std::move(path));
}

// A TCP listener that accepts connections and closes each one at once, without
// answering: a server that drops the connection.
class DroppingServer {
 public:
  DroppingServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;  // the listener was shut down
        char buf[4096];
        (void)::recv(c, buf, sizeof buf, 0);  // read (part of) the request, then hang up
        ::close(c);
      }
    });
  }
  ~DroppingServer() {
    if (fd_ >= 0) {
      ::shutdown(fd_, SHUT_RDWR);
      if (thread_.joinable()) thread_.join();
      ::close(fd_);
    }
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

enum class Kind { kEasy, kMulti };

// Either transport behind the HttpTransport seam, with its connection counter.
struct AnyTransport {
  std::unique_ptr<HttpTransport> transport;
  std::function<int64_t()> connections_opened;

  Result<TransportResponse> send(const TransportRequest& r, const SendOptions& so = {}) {
    return transport->send(r, so);
  }
};

AnyTransport make_transport(Kind kind, CurlTransportOptions o = {}, long max_connections = 64) {
  AnyTransport a;
  if (kind == Kind::kEasy) {
    auto t = std::make_unique<CurlTransport>(o);
    CurlTransport* raw = t.get();
    a.connections_opened = [raw] { return raw->connections_opened(); };
    a.transport = std::move(t);
  } else {
    CurlMultiTransportOptions mo;
    mo.transfer = o;
    mo.max_host_connections = max_connections;
    mo.max_total_connections = max_connections;
    auto t = std::make_unique<CurlMultiTransport>(mo);
    CurlMultiTransport* raw = t.get();
    a.connections_opened = [raw] { return raw->connections_opened(); };
    a.transport = std::move(t);
  }
  return a;
}

class CurlTransportTest : public ::testing::TestWithParam<Kind> {
 protected:
  AnyTransport make(CurlTransportOptions o = {}) { return make_transport(GetParam(), o); }
};

INSTANTIATE_TEST_SUITE_P(Interface, CurlTransportTest, ::testing::Values(Kind::kEasy, Kind::kMulti),
                         [](const auto& info) { return info.param == Kind::kEasy ? "Easy" : "Multi"; });

TEST_P(CurlTransportTest, ReusesConnectionsAcrossRequests) {
  TestHttpServer server([](const TestRequest& r) {
    TestResponse resp;
    resp.body = "echo " + r.path;
    resp.headers = {{"ETag", "\"v1\""}};
    return resp;
  });
  ASSERT_TRUE(server.ok());
  AnyTransport t = make();
  for (int i = 0; i < 5; ++i) {
    auto r = t.send(request_to(server, "GET", fmt::format("/a b/{}", i)));
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, fmt::format("echo /a b/{}", i)) << "path is percent-encoded on the wire and decoded by the server";
    EXPECT_EQ(r->header("etag").value_or(""), "\"v1\"") << "header names are lower-cased";
  }
  EXPECT_EQ(t.connections_opened(), 1) << "five sequential requests should share one keep-alive connection";
  EXPECT_EQ(server.connections(), 1);
}

TEST_P(CurlTransportTest, DotSegmentsInThePathReachTheServerAsSigned) {
  TestHttpServer server([](const TestRequest& r) {
    TestResponse resp;
    resp.body = r.path;
    return resp;
  });
  ASSERT_TRUE(server.ok());
  AnyTransport t = make();
  for (const std::string path : {"/bucket/a/./b/../c", "/bucket/../x", "/bucket/./", "/bucket/.."}) {
    auto r = t.send(request_to(server, "GET", path));
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->body, path) << "curl must not squash dot segments: the signature covers the path as sent";
  }
}

TEST_P(CurlTransportTest, PutSendsBodyWithContentLength) {
  TestHttpServer server([](const TestRequest& r) {
    TestResponse resp;
    auto cl = r.headers.find("content-length");
    resp.body = r.method + " " + std::to_string(r.body.size()) + " " + (cl == r.headers.end() ? "-" : cl->second) +
                (r.headers.count("transfer-encoding") ? " chunked" : "");
    return resp;
  });
  ASSERT_TRUE(server.ok());
  AnyTransport t = make();
  std::string body(100000, 'x');
  TransportRequest req = request_to(server, "PUT", "/obj");
  req.body = body;
  auto r = t.send(req);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->body, "PUT 100000 100000");
}

TEST_P(CurlTransportTest, HeadAndErrorStatusesAreResponses) {
  TestHttpServer server([](const TestRequest& r) {
    TestResponse resp;
    resp.status = r.path == "/missing" ? 404 : 200;
    resp.headers = {{"X-Amz-Request-Id", "abc"}, {"Empty", ""}};
    resp.body = r.method == "HEAD" ? "" : "<Error/>";
    return resp;
  });
  ASSERT_TRUE(server.ok());
  AnyTransport t = make();
  auto head = t.send(request_to(server, "HEAD", "/obj"));
  ASSERT_TRUE(head.ok()) << head.error().to_string();
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->body, "");
  EXPECT_EQ(head->header("x-amz-request-id").value_or(""), "abc");
  auto missing = t.send(request_to(server, "GET", "/missing"));
  ASSERT_TRUE(missing.ok()) << "a 404 is an answer, not a transport error";
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, "<Error/>");
  auto bad = t.send(request_to(server, "DELETE", "/obj"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), Errc::kInvalidArgument);
}

TEST_P(CurlTransportTest, TimeoutIsReportedAsRetryableTimeout) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse resp;
    resp.delay_ms = 1500;
    return resp;
  });
  ASSERT_TRUE(server.ok());
  AnyTransport t = make();
  SendOptions so;
  so.timeout_ms = 200;
  auto start = std::chrono::steady_clock::now();
  auto r = t.send(request_to(server, "GET", "/slow"), so);
  const int64_t took = ms_since(start);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kTimeout);
  EXPECT_TRUE(r.error().retryable());
  EXPECT_LT(took, 1000) << "the timeout must cut the request short";
}

TEST_P(CurlTransportTest, StalledServerIsCutByTheStallLimit) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse resp;
    resp.delay_ms = 4000;  // no byte for 4 s
    return resp;
  });
  ASSERT_TRUE(server.ok());
  CurlTransportOptions o;
  o.stall_timeout_ms = 1000;
  AnyTransport t = make(o);
  SendOptions so;
  so.timeout_ms = 30000;
  auto start = std::chrono::steady_clock::now();
  auto r = t.send(request_to(server, "GET", "/stalled"), so);
  const int64_t took = ms_since(start);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kTimeout) << r.error().to_string();
  EXPECT_TRUE(r.error().retryable());
  EXPECT_GE(took, 900);
  EXPECT_LT(took, 3000) << "a stall limit of 1 s must end the transfer long before the 30 s timeout";
}

TEST_P(CurlTransportTest, TruncatedBodyIsRetryableUnavailable) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse resp;
    resp.body = std::string(200000, 'y');
    resp.truncate = true;
    return resp;
  });
  ASSERT_TRUE(server.ok());
  AnyTransport t = make();
  auto r = t.send(request_to(server, "GET", "/cut"));
  ASSERT_FALSE(r.ok()) << "a body shorter than Content-Length must not be accepted";
  EXPECT_EQ(r.error().code(), Errc::kUnavailable);
  EXPECT_TRUE(r.error().retryable());
}

TEST_P(CurlTransportTest, DroppedConnectionIsRetryableUnavailable) {
  DroppingServer server;
  ASSERT_NE(server.port(), 0);
  AnyTransport t = make();
  auto r = t.send(request_to(server.port(), "GET", "/k"));
  ASSERT_FALSE(r.ok()) << "a connection closed without an answer is not a response";
  EXPECT_EQ(r.error().code(), Errc::kUnavailable) << r.error().to_string();
  EXPECT_TRUE(r.error().retryable());
  EXPECT_NE(r.error().message().find(fmt::format("127.0.0.1:{}", server.port())), std::string::npos)
      << r.error().message();
}

TEST_P(CurlTransportTest, OversizedBodyIsBadResponse) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse resp;
    resp.body = std::string(10000, 'z');
    return resp;
  });
  ASSERT_TRUE(server.ok());
  AnyTransport t = make();
  SendOptions so;
  so.max_body_bytes = 100;
  auto r = t.send(request_to(server, "GET", "/big"), so);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kBadResponse);
  EXPECT_FALSE(r.error().retryable());
  so.max_body_bytes = 10000;
  auto exact = t.send(request_to(server, "GET", "/big"), so);
  ASSERT_TRUE(exact.ok()) << "a body of exactly the limit is fine: " << exact.error().to_string();
  EXPECT_EQ(exact->body.size(), 10000u);
}

TEST_P(CurlTransportTest, ConnectionRefusedIsRetryableUnavailable) {
  AnyTransport t = make();
  TransportRequest r;
  r.scheme = "http";
  r.host = "127.0.0.1";
  r.port = 1;
  r.set_header("Host", r.host_header());
  auto resp = t.send(r);
  ASSERT_FALSE(resp.ok());
  EXPECT_EQ(resp.error().code(), Errc::kUnavailable);
  EXPECT_TRUE(resp.error().retryable());
  EXPECT_NE(resp.error().message().find("127.0.0.1:1"), std::string::npos) << resp.error().message();
}

TEST_P(CurlTransportTest, HeaderValuesNeverAppearInErrors) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse resp;
    resp.delay_ms = 1000;
    return resp;
  });
  ASSERT_TRUE(server.ok());
  AnyTransport t = make();
  TransportRequest req = request_to(server, "GET", "/k");
  req.set_header("Authorization", "AWS4-HMAC-SHA256 Credential=SECRETVALUE");
  SendOptions so;
  so.timeout_ms = 100;
  auto r = t.send(req, so);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message().find("SECRETVALUE"), std::string::npos) << r.error().message();
}

// ---- the multi transport: one loop, many transfers -----------------------------

TEST(CurlMultiTransport, ManyConcurrentSendsCompleteOnFewConnections) {
  TestHttpServer server([](const TestRequest& r) {
    TestResponse resp;
    resp.delay_ms = 2;
    resp.body = "echo " + r.path;
    return resp;
  });
  ASSERT_TRUE(server.ok());
  constexpr int kThreads = 64, kPerThread = 8;
  constexpr long kMaxConnections = 8;
  AnyTransport t = make_transport(Kind::kMulti, {}, kMaxConnections);
  std::atomic<int> wrong{0};
  std::vector<std::string> failures(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < kPerThread; ++j) {
        const std::string path = "/t" + std::to_string(i) + fmt::format("/r{}", j);
        auto r = t.send(request_to(server, "GET", path));
        if (!r.ok()) {
          failures[i] = r.error().to_string();
          wrong++;
        } else if (r->status != 200 || r->body != "echo " + path) {
          failures[i] = "wrong answer for " + path + ": " + r->body;
          wrong++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0) << "first failure: "
                             << *std::find_if(failures.begin(), failures.end(),
                                              [](const std::string& f) { return !f.empty(); });
  EXPECT_EQ(server.requests().size(), size_t{kThreads * kPerThread});
  EXPECT_LE(t.connections_opened(), kMaxConnections)
      << kThreads * kPerThread << " sends must share at most " << kMaxConnections << " connections";
  EXPECT_LE(server.connections(), kMaxConnections);
  EXPECT_GE(t.connections_opened(), 1);
}

TEST(CurlMultiTransport, TransfersRunConcurrentlyOnOneLoop) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse resp;
    resp.delay_ms = 400;
    resp.body = "slow";
    return resp;
  });
  ASSERT_TRUE(server.ok());
  constexpr int kSends = 16;
  AnyTransport t = make_transport(Kind::kMulti);
  std::atomic<int> ok{0};
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kSends; ++i) {
    threads.emplace_back([&] {
      auto r = t.send(request_to(server, "GET", "/slow"));
      if (r.ok() && r->body == "slow") ok++;
    });
  }
  for (auto& th : threads) th.join();
  const int64_t took = ms_since(start);
  EXPECT_EQ(ok.load(), kSends);
  EXPECT_LT(took, 4 * 400) << kSends << " transfers of 400 ms each were not overlapped";
}

TEST(CurlMultiTransport, DestructionCompletesTransfersInFlightWithAnError) {
  TestHttpServer server([](const TestRequest&) {
    TestResponse resp;
    resp.delay_ms = 2000;
    return resp;
  });
  ASSERT_TRUE(server.ok());
  constexpr int kSends = 8;
  auto t = std::make_unique<AnyTransport>(make_transport(Kind::kMulti));
  std::vector<std::optional<Result<TransportResponse>>> results(kSends);
  std::vector<int64_t> returned_ms(kSends, -1);
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  AnyTransport* transport = t.get();  // the senders must not read `t` while it is reset
  for (int i = 0; i < kSends; ++i) {
    threads.emplace_back([&, transport, i] {
      SendOptions so;
      so.timeout_ms = 20000;
      results[i].emplace(transport->send(request_to(server, "GET", "/held"), so));
      returned_ms[i] = ms_since(start);
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // all in flight, none answered
  t.reset();
  const int64_t destroyed_ms = ms_since(start);
  for (auto& th : threads) th.join();
  EXPECT_LT(destroyed_ms, 1500) << "destruction must not wait for the server";
  for (int i = 0; i < kSends; ++i) {
    ASSERT_TRUE(results[i].has_value());
    ASSERT_FALSE(results[i]->ok()) << "send " << i << " got an answer the server never sent";
    EXPECT_EQ(results[i]->error().code(), Errc::kUnavailable) << results[i]->error().to_string();
    EXPECT_TRUE(results[i]->error().retryable());
    EXPECT_LT(returned_ms[i], 1500) << "send " << i << " hung past the transport's destruction";
  }
}

TEST(CurlMultiTransport, ReusesOneConnectionPerHostAcrossSequentialThreads) {
  TestHttpServer server([](const TestRequest&) { return TestResponse{}; });
  ASSERT_TRUE(server.ok());
  AnyTransport t = make_transport(Kind::kMulti);
  for (int i = 0; i < 10; ++i) {
    std::thread th([&] { ASSERT_TRUE(t.send(request_to(server, "GET", "/k")).ok()); });
    th.join();
  }
  EXPECT_EQ(t.connections_opened(), 1) << "the connection belongs to the multi handle, not to a thread";
  EXPECT_EQ(server.connections(), 1);
}

}  // namespace
}  // namespace sh::s3
