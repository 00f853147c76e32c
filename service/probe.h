// `streamhouse probe URL`: the container health check. One plain HTTP/1.0 GET over a
// socket (no libcurl, no shell), bounded by a deadline; exit 0 on a 2xx status,
// 1 on any other status or when the server cannot be reached in time.
//   HEALTHCHECK CMD ["streamhouse", "probe", "http://127.0.0.1:8080/healthz"]
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "core/result.h"

namespace sh::service {

struct ProbeOptions {
  std::string url;
  int64_t timeout_ms = 2000;
};

void add_probe_flags(CLI::App* cmd, ProbeOptions* o);

struct ProbeTarget {
  std::string host;  // a name or a numeric address (IPv6 without brackets)
  uint16_t port = 80;
  std::string path;  // starts with '/'
};

// Accepts http://host[:port][/path], host[:port][/path] and [v6]:port forms.
// REQUIRES nothing; rejects https (no TLS here), user info, and any byte that could
// end the request line or a header (controls, spaces) with InvalidArgument.
Result<ProbeTarget> parse_probe_url(std::string_view url);

// The status code of the status line "HTTP/1.x NNN ...", or InvalidArgument.
Result<int> parse_status_line(std::string_view head);

// Connects, sends the GET, reads the status line, all before the deadline.
Result<int> probe_status(const ProbeTarget& target, int64_t timeout_ms);

// The subcommand: prints "HTTP <status>" on stdout, or why on stderr. Returns the exit code.
int run_probe(const ProbeOptions& o, std::ostream& out, std::ostream& err);

}  // namespace sh::service
