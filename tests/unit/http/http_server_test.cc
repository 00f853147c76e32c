// HttpServer against real HTTP clients (libcurl) on 127.0.0.1, ephemeral ports.
#include "api/http_server.h"

#include <fmt/format.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/exec/thread_slice.h"
#include "core/text/ascii.h"
#include "tests/support/log_capture.h"

namespace sh::api {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
} curl_global;

// ------------------------------------------------------------ tiny client

struct Reply {
  long status = 0;  // 0: no HTTP answer (see error)
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string error;

  const std::string* header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  std::optional<std::string> body;
  bool chunked = false;  // send the body with Transfer-Encoding: chunked
  std::vector<std::string> headers;
  long timeout_ms = 10000;
  curl_off_t max_recv_speed = 0;  // bytes/s; 0 = unlimited
};

// One libcurl easy handle; reusing a Client reuses its keep-alive connection.
class Client {
 public:
  Client() : curl_(curl_easy_init(), &curl_easy_cleanup) {}

  Reply fetch(const ClientRequest& req) {
    CURL* c = curl_.get();
    curl_easy_reset(c);
    Reply reply;
    struct Upload {
      const std::string* data;
      size_t pos = 0;
    } upload{req.body ? &*req.body : nullptr};
    std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> hdrs(nullptr, &curl_slist_free_all);
    auto add_header = [&](const std::string& h) { hdrs.reset(curl_slist_append(hdrs.release(), h.c_str())); };
    for (const auto& h : req.headers) add_header(h);

    curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, req.timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    if (req.max_recv_speed > 0) curl_easy_setopt(c, CURLOPT_MAX_RECV_SPEED_LARGE, req.max_recv_speed);
    if (req.method == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (req.method != "GET") {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    if (req.body) {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      if (req.chunked) {
        add_header("Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_READDATA, &upload);
        curl_easy_setopt(c, CURLOPT_READFUNCTION,
                         +[](char* buf, size_t size, size_t n, void* ud) -> size_t {
                           auto* u = static_cast<Upload*>(ud);
                           size_t take = std::min(size * n, u->data->size() - u->pos);
                           take = std::min<size_t>(take, 1000);  // several chunks
                           std::memcpy(buf, u->data->data() + u->pos, take);
                           u->pos += take;
                           return take;
                         });
      } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body->data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body->size()));
      }
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs.get());
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply.body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, +[](char* p, size_t size, size_t n, void* ud) -> size_t {
      static_cast<std::string*>(ud)->append(p, size * n);
      return size * n;
    });
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &reply.headers);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, +[](char* p, size_t size, size_t n, void* ud) -> size_t {
      std::string line(p, size * n);
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = text::ascii_lowered(line.substr(0, colon));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
        while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
        static_cast<decltype(Reply::headers)*>(ud)->emplace_back(std::move(name), std::move(value));
      }
      return size * n;
    });
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
      reply.error = curl_easy_strerror(rc);
      reply.status = 0;
      return reply;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
    return reply;
  }

 private:
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl_;
};

