#include "service/probe.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <memory>
#include <ostream>

#include <fmt/format.h>

#include "core/fs/file.h"

namespace sh::service {
namespace {

using Clock = std::chrono::steady_clock;

// Enough for any status line; a server that sends more before "\r\n" is not HTTP.
constexpr size_t kMaxHeadBytes = 8192;

bool safe_text(std::string_view s) {
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<int64_t>(left.count(), 1 << 30));
}

// Waits for `events` on fd until the deadline; false on timeout or poll error.
Status wait_for(int fd, short events, Clock::time_point deadline, const std::string& what) {
  for (;;) {
    const int ms = remaining_ms(deadline);
    if (ms == 0) return Error(Errc::kTimeout, fmt::format("timed out {}", what));
    pollfd p{fd, events, 0};
    const int r = ::poll(&p, 1, ms);
    if (r > 0) return Status();
    if (r == 0) return Error(Errc::kTimeout, fmt::format("timed out {}", what));
    if (errno != EINTR) return fs::errno_error(errno, "polling", what);
  }
}

Result<fs::UniqueFd> connect_before(const addrinfo& ai, Clock::time_point deadline,
                                    const std::string& what) {
  fs::UniqueFd fd(::socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai.ai_protocol));
  if (!fd.valid()) return fs::errno_error(errno, "opening a socket for", what);
  if (::connect(fd.get(), ai.ai_addr, ai.ai_addrlen) != 0) {
    if (errno != EINPROGRESS) return fs::errno_error(errno, "connecting to", what);
    if (auto st = wait_for(fd.get(), POLLOUT, deadline, fmt::format("connecting to {}", what)); !st.ok()) return st.error();
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) return fs::errno_error(err, "connecting to", what);
  }
  return fd;
}

}  // namespace

void add_probe_flags(CLI::App* cmd, ProbeOptions* o) {
  cmd->add_option("url", o->url, "http://host:port/path to GET (e.g. http://127.0.0.1:8080/healthz)")
      ->required();
  cmd->add_option("--timeout-ms", o->timeout_ms, "Deadline for connecting, sending and the status line")
      ->check(CLI::Range(int64_t{1}, int64_t{600000}))
      ->capture_default_str();
}

Result<ProbeTarget> parse_probe_url(std::string_view url) {
  const std::string_view original = url;
  if (url.substr(0, 8) == "https://") {
    return invalid_argument(fmt::format("'{}': https is not supported; probe the plain HTTP port", original));
  }
  if (url.substr(0, 7) == "http://") url.remove_prefix(7);
  if (url.find("://") != std::string_view::npos) {
    return invalid_argument(fmt::format("'{}': expected http://host:port/path", original));
  }
  ProbeTarget t;
  const size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  t.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  if (authority.find('@') != std::string_view::npos) {
    return invalid_argument(fmt::format("'{}': user info is not supported", original));
  }
  std::string_view port;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return invalid_argument(fmt::format("'{}': unterminated [IPv6] address", original));
    }
    t.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return invalid_argument(fmt::format("'{}': expected [v6]:port", original));
      port = after.substr(1);
      if (port.empty()) return invalid_argument(fmt::format("'{}': empty port", original));
    }
  } else {
    const size_t colon = authority.rfind(':');
    t.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return invalid_argument(fmt::format("'{}': empty port", original));
    }
  }
  if (t.host.empty()) return invalid_argument(fmt::format("'{}': no host", original));
  if (!safe_text(t.host) || !safe_text(t.path)) {
    return invalid_argument(fmt::format("'{}': spaces and control characters are not allowed", original));
  }
  if (!port.empty()) {
    unsigned v = 0;
    const auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535) {
      return invalid_argument(fmt::format("'{}': port must be 1-65535", original));
    }
    t.port = static_cast<uint16_t>(v);
  }
  return t;
}

Result<int> parse_status_line(std::string_view head) {
  // "HTTP/1.1 200 OK": version, one space, three digits, then a space or the line end.
  if (head.size() < 12 || head.substr(0, 7) != "HTTP/1." || head[8] != ' ') {
    return Error(Errc::kBadResponse, "not an HTTP/1.x status line");
  }
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (head[i] < '0' || head[i] > '9') return Error(Errc::kBadResponse, "status is not three digits");
    code = code * 10 + (head[i] - '0');
  }
  if (head.size() > 12 && head[12] != ' ' && head[12] != '\r') {
    return Error(Errc::kBadResponse, "status is not three digits");
  }
  if (code < 100) return Error(Errc::kBadResponse, "status below 100");
  return code;
}

Result<int> probe_status(const ProbeTarget& target, int64_t timeout_ms) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(target.port);
  if (int rc = ::getaddrinfo(target.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return unavailable(fmt::format("cannot resolve {}: {}", target.host, ::gai_strerror(rc)));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> addrs(found, ::freeaddrinfo);

  const bool v6 = target.host.find(':') != std::string::npos;
  const std::string where = fmt::format("{}{}{}:{}", v6 ? "[" : "", target.host, v6 ? "]" : "", target.port);
  Result<fs::UniqueFd> conn = unavailable(fmt::format("no address for {}", where));
  for (const addrinfo* ai = addrs.get(); ai != nullptr; ai = ai->ai_next) {
    conn = connect_before(*ai, deadline, where);
    if (conn.ok() || conn.error().code() == Errc::kTimeout) break;
  }
  if (!conn.ok()) return conn.error();
  const int fd = conn->get();

  const std::string request =
      fmt::format("GET {} HTTP/1.0\r\nHost: {}\r\nUser-Agent: streamhouse-probe\r\n"
                  "Connection: close\r\n\r\n",
                  target.path, where);
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (auto st = wait_for(fd, POLLOUT, deadline, fmt::format("sending to {}", where)); !st.ok()) return st.error();
    } else if (n < 0 && errno != EINTR) {
      return fs::errno_error(errno, "sending to", where);
    }
  }

  std::string head;
  char buf[1024];
  while (head.find("\r\n") == std::string::npos) {
    if (head.size() >= kMaxHeadBytes) return Error(Errc::kBadResponse, "no status line in the first 8 KiB");
    const ssize_t n = ::recv(fd, buf, std::min(sizeof buf, kMaxHeadBytes - head.size()), 0);
    if (n > 0) {
      head.append(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      if (head.empty()) return Error(Errc::kBadResponse, "connection closed before any response");
      break;  // a status line without its CRLF: parse what came
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (auto st = wait_for(fd, POLLIN, deadline, fmt::format("waiting for {}", where)); !st.ok()) return st.error();
    } else if (errno != EINTR) {
      return fs::errno_error(errno, "receiving from", where);
    }
  }
  return parse_status_line(head);
}

int run_probe(const ProbeOptions& o, std::ostream& out, std::ostream& err) {
  auto target = parse_probe_url(o.url);
  if (!target.ok()) {
    err << "probe: " << target.error().message() << "\n";
    return 2;
  }
  auto status = probe_status(*target, o.timeout_ms);
  if (!status.ok()) {
    err << "probe: " << o.url << ": " << status.error().message() << "\n";
    return 1;
  }
  out << "HTTP " << *status << "\n";
  return *status >= 200 && *status < 300 ? 0 : 1;
}

}  // namespace sh::service
