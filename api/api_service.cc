#include "api/api_service.h"

#include <algorithm>
#include <chrono>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include "api/assets.h"
#include "api/commit_body.h"
#include "api/json_writer.h"
#include "api/query.h"
#include "api/read_params.h"
#include "api/record_encoders.h"
#include "api/records_json.h"
#include "api/response_format.h"
#include "api/routes.h"
#include "core/format/names.h"
#include "core/read/start_resolver.h"

namespace sh::api {
namespace {

using json = nlohmann::json;

HttpResponse json_response(const json& body, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

std::string_view method_label(std::string_view m) {
  for (std::string_view known : {"GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE"}) {
    if (m == known) return known;
  }
  return "other";
}

std::optional<ApiError> parse_topic(std::string_view raw, std::string* out) {
  if (!format::valid_topic_name(raw)) {
    return ApiError{kBadPath, format::invalid_name_message("topic name", raw)};
  }
  *out = std::string(raw);
  return std::nullopt;
}

std::optional<ApiError> parse_partition(std::string_view raw, int32_t* out) {
  auto v = parse_uint(raw);
  if (!v || *v > INT32_MAX || (raw.size() > 1 && raw[0] == '0')) {
    return ApiError{kBadPath,
                    fmt::format("invalid partition '{}' (an integer in [0, 2147483647])", raw.substr(0, 32))};
  }
  *out = static_cast<int32_t>(*v);
  return std::nullopt;
}

std::optional<ApiError> parse_group(std::string_view raw, std::string* out) {
  if (!valid_group_id(raw)) {
    return ApiError{kBadPath, format::invalid_name_message("consumer group id", raw)};
  }
  *out = std::string(raw);
  return std::nullopt;
}

constexpr std::string_view kImmutableCacheControl = "public, max-age=31536000, immutable";

// The strong ETag of a records response whose range [start_offset, next_offset)
// ends below the high watermark (records are immutable, so the range and format
// name the bytes of every record), or nullopt for one that reaches the head,
// is empty or was cut short by an error. The watermarks in such a body are as of
// when it was first served and are not part of the validator (docs: openapi).
std::optional<std::string> immutable_records_etag(int32_t partition, const read::ReadResult& r,
                                                  RecordFormat fmt) {
  if (r.records.empty() || r.stopped_by || r.next_offset >= r.high_watermark) return std::nullopt;
  const char f = fmt == RecordFormat::kString ? 's' : fmt == RecordFormat::kBase64 ? 'b' : 'j';
  return fmt::format("\"p{}-{}-{}-{}\"", partition, r.start_offset, r.next_offset, f);
}

// If-None-Match (RFC 9110 13.1.2): "*" or a list of entity tags, compared weakly.
bool etag_matches(std::string_view header, std::string_view etag) {
  if (header.empty()) return false;
  size_t i = 0;
  while (i < header.size()) {
    size_t j = header.find(',', i);
    if (j == std::string_view::npos) j = header.size();
    std::string_view tag = header.substr(i, j - i);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.rfind("W/", 0) == 0) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
    i = j + 1;
  }
  return false;
}

}  // namespace

struct ApiService::Context {
  HttpRequest request;
  Responder responder;
  std::string_view route = "unmatched";
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  QueryParams params;
  Deadline deadline;  // of the storage work: request_timeout_ms after arrival
  // Path arguments of the matched route, validated.
  std::string topic;
  int32_t partition = -1;
  std::string group;
  bool pretty = false;  // ?pretty=true: JSON bodies indented (api/response_format.h)
};

ApiService::ApiService(std::shared_ptr<read::LogReader> reader,
                       std::shared_ptr<MetadataStore> metadata, std::shared_ptr<ObjectStore> store,
                       std::shared_ptr<read::WatermarkNotifier> notifier,
                       std::shared_ptr<prometheus::Registry> registry,
                       std::shared_ptr<exec::IoEngine> engine,
                       std::shared_ptr<ReadinessProber> prober, ApiOptions opts)
    : reader_(std::move(reader)),
      metadata_(std::move(metadata)),
      store_(std::move(store)),
      notifier_(std::move(notifier)),
      registry_(std::move(registry)),
      engine_(std::move(engine)),
      prober_(std::move(prober)),
      opts_(std::move(opts)),
      metrics_(*registry_),
      lag_(reader_.get(), opts_.max_groups),
      long_polls_(opts_.max_long_polls, opts_.max_long_polls_per_client, *registry_),
      streams_(reader_, metadata_, notifier_, engine_, *registry_, &lag_,
               StreamHandlerOptions{15000, opts_.request_timeout_ms}),
      topic_records_(reader_, metadata_, notifier_, engine_, long_polls_, &lag_, read_limits(),
                     opts_.request_timeout_ms),
      topic_streams_(reader_, metadata_, notifier_, engine_, streams_.metrics(), &lag_,
                     TopicStreamHandlerOptions{15000, opts_.request_timeout_ms}) {}

ReadLimits ApiService::read_limits() const {
  return ReadLimits{opts_.default_max_records, opts_.max_records_limit, opts_.default_max_bytes,
                    opts_.max_bytes_limit, opts_.max_timeout_ms};
}

void ApiService::handle(HttpRequest&& request, Responder responder, Listener listener) {
  auto ctx = std::make_shared<Context>();
  ctx->request = std::move(request);
  ctx->responder = std::move(responder);
  try {
    const std::string& method = ctx->request.method;
    auto match = match_route(ctx->request.path);
    if (match && listener == Listener::kAdmin && !match->spec->admin) match.reset();

    // OPTIONS on a route says what it allows (RFC 9110 §9.3.7), with no body
    // and no token needed; with --cors-origin it is also the CORS preflight.
    if (method == "OPTIONS" && (match || opts_.cors.enabled())) {
      HttpResponse r;
      r.status = 204;
      r.content_type.clear();
      if (match) r.with_header("Allow", allow_header(*match->spec));
      ctx->route = match ? match->spec->path : "preflight";
      if (opts_.cors.enabled()) {
        r.with_header("Access-Control-Allow-Methods",
                      match ? allow_header(*match->spec) : "GET, HEAD, POST, OPTIONS");
        r.with_header("Access-Control-Allow-Headers",
                      opts_.auth ? "Authorization, Content-Type, Last-Event-ID" : "Content-Type, Last-Event-ID");
        r.with_header("Access-Control-Max-Age", "600");
        ctx->route = "preflight";
      }
      return finish(*ctx, std::move(r));
    }
    // `pretty` is taken (and removed from the query) before the route's own
    // parameters are checked; a bad value is answered where those are.
    std::optional<ApiError> pretty_error;
    if (!match || route_takes_pretty(match->spec->id)) {
      pretty_error = take_pretty(&ctx->request.query, &ctx->pretty);
    }
    if (!match) {
      return finish(*ctx, error_response(
                               kRouteNotFound,
                               fmt::format("no such route: {}{}", ctx->request.path.substr(0, 200),
                                           listener == Listener::kAdmin
                                               ? " (the admin listener serves /healthz, /readyz and /metrics)"
                                               : "")));
    }
    const RouteSpec& spec = *match->spec;
    ctx->route = spec.path;
    if (!route_allows(spec, method)) {
      HttpResponse r = error_response(
          kMethodNotAllowed, fmt::format("method {} not allowed on {}", method_label(method), spec.path));
      r.with_header("Allow", allow_header(spec));
      return finish(*ctx, std::move(r));
    }
    if (auto denied = check_auth(spec, ctx->request)) return finish(*ctx, std::move(*denied));
    if (auto e = parse_path_args(spec, match->args, *ctx)) return finish(*ctx, error_response(*e));
    if (pretty_error) return finish(*ctx, error_response(*pretty_error));
    if (auto e = QueryParams::parse(ctx->request.query, spec.query_params, &ctx->params)) {
      return finish(*ctx, error_response(*e));
    }
    ctx->deadline = Deadline::after(ctx->started, Millis(opts_.request_timeout_ms));
    // A records read of what is in memory is answered here, without the hop
    // to the engine and back (two thread handoffs per request); the rest of it
    // — and every other data route — runs on the engine.
    if (spec.id == RouteId::kRecords) return read_records(std::move(ctx), /*on_worker=*/true);
    if (spec.data) return dispatch_on_engine(spec.id, std::move(ctx));
    dispatch(spec.id, ctx);
  } catch (const std::exception& e) {
    fail_internal(*ctx, e);
  }
}

std::optional<ApiError> ApiService::parse_path_args(const RouteSpec& spec,
                                                    const std::vector<std::string_view>& args,
                                                    Context& ctx) {
  // Template elements {topic}, {partition}, {group}, in the order they appear.
  size_t i = 0;
  for (std::string_view element : {std::string_view("{topic}"), std::string_view("{partition}"),
                                   std::string_view("{group}")}) {
    if (spec.path.find(element) == std::string_view::npos) continue;
    const std::string_view raw = args.at(i++);
    std::optional<ApiError> e;
    if (element == "{topic}") e = parse_topic(raw, &ctx.topic);
    if (element == "{partition}") e = parse_partition(raw, &ctx.partition);
    if (element == "{group}") e = parse_group(raw, &ctx.group);
    if (e) return e;
  }
  return std::nullopt;
}

void ApiService::dispatch_on_engine(RouteId id, std::shared_ptr<Context> ctx) {
  const Deadline deadline = ctx->deadline;
  auto task = [this, id, ctx](bool expired) {
    try {
      if (expired) {
        return finish(*ctx, error_response(kUpstreamTimeout,
                                           "the request deadline passed while it waited for storage "
                                           "capacity; retry later"));
      }
      dispatch(id, ctx);
    } catch (const std::exception& e) {
      fail_internal(*ctx, e);
    }
  };
  exec::IoEngine& engine =
      id == RouteId::kGroupOffsets && ctx->request.method == "POST" && opts_.commit_engine
          ? *opts_.commit_engine
          : *engine_;
  if (!engine.try_submit(std::move(task), deadline)) {
    finish(*ctx, error_response(kBusy, fmt::format("busy: {} storage requests are already waiting; "
                                                   "retry later",
                                                   engine.options().max_queued)));
  }
}

void ApiService::dispatch(RouteId id, const std::shared_ptr<Context>& ctx) {
  Context& c = *ctx;
  switch (id) {
    case RouteId::kDashboard: {
      HttpResponse r;
      r.content_type = "text/html; charset=utf-8";
      r.body = std::string(dashboard_html());
      return finish(c, std::move(r));
    }
    case RouteId::kHealthz:
      return finish(c, json_response(json{{"status", "ok"}}));
    case RouteId::kReadyz:
      return finish(c, readyz(c));
    case RouteId::kMetrics:
      return finish(c, metrics(c));
    case RouteId::kOpenApi: {
      HttpResponse r;
      r.content_type = "application/yaml";
      r.body = std::string(openapi_yaml());
      return finish(c, std::move(r));
    }
    case RouteId::kTopics:
      return finish(c, list_topics(c));
    case RouteId::kTopic:
      return finish(c, get_topic(c));
    case RouteId::kPartition:
      return finish(c, get_partition(c));
    case RouteId::kSegments:
      return finish(c, list_segments(c));
    case RouteId::kRecords:
      return read_records(ctx);
    case RouteId::kRecordsStream:
      return streams_.serve(c.topic, c.partition, c.params, c.request,
                            [this, ctx](HttpResponse r) { finish(*ctx, std::move(r)); });
    case RouteId::kTopicRecords:
      return topic_records_.serve(c.topic, c.params, c.responder, c.request.remote_addr, c.deadline,
                                  draining_.load(), [this, ctx](HttpResponse r) { finish(*ctx, std::move(r)); });
    case RouteId::kTopicRecordsStream:
      return topic_streams_.serve(c.topic, c.params, c.request,
                                  [this, ctx](HttpResponse r) { finish(*ctx, std::move(r)); });
    case RouteId::kGroups:
      return finish(c, list_groups(c));
    case RouteId::kGroupOffsets:
      return finish(c, c.request.method == "POST" ? commit_group_offsets(c) : get_group_offsets(c));
  }
  finish(c, error_response(kInternal, "route without a handler"));
}

void ApiService::finish(Context& ctx, HttpResponse response) {
  // Every answer passes here once: JSON layout (compact + "\n", or pretty),
  // then CORS, then gzip negotiation (it merges its Vary with CORS's).
  finish_json_body(ctx.pretty, &response);
  if (opts_.cors.enabled()) {
    // An unlisted origin gets no CORS headers: the browser keeps the answer from the page.
    std::string origin = opts_.cors.allow_origin(ctx.request.header("origin"));
    if (!origin.empty()) {
      response.with_header("Access-Control-Allow-Origin", std::move(origin));
      response.with_header("Access-Control-Expose-Headers", std::string(kCorsExposedHeaders));
    }
    if (opts_.cors.varies()) response.with_header("Vary", "Origin");
  }
  apply_compression(ctx.request, opts_.compression, &response);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count();
  metrics_.observe(ctx.route, method_label(ctx.request.method), response.status, seconds,
                   response.body.size());
  // Access log (debug): the path holds no secrets; query strings are not logged.
  if (spdlog::should_log(spdlog::level::debug)) {
    spdlog::debug("{} {} {} {:.1f}ms {}B", method_label(ctx.request.method),
                  ctx.request.path.substr(0, 256), response.status, seconds * 1000,
                  response.body.size());
  }
  if ((response.status == 503 || response.status == 504) && ctx.route != "/readyz") {
    prober_->probe_soon();  // storage or metadata may be down: let /readyz know soon
  }
  if (response.status >= 500) {
    spdlog::warn("{} {} → {}: {}", method_label(ctx.request.method), ctx.request.path.substr(0, 256),
                 response.status, response.body.substr(0, 512));
  }
  ctx.responder.respond(std::move(response));
}

HttpResponse ApiService::core_error(const Error& e, const std::string& topic, int32_t partition) {
  if (e.code() == Errc::kOffsetOutOfRange && partition >= 0) {
    auto info = reader_->partition_info(topic, partition);
    if (info.ok()) {
      return offset_out_of_range_response(e.message(), info->log_start_offset,
                                          info->high_watermark);
    }
  }
  // to_api_error keeps internal detail (endpoints, internal failures) out of the body.
  return error_response(to_api_error(e));
}

void ApiService::fail_internal(Context& ctx, const std::exception& e) {
  spdlog::error("{} {}: internal error: {}", method_label(ctx.request.method),
                ctx.request.path.substr(0, 256), e.what());
  finish(ctx, error_response(kInternal, "internal error"));
}

std::optional<HttpResponse> ApiService::check_auth(const RouteSpec& spec, const HttpRequest& request) const {
  if (!opts_.auth) return std::nullopt;
  const Scope needed = route_scope(spec.id, request.method, opts_.metrics_auth);
  if (needed == Scope::kNone) return std::nullopt;
  // RFC 6750 §3: the challenge names the realm, and the error once a token was given.
  switch (opts_.auth->check(request.header("authorization"), needed)) {
    case TokenAuth::Outcome::kAllowed:
      return std::nullopt;
    case TokenAuth::Outcome::kMissing: {
      HttpResponse r = error_response(kUnauthorized, "this route needs a bearer token (Authorization: Bearer <token>)");
      r.with_header("WWW-Authenticate", R"(Bearer realm="streamhouse")");
      return r;
    }
    case TokenAuth::Outcome::kInvalid: {
      HttpResponse r = error_response(kUnauthorized, "the bearer token is not valid");
      r.with_header("WWW-Authenticate", R"(Bearer realm="streamhouse", error="invalid_token")");
      return r;
    }
    case TokenAuth::Outcome::kInsufficientScope: {
      HttpResponse r = error_response(kInsufficientScope, "this token may read but not commit offsets");
      r.with_header("WWW-Authenticate", R"(Bearer realm="streamhouse", error="insufficient_scope", scope="commit")");
      return r;
    }
  }
  return error_response(kInternal, "internal error");
}

std::optional<HttpResponse> ApiService::check_group_limit(const std::string& group) {
  if (opts_.max_groups == 0 || lag_.tracks(group)) return std::nullopt;  // tracked: it exists
  auto groups = metadata_->list_groups();
  if (!groups.ok()) return core_error(groups.error());
  if (std::find(groups->begin(), groups->end(), group) != groups->end()) return std::nullopt;
  if (groups->size() < opts_.max_groups) return std::nullopt;
  return error_response(kTooManyGroups,
                        fmt::format("there are already {} consumer groups (the limit is {}); commit to an "
                                    "existing group",
                                    groups->size(), opts_.max_groups));
}

HttpResponse ApiService::list_topics(Context&) {
  auto topics = metadata_->list_topics();
  if (!topics.ok()) return core_error(topics.error());
  json arr = json::array();
  for (const auto& t : *topics) {
    arr.push_back({{"name", t.name}, {"partitions", t.partition_count}});
  }
  return json_response(json{{"topics", std::move(arr)}});
}

HttpResponse ApiService::get_topic(Context& ctx) {
  const std::string& topic = ctx.topic;
  auto t = metadata_->get_topic(topic);
  if (!t.ok()) return core_error(t.error());
  json parts = json::array();
  for (int32_t p : t->partitions) {
    auto info = reader_->partition_info(topic, p);
    if (!info.ok()) return core_error(info.error());
    parts.push_back({{"partition", p},
                     {"log_start_offset", info->log_start_offset},
                     {"high_watermark", info->high_watermark},
                     {"segments", info->segment_count},
                     {"bytes", info->size_bytes}});
  }
  return json_response(json{{"name", t->name},
                            {"partition_count", t->partition_count},
                            {"partitions", std::move(parts)}});
}

HttpResponse ApiService::get_partition(Context& ctx) {
  const std::string& topic = ctx.topic;
  const int32_t partition = ctx.partition;
  auto info = reader_->partition_info(topic, partition);
  if (!info.ok()) return core_error(info.error());
  return json_response(json{{"topic", topic},
                            {"partition", partition},
                            {"log_start_offset", info->log_start_offset},
                            {"high_watermark", info->high_watermark},
                            {"segments", info->segment_count},
                            {"bytes", info->size_bytes}});
}

HttpResponse ApiService::list_segments(Context& ctx) {
  const std::string& topic = ctx.topic;
  const int32_t partition = ctx.partition;
  auto snap = reader_->index(topic, partition, ctx.deadline);
  if (!snap.ok()) return core_error(snap.error());
  auto segments = reader_->describe_segments(topic, partition, ctx.deadline);
  if (!segments.ok()) return core_error(segments.error());
  json arr = json::array();
  for (const auto& s : *segments) {
    json j{{"key", s.key},
           {"base_offset", s.base_offset},
           {"last_offset", s.last_offset},
           {"record_count", s.record_count},
           {"size_bytes", s.size_bytes},
           {"min_timestamp", nullptr},
           {"max_timestamp", nullptr}};
    if (s.min_timestamp) j["min_timestamp"] = *s.min_timestamp;
    if (s.max_timestamp) j["max_timestamp"] = *s.max_timestamp;
    arr.push_back(std::move(j));
  }
  return json_response(json{{"topic", topic},
                            {"partition", partition},
                            {"log_start_offset", (*snap)->log_start_offset},
                            {"high_watermark", (*snap)->high_watermark},
                            {"segments", std::move(arr)}});
}

void ApiService::read_records(std::shared_ptr<Context> ctx, bool on_worker) {
  const std::string topic = ctx->topic;
  const int32_t partition = ctx->partition;
  const QueryParams& q = ctx->params;
  auto fail = [&](const ApiError& e) { finish(*ctx, error_response(e)); };

  ReadParams params;
  if (auto e = parse_read_params(q, read_limits(), &params)) return fail(*e);
  read::ReadRequest req;
  req.max_records = params.max_records;
  req.max_bytes = params.max_bytes;
  const uint64_t timeout_ms = params.timeout_ms;
  const RecordFormat fmt = params.format;
  const read::StartRequest& start = params.start;
  // A group's committed offset comes from metadata: not on the worker.
  if (on_worker && !start.group.empty()) return dispatch_on_engine(RouteId::kRecords, std::move(ctx));
  auto resolved = read::resolve_start(start, topic, partition, *metadata_, *reader_);
  if (!resolved.ok()) return finish(*ctx, core_error(resolved.error(), topic, partition));
  if (resolved->committed) lag_.record(start.group, topic, partition, *resolved->committed);
  req.start = resolved->start;
  req.deadline = ctx->deadline;
  // max_bytes counts response bytes: each record's encoding in this format and its comma.
  req.max_response_bytes = opts_.max_bytes_limit;
  // (Each record is encoded once per block and format, and kept with the block.)
  req.encoder = record_encoder(RecordFraming::kRecords, fmt);

  req.cache_only = on_worker;
  auto result = reader_->read(topic, partition, req);
  if (on_worker && !result.ok() && result.error().code() == Errc::kWouldBlock) {
    return dispatch_on_engine(RouteId::kRecords, std::move(ctx));  // not all in memory
  }
  if (!result.ok()) return finish(*ctx, core_error(result.error(), topic, partition));

  const std::string* inm = ctx->request.header("if-none-match");
  // The gzip variant's tag is revalidated here too, before any encoding.
  const bool gzip_variant = opts_.compression.min_bytes > 0 &&
                            parse_accept_encoding(ctx->request.header("accept-encoding")).prefers_gzip();
  auto respond = [this, topic, partition, fmt, gzip_variant,
                  if_none_match = inm ? *inm : std::string()](Context& c, const read::ReadResult& r) {
    // A range that ends below the high watermark holds the same records forever:
    // a strong validator and a year of caching. One that reaches the head may grow.
    const std::optional<std::string> etag = immutable_records_etag(partition, r, fmt);
    std::optional<std::string> matched;
    if (etag && !if_none_match.empty()) {
      // The variant the client would get first (a body below --gzip-min-bytes
      // goes identity: its tag matches next).
      if (gzip_variant && etag_matches(if_none_match, gzip_variant_etag(*etag))) {
        matched = gzip_variant_etag(*etag);
      } else if (etag_matches(if_none_match, *etag)) {
        matched = *etag;
      }
    }
    if (matched) {
      HttpResponse nm;
      nm.status = 304;
      nm.content_type.clear();
      nm.with_header("ETag", *matched);
      nm.with_header("Cache-Control", std::string(kImmutableCacheControl));
      return finish(c, std::move(nm));
    }
    HttpResponse resp;
    resp.body = encode_records_response(topic, partition, r, fmt);
    metrics_.records_served.Increment(static_cast<double>(r.records.size()));
    metrics_.record_bytes_served.Increment(static_cast<double>(r.bytes));
    if (etag) {
      resp.with_header("ETag", *etag);
      resp.with_header("Cache-Control", std::string(kImmutableCacheControl));
    } else {
      resp.with_header("Cache-Control", "no-store");
    }
    finish(c, std::move(resp));
  };

  if (!result->records.empty() || timeout_ms == 0 || !notifier_ ||
      result->next_offset < result->high_watermark) {
    return respond(*ctx, *result);
  }
  if (on_worker) return dispatch_on_engine(RouteId::kRecords, std::move(ctx));  // a long-poll

  // Long-poll: wait, without holding this worker thread, for the watermark to move.
  if (draining_.load()) {
    // The drain sweep already ran (or is about to): do not start a wait now.
    HttpResponse r = error_response(kShuttingDown, "server shutting down; retry (another replica may serve you)");
    r.with_header("Connection", "close");
    return finish(*ctx, std::move(r));
  }
  LongPollLimiter::Refusal refusal = LongPollLimiter::Refusal::kNone;
  std::shared_ptr<LongPollLimiter::Slot> slot = long_polls_.try_acquire(ctx->request.remote_addr, &refusal);
  if (!slot) {
    metrics_.long_polls.Add({{"outcome", "rejected"}}).Increment();
    return fail({kOverloaded,
                 refusal == LongPollLimiter::Refusal::kClient
                     ? fmt::format("too many waiting long-polls from this client ({}); retry later or poll "
                                   "with timeout_ms=0",
                                   long_polls_.max_per_client())
                     : fmt::format("too many waiting long-polls ({}); retry later or poll with timeout_ms=0",
                                   long_polls_.max_total())});
  }
  // A client that hangs up frees its slot at once (the server ends the request).
  prometheus::Counter* gone_counter = &metrics_.long_polls.Add({{"outcome", "client_gone"}});
  const bool watching = ctx->responder.on_client_gone([slot, gone_counter, keep = registry_] {
    if (slot->release()) gone_counter->Increment();
  });
  if (!watching) {
    slot->release();
    return respond(*ctx, *result);  // answered or gone already; ignored if so
  }
  const uint64_t wait_offset = result->next_offset;
  auto empty = std::make_shared<read::ReadResult>(std::move(*result));
  read::ReadRequest again = req;
  again.start = read::StartPosition::at(wait_offset);
  notifier_->wait(
      topic, partition, wait_offset,
      std::chrono::steady_clock::now() + Millis(timeout_ms),
      [this, ctx, slot, topic, partition, again, empty, respond](read::WatermarkNotifier::Wake why) mutable {
        try {
          if (!slot->release()) return;  // the client hung up: nothing to answer
          if (why != read::WatermarkNotifier::Wake::kData) {
            metrics_.long_polls.Add({{"outcome", why == read::WatermarkNotifier::Wake::kDeadline
                                                     ? "timeout"
                                                     : "shutdown"}})
                .Increment();
            return respond(*ctx, *empty);
          }
          metrics_.long_polls.Add({{"outcome", "data"}}).Increment();
          again.deadline = Deadline::after(Millis(opts_.request_timeout_ms));
          // The read touches storage: run it on the engine, not the notifier's thread.
          const bool queued = engine_->try_submit(
              [this, ctx, topic, partition, again, respond](bool expired) mutable {
                try {
                  if (expired) {
                    return finish(*ctx, error_response(kUpstreamTimeout,
                                                       "deadline passed while waiting for storage"));
                  }
                  auto r = reader_->read(topic, partition, again);
                  if (!r.ok()) return finish(*ctx, core_error(r.error(), topic, partition));
                  respond(*ctx, *r);
                } catch (const std::exception& e) {
                  fail_internal(*ctx, e);
                }
              },
              again.deadline);
          if (!queued) {
            finish(*ctx, error_response(kBusy, "busy: too many storage requests waiting; retry later"));
          }
        } catch (const std::exception& e) {
          fail_internal(*ctx, e);
        }
      });
}

HttpResponse ApiService::list_groups(Context&) {
  auto groups = metadata_->list_groups();
  if (!groups.ok()) return core_error(groups.error());
  return json_response(json{{"consumer_groups", *groups}});
}

HttpResponse ApiService::get_group_offsets(Context& ctx) {
  const std::string& group = ctx.group;
  auto offsets = metadata_->get_group_offsets(group);
  if (!offsets.ok()) return core_error(offsets.error());
  json arr = json::array();
  for (const auto& c : *offsets) {
    lag_.record(group, c.topic, c.partition, c.offset);
    json j{{"topic", c.topic},
           {"partition", c.partition},
           {"committed_offset", c.offset},
           {"metadata", c.metadata},
           {"committed_at_ms", c.committed_at_ms},
           {"high_watermark", nullptr},
           {"lag", nullptr}};
    auto info = reader_->partition_info(c.topic, c.partition);
    if (info.ok()) {
      j["high_watermark"] = info->high_watermark;
      j["lag"] = info->high_watermark > c.offset ? info->high_watermark - c.offset : 0;
    }
    arr.push_back(std::move(j));
  }
  return json_response(json{{"group", group}, {"offsets", std::move(arr)}});
}

HttpResponse ApiService::commit_group_offsets(Context& ctx) {
  const std::string& group = ctx.group;
  std::vector<OffsetCommit> commits;
  if (auto e = parse_commit_body(ctx.request.body, &commits)) return error_response(*e);
  for (const OffsetCommit& c : commits) {
    auto info = reader_->partition_info(c.topic, c.partition);
    if (!info.ok()) return core_error(info.error());
    if (c.offset > info->high_watermark) {
      return offset_out_of_range_response(
          fmt::format("offset {} of {}/{} is above the high watermark", c.offset, c.topic, c.partition),
          info->log_start_offset, info->high_watermark);
    }
  }
  // A commit that may create a group holds new_group_mu_ from the count to the
  // commit, so concurrent new groups cannot overshoot max_groups in this process.
  std::unique_lock<std::mutex> creating(new_group_mu_, std::defer_lock);
  if (opts_.max_groups > 0 && !lag_.tracks(group)) creating.lock();
  if (auto refused = check_group_limit(group)) return std::move(*refused);
  auto st = metadata_->commit_offsets(group, commits);
  if (!st.ok()) return core_error(st.error());
  for (const auto& c : commits) lag_.record(group, c.topic, c.partition, c.offset);
  HttpResponse r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

HttpResponse ApiService::metrics(Context&) {
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  auto families = registry_->Collect();
  for (auto& f : lag_.collect()) families.push_back(std::move(f));
  r.body = prometheus::TextSerializer().Serialize(families);
  return r;
}

HttpResponse ApiService::readyz(Context&) {
  // Only a stable status per dependency: the failure's text (which may name
  // hosts) is logged by the prober, never sent.
  const ReadinessState st = prober_->state();
  json checks = json::object();
  bool ready = !draining_.load() && st.probed && st.metadata_ok && st.store_ok;
  checks["draining"] = draining_.load();
  checks["metadata"] = !st.probed ? "pending" : st.metadata_ok ? "ok" : "unavailable";
  checks["object_store"] = !st.probed ? "pending" : st.store_ok ? "ok" : "unavailable";
  if (st.probed) {
    checks["checked_ms_ago"] = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() -
                                                                   st.probed_at)
                                   .count();
  }
  return json_response(json{{"ready", ready}, {"checks", std::move(checks)}}, ready ? 200 : 503);
}

}  // namespace sh::api
