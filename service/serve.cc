#include "service/serve.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/http_server.h"
#include "api/listen_address.h"
#include "api/process_metrics.h"
#include "core/cache/disk_cache.h"
#include "core/exec/heap_trimmer.h"
#include "core/read/block_fetcher.h"
#include "core/read/watermark_notifier.h"
#include "service/logging.h"
#include "service/sizing.h"

namespace sh::service {

void add_serve_flags(CLI::App* cmd, ServeOptions* o) {
  add_backend_flags(cmd, &o->backend);
  cmd->add_option("--listen", o->listen, "Address to serve HTTP on (host:port, [v6]:port)")
      ->capture_default_str();
  cmd->add_option("--admin-listen", o->admin_listen,
                  "Also serve /healthz, /readyz and /metrics on this address (host:port), on a "
                  "thread of their own, so probes and scrapes never wait behind data traffic")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads,
                  "HTTP worker threads (0 = one per CPU core the process may run on)")
      ->check(CLI::Range(0u, 256u))
      ->capture_default_str();
  cmd->add_option("--max-connections", o->max_connections, "Concurrent connections accepted")
      ->check(CLI::Range(16u, 1000000u))
      ->capture_default_str();
  cmd->add_option("--io-threads", o->io_threads,
                  "I/O engine threads: storage and metadata operations run at once "
                  "(never on HTTP threads)")
      ->check(CLI::Range(1u, 1024u))
      ->capture_default_str();
  cmd->add_option("--io-queue", o->io_queue,
                  "Requests allowed to wait for an I/O engine thread; more get 503 with Retry-After")
      ->check(CLI::Range(size_t{1}, size_t{1000000}))
      ->capture_default_str();
  cmd->add_option("--block-cache-bytes", o->block_cache_bytes,
                  "Memory for blocks: decoded blocks (LRU by bytes) and, with read-ahead on, "
                  "the read-ahead buffer of stored bytes (a quarter of it, at most 64 MiB)")
      ->capture_default_str();
  cmd->add_option("--disk-cache-dir", o->disk_cache_dir,
                  "Directory for the disk cache of stored blocks (kept across restarts); "
                  "empty = no disk cache");
  cmd->add_option("--disk-cache-bytes", o->disk_cache_bytes,
                  "Disk space the disk cache may use (with --disk-cache-dir)")
      ->check(CLI::Range(uint64_t{1} << 20, uint64_t{1} << 50))
      ->capture_default_str();
  cmd->add_option("--readahead-max-bytes", o->readahead_max_bytes,
                  "Largest read-ahead window of a sequential reader (0 = no read-ahead)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 30))
      ->capture_default_str();
  cmd->add_option("--heap-trim-interval-ms", o->heap_trim_interval_ms,
                  "How often the allocator's free memory is given back to the kernel (malloc_trim), "
                  "so that RSS stays near what the caches hold (0 = never)")
      ->check(CLI::Range(int64_t{0}, int64_t{3600000}))
      ->capture_default_str();
  cmd->add_option("--index-ttl-ms", o->index_ttl_ms,
                  "How often a partition's segment list is refreshed from metadata "
                  "(default: 5000 with listing metadata, 30000 with PostgreSQL)")
      ->check(CLI::Range(int64_t{10}, int64_t{3600000}));
  cmd->add_option("--long-poll-interval-ms", o->long_poll_interval_ms,
                  "How often a partition with waiting long-polls is checked for new segments")
      ->check(CLI::Range(int64_t{10}, int64_t{60000}))
      ->capture_default_str();
  cmd->add_option("--request-timeout-ms", o->request_timeout_ms,
                  "Deadline for the storage work of one request")
      ->check(CLI::Range(int64_t{100}, int64_t{600000}))
      ->capture_default_str();
  cmd->add_option("--drain-timeout-ms", o->drain_timeout_ms,
                  "On SIGTERM, how long in-flight requests may take to finish")
      ->capture_default_str();
  cmd->add_option("--cors-origin", o->cors_origin,
                  "Browser origins allowed to read the API (CORS): '*', or a comma-separated list of "
                  "exact origins such as https://dash.example.com; others get no CORS headers");
  cmd->add_option("--max-long-polls", o->max_long_polls,
                  "Long-polls allowed to wait at once; more get 429 with Retry-After. Must be below "
                  "--max-connections (default: 3/4 of it)")
      ->check(CLI::Range(size_t{0}, size_t{10000000}));
  cmd->add_option("--max-connections-per-ip", o->max_connections_per_ip,
                  "Connections one client address may hold; more are closed at once (0 = no limit; "
                  "use 0 behind a proxy that funnels every client through one address)")
      ->check(CLI::Range(0u, 1000000u))
      ->capture_default_str();
  cmd->add_option("--max-long-polls-per-ip", o->max_long_polls_per_ip,
                  "Long-polls one client address may have waiting; more get 429 (default: 3/4 of "
                  "--max-connections-per-ip; no limit if that is 0)")
      ->check(CLI::Range(size_t{0}, size_t{10000000}));
  cmd->add_option("--connection-timeout-s", o->connection_timeout_s,
                  "Idle connections (keep-alive, or a client that stops sending) are closed after this")
      ->check(CLI::Range(1u, 3600u))
      ->capture_default_str();
  cmd->add_option("--max-groups", o->max_groups,
                  "Consumer groups allowed; a commit that would create one more gets 403 (0 = no limit)")
      ->check(CLI::Range(size_t{0}, size_t{100000000}))
      ->capture_default_str();
  cmd->add_option("--gzip-min-bytes", o->gzip_min_bytes,
                  "JSON bodies of at least this many bytes are sent gzip to clients that accept it "
                  "(Accept-Encoding); 0 = never compress")
      ->check(CLI::Range(size_t{0}, size_t{1} << 30))
      ->capture_default_str();
  cmd->add_option("--api-token-file", o->api_token_file,
                  "Bearer tokens, one '<read|commit> <token>' per line: data routes then need "
                  "'Authorization: Bearer <token>' (read: GET routes; commit: also POST offsets). "
                  "/healthz, /readyz, / and /openapi.yaml stay open");
  cmd->add_flag("--metrics-auth", o->metrics_auth,
                "With --api-token-file: /metrics needs a token too");
  cmd->add_flag("--migrate", o->migrate, "Apply PostgreSQL migrations before serving");
  cmd->add_option("--log-format", o->log_format, "text or json")->capture_default_str();
  cmd->add_option("--log-level", o->log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();
}

Result<HttpLimits> resolve_http_limits(const ServeOptions& o) {
  HttpLimits l{o.max_connections, o.max_connections_per_ip, o.max_long_polls, o.max_long_polls_per_ip};
  // Long-polls hold connections: some must stay free for every other request.
  if (l.max_long_polls == 0) l.max_long_polls = std::max<size_t>(1, size_t{l.max_connections} * 3 / 4);
  if (l.max_long_polls >= l.max_connections) {
    return invalid_argument(fmt::format(
        "--max-long-polls ({}) must be below --max-connections ({}) so that waiting long-polls "
        "cannot take every connection",
        l.max_long_polls, l.max_connections));
  }
  if (l.max_connections_per_ip > 0) {
    if (l.max_long_polls_per_ip == 0) {
      l.max_long_polls_per_ip = std::max<size_t>(1, size_t{l.max_connections_per_ip} * 3 / 4);
    }
    if (l.max_long_polls_per_ip >= l.max_connections_per_ip && l.max_connections_per_ip > 1) {
      return invalid_argument(fmt::format("--max-long-polls-per-ip ({}) must be below --max-connections-per-ip ({})",
                                          l.max_long_polls_per_ip, l.max_connections_per_ip));
    }
  }
  l.max_long_polls_per_ip = std::min(l.max_long_polls_per_ip, l.max_long_polls);
  return l;
}

namespace {

// Niceness of the I/O engines' threads (storage work: reads, decodes, encodes
// that memory could not answer) relative to the HTTP workers, which answer what
// memory can (warm reads, warm stream chunks, /healthz). On saturated cores the
// workers go first: with one worker and 100 cold streams decoding on the
// engines, /healthz p99 was 92 ms at 0 and 10-11 ms at 15 (bench/followers).
constexpr int kStorageNice = 15;
// The admin listener thread's scheduler slice (api::HttpServerOptions::short_slice_us).
constexpr unsigned kAdminSliceUs = 100;

// Connections the admin listener accepts: probes and scrapers, a few at a time.
constexpr unsigned kAdminConnections = 64;

}  // namespace

int run_serve(const ServeOptions& o) {
  // glibc gives each thread that allocates its own arena (up to 8 per core);
  // blocks decoded on one I/O thread and freed on another then leave memory
  // spread over many arenas, and RSS creeps up during a long stream (measured:
  // a 10M-record stream from 22 to 139 MiB; flat at ~100 MiB with 2 arenas).
  // MALLOC_ARENA_MAX in the environment still wins. What is freed between live
  // blocks still stays resident; the heap trimmer below gives it back.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 2);
  if (auto st = setup_logging(o.log_format, o.log_level); !st.ok()) {
    fprintf(stderr, "streamhouse serve: %s\n", st.error().message().c_str());
    return 2;
  }
  auto listen = parse_listen(o.listen);
  if (!listen.ok()) {
    spdlog::error("{}", listen.error().message());
    return 2;
  }
  std::optional<std::pair<std::string, uint16_t>> admin_listen;
  if (!o.admin_listen.empty()) {
    auto parsed = parse_listen(o.admin_listen);
    if (!parsed.ok()) {
      spdlog::error("--admin-listen: {}", parsed.error().message());
      return 2;
    }
    admin_listen = *parsed;
  }
  auto limits = resolve_http_limits(o);
  if (!limits.ok()) {
    spdlog::error("{}", limits.error().message());
    return 2;
  }
  std::shared_ptr<const api::TokenAuth> auth;
  if (!o.api_token_file.empty()) {
    auto loaded = api::TokenAuth::load_file(o.api_token_file);
    if (!loaded.ok()) {
      spdlog::error("--api-token-file: {}", loaded.error().message());
      return 2;
    }
    auth = std::move(*loaded);
    spdlog::info("authentication: {} read and {} commit tokens{}", auth->read_tokens(), auth->commit_tokens(),
                 o.metrics_auth ? "; /metrics needs a token" : "");
  } else if (o.metrics_auth) {
    spdlog::error("--metrics-auth needs --api-token-file");
    return 2;
  }

  // Signals are taken synchronously by this thread only: block them before any
  // thread starts so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (o.migrate && o.backend.metadata != "listing") {
    pg::PgOptions pgo = o.backend.pg;
    pgo.conninfo = o.backend.metadata;
    if (auto st = pg::migrate(pgo); !st.ok()) {
      spdlog::error("migration failed: {}", st.error().message());
      return 1;
    }
  }

  // Also reports the process_* metrics and streamhouse_build_info at each scrape.
  auto registry = std::make_shared<api::ProcessMetricsRegistry>();
  read::LogReaderOptions ro;
  const BlockMemory block_memory = split_block_memory(o.block_cache_bytes, o.readahead_max_bytes);
  ro.source.block_cache_bytes = block_memory.decoded_cache_bytes;
  const bool listing = o.backend.metadata == "listing" || o.backend.metadata.empty();
  const int64_t ttl_ms = o.index_ttl_ms > 0 ? o.index_ttl_ms : (listing ? 5000 : 30000);
  ro.index_ttl = Millis(ttl_ms);
  ro.tail_refresh_interval = Millis(std::min<int64_t>(o.long_poll_interval_ms, ttl_ms));
  auto backends = open_backends(o.backend, registry, &ro.source);
  if (!backends.ok()) {
    spdlog::error("cannot open backends: {}", backends.error().message());
    return 1;
  }
  // Tiers below the decoded-block cache: read-ahead buffer, then the disk cache.
  cache::DiskCacheMetrics disk_metrics(*registry);
  std::unique_ptr<cache::DiskCache> disk;
  if (!o.disk_cache_dir.empty()) {
    cache::DiskCacheOptions dco;
    dco.dir = o.disk_cache_dir;
    dco.capacity_bytes = o.disk_cache_bytes;
    auto opened = cache::DiskCache::open(dco, disk_metrics, system_clock());
    if (!opened.ok()) {
      spdlog::error("cannot open the disk cache: {}", opened.error().message());
      return 1;
    }
    disk = std::move(*opened);
    spdlog::info("disk cache: {} ({} bytes, {} entries kept from before)", o.disk_cache_dir,
                 disk->stats().bytes, disk->stats().entries);
  }
  auto prefetch_engine = std::make_shared<exec::IoEngine>(
      exec::IoEngineOptions{8, 4096, "readahead", kStorageNice}, *registry);
  read::BlockFetcherOptions bfo;
  bfo.readahead_max_bytes = o.readahead_max_bytes;
  bfo.max_inflight_bytes = block_memory.readahead_buffer_bytes;
  auto fetcher = std::make_shared<read::BlockFetcher>(bfo, disk.get(), prefetch_engine.get(), *registry);
  backends->source->set_block_fetcher(fetcher);
  auto reader = std::make_shared<read::LogReader>(backends->metadata, backends->source, ro, *registry);
  read::WatermarkNotifierOptions no;
  no.poll_interval = Millis(o.long_poll_interval_ms);
  auto notifier = std::make_shared<read::WatermarkNotifier>(reader, no, *registry);

  auto cors = api::CorsPolicy::parse(o.cors_origin);
  if (!cors.ok()) {
    spdlog::error("{}", cors.error().message());
    return 2;
  }
  api::ApiOptions ao;
  ao.request_timeout_ms = o.request_timeout_ms;
  ao.cors = *cors;
  ao.max_long_polls = limits->max_long_polls;
  ao.max_long_polls_per_client = limits->max_long_polls_per_ip;
  ao.max_groups = o.max_groups;
  ao.compression.min_bytes = o.gzip_min_bytes;
  ao.auth = auth;
  ao.metrics_auth = o.metrics_auth;
  auto engine = std::make_shared<exec::IoEngine>(
      exec::IoEngineOptions{o.io_threads, o.io_queue, "requests", kStorageNice}, *registry);
  // Commits on their own few threads: a pile of slow commits never starves reads.
  ao.commit_engine = std::make_shared<exec::IoEngine>(
      exec::IoEngineOptions{std::min(4u, o.io_threads), o.io_queue, "commits", kStorageNice}, *registry);
  auto prober = std::make_shared<api::ReadinessProber>(backends->metadata, backends->store);
  prober->start();  // the first round runs here, before the first request
  auto service = std::make_shared<api::ApiService>(reader, backends->metadata, backends->store,
                                                   notifier, registry, engine, prober, ao);
  // Free heap memory back to the kernel at a steady pace (--heap-trim-interval-ms).
  exec::HeapTrimmer heap_trimmer({Millis(o.heap_trim_interval_ms), {}}, *registry);

  api::HttpServerOptions ho;
  ho.listen_host = listen->first;
  ho.port = listen->second;
  ho.threads = http_worker_threads(o.threads);
  ho.connection_limit = o.max_connections;
  ho.per_ip_connection_limit = limits->max_connections_per_ip;
  ho.connection_timeout_s = o.connection_timeout_s;
  auto server = api::HttpServer::start(
      ho, [service](api::HttpRequest&& req, api::Responder resp) {
        service->handle(std::move(req), std::move(resp));
      });
  auto stop_background = [&] {
    notifier->shutdown();
    prober->stop();
    engine->stop();
    ao.commit_engine->stop();
    prefetch_engine->stop();
  };
  if (!server.ok()) {
    spdlog::error("{}", server.error().message());
    stop_background();
    return 1;
  }
  spdlog::info("serving {} (metadata: {}) on http://{} with {} threads",
               backends->store->describe(), backends->metadata->describe(),
               api::format_host_port(listen->first, (*server)->port()), ho.threads);
  // The admin listener: its own daemon and thread, few connections, the same
  // service (auth, metrics) restricted to the admin routes.
  std::unique_ptr<api::HttpServer> admin;
  if (admin_listen) {
    api::HttpServerOptions aho = ho;
    aho.listen_host = admin_listen->first;
    aho.port = admin_listen->second;
    aho.threads = 1;
    aho.connection_limit = kAdminConnections;
    aho.per_ip_connection_limit = 0;
    // Short scheduler slices: a probe preempts the busy data threads at once
    // (bench/RESULTS.md, followers: the admin /healthz tail).
    aho.short_slice_us = kAdminSliceUs;
    auto started = api::HttpServer::start(aho, [service](api::HttpRequest&& req, api::Responder resp) {
      service->handle(std::move(req), std::move(resp), api::ApiService::Listener::kAdmin);
    });
    if (!started.ok()) {
      spdlog::error("--admin-listen: {}", started.error().message());
      (*server)->stop(0);
      stop_background();
      return 1;
    }
    admin = std::move(*started);
    spdlog::info("admin listener (/healthz, /readyz, /metrics) on http://{}",
                 api::format_host_port(admin_listen->first, admin->port()));
  }

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, draining (up to {} ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               o.drain_timeout_ms);
  service->set_draining(true);
  (*server)->quiesce();
  notifier->shutdown();  // answers waiting long-polls now
  (*server)->stop(o.drain_timeout_ms);
  // The admin listener answered /readyz (503, draining) until the main one stopped.
  if (admin) admin->stop(0);
  stop_background();  // the engines after the server: every request they ran has been answered
  spdlog::info("stopped");
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace sh::service
