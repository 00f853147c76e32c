// ApiService: serves the HTTP contract (openapi/openapi.yaml; the flow is in
// docs/architecture.md). It dispatches through the route table (api/routes.h),
// validates every parameter and encodes answers; use-case rules live in core.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/registry.h>

#include "api/auth.h"
#include "api/compression.h"
#include "api/cors.h"
#include "api/errors.h"
#include "api/group_lag.h"
#include "api/http_metrics.h"
#include "api/http_server.h"
#include "api/long_poll_limiter.h"
#include "api/readiness_prober.h"
#include "api/routes.h"
#include "api/stream_handler.h"
#include "api/topic_records_handler.h"
#include "api/topic_stream_handler.h"
#include "core/exec/io_engine.h"
#include "core/metadata/metadata_store.h"
#include "core/read/log_reader.h"
#include "core/read/watermark_notifier.h"
#include "core/storage/object_store.h"

namespace sh::api {

struct ApiOptions {
  uint32_t default_max_records = 100;
  uint32_t max_records_limit = 10000;
  uint64_t default_max_bytes = 1u << 20;
  uint64_t max_bytes_limit = 64u << 20;
  int64_t max_timeout_ms = 30000;
  int64_t request_timeout_ms = 10000;  // deadline for the storage work of one request
  CorsPolicy cors;                     // --cors-origin (default: no CORS headers)
  size_t max_long_polls = 10000;       // waiting long-polls beyond this get 429 (0 = no limit)
  size_t max_long_polls_per_client = 0;  // from one client address; beyond it 429 (0 = no limit)
  // Consumer groups: a commit that would create a group beyond this is 403
  // (40301); the lag metrics track at most this many groups (0 = no limit).
  size_t max_groups = 1000;
  // Bearer-token authentication (api/auth.h); null = every route is open.
  std::shared_ptr<const TokenAuth> auth;
  bool metrics_auth = false;  // with `auth`: /metrics needs a read token too
  // gzip of JSON bodies (--gzip-min-bytes; api/compression.h).
  CompressionOptions compression;
  // Offset commits run here, on their own threads and queue, so commits that
  // wait on metadata writes (one store-wide lock and fsyncs in listing mode)
  // never take the threads reads need. Null: on the main engine.
  std::shared_ptr<exec::IoEngine> commit_engine;
};

// Execution: the HTTP worker parses, routes and validates; a records read that
// memory can answer (ReadRequest::cache_only) is answered there, no I/O done;
// every other route that may touch storage or metadata runs on the IoEngine (the connection stays
// suspended meanwhile, holding no worker). A full engine queue is 503 (50304)
// with Retry-After; a request whose deadline — counted from its arrival — passes
// while it waits is 504. /healthz, /metrics, /readyz (from the ReadinessProber's
// last round), /openapi.yaml and / never wait behind storage.
class ApiService {
 public:
  // REQUIRES: engine and prober are non-null and outlive the service (the
  // prober is started by the caller).
  ApiService(std::shared_ptr<read::LogReader> reader, std::shared_ptr<MetadataStore> metadata,
             std::shared_ptr<ObjectStore> store, std::shared_ptr<read::WatermarkNotifier> notifier,
             std::shared_ptr<prometheus::Registry> registry, std::shared_ptr<exec::IoEngine> engine,
             std::shared_ptr<ReadinessProber> prober, ApiOptions opts);

  // Which listener a request came in on. The admin listener (its own HttpServer
  // and thread) serves only the routes marked `admin`; any other is 404 there.
  enum class Listener { kMain, kAdmin };

  // The HttpServer handler.
  void handle(HttpRequest&& request, Responder responder, Listener listener = Listener::kMain);

  // While draining, /readyz answers 503 so load balancers stop sending traffic,
  // and a long-poll that would wait is answered at once with 503 (50302).
  void set_draining(bool draining) { draining_.store(draining); }

 private:
  struct Context;

  // Validates the route's {topic}/{partition}/{group} path elements into ctx.
  static std::optional<ApiError> parse_path_args(const RouteSpec& spec,
                                                 const std::vector<std::string_view>& args,
                                                 Context& ctx);
  // Runs the handler bound to `id` (one case per RouteId).
  void dispatch(RouteId id, const std::shared_ptr<Context>& ctx);
  // Runs dispatch(id, ctx) on the IoEngine; answers 503 if it is full.
  void dispatch_on_engine(RouteId id, std::shared_ptr<Context> ctx);
  void finish(Context& ctx, HttpResponse response);
  // 500 with a stable message; the exception's text goes to the log only.
  void fail_internal(Context& ctx, const std::exception& e);

  HttpResponse list_topics(Context& ctx);
  HttpResponse get_topic(Context& ctx);
  HttpResponse get_partition(Context& ctx);
  HttpResponse list_segments(Context& ctx);
  // May answer later (long-poll): responds through ctx itself.
  // on_worker: on the HTTP worker, answered from memory if it can be (a read
  // of cached blocks below the high watermark, no group); else it goes on to
  // the I/O engine like every data route.
  void read_records(std::shared_ptr<Context> ctx, bool on_worker = false);
  HttpResponse list_groups(Context& ctx);
  HttpResponse get_group_offsets(Context& ctx);
  HttpResponse commit_group_offsets(Context& ctx);
  HttpResponse metrics(Context& ctx);
  HttpResponse readyz(Context& ctx);

  HttpResponse core_error(const Error& e, const std::string& topic = {}, int32_t partition = -1);
  // The record-reading routes' parameter limits (from ApiOptions).
  ReadLimits read_limits() const;
  // 401/403 if the request lacks the token `spec` needs, else nullopt.
  std::optional<HttpResponse> check_auth(const RouteSpec& spec, const HttpRequest& request) const;
  // For a commit to `group`: 403 (40301) if it would create a group beyond max_groups.
  std::optional<HttpResponse> check_group_limit(const std::string& group);

  std::shared_ptr<read::LogReader> reader_;
  std::shared_ptr<MetadataStore> metadata_;
  std::shared_ptr<ObjectStore> store_;
  std::shared_ptr<read::WatermarkNotifier> notifier_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<exec::IoEngine> engine_;
  std::shared_ptr<ReadinessProber> prober_;
  ApiOptions opts_;
  HttpMetrics metrics_;
  GroupLagTracker lag_;
  LongPollLimiter long_polls_;
  std::mutex new_group_mu_;  // serializes commits that create groups (the max_groups check)
  StreamHandler streams_;  // GET .../records/stream
  TopicRecordsHandler topic_records_;  // GET /topics/{topic}/records
  TopicStreamHandler topic_streams_;   // GET /topics/{topic}/records/stream
  std::atomic<bool> draining_{false};
};

}  // namespace sh::api