Reply fetch(const ClientRequest& req) { return Client().fetch(req); }
Reply get(const std::string& url, long timeout_ms = 10000) {
  ClientRequest r;
  r.url = url;
  r.timeout_ms = timeout_ms;
  return fetch(r);
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
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

// Responders a handler parked for later.
struct Parking {
  std::mutex mu;
  std::vector<std::pair<HttpRequest, Responder>> parked;

  void park(HttpRequest&& req, Responder&& r) {
    std::lock_guard<std::mutex> lock(mu);
    parked.emplace_back(std::move(req), std::move(r));
  }
  size_t size() {
    std::lock_guard<std::mutex> lock(mu);
    return parked.size();
  }
  std::vector<std::pair<HttpRequest, Responder>> take() {
    std::lock_guard<std::mutex> lock(mu);
    return std::move(parked);
  }
};

HttpServerOptions local_options(unsigned threads = 2) {
  HttpServerOptions o;
  o.listen_host = "127.0.0.1";
  o.port = 0;
  o.threads = threads;
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

std::string base_url(const HttpServer& s) { return fmt::format("http://127.0.0.1:{}", s.port()); }

// ------------------------------------------------------------------ tests

TEST(HttpServer, PassesPathQueryHeadersAndRemoteAddress) {
  std::mutex mu;
  std::optional<HttpRequest> seen;
  auto server = must_start(local_options(), [&](HttpRequest&& req, Responder r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      seen = req;
    }
    r.respond(text(200, "ok").with_header("X-Served-By", "unit-test"));
  });
  ASSERT_TRUE(server);
  ASSERT_NE(server->port(), 0) << "port 0 must be replaced by the bound port";

  ClientRequest req;
  req.url = base_url(*server) + "/topics/a%20b/records?a=1&b=x%20y&c&a=2&d=";
  req.headers = {"X-Custom-Thing: Value One"};
  Reply reply = fetch(req);
  ASSERT_EQ(reply.status, 200) << reply.error;
  EXPECT_EQ(reply.body, "ok");
  ASSERT_TRUE(reply.header("x-served-by")) << "extra response header missing";
  EXPECT_EQ(*reply.header("x-served-by"), "unit-test");
  ASSERT_TRUE(reply.header("content-type"));
  EXPECT_EQ(*reply.header("content-type"), "text/plain");

  std::lock_guard<std::mutex> lock(mu);
  ASSERT_TRUE(seen.has_value()) << "handler was not called";
  EXPECT_EQ(seen->method, "GET");
  EXPECT_EQ(seen->path, "/topics/a b/records") << "path must be percent-decoded and exclude the query";
  using KV = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(seen->query, (KV{{"a", "1"}, {"b", "x y"}, {"c", ""}, {"a", "2"}, {"d", ""}}))
      << "query args must keep arrival order, repeats, decoding, and '' for a missing value";
  ASSERT_NE(seen->header("X-CUSTOM-THING"), nullptr) << "header() must be case-insensitive";
  EXPECT_EQ(*seen->header("x-custom-thing"), "Value One");
  for (const auto& [k, v] : seen->headers) {
    for (char c : k) EXPECT_FALSE(c >= 'A' && c <= 'Z') << "header name not lower-cased: " << k;
  }
  EXPECT_NE(seen->header("host"), nullptr);
  EXPECT_EQ(seen->header("x-absent"), nullptr);
  EXPECT_EQ(seen->remote_addr, "127.0.0.1");
}

TEST(HttpServer, DeliversPostBodyByteExact) {
  auto server = must_start(local_options(), [](HttpRequest&& req, Responder r) {
    r.respond(text(200, req.method + ":" + req.body));
  });
  ASSERT_TRUE(server);
  std::string body;
  for (int i = 0; i < 300000; ++i) body.push_back(static_cast<char>(i * 7));  // includes NULs
  ClientRequest req;
  req.method = "POST";
  req.url = base_url(*server) + "/consumer-groups/g/offsets";
  req.body = body;
  Reply reply = fetch(req);
  ASSERT_EQ(reply.status, 200) << reply.error;
  EXPECT_TRUE(reply.body == "POST:" + body) << "echoed body differs; got " << reply.body.size() << " bytes";
}

TEST(HttpServer, RejectsBodiesOverTheLimitWith413) {
  std::atomic<int> calls{0};
  auto opts = local_options();
  opts.max_body_bytes = 4096;
  auto server = must_start(opts, [&](HttpRequest&& req, Responder r) {
    ++calls;
    r.respond(text(200, std::to_string(req.body.size())));
  });
  ASSERT_TRUE(server);
  const std::string url = base_url(*server) + "/x";
  const std::string kTooLarge = R"({"error_code":41300,"message":"request body too large"})" "\n";

  ClientRequest at_limit{"POST", url, std::string(4096, 'a')};
  Reply ok = fetch(at_limit);
  EXPECT_EQ(ok.status, 200) << ok.error;
  EXPECT_EQ(ok.body, "4096");

  ClientRequest over{"POST", url, std::string(4097, 'b')};
  Reply r1 = fetch(over);
  EXPECT_EQ(r1.status, 413) << "Content-Length over the limit: " << r1.error;
  EXPECT_EQ(r1.body, kTooLarge);
  ASSERT_TRUE(r1.header("content-type"));
  EXPECT_EQ(*r1.header("content-type"), "application/json");

  ClientRequest chunked{"POST", url, std::string(10000, 'c')};
  chunked.chunked = true;
  Reply r2 = fetch(chunked);
  EXPECT_EQ(r2.status, 413) << "chunked body over the limit: " << r2.error;
  EXPECT_EQ(r2.body, kTooLarge);

  ClientRequest chunked_small{"POST", url, std::string(3000, 'd')};
  chunked_small.chunked = true;
  Reply r3 = fetch(chunked_small);
  EXPECT_EQ(r3.status, 200) << r3.error;
  EXPECT_EQ(r3.body, "3000");

  EXPECT_EQ(calls.load(), 2) << "the handler must not see oversized requests";
  EXPECT_TRUE(wait_until([&] { return server->in_flight() == 0; })) << "requests left in flight";
}

TEST(HttpServer, ThrowingHandlerGives500AndServerKeepsServing) {
  auto server = must_start(local_options(), [](HttpRequest&& req, Responder r) {
    if (req.path == "/std") throw std::runtime_error("boom");
    if (req.path == "/int") throw 42;
    if (req.path == "/after-respond") {
      r.respond(text(202, "answered first"));
      throw std::runtime_error("late boom");
    }
    r.respond(text(200, "fine"));
  });
  ASSERT_TRUE(server);
  for (const char* path : {"/std", "/int"}) {
    Reply reply = get(base_url(*server) + path);
    EXPECT_EQ(reply.status, 500) << path << ": " << reply.error;
    EXPECT_NE(reply.body.find("\"error_code\":50000"), std::string::npos) << path << ": " << reply.body;
  }
  Reply answered = get(base_url(*server) + "/after-respond");
  EXPECT_EQ(answered.status, 202) << "an answer given before the throw must be kept";
  EXPECT_EQ(answered.body, "answered first");
  Reply fine = get(base_url(*server) + "/ok");
  EXPECT_EQ(fine.status, 200) << fine.error;
}

TEST(HttpServer, DroppedResponderGives500) {
  auto server = must_start(local_options(), [](HttpRequest&&, Responder) {});
  ASSERT_TRUE(server);
  Reply reply = get(base_url(*server) + "/forgot");
  EXPECT_EQ(reply.status, 500) << reply.error;
  EXPECT_EQ(reply.body, R"({"error_code":50000,"message":"internal error: request dropped"})" "\n");
}

TEST(HttpServer, HeadSeesMethodAndGetsHeadersWithoutBody) {
  std::atomic<bool> saw_head{false};
  auto server = must_start(local_options(), [&](HttpRequest&& req, Responder r) {
    if (req.method == "HEAD") saw_head = true;
    r.respond(text(200, "hello"));
  });
  ASSERT_TRUE(server);
  ClientRequest req;
  req.method = "HEAD";
  req.url = base_url(*server) + "/healthz";
  Reply reply = fetch(req);
  EXPECT_EQ(reply.status, 200) << reply.error;
  EXPECT_TRUE(saw_head.load()) << "handler must see method HEAD";
  EXPECT_TRUE(reply.body.empty());
  ASSERT_TRUE(reply.header("content-length"));
  EXPECT_EQ(*reply.header("content-length"), "5");
}

TEST(HttpServer, LargeResponseBodyArrivesIntact) {
  std::string big(8 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  auto server = must_start(local_options(), [&](HttpRequest&&, Responder r) { r.respond(text(200, big)); });
  ASSERT_TRUE(server);
  Reply reply = get(base_url(*server) + "/big");
  EXPECT_EQ(reply.status, 200) << reply.error;
  EXPECT_EQ(reply.body.size(), big.size());
  EXPECT_TRUE(reply.body == big) << "8 MiB body corrupted";
}

TEST(HttpServer, DeferredRespondFromAnotherThread) {
  Parking parking;
  auto server = must_start(local_options(), [&](HttpRequest&& req, Responder r) {
    parking.park(std::move(req), std::move(r));
  });
  ASSERT_TRUE(server);
  std::thread answerer([&] {
    ASSERT_TRUE(wait_until([&] { return parking.size() == 1; })) << "handler never parked the request";
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(server->in_flight(), 1) << "a suspended request counts as in flight";
    auto parked = parking.take();
    EXPECT_TRUE(parked[0].second.pending());
    parked[0].second.respond(text(200, "later"));
    EXPECT_FALSE(parked[0].second.pending()) << "pending() must be false after respond()";
  });
  auto t0 = Clock::now();
  Reply reply = get(base_url(*server) + "/poll");
  auto elapsed = Clock::now() - t0;
  answerer.join();
  EXPECT_EQ(reply.status, 200) << reply.error;
  EXPECT_EQ(reply.body, "later");
  EXPECT_GE(elapsed, 200ms);
  EXPECT_TRUE(wait_until([&] { return server->in_flight() == 0; }));
}

TEST(HttpServer, SuspendedRequestsHoldNoWorkerThread) {
  constexpr int kWaiting = 200;
  Parking parking;
  auto opts = local_options(/*threads=*/2);
  auto server = must_start(opts, [&](HttpRequest&& req, Responder r) {
    if (req.path == "/fast") return r.respond(text(200, "fast"));
    parking.park(std::move(req), std::move(r));
  });
  ASSERT_TRUE(server);
  std::vector<Reply> replies(kWaiting);
  std::vector<std::thread> clients;
  for (int i = 0; i < kWaiting; ++i) {
    clients.emplace_back([&, i] { replies[i] = get(base_url(*server) + fmt::format("/slow?id={}", i), 30000); });
  }
  bool all_parked = wait_until([&] { return parking.size() == kWaiting; }, 20s);
  EXPECT_TRUE(all_parked) << "only " << parking.size() << " of " << kWaiting << " requests reached the handler";
  EXPECT_EQ(server->in_flight(), kWaiting);

  auto t0 = Clock::now();
  Reply fast = get(base_url(*server) + "/fast", 5000);
  EXPECT_EQ(fast.status, 200) << "a fresh request must be served while " << kWaiting
                              << " are suspended on 2 threads: " << fast.error;
  EXPECT_LT(Clock::now() - t0, 2s);

  std::thread answerer([&] {
    for (auto& [req, r] : parking.take()) r.respond(text(200, "id=" + req.query.at(0).second));
  });
  answerer.join();
  for (auto& c : clients) c.join();
  for (int i = 0; i < kWaiting; ++i) {
    EXPECT_EQ(replies[i].status, 200) << "request " << i << ": " << replies[i].error;
    EXPECT_EQ(replies[i].body, fmt::format("id={}", i));
  }
  EXPECT_TRUE(wait_until([&] { return server->in_flight() == 0; }));
}

// A worker thread answers as soon as it gets the Responder, while the handler
// may still be running: the answer must arrive exactly once in every ordering.
TEST(HttpServer, RespondRacingHandlerReturn) {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<std::string, Responder>> queue;
  std::atomic<int> answered_while_handling{0};
  bool quit = false;
  std::thread worker([&] {
    std::mt19937 rng(7);
    for (;;) {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return quit || !queue.empty(); });
      if (quit && queue.empty()) return;
      auto [id, r] = std::move(queue.front());
      queue.pop_front();
      lock.unlock();
      if (rng() % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
      r.respond(text(200, id));
      cv.notify_all();
    }
  });
  auto server = must_start(local_options(), [&](HttpRequest&& req, Responder r) {
    std::string id = req.query.empty() ? "" : req.query[0].second;
    int mode = std::stoi(id) % 3;
    std::unique_lock<std::mutex> lock(mu);
    queue.emplace_back(id, std::move(r));
    cv.notify_all();
    if (mode == 0) {
      // Deterministically answer while the handler still runs.
      cv.wait(lock, [&] { return queue.empty(); });
      ++answered_while_handling;
    } else if (mode == 1) {
      lock.unlock();
      std::this_thread::yield();
    }
  });
  ASSERT_TRUE(server);
  Client client;  // keep-alive: all requests on one connection
  int failures = 0;
  for (int i = 0; i < 1000 && failures < 5; ++i) {
    ClientRequest req;
    req.url = base_url(*server) + fmt::format("/race?id={}", i);
    Reply reply = client.fetch(req);
    if (reply.status != 200 || reply.body != std::to_string(i)) {
      ++failures;
      ADD_FAILURE() << "iteration " << i << ": status " << reply.status << " body '" << reply.body << "' "
                    << reply.error;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    quit = true;
  }
  cv.notify_all();
  worker.join();
  EXPECT_GE(answered_while_handling.load(), 300);
  EXPECT_TRUE(wait_until([&] { return server->in_flight() == 0; }));
}

TEST(HttpServer, QuiesceAndStopAnswerOrRejectDeferredRequests) {
  constexpr int kWaiting = 6;
  Parking parking;
  auto server = must_start(local_options(), [&](HttpRequest&& req, Responder r) {
    parking.park(std::move(req), std::move(r));
  });
  ASSERT_TRUE(server);
  const std::string url = base_url(*server);
  std::vector<Reply> replies(kWaiting);
  std::vector<std::thread> clients;
  for (int i = 0; i < kWaiting; ++i) {
    clients.emplace_back([&, i] { replies[i] = get(url + fmt::format("/wait?id={}", i), 20000); });
  }
  ASSERT_TRUE(wait_until([&] { return parking.size() == kWaiting; })) << parking.size() << " parked";
  auto parked = parking.take();

  server->quiesce();
  Reply refused = get(url + "/new", 300);
  EXPECT_EQ(refused.status, 0) << "a quiesced server must not serve new connections";

  // Half of them are answered while stop() waits; the rest get 503.
  std::thread answerer([&] {
    std::this_thread::sleep_for(100ms);
    for (int i = 0; i < kWaiting / 2; ++i) parked[i].second.respond(text(200, "done"));
  });
  auto t0 = Clock::now();
  server->stop(/*timeout_ms=*/500);
  auto stop_took = Clock::now() - t0;
  answerer.join();
  for (auto& c : clients) c.join();
  EXPECT_GE(stop_took, 400ms) << "stop() must wait for in-flight requests up to the timeout";
  EXPECT_LT(stop_took, 5s) << "stop() must return after its timeout";

  int ok = 0, unavailable = 0;
  for (int i = 0; i < kWaiting; ++i) {
    if (replies[i].status == 200) {
      ++ok;
    } else if (replies[i].status == 503) {
      ++unavailable;
      EXPECT_EQ(replies[i].body, R"({"error_code":50301,"message":"server shutting down"})" "\n");
    } else {
      ADD_FAILURE() << "request " << i << " got status " << replies[i].status << " " << replies[i].error;
    }
  }
  EXPECT_EQ(ok, kWaiting / 2);
  EXPECT_EQ(unavailable, kWaiting - kWaiting / 2);
  EXPECT_EQ(server->in_flight(), 0);
  for (auto& [req, r] : parked) {
    EXPECT_FALSE(r.pending()) << "responders must not be pending after stop()";
    r.respond(text(200, "too late"));  // harmless
  }
}

TEST(HttpServer, ClientGoneWhileSuspended) {
  Parking parking;
  auto server = must_start(local_options(), [&](HttpRequest&& req, Responder r) {
    if (req.path == "/fast") return r.respond(text(200, "fast"));
    parking.park(std::move(req), std::move(r));
  });
  ASSERT_TRUE(server);
  Reply reply = get(base_url(*server) + "/poll", /*timeout_ms=*/300);
  EXPECT_EQ(reply.status, 0) << "client should have timed out";
  ASSERT_EQ(parking.size(), 1u);
  auto parked = parking.take();
  Responder& r = parked[0].second;
  EXPECT_TRUE(wait_until([&] { return !r.pending(); }, 3s)) << "pending() should notice the client left";
  EXPECT_TRUE(wait_until([&] { return server->in_flight() == 0; }, 3s))
      << "the server's dead-peer sweep must end the request without waiting for respond()";
  r.respond(text(200, "nobody listens"));  // ignored
  Reply after = get(base_url(*server) + "/fast");
  EXPECT_EQ(after.status, 200) << "server must keep serving: " << after.error;
}

TEST(HttpServer, ResponderMayOutliveServer) {
  Parking parking;
  auto server = must_start(local_options(), [&](HttpRequest&& req, Responder r) {
    parking.park(std::move(req), std::move(r));
  });
  ASSERT_TRUE(server);
  Reply reply;
  std::thread client([&] { reply = get(base_url(*server) + "/poll"); });
  ASSERT_TRUE(wait_until([&] { return parking.size() == 1; }));
  auto parked = parking.take();
  server->stop(/*timeout_ms=*/100);  // the waiting client gets 503
  server.reset();
  client.join();
  EXPECT_EQ(reply.status, 503) << reply.error;
  EXPECT_FALSE(parked[0].second.pending());
  parked[0].second.respond(text(200, "after the server is gone"));
  parked.clear();
}

TEST(HttpServer, ListensOnIpv6Loopback) {
  {
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (fd >= 0) ::close(fd);
    if (!ok) GTEST_SKIP() << "kernel has no IPv6 loopback (bind to [::1] failed)";
  }
  std::string remote;
  auto opts = local_options();
  opts.listen_host = "::1";
  auto server = must_start(opts, [&](HttpRequest&& req, Responder r) {
    remote = req.remote_addr;
    r.respond(text(200, "v6"));
  });
  ASSERT_TRUE(server);
  Reply reply = get("http://[::1]:" + std::to_string(server->port()) + "/");
  EXPECT_EQ(reply.status, 200) << reply.error;
  EXPECT_EQ(reply.body, "v6");
  EXPECT_EQ(remote, "::1");
}

TEST(HttpServer, PortInUseIsUnavailableWithClearMessage) {
  auto first = must_start(local_options(), [](HttpRequest&&, Responder r) { r.respond(text(200, "")); });
  ASSERT_TRUE(first);
  auto opts = local_options();
  opts.port = first->port();
  auto second = HttpServer::start(opts, [](HttpRequest&&, Responder r) { r.respond(text(200, "")); });
  ASSERT_FALSE(second.ok()) << "two servers bound the same port";
  EXPECT_EQ(second.error().code(), Errc::kUnavailable);
  EXPECT_EQ(second.error().message(),
            "cannot listen on 127.0.0.1:" + std::to_string(first->port()) + ": address in use");
}

TEST(HttpServer, RejectsBadOptions) {
  auto opts = local_options();
  opts.listen_host = "localhost";
  auto bad_host = HttpServer::start(opts, [](HttpRequest&&, Responder) {});
  ASSERT_FALSE(bad_host.ok());
  EXPECT_EQ(bad_host.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(bad_host.error().message().find("localhost"), std::string::npos) << bad_host.error().message();

  opts = local_options(0);
  auto no_threads = HttpServer::start(opts, [](HttpRequest&&, Responder) {});
  ASSERT_FALSE(no_threads.ok());
  EXPECT_EQ(no_threads.error().code(), Errc::kInvalidArgument);
}

TEST(HttpServer, OneThreadStartsWithoutAWarning) {
  // A pool size of 1 makes libmicrohttpd log a warning on every start; one
  // thread must be asked for as its internal thread, with nothing in the log.
  sh::testing::LogCapture logs;
  auto level = spdlog::default_logger()->level();
  spdlog::default_logger()->set_level(spdlog::level::debug);
  {
    auto server = must_start(local_options(/*threads=*/1), [](HttpRequest&&, Responder r) {
      r.respond(text(200, "one"));
    });
    ASSERT_TRUE(server);
    Reply reply = get(base_url(*server) + "/x");
    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.body, "one");
  }
  spdlog::default_logger()->set_level(level);
  const std::string text = logs.text();
  EXPECT_NE(text.find("with 1 threads"), std::string::npos) << "the capture saw no start line:\n" << text;
  EXPECT_EQ(text.find("libmicrohttpd"), std::string::npos) << text;
  EXPECT_EQ(text.find("warning"), std::string::npos) << text;
}

TEST(HttpServer, ShortSliceIsAskedForOnTheServersThreads) {
  // What the handler sees on the server's own thread: the slice it asked for.
  bool kernel_takes_slices = false;
  std::thread([&] { kernel_takes_slices = sh::exec::request_short_slice(std::chrono::microseconds(300)); }).join();
  if (!kernel_takes_slices) GTEST_SKIP() << "this kernel has no custom scheduler slices (Linux < 6.12)";
  for (unsigned slice_us : {0u, 300u}) {
    auto opts = local_options(/*threads=*/1);
    opts.short_slice_us = slice_us;
    auto server = must_start(opts, [](HttpRequest&&, Responder r) {
      auto slice = sh::exec::current_slice();
      r.respond(text(200, slice ? std::to_string(slice->count()) : "none"));
    });
    ASSERT_TRUE(server);
    for (int i = 0; i < 2; ++i) {  // the first request asks; later ones keep it
      Reply reply = get(base_url(*server) + "/slice");
      ASSERT_EQ(reply.status, 200);
      if (slice_us > 0) {
        EXPECT_EQ(reply.body, "300") << "request " << i;
      } else {
        EXPECT_NE(reply.body, "300") << "no short slice unless asked for";
      }
    }
  }
}

// ---------------------------------------------------------------- streams

HttpResponse stream_response(std::shared_ptr<ResponseStream> stream) {
  HttpResponse r;
  r.content_type = "application/x-ndjson";
  r.stream = std::move(stream);
  return r;
}

// The queued bytes of a stream: a part is freed as soon as it is sent (a stream
// holds about what is queued, not its largest backlog), small writes join the
// last part, and bytes come out whole and in order across parts.
TEST(HttpServerStream, QueuedPartsAreFreedAsTheyAreSentAndSmallWritesJoin) {
  detail::StreamState ss;
  const std::string a(32 << 10, 'a'), b(32 << 10, 'b');
  ss.append_locked(a, false);
  ss.append_locked(b, false);
  ss.append_locked(": heartbeat\n", false);  // joins neither 32 KiB part: a part of its own
  ss.append_locked(": heartbeat\n", false);  // joins the small part
  EXPECT_EQ(ss.parts.size(), 3u);
  EXPECT_EQ(ss.queued_locked(), a.size() + b.size() + 24);

  ss.low_watermark = 16 << 10;
  bool drained = false;
  ss.drain = [&] { drained = true; };
  std::string out(40 << 10, '\0');
  std::function<void()> drain;
  ASSERT_EQ(ss.take_locked(out.data(), out.size(), &drain), out.size());
  EXPECT_EQ(out, a + b.substr(0, (40 << 10) - a.size()));
  EXPECT_EQ(ss.parts.size(), 2u) << "the first part was sent whole and must be gone";
  EXPECT_EQ(ss.queued_locked(), b.size() - (8 << 10) + 24);
  EXPECT_FALSE(drain) << "still above the low watermark";

  std::string rest(64 << 10, '\0');
  const size_t n = ss.take_locked(rest.data(), rest.size(), &drain);
  rest.resize(n);
  EXPECT_EQ(rest, b.substr(8 << 10) + ": heartbeat\n: heartbeat\n");
  EXPECT_TRUE(ss.parts.empty());
  EXPECT_EQ(ss.queued_locked(), 0u);
  ASSERT_TRUE(drain) << "falling to the low watermark returns the drain callback";
  drain();
  EXPECT_TRUE(drained);
}

TEST(HttpServerStream, ChunkedBodyFedFromAnotherThreadHoldsNoWorkerWhileIdle) {
  std::mutex mu;
  std::condition_variable cv;
  bool go_on = false;
  std::thread producer;
  auto server = must_start(local_options(/*threads=*/1), [&](HttpRequest&& req, Responder r) {
    if (req.path == "/fast") return r.respond(text(200, "fast"));
    auto stream = std::make_shared<ResponseStream>();
    EXPECT_TRUE(stream->write("line 0\n")) << "writing before respond() must be allowed";
    r.respond(stream_response(stream));
    producer = std::thread([&, stream] {
      for (int i = 1; i < 50; ++i) {
        if (i == 10) {  // go idle until the test has used the only worker thread
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return go_on; });
        }
        EXPECT_TRUE(stream->write("line " + std::to_string(i) + "\n")) << "line " << i;
        if (i % 7 == 0) std::this_thread::sleep_for(5ms);
      }
      stream->finish();
      EXPECT_FALSE(stream->write("after finish")) << "write() after finish() must be refused";
    });
  });
  ASSERT_TRUE(server);
  Reply reply;
  std::thread client([&] { reply = get(base_url(*server) + "/stream"); });
  ASSERT_TRUE(wait_until([&] { return server->in_flight() == 1; }));
  std::this_thread::sleep_for(50ms);
  Reply fast = get(base_url(*server) + "/fast", 3000);
  EXPECT_EQ(fast.status, 200) << "an idle stream must not hold the single worker thread: " << fast.error;
  {
    std::lock_guard<std::mutex> lock(mu);
    go_on = true;
  }
  cv.notify_all();
  client.join();
  producer.join();
  ASSERT_EQ(reply.status, 200) << reply.error;
  std::string expected;
  for (int i = 0; i < 50; ++i) expected += "line " + std::to_string(i) + "\n";
  EXPECT_EQ(reply.body, expected);
  ASSERT_TRUE(reply.header("transfer-encoding"));
  EXPECT_EQ(*reply.header("transfer-encoding"), "chunked");
  ASSERT_TRUE(reply.header("content-type"));
  EXPECT_EQ(*reply.header("content-type"), "application/x-ndjson");
  EXPECT_TRUE(wait_until([&] { return server->in_flight() == 0; }));
}

