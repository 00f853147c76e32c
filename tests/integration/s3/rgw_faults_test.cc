// The real `streamhouse` binary while the real Ceph RGW fails under it:
//   - the gateway is killed under load (connection refused) and started again;
//   - the gateway is frozen (SIGSTOP: connections are accepted, no byte comes back);
//   - a segment object is replaced behind the service's back between two reads;
//   - block answers are cut half-way through their body (reset or closed) by a
//     TCP proxy between the service and the shared gateway.
// What a client sees (status, JSON body, time), what /readyz says, what /metrics
// counts, and that the same process serves again once the store is back.
//
// Stopping the shared gateway (s3_rgw_start, port 18380) would break the tests
// running beside this one, so the stop/freeze tests start their own radosgw
// process on the fixture's cluster (same monitor and OSD, so the same buckets
// and objects) on a free port, and kill only that process. The kernel kills it
// too if this test process dies (PR_SET_PDEATHSIG).
// Environment: S3_ENDPOINT, S3_ACCESS, S3_SECRET, S3_BUCKET, RGW_STATE (the
// fixture's state directory, holding ceph.conf); STREAMHOUSE_BIN.
#include <poll.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <mutex>
#include <random>

#include <nlohmann/json.hpp>

#include "core/storage/s3/s3_object_store.h"
#include "tests/integration/s3/serve_harness.h"

namespace sh::s3 {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int64_t ms_since(SteadyClock::time_point t0) {
  return std::chrono::duration_cast<milliseconds>(SteadyClock::now() - t0).count();
}

// A radosgw process of our own on the fixture's cluster. Start/kill/freeze act on
// the one PID this object started.
class PrivateGateway {
 public:
  PrivateGateway() : port_(free_port()), name_(fmt::format("client.rgw.faults-{}", getpid())) {}
  ~PrivateGateway() { kill_now(); }
  PrivateGateway(const PrivateGateway&) = delete;
  PrivateGateway& operator=(const PrivateGateway&) = delete;

  std::string endpoint() const { return fmt::format("http://127.0.0.1:{}", port_); }
  int port() const { return port_; }

  // Starts radosgw on port() and waits until it answers HTTP.
  bool start(int wait_ms = 20000) {
    const std::string state = env("RGW_STATE");
    const std::string out = fmt::format("{}/log/{}.out", state, name_);
    std::vector<std::string> args = {
        "radosgw", "-c", state + "/ceph.conf", "-f", "-n", name_,
        fmt::format("--rgw_frontends=beast endpoint=127.0.0.1:{} tcp_nodelay=1", port_),
        "--ms_mon_client_mode=crc", fmt::format("--rgw_data={}/rgw-{}", state, getpid()),
        "--rgw_thread_pool_size=16", "--rgw_enable_usage_log=false"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      // Child: only async-signal-safe calls until exec.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      int null = open("/dev/null", O_RDONLY);
      if (null >= 0) dup2(null, 0);
      execvp("radosgw", argv.data());
      _exit(127);
    }
    if (pid_ < 0) return false;
    const auto until = SteadyClock::now() + milliseconds(wait_ms);
    CurlTransport probe{CurlTransportOptions{}};
    while (SteadyClock::now() < until) {
      TransportRequest r;
      r.scheme = "http";
      r.host = "127.0.0.1";
      r.port = port_;
      r.path = root_path_;  // not a literal: g++ 12 -O3 warns (-Wrestrict) on `= "/"` here
      r.set_header("Host", r.host_header());
      SendOptions so;
      so.timeout_ms = 1000;
      if (auto resp = probe.send(r, so); resp.ok() && resp->status > 0) return true;
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }
  // SIGKILL and reap: the port refuses connections once this returns.
  void kill_now() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGKILL);
    wait_exit(pid_);
    pid_ = -1;
  }
  void freeze() { ::kill(pid_, SIGSTOP); }
  void thaw() { ::kill(pid_, SIGCONT); }
  std::string log() const {
    return read_file(fmt::format("{}/log/{}.out", env("RGW_STATE"), name_));
  }

