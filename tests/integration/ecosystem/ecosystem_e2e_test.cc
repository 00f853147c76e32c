// The real binary in its ecosystem: process metrics on /metrics (promtool-clean),
// `streamhouse probe` against the live server, and a real Prometheus (Debian's
// /usr/bin/prometheus) on 127.0.0.1 scraping it, with docker/prometheus/alerts.yml
// loaded, read back through Prometheus's HTTP query API.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/support/process.h"
#include "tests/support/test_paths.h"

namespace sh::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// A listening TCP socket on 127.0.0.1:<ephemeral> that never accepts (connects
// complete in the backlog; nothing is ever answered), or, closed, a free port.
class Listener {
 public:
  Listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 16) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
      return;
    }
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

int free_port() {
  Listener l;
  return l.port();  // closed on return: free, unless someone takes it first
}

// A child process with output to a log file; SIGTERM (then SIGKILL) on destruction.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const std::string& log_path) : log_(log_path) {
    pid_ = fork();
    if (pid_ == 0) {
      int out = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int in = ::open("/dev/null", O_RDONLY);
      if (out < 0 || in < 0) _exit(126);
      dup2(in, 0);
      dup2(out, 1);
      dup2(out, 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  ~Child() { stop(); }
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  void stop() {
    if (!running()) return;
    kill(pid_, SIGTERM);
    for (int i = 0; i < 100; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(50ms);
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  std::string log() const {
    std::ifstream f(log_);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  }

 private:
  pid_t pid_ = -1;
  std::string log_;
};

// Value of an unlabelled sample "name value" in Prometheus text, or NaN.
double sample(const std::string& text, const std::string& name) {
  std::regex re("(^|\n)" + name + " ([^\n]+)");
  std::smatch m;
  if (!std::regex_search(text, m, re)) return std::nan("");
  return std::stod(m[2].str());
}

class Ecosystem : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    std::ostringstream records;
    for (int i = 0; i < 500; ++i) {
      records << fmt::format(R"({{"key":"k{}","timestamp":{},"value":"value {}"}})", i, 1'700'000'000'000 + i, i)
              << "\n";
    }
    for (int p = 0; p < 2; ++p) {
      auto w = run_command({streamhouse_binary(), "segment", "write", "--store", "file://" + dir_->path(),
                            "--topic", "orders", "--partition", std::to_string(p), "--segment-records",
                            "200", "--block-bytes", "4096"},
                           records.str());
      ASSERT_EQ(w.exit_code, 0) << w.err;
    }
    started_at_ = static_cast<double>(std::time(nullptr));
    server_ = new ServerProcess({"--store", "file://" + dir_->path()});
    ASSERT_GT(server_->port(), 0);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }

  static CommandResult probe(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {streamhouse_binary(), "probe"};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv);
  }

  static inline TempDir* dir_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline double started_at_ = 0;
};

TEST_F(Ecosystem, MetricsCarryStandardProcessMetricsAndBuildInfo) {
  // Some work first, so the CPU counter and the request families are not empty.
  for (int i = 0; i < 20; ++i) {
    auto r = http_get(server_->url(fmt::format("/topics/orders/partitions/{}/records?offset={}&max_records=50",
                                               i % 2, i * 20)));
    ASSERT_EQ(r.status, 200) << r.body;
  }
  auto m = http_get(server_->url("/metrics"));
  ASSERT_EQ(m.status, 200);
  const std::string& t = m.body;
  for (const char* type_line :
       {"# TYPE process_cpu_seconds_total counter", "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_open_fds gauge", "# TYPE process_max_fds gauge",
        "# TYPE process_start_time_seconds gauge", "# TYPE process_virtual_memory_bytes gauge",
        "# TYPE streamhouse_build_info gauge"}) {
    EXPECT_NE(t.find(type_line), std::string::npos) << "missing '" << type_line << "'";
  }
  const double cpu = sample(t, "process_cpu_seconds_total");
  const double rss = sample(t, "process_resident_memory_bytes");
  const double vsz = sample(t, "process_virtual_memory_bytes");
  const double fds = sample(t, "process_open_fds");
  const double max_fds = sample(t, "process_max_fds");
  const double start = sample(t, "process_start_time_seconds");
  EXPECT_GE(cpu, 0);
  EXPECT_GT(rss, 1 << 20) << "a running server has more than 1 MiB resident";
  EXPECT_GT(vsz, rss);
  EXPECT_GE(fds, 4) << "stdio and the listening socket at least";
  EXPECT_LT(fds, max_fds);
  EXPECT_GE(start, started_at_ - 2) << "the server started after the suite did";
  EXPECT_LE(start, static_cast<double>(std::time(nullptr)) + 2);

  auto version = run_command({streamhouse_binary(), "--version"});
  std::smatch vm;
  ASSERT_TRUE(std::regex_search(version.out, vm, std::regex(R"(streamhouse (\S+))"))) << version.out;
  EXPECT_NE(t.find(fmt::format(R"(version="{}"}} 1)", vm[1].str())), std::string::npos)
      << "streamhouse_build_info carries the --version of the binary";

  auto again = http_get(server_->url("/metrics"));
  EXPECT_GE(sample(again.body, "process_cpu_seconds_total"), cpu) << "a counter never goes down";

  auto promtool = run_command({"/usr/bin/promtool", "check", "metrics"}, t);
  EXPECT_EQ(promtool.exit_code, 0) << "promtool check metrics:\n" << promtool.out << promtool.err;
}

