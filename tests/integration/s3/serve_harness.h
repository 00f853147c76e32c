// What the tests of the real `streamhouse` binary over Ceph RGW share: spawning
// processes, a `streamhouse serve` child with its HTTP port, log and /metrics.
// Environment: S3_ENDPOINT, S3_ACCESS, S3_SECRET, S3_BUCKET; STREAMHOUSE_BIN
// overrides the binary path (the build tree's service/streamhouse is the default).
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/storage/s3/curl_transport.h"
#include "tests/support/test_paths.h"

extern char** environ;

namespace sh::s3 {

inline std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

inline std::string binary() {
  std::string b = env("STREAMHOUSE_BIN");
  return b.empty() ? sh::testing::binary_dir() + "/service/streamhouse" : b;
}

inline int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Spawns `args` with the current environment plus `extra_env`, stdin/stdout+stderr redirected.
inline pid_t spawn(const std::vector<std::string>& args, const std::vector<std::string>& extra_env,
            const std::string& stdin_path, const std::string& log_path) {
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("AWS_", 0) == 0 || kv.rfind("STREAMHOUSE_", 0) == 0) continue;  // only what we pass
    envs.push_back(kv);
  }
  envs.insert(envs.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : envs) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, stdin_path.empty() ? "/dev/null" : stdin_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0].c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

inline int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

struct HttpAnswer {
  long status = 0;
  std::string body;
};

class Server {
 public:
  Server(const std::string& store_url, const std::string& secret, const std::string& log_path,
         std::vector<std::string> extra_args = {})
      : port_(free_port()), log_(log_path) {
    std::vector<std::string> args = {binary(), "serve", "--store", store_url, "--listen",
                                     fmt::format("127.0.0.1:{}", port_)};
    if (std::find(extra_args.begin(), extra_args.end(), "--s3-endpoint") == extra_args.end()) {
      args.insert(args.end(), {"--s3-endpoint", env("S3_ENDPOINT")});
    }
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    pid_ = spawn(args, {"AWS_ACCESS_KEY_ID=" + env("S3_ACCESS"), "AWS_SECRET_ACCESS_KEY=" + secret,
                        "AWS_EC2_METADATA_DISABLED=true"},
                 "", log_path);
  }
  ~Server() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      wait_exit(pid_);
    }
  }
  // Waits until the HTTP port answers /healthz.
  bool wait_up(int ms = 15000) {
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < until) {
      if (get("/healthz").status == 200) return true;
      int st;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }
  HttpAnswer get(const std::string& path, QueryParams query = {}, int64_t timeout_ms = 20000) {
    TransportRequest r;
    r.scheme = "http";
    r.host = "127.0.0.1";
    r.port = port_;
    r.path = path;
    r.query = std::move(query);
    r.set_header("Host", r.host_header());
    SendOptions so;
    so.timeout_ms = timeout_ms;
    auto resp = transport_.send(r, so);
    if (!resp.ok()) return {};
    return {resp->status, resp->body};
  }
  // Sum of a metric's samples whose labels contain `label` (e.g. operation="get_object").
  double metric(const std::string& name, const std::string& label = "") {
    std::istringstream in(get("/metrics").body);
    std::string line;
    double total = 0;
    while (std::getline(in, line)) {
      if (line.rfind(name, 0) != 0) continue;
      if (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' ') continue;
      if (!label.empty() && line.find(label) == std::string::npos) continue;
      total += std::strtod(line.substr(line.rfind(' ') + 1).c_str(), nullptr);
    }
    return total;
  }
  std::string log() const { return read_file(log_); }
  pid_t pid() const { return pid_; }
  // Whether the process is still running (it has not exited or been killed).
  bool alive() {
    if (pid_ <= 0) return false;
    int st;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

 private:
  int port_;
  std::string log_;
  pid_t pid_ = -1;
  CurlTransport transport_{CurlTransportOptions{}};
};

}  // namespace sh::s3