 private:
  int port_;
  std::string name_;
  pid_t pid_ = -1;
  const std::string root_path_ = "/";
};

// A TCP proxy in front of the real gateway that cuts the answers to ranged GETs
// of a segment block (Range: bytes=N-M) half-way through their body, while
// `cuts` is positive (one cut per answer): the status line, the headers and half
// the body reach the client, then the connection is reset (RST) or closed (FIN).
// Everything else passes through untouched; the signature covers the Host header
// the client sent, so the gateway still accepts it.
class CuttingProxy {
 public:
  enum class Cut { kReset, kClose };

  explicit CuttingProxy(int upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen(listen_fd_, 64);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~CuttingProxy() {
    stop_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    close(listen_fd_);
    acceptor_.join();
    std::lock_guard lock(mu_);
    for (auto& t : pipes_) t.join();
  }
  CuttingProxy(const CuttingProxy&) = delete;
  CuttingProxy& operator=(const CuttingProxy&) = delete;

  std::string endpoint() const { return fmt::format("http://127.0.0.1:{}", port_); }
  // The next `n` block answers are cut (`how`).
  void cut_next(int n, Cut how) {
    how_ = how;
    cuts_ = n;
  }
  int cuts_done() const { return done_.load(); }

 private:
  void accept_loop() {
    while (!stop_) {
      int client = accept(listen_fd_, nullptr, nullptr);
      if (client < 0) {
        if (stop_) return;
        continue;
      }
      std::lock_guard lock(mu_);
      pipes_.emplace_back([this, client] { pipe(client); });
    }
  }

  static bool send_all(int fd, const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  static bool is_block_request(std::string_view chunk) {
    std::string lower(chunk);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    auto at = lower.find("\r\nrange: bytes=");
    return lower.rfind("get ", 0) == 0 && at != std::string::npos &&
           std::isdigit(static_cast<unsigned char>(lower[at + 15]));
  }

  void pipe(int client) {
    int upstream = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(upstream_port_));
    if (connect(upstream, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      close(upstream);
      close(client);
      return;
    }
    bool cut_this_answer = false;  // the request in flight on this connection is to be cut
    std::string answer;            // bytes of that answer held back so far
    char buf[64 * 1024];
    pollfd fds[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
    while (!stop_) {
      if (poll(fds, 2, 200) < 0) break;
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(client, buf, sizeof buf, 0);
        if (n <= 0) break;
        if (is_block_request(std::string_view(buf, static_cast<size_t>(n)))) {
          int left = cuts_.load();
          while (left > 0 && !cuts_.compare_exchange_weak(left, left - 1)) {
          }
          cut_this_answer = left > 0;
          answer.clear();
        }
        if (!send_all(upstream, buf, static_cast<size_t>(n))) break;
      }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(upstream, buf, sizeof buf, 0);
        if (n <= 0) break;
        if (!cut_this_answer) {
          if (!send_all(client, buf, static_cast<size_t>(n))) break;
          continue;
        }
        answer.append(buf, static_cast<size_t>(n));
        const size_t head_end = answer.find("\r\n\r\n");
        if (head_end == std::string::npos) continue;
        std::string head = answer.substr(0, head_end);
        std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
        const size_t cl = head.find("\r\ncontent-length:");
        const uint64_t body = cl == std::string::npos ? 0 : std::strtoull(head.c_str() + cl + 17, nullptr, 10);
        if (body < 2) {  // nothing to cut in half (an error answer): pass it on
          cut_this_answer = false;
          if (!send_all(client, answer.data(), answer.size())) break;
          continue;
        }
        const size_t keep = head_end + 4 + body / 2;
        if (answer.size() < keep) continue;
        send_all(client, answer.data(), keep);
        if (how_.load() == Cut::kReset) {
          linger l{1, 0};  // close() sends RST
          setsockopt(client, SOL_SOCKET, SO_LINGER, &l, sizeof l);
        }
        ++done_;
        break;
      }
    }
    close(upstream);
    close(client);
  }

  int upstream_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> cuts_{0};
  std::atomic<Cut> how_{Cut::kReset};
  std::atomic<int> done_{0};
  std::mutex mu_;
  std::vector<std::thread> pipes_;
  std::thread acceptor_;
};

struct Answer {
  uint64_t offset = 0;
  long status = 0;
  std::string body;
  int64_t took_ms = 0;
  SteadyClock::time_point started;
  int phase_at_start = 0;
  int phase_at_end = 0;
};

// Clients reading random offsets, one record each, until stopped.
class Load {
 public:
  Load(Server& server, int threads, uint64_t records, const std::atomic<int>& phase)
      : server_(server), phase_(phase) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, t, records] {
        std::mt19937_64 rng(t * 7919 + 1);
        while (!stop_.load()) {
          Answer a;
          a.offset = rng() % records;
          a.phase_at_start = phase_.load();
          const auto t0 = SteadyClock::now();
          a.started = t0;
          auto r = server_.get("/topics/faults/partitions/0/records",
                               {{"offset", std::to_string(a.offset)}, {"max_records", "1"}},
                               /*timeout_ms=*/15000);
          a.took_ms = ms_since(t0);
          a.phase_at_end = phase_.load();
          a.status = r.status;
          a.body = std::move(r.body);
          std::lock_guard lock(mu_);
          answers_.push_back(std::move(a));
        }
      });
    }
  }
  ~Load() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  std::vector<Answer> answers() {
    std::lock_guard lock(mu_);
    return answers_;
  }

 private:
  Server& server_;
  const std::atomic<int>& phase_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<Answer> answers_;
  std::vector<std::thread> threads_;
};

class RgwFaultsTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kRecords = 3000;

  static void SetUpTestSuite() {
    ASSERT_FALSE(env("S3_ENDPOINT").empty() || env("S3_BUCKET").empty() || env("RGW_STATE").empty())
        << "run through ctest (rgw fixture)";
    ASSERT_EQ(access(binary().c_str(), X_OK), 0)
        << binary() << " is not built (build the `streamhouse` target or set STREAMHOUSE_BIN)";
    std::mt19937_64 rng(std::random_device{}());
    prefix_ = fmt::format("faults-{}/", rng() % 1000000000);
    dir_ = fmt::format("/tmp/sh-rgw-faults-{}", getpid());
    mkdir(dir_.c_str(), 0755);
    // Topic "faults": 3 segments of 1000 records, values of ~1 KB that LZ4 packs into
    // blocks of ~150 bytes (4 KiB of records each).
    write_topic("faults", prefix_, kRecords, 1000, "v1");
  }

  // Writes `count` records of `topic` under `prefix` with the binary's own writer;
  // the values carry `version`.
  static void write_topic(const std::string& topic, const std::string& prefix, uint64_t count,
                          uint64_t per_segment, const std::string& version) {
    const std::string input = fmt::format("{}/{}-{}.jsonl", dir_, topic, version);
    std::ofstream jsonl(input);
    for (uint64_t i = 0; i < count; ++i) {
      jsonl << nlohmann::json{{"key", fmt::format("key-{}", i)},
                              {"value", value_of(version, i)},
                              {"timestamp", 1'700'000'000'000 + static_cast<int64_t>(i)}}
                   .dump()
            << "\n";
    }
    jsonl.close();
    const std::string log = fmt::format("{}/write-{}-{}.log", dir_, topic, version);
    pid_t pid = spawn({binary(), "segment", "write", "--store", store_url(prefix), "--topic", topic,
                       "--partition", "0", "--segment-records", std::to_string(per_segment),
                       "--block-bytes", "4096", "--s3-endpoint", env("S3_ENDPOINT")},
                      {"AWS_ACCESS_KEY_ID=" + env("S3_ACCESS"),
                       "AWS_SECRET_ACCESS_KEY=" + env("S3_SECRET"), "AWS_EC2_METADATA_DISABLED=true"},
                      input, log);
    ASSERT_GT(pid, 0);
    ASSERT_EQ(wait_exit(pid), 0) << "segment write failed: " << read_file(log);
  }
  static std::string value_of(const std::string& version, uint64_t i) {
    return fmt::format("{} value {} {}", version, i, std::string(700 + i % 300, 'x'));
  }
  static std::string store_url(const std::string& prefix) {
    return "s3://" + env("S3_BUCKET") + "/" + prefix;
  }
  static std::shared_ptr<ObjectStore> direct_store(const std::string& prefix) {
    S3Options o;
    o.bucket = env("S3_BUCKET");
    o.prefix = prefix;
    o.endpoint = env("S3_ENDPOINT");
    o.access_key_id = env("S3_ACCESS");
    o.secret_access_key = env("S3_SECRET");
    return make_s3_object_store(o, nullptr, system_clock()).value();
  }

  // Polls `path` until it answers `status` or `ms` pass; the last answer.
  static HttpAnswer wait_for(Server& server, const std::string& path, long status, int ms,
                             QueryParams query = {}) {
    const auto until = SteadyClock::now() + milliseconds(ms);
    HttpAnswer last;
    do {
      last = server.get(path, query, 10000);
      if (last.status == status) return last;
      std::this_thread::sleep_for(milliseconds(100));
    } while (SteadyClock::now() < until);
    return last;
  }

  // "" if `a` is the documented answer of a dead or silent store: 503 50301 or
  // 504 50401, a JSON body naming the bucket and never the endpoint.
  static std::string store_down_answer_problem(long status, const std::string& body, int port) {
    if (status != 503 && status != 504) return fmt::format("status {}", status);
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object() || !j.contains("error_code") || !j.contains("message")) return "not the JSON error body";
    const int code = j["error_code"].get<int>();
    if (code != (status == 503 ? 50301 : 50401)) return fmt::format("error_code {}", code);
    const std::string m = j["message"].get<std::string>();
    if (m.find("s3://" + env("S3_BUCKET") + "/") == std::string::npos) return "the message does not name the bucket";
    if (m.find("127.0.0.1") != std::string::npos || m.find(std::to_string(port)) != std::string::npos) {
      return "the message names the endpoint";
    }
    return "";
  }

  // "" if a 200 answer holds exactly the record at `offset` of version "v1".
  static std::string served_problem(uint64_t offset, const std::string& body) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object() || !j["records"].is_array() || j["records"].size() != 1) return "not one record";
    const auto& r = j["records"][0];
    if (r["offset"] != offset) return fmt::format("offset {} instead of {}", r["offset"].dump(), offset);
    if (r["value"] != value_of("v1", offset)) return "a wrong value";
    return "";
  }

  static void expect_readyz_hides_the_store(const HttpAnswer& ready, int port) {
    EXPECT_NE(ready.body.find("\"object_store\":\"unavailable\""), std::string::npos) << ready.body;
    EXPECT_EQ(ready.body.find("127.0.0.1"), std::string::npos) << "host in /readyz: " << ready.body;
    EXPECT_EQ(ready.body.find(std::to_string(port)), std::string::npos) << "port in /readyz: " << ready.body;
    EXPECT_EQ(ready.body.find("onnect"), std::string::npos) << "transport text in /readyz: " << ready.body;
  }

  static std::string prefix_;
  static std::string dir_;
};
std::string RgwFaultsTest::prefix_;
std::string RgwFaultsTest::dir_;