// --heap-trim-interval-ms: the server trims at that pace, and 0 turns it off.
// Both checks would fail with the default (1 s): five trims within a second
// of the start, and none after 1.5 s.
TEST_F(Ecosystem, HeapTrimsRunAtTheirIntervalAndZeroTurnsThemOff) {
  const auto started = std::chrono::steady_clock::now();
  ServerProcess off({"--store", "file://" + dir_->path(), "--heap-trim-interval-ms", "0"});
  ServerProcess fast({"--store", "file://" + dir_->path(), "--heap-trim-interval-ms", "20"});
  ASSERT_GT(fast.port(), 0);
  ASSERT_GT(off.port(), 0);
  double trims = 0;
  for (int i = 0; i < 20 && !(trims >= 5); ++i) {
    std::this_thread::sleep_for(50ms);
    trims = sample(http_get(fast.url("/metrics")).body, "streamhouse_heap_trims_total");
  }
  EXPECT_GE(trims, 5) << "20 ms apart, five trims take well under a second";
  const std::string m = http_get(fast.url("/metrics")).body;
  EXPECT_GE(sample(m, "streamhouse_heap_trim_seconds_count"), 5);
  std::this_thread::sleep_until(started + 1500ms);
  EXPECT_EQ(sample(http_get(off.url("/metrics")).body, "streamhouse_heap_trims_total"), 0);
}

