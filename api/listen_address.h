// Listen addresses: "host:port" text, the numeric socket address the server
// binds, and the one way a host and port are written back ("[v6]:port").
//
// Hosts are numeric literals only (no name resolution): what is bound is
// exactly what was asked for.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace sh::api {

struct HostPort {
  std::string host;  // without brackets: "127.0.0.1", "::1", "0.0.0.0", "::"
  uint16_t port = 0;
};

// Parses "host:port" or "[v6]:port". The port is decimal 0-65535 (0: pick a
// free one). An IPv6 host needs the brackets ("::1:8080" is rejected as
// ambiguous). The host is not checked beyond being non-empty; see
// make_listen_address for that.
Result<HostPort> parse_host_port(std::string_view text);

// "host:port", or "[host]:port" when the host is an IPv6 literal (has a ':').
// A host already in brackets is kept as is. The inverse of parse_host_port.
std::string format_host_port(std::string_view host, uint16_t port);

// A numeric socket address to listen on.
struct ListenAddress {
  sockaddr_storage storage{};
  socklen_t len = 0;
  bool v6 = false;
  bool any6 = false;  // "::": accepts IPv4 too (dual stack)

  const sockaddr* addr() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// `host` is an IPv4 or IPv6 literal, optionally in brackets ("[::1]").
// kInvalidArgument for anything else (including names such as "localhost").
Result<ListenAddress> make_listen_address(std::string_view host, uint16_t port);

// Binds a fresh socket to `a` the way libmicrohttpd does (SO_REUSEADDR;
// IPV6_V6ONLY unless dual stack) and closes it again: 0 if it binds, else the
// errno. Tells why a daemon could not start listening.
int probe_bind(const ListenAddress& a);

// A bind() errno in words, with the usual cause ("address in use",
// "permission denied (ports below 1024 need privileges)", ...).
std::string describe_bind_errno(int err);

}  // namespace sh::api