TEST_F(RgwFaultsTest, GatewayKilledUnderLoadGives503Or504ThenTheSameProcessServesAgain) {
  PrivateGateway gw;
  ASSERT_TRUE(gw.start()) << gw.log();
  // No block cache: every read of a record needs the store, so an outage cannot
  // hide behind cached blocks.
  constexpr int kDeadlineMs = 2000;
  Server server(store_url(prefix_), env("S3_SECRET"), dir_ + "/serve-killed.log",
                {"--s3-endpoint", gw.endpoint(), "--request-timeout-ms", std::to_string(kDeadlineMs),
                 "--block-cache-bytes", "0", "--readahead-max-bytes", "0"});
  ASSERT_TRUE(server.wait_up()) << server.log();
  ASSERT_EQ(wait_for(server, "/readyz", 200, 5000).status, 200) << server.log();
  const pid_t served_by = server.pid();

  std::atomic<int> phase{0};  // 0: store up, 1: store killed, 2: store started again
  Load load(server, 4, kRecords, phase);
  std::this_thread::sleep_for(milliseconds(700));

  const double refused_before = server.metric("streamhouse_s3_requests_total", "status=\"transport_error\"");
  const double failed_before = server.metric("streamhouse_object_store_requests_total", "outcome=\"unavailable\"") +
                               server.metric("streamhouse_object_store_requests_total", "outcome=\"timeout\"");
  gw.kill_now();
  phase = 1;
  const auto killed_at = SteadyClock::now();

  // /readyz turns 503 on its own (the prober, or a failed read asking it to probe).
  auto ready = wait_for(server, "/readyz", 503, 8000);
  const int64_t not_ready_ms = ms_since(killed_at);
  EXPECT_EQ(ready.status, 503) << "after " << not_ready_ms << " ms: " << ready.body;
  expect_readyz_hides_the_store(ready, gw.port());
  std::this_thread::sleep_for(milliseconds(2500));  // reads keep failing for a while

  EXPECT_GT(server.metric("streamhouse_s3_requests_total", "status=\"transport_error\""), refused_before)
      << "refused connections are counted as transport errors";
  EXPECT_GT(server.metric("streamhouse_object_store_requests_total", "outcome=\"unavailable\"") +
                server.metric("streamhouse_object_store_requests_total", "outcome=\"timeout\""),
            failed_before)
      << "failed object-store calls are counted by outcome";
  EXPECT_GT(server.metric("streamhouse_http_requests_total", "status=\"503\"") +
                server.metric("streamhouse_http_requests_total", "status=\"504\""),
            0)
      << "the failed reads are counted by status";

  ASSERT_TRUE(gw.start()) << gw.log();
  phase = 2;
  const auto restarted_at = SteadyClock::now();
  auto ok = wait_for(server, "/topics/faults/partitions/0/records", 200, 10000,
                     {{"offset", "1234"}, {"max_records", "1"}});
  ASSERT_EQ(ok.status, 200) << "no read served " << ms_since(restarted_at) << " ms after the store came back: "
                            << ok.body;
  auto j = nlohmann::json::parse(ok.body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j["records"].size() == 1) << ok.body;
  EXPECT_EQ(j["records"][0]["value"].get<std::string>(), value_of("v1", 1234));
  const int64_t served_ms = ms_since(restarted_at);
  ready = wait_for(server, "/readyz", 200, 8000);
  const int64_t ready_ms = ms_since(restarted_at);
  EXPECT_EQ(ready.status, 200) << "readiness did not come back " << ready_ms
                               << " ms after the store did: " << ready.body;
  std::printf("killed store: /readyz 503 after %lld ms; restarted: served after %lld ms, ready after %lld ms\n",
              static_cast<long long>(not_ready_ms), static_cast<long long>(served_ms),
              static_cast<long long>(ready_ms));
  const auto recovered_at = SteadyClock::now();
  std::this_thread::sleep_for(milliseconds(700));
  load.stop();

  EXPECT_TRUE(server.alive()) << "the service exited: " << server.log();
  EXPECT_EQ(server.pid(), served_by) << "the same process serves before, during and after";

  // Every answer, each within the deadline (+ slack for the HTTP layer and this
  // machine): while the store is up, the right record; while it is down, the
  // documented 503/504 JSON, or the right record when its bytes had already been
  // fetched (read-ahead) before the kill; never anything else.
  int ok_before = 0, failed_during = 0, served_during = 0, ok_after = 0;
  const auto answers = load.answers();
  for (const Answer& a : answers) {
    SCOPED_TRACE(fmt::format("offset {}, phases {}..{}, HTTP {} after {} ms: {}", a.offset, a.phase_at_start,
                             a.phase_at_end, a.status, a.took_ms, a.body.substr(0, 300)));
    EXPECT_LT(a.took_ms, kDeadlineMs + 1500) << "an answer took longer than the request deadline";
    if (a.status == 200) {
      EXPECT_EQ(served_problem(a.offset, a.body), "");
    } else {
      EXPECT_NE(a.phase_at_end, 0) << "a read failed while the store was up";
      EXPECT_EQ(store_down_answer_problem(a.status, a.body, gw.port()), "")
          << "a read while the store is down must fail with the documented answer";
    }
    if (a.phase_at_start == 0 && a.phase_at_end == 0) ok_before += a.status == 200;
    if (a.phase_at_start == 1 && a.phase_at_end == 1) (a.status == 200 ? served_during : failed_during)++;
    if (a.started > recovered_at) {
      EXPECT_EQ(a.status, 200) << "a read failed after the store and readiness were back";
      ok_after += a.status == 200;
    }
  }
  EXPECT_GT(ok_before, 0) << "no read was served before the store was killed";
  EXPECT_GT(failed_during, served_during) << "most reads while the store is down must fail";
  EXPECT_GT(ok_after, 0) << "no read was served after the store came back";
  std::printf("%zu answers: %d served before; while down %d failed, %d served from bytes fetched "
              "before; %d served after the restart\n",
              answers.size(), ok_before, failed_during, served_during, ok_after);
  EXPECT_EQ(server.log().find(env("S3_SECRET")), std::string::npos) << "secret in the log";
}

