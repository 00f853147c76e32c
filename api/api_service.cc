#include "api/api_service.h"

#include <chrono>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include "api/assets.h"
#include "api/json_writer.h"
#include "api/query.h"
#include "api/records_json.h"
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

// Routes whose handler may call the metadata store or the object store: they
// run on the IoEngine, never on an HTTP worker.
bool touches_storage(RouteId id) {
  switch (id) {
    case RouteId::kDashboard:
    case RouteId::kHealthz:
    case RouteId::kReadyz:
    case RouteId::kMetrics:
    case RouteId::kOpenApi:
      return false;
    case RouteId::kTopics:
    case RouteId::kTopic:
    case RouteId::kPartition:
    case RouteId::kSegments:
    case RouteId::kRecords:
    case RouteId::kGroups:
    case RouteId::kGroupOffsets:
      return true;
  }
  return true;
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
      lag_(reader_.get()) {}

void ApiService::handle(HttpRequest&& request, Responder responder) {
  auto ctx = std::make_shared<Context>();
  ctx->request = std::move(request);
  ctx->responder = std::move(responder);
  try {
    const std::string& method = ctx->request.method;
    const auto match = match_route(ctx->request.path);

    if (method == "OPTIONS" && !opts_.cors_origin.empty()) {
      HttpResponse r;
      r.status = 204;
      r.content_type.clear();
      r.with_header("Access-Control-Allow-Methods",
                    match ? allow_header(*match->spec) + ", OPTIONS" : "GET, HEAD, POST, OPTIONS");
      r.with_header("Access-Control-Allow-Headers", "Content-Type, Last-Event-ID");
      r.with_header("Access-Control-Max-Age", "600");
      ctx->route = "preflight";
      return finish(*ctx, std::move(r));
    }
    if (!match) {
      return finish(*ctx, error_response(kRouteNotFound, fmt::format("no such route: {}",
                                                                     ctx->request.path.substr(0, 200))));
    }
    const RouteSpec& spec = *match->spec;
    ctx->route = spec.path;
    if (!route_allows(spec, method)) {
      HttpResponse r = error_response(
          kMethodNotAllowed, fmt::format("method {} not allowed on {}", method_label(method), spec.path));
      r.with_header("Allow", allow_header(spec));
      return finish(*ctx, std::move(r));
    }
    if (auto e = parse_path_args(spec, match->args, *ctx)) return finish(*ctx, error_response(*e));
    if (auto e = QueryParams::parse(ctx->request.query, spec.query_params, &ctx->params)) {
      return finish(*ctx, error_response(*e));
    }
    ctx->deadline = Deadline::after(ctx->started, Millis(opts_.request_timeout_ms));
    if (touches_storage(spec.id)) return dispatch_on_engine(spec.id, std::move(ctx));
    dispatch(spec.id, ctx);
  } catch (const std::exception& e) {
    finish(*ctx, error_response(kInternal, fmt::format("internal error: {}", e.what())));
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
      finish(*ctx, error_response(kInternal, fmt::format("internal error: {}", e.what())));
    }
  };
  if (!engine_->try_submit(std::move(task), deadline)) {
    finish(*ctx, error_response(kBusy, fmt::format("busy: {} storage requests are already waiting; "
                                                   "retry later",
                                                   engine_->options().max_queued)));
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
    case RouteId::kGroups:
      return finish(c, list_groups(c));
    case RouteId::kGroupOffsets:
      return finish(c, c.request.method == "POST" ? commit_group_offsets(c) : get_group_offsets(c));
  }
  finish(c, error_response(kInternal, "route without a handler"));
}

