// HttpServer reliability against hostile or careless clients: clients that hang
// up during a long-poll, encoded NULs in URLs, one IP taking every connection,
// bodies claimed but never sent. Real sockets on 127.0.0.1, ephemeral ports.
#include "api/http_server.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sh::api {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

HttpResponse text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/plain";
  r.body = std::move(body);
  return r;
}

// A raw TCP connection to 127.0.0.1:port (owns the fd).
class RawConn {
 public:
  explicit RawConn(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConn() { close(); }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  bool connected() const { return connected_; }
  bool send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Reads until the peer closes or `limit` passes; returns what arrived.
  std::string read_until_close(std::chrono::milliseconds limit = 5s) {
    std::string out;
    auto deadline = Clock::now() + limit;
    char buf[4096];
    while (Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
      if (out.find("\r\n\r\n") != std::string::npos && out.find("Content-Length: ") != std::string::npos) {
        // Complete once the body of the advertised length is in.
        auto cl = out.find("Content-Length: ");
        size_t len = std::stoul(out.substr(cl + 16));
        if (out.size() >= out.find("\r\n\r\n") + 4 + len) break;
      }
    }
    return out;
  }
  // True if the server closed this connection within `limit`.
  bool closed_by_peer(std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    char buf[256];
    while (Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
    }
    return false;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  bool connected_ = false;
};

std::string status_line(const std::string& response) { return response.substr(0, response.find("\r\n")); }

std::string body_of(const std::string& response) {
  auto p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

// GET `target` on a fresh connection; the whole raw response.
std::string raw_get(uint16_t port, const std::string& target) {
  RawConn c(port);
  if (!c.connected()) return "";
  c.send_all(fmt::format("GET {} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", target));
  return c.read_until_close();
}

HttpServerOptions local_options() {
  HttpServerOptions o;
  o.listen_host = "127.0.0.1";
  o.port = 0;
  o.threads = 2;
  return o;
}

std::unique_ptr<HttpServer> must_start(HttpServerOptions opts, Handler h) {
  auto r = HttpServer::start(std::move(opts), std::move(h));
  if (!r.ok()) {
    ADD_FAILURE() << "server did not start: " << r.error().to_string();
    return nullptr;
  }
  return std::move(r).value();
}

struct Parking {
  std::mutex mu;
  std::vector<Responder> parked;
  void park(Responder&& r) {
    std::lock_guard<std::mutex> lock(mu);
    parked.push_back(std::move(r));
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return parked.size();
  }
};

// ------------------------------------------------------- dead waiters

TEST(HttpHardening, ClientThatHangsUpWhileSuspendedFreesItsConnectionSlot) {
  constexpr int kSlots = 4;
  Parking parking;
  std::atomic<int> gone_hooks{0};
  auto opts = local_options();
  opts.connection_limit = kSlots;
  auto server = must_start(opts, [&](HttpRequest&& req, Responder r) {
    if (req.path == "/fast") return r.respond(text(200, "fast"));
    EXPECT_TRUE(r.on_client_gone([&] { ++gone_hooks; }));
    parking.park(std::move(r));  // never answered by the test
  });
  ASSERT_TRUE(server);
  {
    std::vector<std::unique_ptr<RawConn>> conns;
    for (int i = 0; i < kSlots; ++i) {
      conns.push_back(std::make_unique<RawConn>(server->port()));
      ASSERT_TRUE(conns.back()->connected());
      ASSERT_TRUE(conns.back()->send_all("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n"));
    }
    ASSERT_TRUE(wait_until([&] { return parking.size() == kSlots; })) << parking.size() << " parked";
    EXPECT_EQ(server->in_flight(), kSlots);
  }  // every client closes its socket right after sending

  EXPECT_TRUE(wait_until([&] { return server->in_flight() == 0; }, 5s))
      << "suspended requests of clients that hung up must be ended, not kept until respond(); "
      << server->in_flight() << " still in flight";
  EXPECT_EQ(server->clients_gone(), kSlots);
  EXPECT_TRUE(wait_until([&] { return gone_hooks.load() == kSlots; }, 2s))
      << "on_client_gone ran " << gone_hooks.load() << " times";

  const std::string fast = raw_get(server->port(), "/fast");
  EXPECT_EQ(status_line(fast), "HTTP/1.1 200 OK") << "every connection slot must be free again: " << fast;
  std::lock_guard<std::mutex> lock(parking.mu);
  for (auto& r : parking.parked) {
    EXPECT_FALSE(r.pending());
    EXPECT_FALSE(r.on_client_gone([] {})) << "no hook on a request that is over";
    r.respond(text(200, "too late"));  // ignored
  }
}

TEST(HttpHardening, LiveSuspendedClientIsNotSwept) {
  Parking parking;
  auto opts = local_options();
  opts.dead_peer_check_ms = 20;
  auto server = must_start(opts, [&](HttpRequest&&, Responder r) { parking.park(std::move(r)); });
  ASSERT_TRUE(server);
  RawConn c(server->port());
  ASSERT_TRUE(c.send_all("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(wait_until([&] { return parking.size() == 1; }));
  std::this_thread::sleep_for(300ms);  // many sweeps
  EXPECT_EQ(server->clients_gone(), 0);
  {
    std::lock_guard<std::mutex> lock(parking.mu);
    ASSERT_TRUE(parking.parked[0].pending());
    parking.parked[0].respond(text(200, "late"));
  }
  const std::string reply = c.read_until_close();
  EXPECT_EQ(status_line(reply), "HTTP/1.1 200 OK") << reply;
  EXPECT_EQ(body_of(reply), "late");
}

TEST(HttpHardening, LongWaitOutlivesTheIdleTimeout) {
  // The idle timeout (now 15 s by default) is shorter than the longest
  // long-poll (30 s): a suspended request must not be cut by it.
  Parking parking;
  auto opts = local_options();
  opts.connection_timeout_s = 1;
  auto server = must_start(opts, [&](HttpRequest&&, Responder r) { parking.park(std::move(r)); });
  ASSERT_TRUE(server);
  RawConn c(server->port());
  ASSERT_TRUE(c.send_all("GET /wait HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(wait_until([&] { return parking.size() == 1; }));
  std::this_thread::sleep_for(2500ms);
  {
    std::lock_guard<std::mutex> lock(parking.mu);
    parking.parked[0].respond(text(200, "after 2.5 s"));
  }
  const std::string reply = c.read_until_close();
  EXPECT_EQ(status_line(reply), "HTTP/1.1 200 OK") << reply;
  EXPECT_EQ(body_of(reply), "after 2.5 s");
}

TEST(HttpHardening, IdleConnectionIsClosedAfterTheTimeout) {
  auto opts = local_options();
  opts.connection_timeout_s = 1;
  auto server = must_start(opts, [](HttpRequest&&, Responder r) { r.respond(text(200, "x")); });
  ASSERT_TRUE(server);
  RawConn c(server->port());
  ASSERT_TRUE(c.send_all("GET /slo"));  // a request that never completes
  EXPECT_TRUE(c.closed_by_peer(4s)) << "a silent connection must be closed after connection_timeout_s";
}

// ---------------------------------------------------------- NUL in URL

TEST(HttpHardening, EncodedNulInPathOrQueryIs400AndNeverReachesTheHandler) {
  std::atomic<int> calls{0};
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> seen_query;
  auto server = must_start(local_options(), [&](HttpRequest&& req, Responder r) {
    ++calls;
    {
      std::lock_guard<std::mutex> lock(mu);
      seen_query = req.query;
    }
    r.respond(text(200, req.path));
  });
  ASSERT_TRUE(server);
  const std::string kNul =
      R"({"error_code":40006,"message":"the URL contains a NUL byte (%00); NUL is not allowed in a path or query value"})"
      "\n";
  for (const char* target : {"/topics/t%00x/partitions/0", "/topics/t/records?offset=198%00garbage",
                             "/x?a%00b=1", "/%00", "/x?q=%00"}) {
    const std::string reply = raw_get(server->port(), target);
    EXPECT_EQ(status_line(reply), "HTTP/1.1 400 Bad Request") << target << ": " << reply;
    EXPECT_EQ(body_of(reply), kNul) << target;
  }
  EXPECT_EQ(calls.load(), 0) << "a URL with %00 must never reach the handler (it would see it cut short)";

  // A literal "%00" (encoded as %2500) is ordinary text, not a NUL.
  const std::string ok = raw_get(server->port(), "/x?q=%2500");
  EXPECT_EQ(status_line(ok), "HTTP/1.1 200 OK") << ok;
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(seen_query.size(), 1u);
  EXPECT_EQ(seen_query[0].second, "%00");
}

TEST(HttpHardening, RawNulByteInPathOrQueryIs400AndNeverReachesTheHandler) {
  std::atomic<int> calls{0};
  auto server = must_start(local_options(), [&](HttpRequest&& req, Responder r) {
    ++calls;
    r.respond(text(200, req.path));
  });
  ASSERT_TRUE(server);
  using namespace std::string_literals;
  for (const std::string& target : {"/topics/t\0x/partitions/0"s, "/x?offset=198\0garbage"s, "/x?a\0=1"s}) {
    RawConn c(server->port());
    ASSERT_TRUE(c.send_all(fmt::format("GET {} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", target)));
    const std::string reply = c.read_until_close();
    EXPECT_EQ(status_line(reply), "HTTP/1.1 400 Bad Request") << "a raw NUL must not be served: " << reply;
    EXPECT_NE(body_of(reply).find("\"error_code\":40006"), std::string::npos) << reply;
  }
  EXPECT_EQ(calls.load(), 0);
  // Targets without NUL, with the spacing MHD tolerates, are still served whole.
  for (const std::string& line : {"GET /a/b?c=d HTTP/1.1"s, "GET  /a/b?c=d  HTTP/1.1"s, "GET /a%20b HTTP/1.0"s}) {
    RawConn c(server->port());
    ASSERT_TRUE(c.send_all(line + "\r\nHost: t\r\nConnection: close\r\n\r\n"));
    const std::string reply = c.read_until_close();
    EXPECT_NE(status_line(reply).find(" 200 OK"), std::string::npos) << line << ": " << reply;
  }
  EXPECT_EQ(calls.load(), 3);
}

// ------------------------------------------------- per-IP connection limit

TEST(HttpHardening, PerIpConnectionLimitRejectsTheExtraConnection) {
  auto opts = local_options();
  opts.per_ip_connection_limit = 2;
  auto server = must_start(opts, [](HttpRequest&&, Responder r) { r.respond(text(200, "ok")); });
  ASSERT_TRUE(server);
  auto a = std::make_unique<RawConn>(server->port());
  RawConn b(server->port());
  ASSERT_TRUE(a->connected() && b.connected());
  ASSERT_TRUE(a->send_all("GET /a"));  // both connections accepted and idle
  ASSERT_TRUE(b.send_all("GET /b"));
  std::this_thread::sleep_for(100ms);
  const std::string third = raw_get(server->port(), "/c");
  EXPECT_EQ(third, "") << "a third connection from the same IP must be closed unanswered";
  a.reset();
  std::string again;
  EXPECT_TRUE(wait_until([&] {
    again = raw_get(server->port(), "/d");
    return status_line(again) == "HTTP/1.1 200 OK";
  }, 3s)) << "a freed slot must accept the IP again: " << again;
}

// ------------------------------------------------------- claimed bodies

TEST(HttpHardening, ClaimedContentLengthReservesNoMemory) {
  constexpr int kConns = 16;
  constexpr size_t kClaimed = size_t{64} << 20;
  auto opts = local_options();
  opts.max_body_bytes = kClaimed;
  opts.connection_limit = 64;
  auto server = must_start(opts, [](HttpRequest&&, Responder r) { r.respond(text(200, "ok")); });
  ASSERT_TRUE(server);
  const size_t before = mallinfo2().hblkhd;  // bytes in mmap-ed blocks (large allocations)
  std::vector<std::unique_ptr<RawConn>> conns;
  for (int i = 0; i < kConns; ++i) {
    conns.push_back(std::make_unique<RawConn>(server->port()));
    ASSERT_TRUE(conns.back()->send_all(
        fmt::format("POST /c HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", kClaimed)));
  }
  ASSERT_TRUE(wait_until([&] { return server->in_flight() == kConns; }))
      << "headers of every connection parsed; in flight: " << server->in_flight();
  const size_t during = mallinfo2().hblkhd;
  EXPECT_LT(during, before + kClaimed)
      << "idle connections claiming " << kConns << " x 64 MiB bodies made the server map "
      << (during - before) / (1 << 20) << " MiB";
}

}  // namespace
}  // namespace sh::api