TEST_F(RgwFaultsTest, FrozenGatewayGives504AtTheDeadlineThenTheSameProcessServesAgain) {
  PrivateGateway gw;
  ASSERT_TRUE(gw.start()) << gw.log();
  constexpr int kDeadlineMs = 1500;
  Server server(store_url(prefix_), env("S3_SECRET"), dir_ + "/serve-frozen.log",
                {"--s3-endpoint", gw.endpoint(), "--request-timeout-ms", std::to_string(kDeadlineMs),
                 "--block-cache-bytes", "0", "--readahead-max-bytes", "0"});
  ASSERT_TRUE(server.wait_up()) << server.log();
  ASSERT_EQ(wait_for(server, "/readyz", 200, 5000).status, 200) << server.log();
  auto warm = server.get("/topics/faults/partitions/0/records", {{"offset", "10"}, {"max_records", "1"}});
  ASSERT_EQ(warm.status, 200) << warm.body;

  const double stalled_before = server.metric("streamhouse_s3_requests_total", "status=\"transport_error\"");
  const double timeouts_before = server.metric("streamhouse_object_store_requests_total", "outcome=\"timeout\"");
  // The kernel still accepts connections for a stopped process; nothing answers.
  gw.freeze();
  const auto t0 = SteadyClock::now();
  auto r = server.get("/topics/faults/partitions/0/records", {{"offset", "2500"}, {"max_records", "1"}});
  const int64_t took = ms_since(t0);
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(store_down_answer_problem(r.status, r.body, gw.port()), "") << r.body;
  EXPECT_NE(r.body.find("deadline reached"), std::string::npos) << r.body;
  EXPECT_GE(took, kDeadlineMs - 100) << "gave up before the deadline: " << r.body;
  EXPECT_LT(took, kDeadlineMs + 1500) << "a store that never sends a byte must cost the deadline, not the "
                                         "5 s stall limit: "
                                      << r.body;
  EXPECT_GT(server.metric("streamhouse_s3_requests_total", "status=\"transport_error\""), stalled_before)
      << "the cut transfer is counted as a transport error";
  EXPECT_GT(server.metric("streamhouse_object_store_requests_total", "outcome=\"timeout\""), timeouts_before)
      << "the timed-out call is counted by outcome";
  // Within a probe round: every check of the prober is bounded by its 2 s
  // timeout (the listing-metadata ping too), and rounds come every 2 s or
  // sooner after a failed read.
  auto ready = wait_for(server, "/readyz", 503, 6000);
  EXPECT_EQ(ready.status, 503) << ready.body;
  expect_readyz_hides_the_store(ready, gw.port());
  const int64_t not_ready_ms = ms_since(t0);

  gw.thaw();
  const auto thawed = SteadyClock::now();
  auto ok = wait_for(server, "/topics/faults/partitions/0/records", 200, 10000,
                     {{"offset", "2500"}, {"max_records", "1"}});
  ASSERT_EQ(ok.status, 200) << ok.body;
  const int64_t served_ms = ms_since(thawed);
  auto j = nlohmann::json::parse(ok.body, nullptr, false);
  ASSERT_TRUE(j.is_object() && j["records"].size() == 1) << ok.body;
  EXPECT_EQ(j["records"][0]["value"].get<std::string>(), value_of("v1", 2500));
  EXPECT_EQ(wait_for(server, "/readyz", 200, 8000).status, 200);
  std::printf("frozen store: 504 after %lld ms, /readyz 503 after %lld ms; thawed: served after %lld ms, "
              "ready after %lld ms\n",
              static_cast<long long>(took), static_cast<long long>(not_ready_ms),
              static_cast<long long>(served_ms), static_cast<long long>(ms_since(thawed)));
  EXPECT_TRUE(server.alive()) << server.log();
}