TEST(HttpServerStream, DrainCallbackGivesBackpressure) {
  constexpr size_t kTotal = 16 << 20, kPiece = 64 << 10, kHigh = 1 << 20, kLow = 256 << 10;
  std::thread producer;
  std::atomic<size_t> max_buffered{0};
  std::atomic<bool> stalled{false};
  auto server = must_start(local_options(), [&](HttpRequest&&, Responder r) {
    auto stream = std::make_shared<ResponseStream>();
    r.respond(stream_response(stream));
    producer = std::thread([&, stream] {
      // Shared with the drain callback, which may run on a server thread
      // after this frame is gone.
      struct Signal {
        std::mutex mu;
        std::condition_variable cv;
        bool drained = false;
      };
      auto sig = std::make_shared<Signal>();
      std::mutex& mu = sig->mu;
      std::condition_variable& cv = sig->cv;
      bool& drained = sig->drained;
      stream->on_drain(kLow, [sig] {
        std::lock_guard<std::mutex> lock(sig->mu);
        sig->drained = true;
        sig->cv.notify_all();
      });
      std::string piece(kPiece, '\0');
      size_t sent = 0;
      while (sent < kTotal) {
        {
          std::lock_guard<std::mutex> lock(mu);
          drained = false;
        }
        if (stream->buffered() > kHigh) {
          std::unique_lock<std::mutex> lock(mu);
          if (!cv.wait_for(lock, 10s, [&] { return drained; })) {
            stalled = true;
            break;
          }
          continue;
        }
        for (size_t i = 0; i < kPiece; ++i) piece[i] = static_cast<char>('a' + (sent + i) % 26);
        if (!stream->write(piece)) break;
        sent += kPiece;
        max_buffered = std::max(max_buffered.load(), stream->buffered());
      }
      stream->finish();
    });
  });
  ASSERT_TRUE(server);
  ClientRequest req;
  req.url = base_url(*server) + "/stream";
  req.max_recv_speed = 32 << 20;  // a slow reader: ~0.5 s for 16 MiB
  req.timeout_ms = 30000;
  Reply reply = fetch(req);
  producer.join();
  EXPECT_FALSE(stalled.load()) << "drain callback never fired while the producer waited";
  ASSERT_EQ(reply.status, 200) << reply.error;
  ASSERT_EQ(reply.body.size(), kTotal);
  bool pattern_ok = true;
  for (size_t i = 0; i < kTotal && pattern_ok; ++i) pattern_ok = reply.body[i] == static_cast<char>('a' + i % 26);
  EXPECT_TRUE(pattern_ok) << "streamed bytes corrupted or reordered";
  EXPECT_LE(max_buffered.load(), kHigh + kPiece) << "producer outran the backpressure limit";
}