TEST_F(Ecosystem, ProbeExitsZeroOnlyOnA2xx) {
  auto ok = probe({server_->url("/healthz")});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(ok.out, "HTTP 200\n");
  auto ready = probe({"--timeout-ms", "5000", fmt::format("127.0.0.1:{}/readyz", server_->port())});
  EXPECT_EQ(ready.exit_code, 0) << ready.out << ready.err;

  auto missing = probe({server_->url("/no-such-route")});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.out, "HTTP 404\n");
  auto unknown_topic = probe({server_->url("/topics/nope")});
  EXPECT_EQ(unknown_topic.exit_code, 1);
  EXPECT_EQ(unknown_topic.out, "HTTP 404\n");

  const int closed = free_port();
  auto refused = probe({fmt::format("http://127.0.0.1:{}/healthz", closed)});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("refused"), std::string::npos) << refused.err;

  Listener silent;  // accepts into its backlog, never answers
  const auto before = std::chrono::steady_clock::now();
  auto hung = probe({"--timeout-ms", "300", fmt::format("http://127.0.0.1:{}/healthz", silent.port())});
  const auto took = std::chrono::steady_clock::now() - before;
  EXPECT_EQ(hung.exit_code, 1);
  EXPECT_NE(hung.err.find("timed out"), std::string::npos) << hung.err;
  EXPECT_LT(took, 20s) << "the deadline bounds a server that never answers";

  auto bad = probe({"https://127.0.0.1:1/healthz"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

TEST_F(Ecosystem, RealPrometheusScrapesTheServiceAndEvaluatesTheAlertRules) {
  ASSERT_EQ(access("/usr/bin/prometheus", X_OK), 0) << "scripts/install-deps.sh --test installs prometheus";
  TempDir pdir;
  const std::string alerts = sh::testing::source_dir() + "/docker/prometheus/alerts.yml";
  std::ofstream(pdir.path() + "/prometheus.yml") << fmt::format(
      "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
      "rule_files:\n  - {}\n"
      "scrape_configs:\n  - job_name: streamhouse\n    static_configs:\n"
      "      - targets: ['127.0.0.1:{}']\n",
      alerts, server_->port());

  std::unique_ptr<Child> prom;
  int port = 0;
  std::string base;
  for (int attempt = 0; attempt < 3 && base.empty(); ++attempt) {
    port = free_port();
    prom = std::make_unique<Child>(
        std::vector<std::string>{"/usr/bin/prometheus", "--config.file=" + pdir.path() + "/prometheus.yml",
                                 "--storage.tsdb.path=" + pdir.path() + "/data",
                                 fmt::format("--web.listen-address=127.0.0.1:{}", port),
                                 "--log.level=warn"},
        pdir.path() + "/prometheus.log");
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline && prom->running()) {
      auto r = http_get(fmt::format("http://127.0.0.1:{}/-/ready", port), {}, 1000);
      if (r.status == 200) {
        base = fmt::format("http://127.0.0.1:{}", port);
        break;
      }
      std::this_thread::sleep_for(200ms);
    }
  }
  ASSERT_FALSE(base.empty()) << "Prometheus did not become ready:\n" << prom->log();

  auto query = [&](const std::string& promql) {
    std::string encoded;
    for (unsigned char c : promql) {
      if (isalnum(c) || c == '_' || c == '.' || c == '-') {
        encoded.push_back(static_cast<char>(c));
      } else {
        encoded += fmt::format("%{:02X}", c);
      }
    }
    auto r = http_get(base + "/api/v1/query?query=" + encoded, {}, 5000);
    json j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.value("status", "") == "success" ? j["data"]["result"] : json::array();
  };

  json info = json::array();
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (info.empty() && std::chrono::steady_clock::now() < deadline) {
    info = query(R"(streamhouse_build_info{job="streamhouse"})");
    if (info.empty()) std::this_thread::sleep_for(250ms);
  }
  ASSERT_EQ(info.size(), 1u) << "no streamhouse_build_info series in Prometheus:\n" << prom->log();
  EXPECT_EQ(info[0]["metric"]["instance"], fmt::format("127.0.0.1:{}", server_->port()));
  EXPECT_EQ(info[0]["value"][1], "1");

  // The scrapes themselves are requests the service counts.
  json scrapes = json::array();
  while (scrapes.empty() && std::chrono::steady_clock::now() < deadline) {
    scrapes = query(R"(streamhouse_http_requests_total{job="streamhouse",route="/metrics",status="200"} > 0)");
    if (scrapes.empty()) std::this_thread::sleep_for(250ms);
  }
  EXPECT_FALSE(scrapes.empty()) << "Prometheus never saw a counted /metrics request";
  EXPECT_FALSE(query(R"(process_resident_memory_bytes{job="streamhouse"} > 1048576)").empty());

  json up = query(R"(up{job="streamhouse"})");
  ASSERT_EQ(up.size(), 1u);
  EXPECT_EQ(up[0]["value"][1], "1");

  // Every alert rule loaded and evaluated against the live series without error.
  json groups;
  bool all_evaluated = false;
  while (!all_evaluated && std::chrono::steady_clock::now() < deadline) {
    auto r = http_get(base + "/api/v1/rules", {}, 5000);
    json j = json::parse(r.body, nullptr, false);
    groups = j.is_object() ? j["data"]["groups"] : json();
    all_evaluated = groups.is_array() && !groups.empty();
    for (const auto& g : groups.is_array() ? groups : json::array()) {
      for (const auto& rule : g["rules"]) {
        if (rule.value("health", "") != "ok") all_evaluated = false;
      }
    }
    if (!all_evaluated) std::this_thread::sleep_for(250ms);
  }
  ASSERT_TRUE(all_evaluated) << "alert rules not all healthy: " << groups.dump(1);
  size_t rules = 0;
  for (const auto& g : groups) rules += g["rules"].size();
  EXPECT_GE(rules, 10u) << groups.dump(1);
  // A healthy server fires none of them.
  json firing = query(R"(ALERTS{alertstate="firing"})");
  EXPECT_TRUE(firing.empty()) << firing.dump(1);

  // Every expression of the Grafana dashboard is valid PromQL that this Prometheus
  // evaluates (Grafana's variables replaced as Grafana would).
  std::ifstream dash_file(sh::testing::source_dir() + "/docker/grafana/streamhouse.json");
  json dash = json::parse(dash_file, nullptr, false);
  ASSERT_TRUE(dash.is_object()) << "docker/grafana/streamhouse.json is not JSON";
  size_t evaluated = 0;
  for (const auto& panel : dash["panels"]) {
    for (const auto& target : panel["targets"]) {
      std::string expr = target["expr"];
      expr = std::regex_replace(expr, std::regex(R"(\$__rate_interval)"), "1m");
      expr = std::regex_replace(expr, std::regex(R"(\$instance)"), ".*");
      std::string encoded;
      for (unsigned char c : expr) {
        encoded += isalnum(c) ? std::string(1, static_cast<char>(c)) : fmt::format("%{:02X}", c);
      }
      auto r = http_get(base + "/api/v1/query?query=" + encoded, {}, 5000);
      EXPECT_EQ(r.status, 200) << panel["title"] << ": " << expr << "\n" << r.body;
      ++evaluated;
    }
  }
  EXPECT_GE(evaluated, 20u);

  prom->stop();
  EXPECT_FALSE(prom->running());
}

}  // namespace
}  // namespace sh::testing