void ApiService::finish(Context& ctx, HttpResponse response) {
  if (!opts_.cors_origin.empty()) {
    response.with_header("Access-Control-Allow-Origin", opts_.cors_origin);
    if (opts_.cors_origin != "*") response.with_header("Vary", "Origin");
  }
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
  return error_response(to_api_error(e));
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

void ApiService::read_records(std::shared_ptr<Context> ctx) {
  const std::string topic = ctx->topic;
  const int32_t partition = ctx->partition;
  const QueryParams& q = ctx->params;
  auto fail = [&](const ApiError& e) { finish(*ctx, error_response(e)); };

  read::ReadRequest req;
  req.max_records = opts_.default_max_records;
  req.max_bytes = opts_.default_max_bytes;
  uint64_t max_records = req.max_records;
  if (auto e = q.get_uint("max_records", 1, opts_.max_records_limit, &max_records)) return fail(*e);
  req.max_records = static_cast<uint32_t>(max_records);
  if (auto e = q.get_uint("max_bytes", 1, opts_.max_bytes_limit, &req.max_bytes)) return fail(*e);
  uint64_t timeout_ms = 0;
  if (auto e = q.get_uint("timeout_ms", 0, static_cast<uint64_t>(opts_.max_timeout_ms), &timeout_ms)) {
    return fail(*e);
  }
  RecordFormat fmt = RecordFormat::kString;
  if (auto f = q.get("format")) {
    if (*f == "string") {
      fmt = RecordFormat::kString;
    } else if (*f == "base64") {
      fmt = RecordFormat::kBase64;
    } else if (*f == "json") {
      fmt = RecordFormat::kJson;
    } else {
      return fail({kBadParameter, "format must be one of string, base64, json"});
    }
  }
  read::StartRequest start;
  if (auto o = q.get("offset")) {
    if (*o == "earliest") {
      start.position = read::StartPosition::earliest();
    } else if (*o == "latest") {
      start.position = read::StartPosition::latest();
    } else if (auto v = parse_uint(*o); v && *v <= static_cast<uint64_t>(INT64_MAX)) {
      start.position = read::StartPosition::at(*v);
    } else {
      return fail({kBadParameter,
                   fmt::format("offset must be a non-negative integer, 'earliest' or 'latest', got '{}'",
                               o->substr(0, 64))});
    }
  }
  if (q.has("timestamp")) {
    if (start.position) return fail({kConflictingParameters, "give at most one of offset, timestamp, group"});
    int64_t ts = 0;
    if (auto e = q.get_int("timestamp", INT64_MIN + 1, INT64_MAX, &ts)) return fail(*e);
    start.position = read::StartPosition::at_timestamp(ts);
  }
  if (auto g = q.get("group")) {
    if (auto e = parse_group(*g, &start.group)) return fail({kBadParameter, e->message});
  }
  if (auto r = q.get("auto_offset_reset")) {
    if (*r == "earliest") {
      start.reset = read::OffsetReset::kEarliest;
    } else if (*r == "latest") {
      start.reset = read::OffsetReset::kLatest;
    } else {
      return fail({kBadParameter, "auto_offset_reset must be earliest or latest"});
    }
  }
  if (auto st = read::check_start_request(start); !st.ok()) {
    return fail({kConflictingParameters, st.error().message()});
  }
  auto resolved = read::resolve_start(start, topic, partition, *metadata_, *reader_);
  if (!resolved.ok()) return finish(*ctx, core_error(resolved.error(), topic, partition));
  if (resolved->committed) lag_.record(start.group, topic, partition, *resolved->committed);
  req.start = resolved->start;
  req.deadline = ctx->deadline;

  auto result = reader_->read(topic, partition, req);
  if (!result.ok()) return finish(*ctx, core_error(result.error(), topic, partition));

  auto respond = [this, topic, partition, fmt](Context& c, const read::ReadResult& r) {
    HttpResponse resp;
    resp.body = encode_records_response(topic, partition, r, fmt);
    metrics_.records_served.Increment(static_cast<double>(r.records.size()));
    metrics_.record_bytes_served.Increment(static_cast<double>(r.bytes));
    resp.with_header("Cache-Control", "no-store");
    finish(c, std::move(resp));
  };

  if (!result->records.empty() || timeout_ms == 0 || !notifier_ ||
      result->next_offset < result->high_watermark) {
    return respond(*ctx, *result);
  }

  // Long-poll: wait, without holding this worker thread, for the watermark to move.
  if (notifier_->waiters() >= opts_.max_long_polls) {
    metrics_.long_polls.Add({{"outcome", "rejected"}}).Increment();
    return fail({kOverloaded, fmt::format("too many waiting long-polls ({}); retry later or poll with "
                                          "timeout_ms=0",
                                          opts_.max_long_polls)});
  }
  const uint64_t wait_offset = result->next_offset;
  auto empty = std::make_shared<read::ReadResult>(std::move(*result));
  read::ReadRequest again = req;
  again.start = read::StartPosition::at(wait_offset);
  notifier_->wait(
      topic, partition, wait_offset,
      std::chrono::steady_clock::now() + Millis(timeout_ms),
      [this, ctx, topic, partition, again, empty, respond](read::WatermarkNotifier::Wake why) mutable {
        try {
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
                  finish(*ctx, error_response(kInternal, fmt::format("internal error: {}", e.what())));
                }
              },
              again.deadline);
          if (!queued) {
            finish(*ctx, error_response(kBusy, "busy: too many storage requests waiting; retry later"));
          }
        } catch (const std::exception& e) {
          finish(*ctx, error_response(kInternal, std::string("internal error: ") + e.what()));
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
  json body = json::parse(ctx.request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object() || !body.contains("offsets") ||
      !body["offsets"].is_array() || body["offsets"].empty()) {
    return error_response(kBadBody,
                          "body must be {\"offsets\":[{\"topic\",\"partition\",\"offset\",\"metadata\"?}]}");
  }
  if (body.size() != 1) return error_response(kBadBody, "body has fields other than \"offsets\"");
  std::vector<OffsetCommit> commits;
  for (const json& o : body["offsets"]) {
    if (!o.is_object()) return error_response(kBadBody, "each offset must be an object");
    for (const auto& [k, v] : o.items()) {
      if (k != "topic" && k != "partition" && k != "offset" && k != "metadata") {
        return error_response(kBadBody, fmt::format("unknown field '{}' in an offset", k.substr(0, 64)));
      }
    }
    if (!o.contains("topic") || !o["topic"].is_string() || !o.contains("partition") ||
        !o["partition"].is_number_integer() || !o.contains("offset") ||
        !o["offset"].is_number_integer()) {
      return error_response(kBadBody, "each offset needs topic (string), partition and offset (integers)");
    }
    OffsetCommit c;
    c.topic = o["topic"].get<std::string>();
    if (!format::valid_topic_name(c.topic)) {
      return error_response(kBadBody, format::invalid_name_message("topic name", c.topic));
    }
    const int64_t p = o["partition"].get<int64_t>();
    const int64_t off = o["offset"].is_number_unsigned()
                            ? static_cast<int64_t>(std::min<uint64_t>(o["offset"].get<uint64_t>(), INT64_MAX))
                            : o["offset"].get<int64_t>();
    if (p < 0 || p > INT32_MAX) return error_response(kBadBody, "partition out of range");
    if (off < 0) return error_response(kBadBody, "offset must be >= 0");
    c.partition = static_cast<int32_t>(p);
    c.offset = static_cast<uint64_t>(off);
    if (o.contains("metadata")) {
      if (!o["metadata"].is_string() && !o["metadata"].is_null()) {
        return error_response(kBadBody, "metadata must be a string");
      }
      if (o["metadata"].is_string()) c.metadata = o["metadata"].get<std::string>();
      if (c.metadata.size() > 4096) return error_response(kBadBody, "metadata longer than 4096 bytes");
    }
    auto info = reader_->partition_info(c.topic, c.partition);
    if (!info.ok()) return core_error(info.error());
    if (c.offset > info->high_watermark) {
      return offset_out_of_range_response(
          fmt::format("offset {} of {}/{} is above the high watermark", c.offset, c.topic, c.partition),
          info->log_start_offset, info->high_watermark);
    }
    commits.push_back(std::move(c));
  }
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
  const ReadinessState st = prober_->state();
  json checks = json::object();
  bool ready = !draining_.load() && st.probed && st.metadata_ok && st.store_ok;
  checks["draining"] = draining_.load();
  checks["metadata"] = !st.probed ? "pending" : st.metadata_ok ? "ok" : "unavailable";
  if (st.probed && !st.metadata_ok) checks["metadata_error"] = st.metadata_error;
  checks["object_store"] = !st.probed ? "pending" : st.store_ok ? "ok" : "unavailable";
  if (st.probed && !st.store_ok) checks["object_store_error"] = st.store_error;
  if (st.probed) {
    checks["checked_ms_ago"] = std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() -
                                                                   st.probed_at)
                                   .count();
  }
  return json_response(json{{"ready", ready}, {"checks", std::move(checks)}}, ready ? 200 : 503);
}

}  // namespace sh::api