TEST(HttpServerStream, StopEndsAnOpenStream) {
  std::shared_ptr<ResponseStream> stream;
  std::mutex mu;
  auto server = must_start(local_options(), [&](HttpRequest&&, Responder r) {
    auto s = std::make_shared<ResponseStream>();
    s->write("partial\n");
    {
      std::lock_guard<std::mutex> lock(mu);
      stream = s;
    }
    r.respond(stream_response(s));
  });
  ASSERT_TRUE(server);
  Reply reply;
  std::thread client([&] { reply = get(base_url(*server) + "/follow"); });
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard<std::mutex> lock(mu);
    return stream && stream->buffered() == 0;
  })) << "the first bytes were never sent";
  std::this_thread::sleep_for(20ms);
  auto t0 = Clock::now();
  server->stop(/*timeout_ms=*/100);
  EXPECT_LT(Clock::now() - t0, 3s) << "stop() must not wait for an endless stream";
  client.join();
  EXPECT_EQ(reply.body, "partial\n");
  EXPECT_FALSE(reply.error.empty()) << "the client must see the stream end abnormally";
  EXPECT_FALSE(stream->open());
  EXPECT_FALSE(stream->write("more")) << "write() after stop must be refused";
  EXPECT_EQ(server->in_flight(), 0);
}

