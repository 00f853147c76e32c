#include "api/listen_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace sh::api {

Result<HostPort> parse_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return invalid_argument(fmt::format("listen address '{}': expected [ipv6]:port", text));
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.find(':');
    if (colon == std::string_view::npos) {
      return invalid_argument(fmt::format("listen address '{}': expected host:port", text));
    }
    if (text.find(':', colon + 1) != std::string_view::npos) {
      return invalid_argument(
          fmt::format("listen address '{}': an IPv6 address needs brackets, as in [::1]:8080", text));
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) return invalid_argument(fmt::format("listen address '{}': the host is empty", text));
  uint32_t value = 0;
  bool digits = !port.empty() && port.size() <= 5;
  for (char c : port) {
    if (c < '0' || c > '9') {
      digits = false;
      break;
    }
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (!digits || value > 65535) {
    return invalid_argument(fmt::format("listen address '{}': expected a port 0-65535 after the ':'", text));
  }
  return HostPort{std::string(host), static_cast<uint16_t>(value)};
}

std::string format_host_port(std::string_view host, uint16_t port) {
  bool bracket = host.find(':') != std::string_view::npos && !(host.size() >= 2 && host.front() == '[');
  return bracket ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
}

Result<ListenAddress> make_listen_address(std::string_view host_in, uint16_t port) {
  std::string_view bare = host_in;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  std::string host(bare);  // inet_pton wants a terminated string
  ListenAddress a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.len = sizeof(sockaddr_in);
    return a;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.len = sizeof(sockaddr_in6);
    a.v6 = true;
    a.any6 = IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr);
    return a;
  }
  return invalid_argument(fmt::format("listen address '{}' is not an IPv4 or IPv6 literal", host_in));
}

int probe_bind(const ListenAddress& a) {
  int fd = ::socket(a.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1;
  int v6only = a.any6 ? 0 : 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (a.v6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  int err = 0;
  if (::bind(fd, a.addr(), a.len) != 0) err = errno;
  ::close(fd);
  return err;
}

std::string describe_bind_errno(int err) {
  switch (err) {
    case EADDRINUSE: return "address in use";
    case EACCES: return "permission denied (ports below 1024 need privileges)";
    case EADDRNOTAVAIL: return "address not available on this host";
    case EAFNOSUPPORT: return "address family not supported (is IPv6 disabled?)";
    default: return std::strerror(err);
  }
}

}  // namespace sh::api
