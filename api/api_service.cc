#include "api/api_service.h"

#include <chrono>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include "api/assets.h"
#include "api/json_writer.h"
#include "api/query.h"
#include "api/records_json.h"
#include "api/routes.h"
#include "core/format/segment.h"

namespace sh::api {
namespace {

using json = nlohmann::json;

constexpr std::string_view kRouteTopics = "/topics";
constexpr std::string_view kRouteTopic = "/topics/{topic}";
constexpr std::string_view kRoutePartition = "/topics/{topic}/partitions/{partition}";
constexpr std::string_view kRouteSegments = "/topics/{topic}/partitions/{partition}/segments";
constexpr std::string_view kRouteRecords = "/topics/{topic}/partitions/{partition}/records";
constexpr std::string_view kRouteGroups = "/consumer-groups";
constexpr std::string_view kRouteGroupOffsets = "/consumer-groups/{group}/offsets";

HttpResponse json_response(const json& body, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    parts.push_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

std::string_view method_label(std::string_view m) {
  for (std::string_view known : {"GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE"}) {
    if (m == known) return known;
  }
  return "other";
}

std::optional<ApiError> parse_topic(std::string_view raw, std::string* out) {
  if (!format::valid_topic_name(raw)) {
    return ApiError{kBadPath, "invalid topic name '" + std::string(raw.substr(0, 64)) +
                                  "' (1-249 characters of [A-Za-z0-9._-], not '.' or '..')"};
  }
  *out = std::string(raw);
  return std::nullopt;
}

std::optional<ApiError> parse_partition(std::string_view raw, int32_t* out) {
  auto v = parse_uint(raw);
  if (!v || *v > INT32_MAX || (raw.size() > 1 && raw[0] == '0')) {
    return ApiError{kBadPath, "invalid partition '" + std::string(raw.substr(0, 32)) +
                                  "' (an integer in [0, 2147483647])"};
  }
  *out = static_cast<int32_t>(*v);
  return std::nullopt;
}

std::optional<ApiError> parse_group(std::string_view raw, std::string* out) {
  if (!valid_group_id(raw)) {
    return ApiError{kBadPath, "invalid consumer group id '" + std::string(raw.substr(0, 64)) +
                                  "' (1-249 characters of [A-Za-z0-9._-])"};
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
};

ApiService::ApiService(std::shared_ptr<read::LogReader> reader,
                       std::shared_ptr<MetadataStore> metadata, std::shared_ptr<ObjectStore> store,
                       std::shared_ptr<read::WatermarkNotifier> notifier,
                       std::shared_ptr<prometheus::Registry> registry, ApiOptions opts)
    : reader_(std::move(reader)),
      metadata_(std::move(metadata)),
      store_(std::move(store)),
      notifier_(std::move(notifier)),
      registry_(std::move(registry)),
      opts_(std::move(opts)),
      metrics_(*registry_),
      lag_(reader_.get()) {}

void ApiService::handle(HttpRequest&& request, Responder responder) {
  auto ctx = std::make_shared<Context>();
  ctx->request = std::move(request);
  ctx->responder = std::move(responder);
  try {
    const auto parts = split_path(ctx->request.path);
    const std::string& method = ctx->request.method;
    const bool get = method == "GET" || method == "HEAD";

    if (method == "OPTIONS" && !opts_.cors_origin.empty()) {
      HttpResponse r;
      r.status = 204;
      r.content_type.clear();
      r.with_header("Access-Control-Allow-Methods", "GET, HEAD, POST, OPTIONS");
      r.with_header("Access-Control-Allow-Headers", "Content-Type, Last-Event-ID");
      r.with_header("Access-Control-Max-Age", "600");
      ctx->route = "preflight";
      return finish(*ctx, std::move(r));
    }

    // Route table: (parts pattern) → handler. '*' matches one path element.
    auto not_allowed = [&](std::string_view route, std::string_view allow) {
      ctx->route = route;
      HttpResponse r = error_response(kMethodNotAllowed, "method " + std::string(method_label(method)) +
                                                             " not allowed on " + std::string(route));
      r.with_header("Allow", std::string(allow));
      finish(*ctx, std::move(r));
    };
    // Query parameters the matched route (ctx->route) accepts, from route_specs().
    auto parse_query = [&]() -> bool {
      if (auto err = QueryParams::parse(ctx->request.query, route_spec(ctx->route).query_params,
                                        &ctx->params)) {
        finish(*ctx, error_response(*err));
        return false;
      }
      return true;
    };
    auto path_error = [&](const ApiError& e) { finish(*ctx, error_response(e)); };

    const size_t n = parts.size();
    if (n == 0) {
      ctx->route = "/";
      if (!get) return not_allowed("/", "GET, HEAD");
      if (!parse_query()) return;
      HttpResponse r;
      r.content_type = "text/html; charset=utf-8";
      r.body = std::string(dashboard_html());
      return finish(*ctx, std::move(r));
    }
    if (n == 1 && parts[0] == "healthz") {
      ctx->route = "/healthz";
      if (!get) return not_allowed(ctx->route, "GET, HEAD");
      if (!parse_query()) return;
      return finish(*ctx, json_response(json{{"status", "ok"}}));
    }
    if (n == 1 && parts[0] == "readyz") {
      ctx->route = "/readyz";
      if (!get) return not_allowed(ctx->route, "GET, HEAD");
      if (!parse_query()) return;
      return finish(*ctx, readyz(*ctx));
    }
    if (n == 1 && parts[0] == "metrics") {
      ctx->route = "/metrics";
      if (!get) return not_allowed(ctx->route, "GET, HEAD");
      if (!parse_query()) return;
      return finish(*ctx, metrics(*ctx));
    }
    if (n == 1 && parts[0] == "openapi.yaml") {
      ctx->route = "/openapi.yaml";
      if (!get) return not_allowed(ctx->route, "GET, HEAD");
      if (!parse_query()) return;
      HttpResponse r;
      r.content_type = "application/yaml";
      r.body = std::string(openapi_yaml());
      return finish(*ctx, std::move(r));
    }
    if (parts[0] == "topics") {
      if (n == 1) {
        ctx->route = kRouteTopics;
        if (!get) return not_allowed(ctx->route, "GET, HEAD");
        if (!parse_query()) return;
        return finish(*ctx, list_topics(*ctx));
      }
      std::string topic;
      if (n == 2) {
        ctx->route = kRouteTopic;
        if (!get) return not_allowed(ctx->route, "GET, HEAD");
        if (auto e = parse_topic(parts[1], &topic)) return path_error(*e);
        if (!parse_query()) return;
        return finish(*ctx, get_topic(*ctx, topic));
      }
      if (parts[2] == "partitions" && (n == 4 || n == 5)) {
        int32_t partition = 0;
        std::string_view leaf = n == 5 ? parts[4] : std::string_view();
        if (n == 4) {
          ctx->route = kRoutePartition;
        } else if (leaf == "segments") {
          ctx->route = kRouteSegments;
        } else if (leaf == "records") {
          ctx->route = kRouteRecords;
        } else {
          ctx->route = "unmatched";
          return finish(*ctx, error_response(kRouteNotFound, "no such route: " +
                                                                 ctx->request.path.substr(0, 200)));
        }
        if (!get) return not_allowed(ctx->route, "GET, HEAD");
        if (auto e = parse_topic(parts[1], &topic)) return path_error(*e);
        if (auto e = parse_partition(parts[3], &partition)) return path_error(*e);
        if (n == 4) {
          if (!parse_query()) return;
          return finish(*ctx, get_partition(*ctx, topic, partition));
        }
        if (leaf == "segments") {
          if (!parse_query()) return;
          return finish(*ctx, list_segments(*ctx, topic, partition));
        }
        if (!parse_query()) return;
        return read_records(ctx, topic, partition);
      }
    }
    if (parts[0] == "consumer-groups") {
      if (n == 1) {
        ctx->route = kRouteGroups;
        if (!get) return not_allowed(ctx->route, "GET, HEAD");
        if (!parse_query()) return;
        return finish(*ctx, list_groups(*ctx));
      }
      if (n == 3 && parts[2] == "offsets") {
        ctx->route = kRouteGroupOffsets;
        std::string group;
        if (!get && method != "POST") return not_allowed(ctx->route, "GET, HEAD, POST");
        if (auto e = parse_group(parts[1], &group)) return path_error(*e);
        if (!parse_query()) return;
        if (method == "POST") return finish(*ctx, commit_group_offsets(*ctx, group));
        return finish(*ctx, get_group_offsets(*ctx, group));
      }
    }
    ctx->route = "unmatched";
    finish(*ctx, error_response(kRouteNotFound,
                                "no such route: " + ctx->request.path.substr(0, 200)));
  } catch (const std::exception& e) {
    finish(*ctx, error_response(kInternal, std::string("internal error: ") + e.what()));
  }
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

HttpResponse ApiService::get_topic(Context&, const std::string& topic) {
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

HttpResponse ApiService::get_partition(Context&, const std::string& topic, int32_t partition) {
  auto info = reader_->partition_info(topic, partition);
  if (!info.ok()) return core_error(info.error());
  return json_response(json{{"topic", topic},
                            {"partition", partition},
                            {"log_start_offset", info->log_start_offset},
                            {"high_watermark", info->high_watermark},
                            {"segments", info->segment_count},
                            {"bytes", info->size_bytes}});
}

HttpResponse ApiService::list_segments(Context&, const std::string& topic, int32_t partition) {
  auto snap = reader_->index(topic, partition);
  if (!snap.ok()) return core_error(snap.error());
  json arr = json::array();
  for (const auto& s : (*snap)->segments) {
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

void ApiService::read_records(std::shared_ptr<Context> ctx, const std::string& topic,
                              int32_t partition) {
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
  const int starts = q.has("offset") + q.has("timestamp") + q.has("group");
  if (starts > 1) {
    return fail({kConflictingParameters, "give at most one of offset, timestamp, group"});
  }
  if (q.has("auto_offset_reset") && !q.has("group")) {
    return fail({kConflictingParameters, "auto_offset_reset applies only with group"});
  }
  req.start = read::StartPosition::earliest();
  if (auto o = q.get("offset")) {
    if (*o == "earliest") {
      req.start = read::StartPosition::earliest();
    } else if (*o == "latest") {
      req.start = read::StartPosition::latest();
    } else if (auto v = parse_uint(*o); v && *v <= static_cast<uint64_t>(INT64_MAX)) {
      req.start = read::StartPosition::at(*v);
    } else {
      return fail({kBadParameter, "offset must be a non-negative integer, 'earliest' or 'latest', got '" +
                                      std::string(o->substr(0, 64)) + "'"});
    }
  }
  if (q.has("timestamp")) {
    int64_t ts = 0;
    if (auto e = q.get_int("timestamp", INT64_MIN + 1, INT64_MAX, &ts)) return fail(*e);
    req.start = read::StartPosition::at_timestamp(ts);
  }
  if (auto g = q.get("group")) {
    std::string group;
    if (auto e = parse_group(*g, &group)) return fail({kBadParameter, e->message});
    bool reset_latest = true;  // Kafka's default
    if (auto r = q.get("auto_offset_reset")) {
      if (*r == "earliest") {
        reset_latest = false;
      } else if (*r != "latest") {
        return fail({kBadParameter, "auto_offset_reset must be earliest or latest"});
      }
    }
    req.start = reset_latest ? read::StartPosition::latest() : read::StartPosition::earliest();
    auto offsets = metadata_->get_group_offsets(group);
    if (offsets.ok()) {
      for (const auto& c : *offsets) {
        if (c.topic == topic && c.partition == partition) {
          lag_.record(group, c.topic, c.partition, c.offset);
          req.start = read::StartPosition::at(c.offset);
          // A committed offset the log no longer holds falls back to the reset policy.
          auto info = reader_->partition_info(topic, partition);
          if (info.ok() && (c.offset < info->log_start_offset || c.offset > info->high_watermark)) {
            req.start = reset_latest ? read::StartPosition::latest()
                                     : read::StartPosition::earliest();
          }
        }
      }
    } else if (offsets.error().code() != Errc::kGroupNotFound) {
      return finish(*ctx, core_error(offsets.error()));
    }
  }
  req.deadline = Deadline::after(Millis(opts_.request_timeout_ms));

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
    return fail({kOverloaded, "too many waiting long-polls (" + std::to_string(opts_.max_long_polls) +
                                  "); retry later or poll with timeout_ms=0"});
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
          auto r = reader_->read(topic, partition, again);
          if (!r.ok()) return finish(*ctx, core_error(r.error(), topic, partition));
          respond(*ctx, *r);
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

HttpResponse ApiService::get_group_offsets(Context&, const std::string& group) {
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

HttpResponse ApiService::commit_group_offsets(Context& ctx, const std::string& group) {
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
        return error_response(kBadBody, "unknown field '" + k.substr(0, 64) + "' in an offset");
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
      return error_response(kBadBody, "invalid topic name '" + c.topic.substr(0, 64) + "'");
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
      return offset_out_of_range_response("offset " + std::to_string(c.offset) + " of " + c.topic +
                                              "/" + std::to_string(c.partition) +
                                              " is above the high watermark",
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
  json checks = json::object();
  bool ready = !draining_.load();
  checks["draining"] = draining_.load();
  auto meta = metadata_->ping();
  checks["metadata"] = meta.ok() ? "ok" : "unavailable";
  if (!meta.ok()) {
    ready = false;
    checks["metadata_error"] = meta.error().message();
  }
  ListOptions lo;
  lo.max_keys = 1;
  lo.deadline = Deadline::after(Millis(2000));
  auto st = store_->list(lo);
  checks["object_store"] = st.ok() ? "ok" : "unavailable";
  if (!st.ok()) {
    ready = false;
    checks["object_store_error"] = st.error().message();
  }
  return json_response(json{{"ready", ready}, {"checks", std::move(checks)}}, ready ? 200 : 503);
}

}  // namespace sh::api
