// End to end, the real `streamhouse serve`: what a careless or hostile client
// can do to the HTTP layer — abandoned long-polls, one address taking every
// connection, NUL bytes in URLs, unbounded consumer groups — and bearer-token
// authentication (--api-token-file).
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/support/process.h"

namespace sh::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// A raw TCP connection (owns the fd), for clients curl will not imitate.
class RawConn {
 public:
  explicit RawConn(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawConn() {
    if (fd_ >= 0) ::close(fd_);
  }
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

 private:
  int fd_;
  bool connected_ = false;
};

// The value of an unlabelled (or exactly labelled) sample in a Prometheus text body, or -1.
double sample(const std::string& metrics, const std::string& series) {
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

class HttpHardeningE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    store_ = "file://" + dir_->path();
    std::ostringstream in;
    for (int i = 0; i < 250; ++i) in << json{{"key", fmt::format("k{}", i)}, {"value", "v"}, {"timestamp", i}}.dump() << "\n";
    auto w = run_command({streamhouse_binary(), "segment", "write", "--store", store_, "--topic", "orders",
                          "--partition", "0"},
                         in.str());
    ASSERT_EQ(w.exit_code, 0) << w.err;
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::string long_poll_request() {
    return "GET /topics/orders/partitions/0/records?offset=latest&timeout_ms=30000 HTTP/1.1\r\n"
           "Host: t\r\n\r\n";
  }

  static TempDir* dir_;
  static std::string store_;
};

TempDir* HttpHardeningE2E::dir_ = nullptr;
std::string HttpHardeningE2E::store_;

TEST_F(HttpHardeningE2E, AbandonedLongPollsGiveBackTheirConnectionsAtOnce) {
  ServerProcess s({"--store", store_, "--max-connections", "16", "--max-long-polls", "12",
                   "--max-connections-per-ip", "0", "--long-poll-interval-ms", "100"});
  ASSERT_GT(s.port(), 0);
  {
    std::vector<std::unique_ptr<RawConn>> clients;
    for (int i = 0; i < 12; ++i) {
      clients.push_back(std::make_unique<RawConn>(s.port()));
      ASSERT_TRUE(clients.back()->connected());
      ASSERT_TRUE(clients.back()->send_all(long_poll_request()));
    }
    ASSERT_TRUE(eventually([&] {
      return sample(http_get(s.url("/metrics"), {}, 2000).body, "streamhouse_http_long_polls_waiting") == 12;
    }, 10s)) << "12 long-polls should be waiting";
  }  // the 12 clients hang up without reading an answer

  EXPECT_TRUE(eventually([&] {
    return sample(http_get(s.url("/metrics"), {}, 2000).body, "streamhouse_http_long_polls_waiting") == 0;
  }, 5s)) << "long-polls of clients that hung up must end at once, not after their 30 s";
  const std::string metrics = http_get(s.url("/metrics")).body;
  EXPECT_EQ(sample(metrics, R"(streamhouse_long_polls_total{outcome="client_gone"})"), 12) << metrics;

  // Their slots are free: 12 new long-polls wait (none refused), and /healthz is served meanwhile.
  std::vector<std::future<HttpResult>> polls;
  for (int i = 0; i < 12; ++i) {
    polls.push_back(std::async(std::launch::async, [&] {
      return http_get(s.url("/topics/orders/partitions/0/records?offset=latest&timeout_ms=1500"));
    }));
  }
  std::this_thread::sleep_for(300ms);
  auto health = http_get(s.url("/healthz"), {}, 2000);
  EXPECT_EQ(health.status, 200) << "/healthz while 12 long-polls wait: " << health.error;
  for (auto& p : polls) {
    auto r = p.get();
    EXPECT_EQ(r.status, 200) << r.error << " " << r.body;
  }
}

TEST_F(HttpHardeningE2E, SixteenClosedLongPollsOnSixteenConnectionsLeaveHealthzServed) {
  // The reported case: --max-connections 16, 16 long-polls each closed right after sending.
  ServerProcess s({"--store", store_, "--max-connections", "16", "--max-connections-per-ip", "0"});
  ASSERT_GT(s.port(), 0);
  for (int i = 0; i < 16; ++i) {
    RawConn c(s.port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.send_all(long_poll_request()));
  }
  std::this_thread::sleep_for(500ms);
  auto health = http_get(s.url("/healthz"), {}, 2000);
  EXPECT_EQ(health.status, 200) << "/healthz must be answered within 2 s: " << health.error;
  EXPECT_TRUE(eventually([&] {
    return sample(http_get(s.url("/metrics"), {}, 2000).body, "streamhouse_http_long_polls_waiting") == 0;
  }, 5s));
}

TEST_F(HttpHardeningE2E, OneAddressCannotTakeEveryConnection) {
  ServerProcess s({"--store", store_, "--max-connections-per-ip", "4"});
  ASSERT_GT(s.port(), 0);
  std::vector<std::unique_ptr<RawConn>> idle;
  for (int i = 0; i < 4; ++i) {
    idle.push_back(std::make_unique<RawConn>(s.port()));
    ASSERT_TRUE(idle.back()->send_all("GET /healthz"));  // incomplete: the connection stays open
  }
  std::this_thread::sleep_for(200ms);
  auto refused = http_get(s.url("/healthz"), {}, 2000);
  EXPECT_EQ(refused.status, 0) << "a 5th connection from 127.0.0.1 must be refused";
  idle.pop_back();
  EXPECT_TRUE(eventually([&] { return http_get(s.url("/healthz"), {}, 2000).status == 200; }, 3s));
}

TEST_F(HttpHardeningE2E, LongPollLimitsMustLeaveConnectionsFree) {
  auto r = run_command({streamhouse_binary(), "serve", "--store", store_, "--listen", "127.0.0.1:0",
                        "--max-connections", "16", "--max-long-polls", "16"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE((r.out + r.err).find("--max-long-polls (16) must be below --max-connections (16)"), std::string::npos)
      << r.out << r.err;
  auto per_ip = run_command({streamhouse_binary(), "serve", "--store", store_, "--listen", "127.0.0.1:0",
                             "--max-connections-per-ip", "8", "--max-long-polls-per-ip", "8"});
  EXPECT_EQ(per_ip.exit_code, 2);
  EXPECT_NE((per_ip.out + per_ip.err).find("--max-long-polls-per-ip (8) must be below --max-connections-per-ip (8)"),
            std::string::npos)
      << per_ip.out << per_ip.err;
}

TEST_F(HttpHardeningE2E, NulBytesInPathOrQueryAre400) {
  ServerProcess s({"--store", store_});
  ASSERT_GT(s.port(), 0);
  for (const char* path : {"/topics/orders%00x/partitions/0", "/topics/orders/partitions/0/records?offset=198%00garbage",
                           "/topics/orders/partitions/0%00/records", "/consumer-groups/g%00/offsets"}) {
    auto r = http_get(s.url(path));
    EXPECT_EQ(r.status, 400) << path << " → " << r.body;
    json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.body;
    EXPECT_EQ(j["error_code"], 40006) << path;
    EXPECT_NE(j["message"].get<std::string>().find("NUL"), std::string::npos) << r.body;
  }
  auto ok = http_get(s.url("/topics/orders/partitions/0/records?offset=198&max_records=1"));
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(json::parse(ok.body)["records"][0]["offset"], 198);
}

TEST_F(HttpHardeningE2E, ConsumerGroupsAreCapped) {
  ServerProcess s({"--store", store_, "--max-groups", "2"});
  ASSERT_GT(s.port(), 0);
  auto commit = [&](const std::string& group) {
    return http_request("POST", s.url(fmt::format("/consumer-groups/{}/offsets", group)),
                        R"({"offsets":[{"topic":"orders","partition":0,"offset":10}]})");
  };
  EXPECT_EQ(commit("g1").status, 204);
  EXPECT_EQ(commit("g2").status, 204);
  auto third = commit("g3");
  EXPECT_EQ(third.status, 403) << third.body;
  EXPECT_EQ(json::parse(third.body)["error_code"], 40301) << third.body;
  EXPECT_EQ(commit("g1").status, 204) << "existing groups still commit";
  auto groups = json::parse(http_get(s.url("/consumer-groups")).body);
  EXPECT_EQ(groups["consumer_groups"].size(), 2u) << groups.dump();
  const std::string metrics = http_get(s.url("/metrics")).body;
  EXPECT_EQ(metrics.find("group=\"g3\""), std::string::npos) << "no series for a refused group";

  // A restart (empty lag tracker) still counts the groups in the store.
  ServerProcess again({"--store", store_, "--max-groups", "2"});
  ASSERT_GT(again.port(), 0);
  auto after = http_request("POST", again.url("/consumer-groups/g4/offsets"),
                            R"({"offsets":[{"topic":"orders","partition":0,"offset":1}]})");
  EXPECT_EQ(after.status, 403) << after.body;
  auto existing = http_request("POST", again.url("/consumer-groups/g2/offsets"),
                               R"({"offsets":[{"topic":"orders","partition":0,"offset":11}]})");
  EXPECT_EQ(existing.status, 204) << existing.body;
}

class AuthE2E : public HttpHardeningE2E {
 protected:
  static constexpr const char* kRead = "dashboard-read-7f3a9c2e1b4d";
  static constexpr const char* kCommit = "consumer-commit-5e8d1a6f0c2b";

  std::string token_file() {
    const std::string path = tokens_.path() + "/tokens";
    std::ofstream(path) << "# scope token\nread " << kRead << "\ncommit " << kCommit << "\n";
    return path;
  }
  static std::vector<std::string> bearer(const char* token) { return {std::string("Authorization: Bearer ") + token}; }

  TempDir tokens_;
};

TEST_F(AuthE2E, ReadAndCommitTokensAndOpenRoutes) {
  ServerProcess s({"--store", store_, "--api-token-file", token_file(), "--log-level", "debug"});
  ASSERT_GT(s.port(), 0);
  for (const char* open : {"/healthz", "/readyz", "/", "/openapi.yaml", "/metrics"}) {
    EXPECT_EQ(http_get(s.url(open)).status, 200) << open << " must not need a token";
  }
  for (const char* data : {"/topics", "/topics/orders", "/topics/orders/partitions/0",
                           "/topics/orders/partitions/0/segments", "/topics/orders/partitions/0/records",
                           "/consumer-groups", "/consumer-groups/g/offsets"}) {
    auto none = http_get(s.url(data));
    EXPECT_EQ(none.status, 401) << data;
    EXPECT_EQ(none.headers["www-authenticate"], R"(Bearer realm="streamhouse")") << data;
    EXPECT_EQ(json::parse(none.body)["error_code"], 40100) << none.body;
    auto wrong = http_get(s.url(data), bearer("not-a-token-of-this-server"));
    EXPECT_EQ(wrong.status, 401) << data;
    EXPECT_NE(wrong.headers["www-authenticate"].find("invalid_token"), std::string::npos) << data;
    auto basic = http_get(s.url(data), {"Authorization: Basic ZGFzaDpib2FyZA=="});
    EXPECT_EQ(basic.status, 401) << data;
    auto read = http_get(s.url(data), bearer(kRead));
    EXPECT_NE(read.status, 401) << data << " with the read token: " << read.body;
    EXPECT_NE(read.status, 403) << data << " with the read token: " << read.body;
  }
  const std::string body = R"({"offsets":[{"topic":"orders","partition":0,"offset":5}]})";
  auto no_token = http_request("POST", s.url("/consumer-groups/auth-g/offsets"), body);
  EXPECT_EQ(no_token.status, 401);
  auto with_read = http_request("POST", s.url("/consumer-groups/auth-g/offsets"), body, bearer(kRead));
  EXPECT_EQ(with_read.status, 403) << "a read token must not move offsets: " << with_read.body;
  EXPECT_EQ(json::parse(with_read.body)["error_code"], 40300);
  EXPECT_NE(with_read.headers["www-authenticate"].find("insufficient_scope"), std::string::npos);
  auto with_commit = http_request("POST", s.url("/consumer-groups/auth-g/offsets"), body, bearer(kCommit));
  EXPECT_EQ(with_commit.status, 204) << with_commit.body;
  auto read_back = http_get(s.url("/consumer-groups/auth-g/offsets"), bearer(kCommit));
  EXPECT_EQ(read_back.status, 200) << "a commit token reads too";
  EXPECT_EQ(json::parse(read_back.body)["offsets"][0]["committed_offset"], 5);

  const std::string metrics = http_get(s.url("/metrics")).body;
  EXPECT_EQ(metrics.find(kRead), std::string::npos);
  EXPECT_EQ(metrics.find(kCommit), std::string::npos);
  const std::string log = s.log();
  EXPECT_NE(log.find("authentication: 1 read and 1 commit tokens"), std::string::npos) << log;
  EXPECT_EQ(log.find(kRead), std::string::npos) << "a token reached the log";
  EXPECT_EQ(log.find(kCommit), std::string::npos) << "a token reached the log";
  EXPECT_EQ(log.find("not-a-token-of-this-server"), std::string::npos) << "a presented token reached the log";
}

TEST_F(AuthE2E, MetricsAuthPutsMetricsBehindAReadToken) {
  ServerProcess s({"--store", store_, "--api-token-file", token_file(), "--metrics-auth"});
  ASSERT_GT(s.port(), 0);
  EXPECT_EQ(http_get(s.url("/metrics")).status, 401);
  EXPECT_EQ(http_get(s.url("/metrics"), bearer(kRead)).status, 200);
  EXPECT_EQ(http_get(s.url("/healthz")).status, 200);
}

TEST_F(AuthE2E, BadTokenFilesStopTheServerWithoutShowingTokens) {
  const std::string bad = tokens_.path() + "/bad";
  std::ofstream(bad) << "read secret-short\nadmin averyveryverylongsecret123\n";
  auto r = run_command({streamhouse_binary(), "serve", "--store", store_, "--listen", "127.0.0.1:0",
                        "--api-token-file", bad});
  EXPECT_EQ(r.exit_code, 2);
  const std::string out = r.out + r.err;
  EXPECT_NE(out.find("line 1"), std::string::npos) << out;
  EXPECT_EQ(out.find("secret"), std::string::npos) << "the token file's contents reached the output: " << out;
  auto lonely = run_command({streamhouse_binary(), "serve", "--store", store_, "--listen", "127.0.0.1:0",
                             "--metrics-auth"});
  EXPECT_EQ(lonely.exit_code, 2) << "--metrics-auth without tokens is a mistake";
}

}  // namespace
}  // namespace sh::testing