TEST_F(RgwFaultsTest, SegmentReplacedBetweenTwoReadsIs502ThenTheNewObjectIsServed) {
  // One segment of 1000 records; a second version of it (same offsets, other
  // values) is written beside it, to be copied over the first.
  const std::string live = prefix_ + "swap-live/";
  const std::string next = prefix_ + "swap-next/";
  write_topic("swap", live, 1000, 1000, "v1");
  write_topic("swap", next, 1000, 1000, "v2");
  auto objects = list_all(*direct_store(live), "");
  ASSERT_TRUE(objects.ok()) << objects.error().to_string();
  ASSERT_EQ(objects->size(), 1u);
  const std::string key = (*objects)[0].key;

  Server server(store_url(live), env("S3_SECRET"), dir_ + "/serve-swap.log",
                {"--index-ttl-ms", "3600000", "--readahead-max-bytes", "0"});
  ASSERT_TRUE(server.wait_up()) << server.log();
  auto first = server.get("/topics/swap/partitions/0/records", {{"offset", "0"}, {"max_records", "1"}});
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(nlohmann::json::parse(first.body)["records"][0]["value"].get<std::string>(), value_of("v1", 0));

  // Replace the object under the service (a plain overwrite: new ETag, same key).
  auto v2 = direct_store(next)->get(key);
  ASSERT_TRUE(v2.ok()) << v2.error().to_string();
  ASSERT_TRUE(direct_store(live)->put(key, v2->data).ok());
  const double s412_before = server.metric("streamhouse_s3_requests_total", "status=\"412\"");
  const double changed_before =
      server.metric("streamhouse_object_store_requests_total", "outcome=\"precondition_failed\"");

  // The footer in memory is the old object's; the next block read is pinned to its ETag.
  auto changed = server.get("/topics/swap/partitions/0/records", {{"offset", "900"}, {"max_records", "1"}});
  EXPECT_EQ(changed.status, 502) << changed.body;
  auto j = nlohmann::json::parse(changed.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << changed.body;
  EXPECT_EQ(j["error_code"], 50202) << changed.body;
  const std::string message = j["message"].get<std::string>();
  EXPECT_EQ(message.rfind("segment object changed while reading: ", 0), 0u) << message;
  EXPECT_NE(message.find(key), std::string::npos) << "names the object: " << message;
  EXPECT_NE(message.find("HTTP 412"), std::string::npos) << message;
  EXPECT_EQ(server.metric("streamhouse_s3_requests_total", "status=\"412\""), s412_before + 1);
  EXPECT_EQ(server.metric("streamhouse_object_store_requests_total", "outcome=\"precondition_failed\""),
            changed_before + 1);

  // The old footer and blocks were dropped: the new object is served, also at
  // offset 0 whose old block had been cached.
  for (uint64_t offset : {900, 0, 999}) {
    auto r = server.get("/topics/swap/partitions/0/records",
                        {{"offset", std::to_string(offset)}, {"max_records", "1"}});
    ASSERT_EQ(r.status, 200) << "offset " << offset << ": " << r.body;
    auto rj = nlohmann::json::parse(r.body);
    ASSERT_EQ(rj["records"].size(), 1u);
    EXPECT_EQ(rj["records"][0]["value"].get<std::string>(), value_of("v2", offset))
        << "offset " << offset << " served from the replaced object";
  }
}

TEST_F(RgwFaultsTest, BlockAnswersCutMidBodyAreRetriedThenServedOrGiveUpAs503) {
  // Only the block answers are cut; footers and listings pass, from the shared gateway.
  const int rgw_port = std::atoi(env("S3_ENDPOINT").substr(env("S3_ENDPOINT").rfind(':') + 1).c_str());
  CuttingProxy proxy(rgw_port);
  constexpr int kDeadlineMs = 4000;
  Server server(store_url(prefix_), env("S3_SECRET"), dir_ + "/serve-cut.log",
                {"--s3-endpoint", proxy.endpoint(), "--request-timeout-ms", std::to_string(kDeadlineMs),
                 "--block-cache-bytes", "0", "--readahead-max-bytes", "0", "--log-level", "debug"});
  ASSERT_TRUE(server.wait_up()) << server.log();
  ASSERT_EQ(server.get("/topics/faults/partitions/0/records", {{"offset", "5"}, {"max_records", "1"}}).status, 200);

  // Two cuts, then a whole answer: the read is served, with the right record.
  for (auto how : {CuttingProxy::Cut::kReset, CuttingProxy::Cut::kClose}) {
    const char* what = how == CuttingProxy::Cut::kReset ? "reset" : "closed";
    SCOPED_TRACE(fmt::format("connection {} half-way through the body", what));
    const double transport_before = server.metric("streamhouse_s3_requests_total", "status=\"transport_error\"");
    const double retries_before = server.metric("streamhouse_s3_retries_total", "operation=\"get_object\"");
    const int cuts_before = proxy.cuts_done();
    proxy.cut_next(2, how);
    const uint64_t offset = how == CuttingProxy::Cut::kReset ? 1500 : 2700;
    auto r = server.get("/topics/faults/partitions/0/records",
                        {{"offset", std::to_string(offset)}, {"max_records", "1"}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(served_problem(offset, r.body), "") << r.body.substr(0, 300);
    EXPECT_EQ(proxy.cuts_done(), cuts_before + 2) << "both cuts happened";
    EXPECT_EQ(server.metric("streamhouse_s3_requests_total", "status=\"transport_error\""), transport_before + 2)
        << "each cut answer is counted as a transport error";
    EXPECT_GE(server.metric("streamhouse_s3_retries_total", "operation=\"get_object\""), retries_before + 2)
        << "each cut answer is retried";
  }

  // Every answer cut: the read gives up after its attempts with the documented 503.
  proxy.cut_next(1000, CuttingProxy::Cut::kReset);
  const auto t0 = SteadyClock::now();
  auto r = server.get("/topics/faults/partitions/0/records", {{"offset", "2222"}, {"max_records", "1"}});
  const int64_t took = ms_since(t0);
  proxy.cut_next(0, CuttingProxy::Cut::kReset);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(store_down_answer_problem(r.status, r.body, rgw_port), "") << r.body;
  EXPECT_NE(r.body.find("connection failed (gave up after 5 attempts)"), std::string::npos) << r.body;
  EXPECT_LT(took, kDeadlineMs + 1500) << r.body;
  auto ok = server.get("/topics/faults/partitions/0/records", {{"offset", "2222"}, {"max_records", "1"}});
  ASSERT_EQ(ok.status, 200) << "once the connections are whole again: " << ok.body;
  EXPECT_EQ(served_problem(2222, ok.body), "");
  EXPECT_TRUE(server.alive()) << server.log();
  EXPECT_EQ(server.log().find(env("S3_SECRET")), std::string::npos) << "secret in the (debug) log";
}

}  // namespace
}  // namespace sh::s3