TEST(HttpServerStream, ClientGoneIsNoticedAndCleanedUp) {
  std::shared_ptr<ResponseStream> stream;
  std::mutex mu;
  std::atomic<int> drain_calls{0};
  auto server = must_start(local_options(), [&](HttpRequest&&, Responder r) {
    auto s = std::make_shared<ResponseStream>();
    s->on_drain(0, [&] { ++drain_calls; });
    {
      std::lock_guard<std::mutex> lock(mu);
      stream = s;
    }
    r.respond(stream_response(s));
  });
  ASSERT_TRUE(server);
  Reply reply = get(base_url(*server) + "/follow", /*timeout_ms=*/300);
  EXPECT_EQ(reply.status, 0) << "the client should have given up";
  std::shared_ptr<ResponseStream> s;
  {
    std::lock_guard<std::mutex> lock(mu);
    s = stream;
  }
  ASSERT_TRUE(s);
  EXPECT_TRUE(wait_until([&] { return !s->open(); }, 3s)) << "open() should notice the client left";
  s->write("into the void\n");  // wakes the connection; MHD then finds the socket closed
  s->finish();
  EXPECT_TRUE(wait_until([&] { return server->in_flight() == 0; }, 5s)) << "stream request never completed";
  EXPECT_TRUE(wait_until([&] { return drain_calls.load() >= 1; }, 1s)) << "drain callback not called at close";
  EXPECT_FALSE(s->write("x"));
}

}  // namespace
}  // namespace sh::api
