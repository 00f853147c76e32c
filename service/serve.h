// `streamhouse serve`: wires backends, read path and HTTP server, then runs
// until SIGTERM/SIGINT, when it stops accepting, answers waiting long-polls,
// finishes in-flight requests and exits 0.
#pragma once

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "api/api_service.h"
#include "core/read/log_reader.h"
#include "service/config.h"

namespace sh::service {

struct ServeOptions {
  BackendConfig backend;
  std::string listen = "127.0.0.1:8080";
  std::string admin_listen;  // "" = none: /healthz, /readyz, /metrics on their own thread
  unsigned threads = 0;  // 0 = one per CPU core the process may run on
  unsigned max_connections = 4096;
  unsigned io_threads = 16;
  size_t io_queue = 1024;
  uint64_t block_cache_bytes = 256ull << 20;
  std::string disk_cache_dir;                 // "" = no disk cache
  uint64_t disk_cache_bytes = 1ull << 30;
  uint64_t readahead_max_bytes = 16ull << 20;  // 0 = no read-ahead
  int64_t heap_trim_interval_ms = 1000;        // 0 = never give free heap memory back
  int64_t index_ttl_ms = 0;  // 0 = 5000 with listing metadata, 30000 with PostgreSQL
  int64_t long_poll_interval_ms = 500;
  int64_t request_timeout_ms = 10000;
  int64_t drain_timeout_ms = 10000;
  std::string cors_origin;
  size_t max_long_polls = 0;           // 0 = 3/4 of max_connections; must stay below it
  unsigned max_connections_per_ip = 1024;  // 0 = no limit
  size_t max_long_polls_per_ip = 0;    // 0 = 3/4 of max_connections_per_ip (none if that is 0)
  unsigned connection_timeout_s = 15;  // idle connections are closed after this
  size_t max_groups = 1000;            // 0 = no limit
  size_t gzip_min_bytes = 1024;        // JSON bodies from this size are sent gzip if asked; 0 = never
  std::string api_token_file;          // "" = no authentication
  bool metrics_auth = false;
  bool migrate = false;
  std::string log_format = "text";
  std::string log_level = "info";
};

void add_serve_flags(CLI::App* cmd, ServeOptions* opts);

// Connection and long-poll limits after defaults are applied, or
// kInvalidArgument if they contradict each other (a message naming the flags).
struct HttpLimits {
  unsigned max_connections;
  unsigned max_connections_per_ip;
  size_t max_long_polls;
  size_t max_long_polls_per_ip;
};
Result<HttpLimits> resolve_http_limits(const ServeOptions& opts);
int run_serve(const ServeOptions& opts);

}  // namespace sh::service
