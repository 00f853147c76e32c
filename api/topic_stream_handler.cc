#include "api/topic_stream_handler.h"

#include <algorithm>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/errors.h"
#include "api/json_writer.h"
#include "api/read_params.h"
#include "api/record_encoders.h"
#include "api/records_json.h"
#include "api/stream_session.h"
#include "api/topic_records_handler.h"
#include "core/text/utf8.h"

namespace sh::api {
namespace {

using json = nlohmann::json;

constexpr int64_t kMinHeartbeatMs = 10;
constexpr int64_t kMaxHeartbeatMs = 300000;
// One SSE id entry `{"topic":"…","partition":P,"offset":O},` without the topic.
constexpr uint64_t kIdEntryBytes = 64;
constexpr size_t kMaxLastEventIdBytes = size_t{1} << 20;

// {"offsets":[{"topic":T,"partition":P,"offset":N}]} — the commit body.
void next_offsets_json(JsonWriter& w, const std::string& topic,
                       std::span<const read::TopicStreamPosition> positions) {
  w.ch('{').key("offsets").ch('[');
  bool first = true;
  for (const read::TopicStreamPosition& p : positions) {
    if (!first) w.ch(',');
    first = false;
    w.ch('{').key("topic").string(topic).ch(',').key("partition").number(p.partition).ch(',');
    w.key("offset").number(p.next_offset).ch('}');
  }
  w.raw("]}");
}

// {"end":{"next_offsets":{…},"reason":"high_watermark"}}
void end_json(std::string* out, const std::string& topic,
              std::span<const read::TopicStreamPosition> positions) {
  JsonWriter w(out);
  w.ch('{').key("end").ch('{').key("next_offsets");
  next_offsets_json(w, topic, positions);
  w.ch(',').key("reason").string(read::stream_end_reason_name(read::StreamEndReason::kHighWatermark));
  w.raw("}}");
}

// {"error":{"error_code":C,"message":M,"partition":P,"next_offsets":{…}}}
void error_json(std::string* out, const std::string& topic, int32_t partition, const Error& e,
                std::span<const read::TopicStreamPosition> positions) {
  const ApiError api = to_api_error(e);
  JsonWriter w(out);
  w.ch('{').key("error").ch('{').key("error_code").number(static_cast<int64_t>(api.error_code));
  w.ch(',').key("message");
  if (text::valid_utf8(api.message)) {
    w.string(api.message);
  } else {
    w.string("(message not valid UTF-8)");
  }
  w.ch(',').key("partition").number(partition).ch(',').key("next_offsets");
  next_offsets_json(w, topic, positions);
  w.raw("}}");
}

// Record payloads (both framings): GET /topics/{t}/records's record objects.
class TopicRecordEncoder : public read::TopicStreamEncoder {
 public:
  TopicRecordEncoder(std::string topic, RecordFormat fmt) : topic_(std::move(topic)), fmt_(fmt) {}
  void record_payload(int32_t partition, const RecordView& r, std::string* out) const override {
    append_framed_record(out, r, RecordFraming::kTopicStream, fmt_, partition);
  }
  // Encoded once per block and kept with it, as the partition streams' are.
  std::shared_ptr<const format::RecordEncoder> payload_encoder(int32_t partition) const override {
    return record_encoder(RecordFraming::kTopicStream, fmt_, partition);
  }

 protected:
  const std::string topic_;
  const RecordFormat fmt_;
};

class TopicNdjsonEncoder final : public TopicRecordEncoder {
 public:
  using TopicRecordEncoder::TopicRecordEncoder;
  void record(int32_t /*partition*/, uint64_t /*offset*/, std::string_view payload,
              std::span<const read::TopicStreamPosition> /*positions*/, std::string* out) override {
    out->append(payload);
    out->push_back('\n');
  }
  // NDJSON has no comment line: a waiting follower's socket is checked instead.
  void heartbeat(std::string* /*out*/) override {}
  void end(std::span<const read::TopicStreamPosition> positions, std::string* out) override {
    end_json(out, topic_, positions);
    out->push_back('\n');
  }
  void error(int32_t partition, const Error& e, std::span<const read::TopicStreamPosition> positions,
             std::string* out) override {
    error_json(out, topic_, partition, e, positions);
    out->push_back('\n');
  }
};

class TopicSseEncoder final : public TopicRecordEncoder {
 public:
  using TopicRecordEncoder::TopicRecordEncoder;
  void record(int32_t /*partition*/, uint64_t /*offset*/, std::string_view payload,
              std::span<const read::TopicStreamPosition> positions, std::string* out) override {
    id(positions, out);
    out->append("data: ");
    out->append(payload);
    out->append("\n\n");
  }
  void heartbeat(std::string* out) override { out->append(": heartbeat\n\n"); }
  // An id-only event: the browser keeps it as its Last-Event-ID, dispatches nothing.
  void opened(std::span<const read::TopicStreamPosition> positions, std::string* out) override {
    id(positions, out);
    out->push_back('\n');
  }
  void end(std::span<const read::TopicStreamPosition> positions, std::string* out) override {
    out->append("event: end\n");
    id(positions, out);
    out->append("data: ");
    end_json(out, topic_, positions);
    out->append("\n\n");
  }
  void error(int32_t partition, const Error& e, std::span<const read::TopicStreamPosition> positions,
             std::string* out) override {
    out->append("event: error\n");
    id(positions, out);
    out->append("data: ");
    error_json(out, topic_, partition, e, positions);
    out->append("\n\n");
  }

 private:
  // id: [{"topic":T,"partition":P,"offset":next-1},…]
  void id(std::span<const read::TopicStreamPosition> positions, std::string* out) const {
    out->append("id: [");
    JsonWriter w(out);
    bool first = true;
    for (const read::TopicStreamPosition& p : positions) {
      if (!first) w.ch(',');
      first = false;
      w.ch('{').key("topic").string(topic_).ch(',').key("partition").number(p.partition).ch(',');
      w.key("offset").number(static_cast<int64_t>(p.next_offset) - 1).ch('}');
    }
    out->append("]\n");
  }
};

ApiError bad_id(std::string_view why) {
  return ApiError{kBadParameter,
                  fmt::format("Last-Event-ID must be a JSON array of {{\"topic\",\"partition\",\"offset\" "
                              "(or \"timestamp\")}} objects: {}",
                              why)};
}

// An integer in [min, max], or nullopt.
std::optional<int64_t> json_int(const json& v, int64_t min, int64_t max) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(max)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (!v.is_number_integer()) return std::nullopt;
  const auto i = v.get<int64_t>();
  if (i < min || i > max) return std::nullopt;
  return i;
}

}  // namespace

std::optional<ApiError> parse_topic_last_event_id(std::string_view header, const std::string& topic,
                                                  std::map<int32_t, read::StartPosition>* out) {
  if (header.size() > kMaxLastEventIdBytes) return bad_id("too long");
  const json id = json::parse(header, nullptr, /*allow_exceptions=*/false);
  if (id.is_discarded()) return bad_id("not JSON");
  if (!id.is_array() || id.empty()) return bad_id("not a non-empty array");
  std::map<int32_t, read::StartPosition> starts;
  for (const json& e : id) {
    if (!e.is_object()) return bad_id("an element is not an object");
    for (const auto& [k, v] : e.items()) {
      if (k != "topic" && k != "partition" && k != "offset" && k != "timestamp") {
        return bad_id(fmt::format("unknown field '{}'", std::string_view(k).substr(0, 32)));
      }
    }
    auto t = e.find("topic");
    if (t == e.end() || !t->is_string()) return bad_id("an element without a string \"topic\"");
    if (t->get_ref<const std::string&>() != topic) {
      return bad_id(fmt::format("an element names another topic than {}", topic));
    }
    auto p = e.find("partition");
    if (p == e.end()) return bad_id("an element without \"partition\"");
    const std::optional<int64_t> partition = json_int(*p, 0, INT32_MAX);
    if (!partition) return bad_id("\"partition\" must be an integer in [0, 2147483647]");
    const bool has_offset = e.contains("offset");
    if (has_offset == e.contains("timestamp")) {
      return bad_id("each element has exactly one of \"offset\" and \"timestamp\"");
    }
    read::StartPosition start;
    if (has_offset) {
      const std::optional<int64_t> o = json_int(e["offset"], -1, INT64_MAX - 1);
      if (!o) return bad_id("\"offset\" must be an integer >= -1 (the last offset received)");
      start = read::StartPosition::at(static_cast<uint64_t>(*o + 1));
    } else {
      const std::optional<int64_t> ts = json_int(e["timestamp"], INT64_MIN + 1, INT64_MAX);
      if (!ts) return bad_id("\"timestamp\" must be an integer (milliseconds since the epoch)");
      start = read::StartPosition::at_timestamp(*ts);
    }
    if (!starts.emplace(static_cast<int32_t>(*partition), start).second) {
      return bad_id(fmt::format("partition {} appears twice", *partition));
    }
  }
  *out = std::move(starts);
  return std::nullopt;
}

TopicStreamHandler::TopicStreamHandler(std::shared_ptr<read::LogReader> reader,
                                       std::shared_ptr<MetadataStore> metadata,
                                       std::shared_ptr<read::WatermarkNotifier> notifier,
                                       std::shared_ptr<exec::IoEngine> engine, StreamMetrics& metrics,
                                       GroupLagTracker* lag, TopicStreamHandlerOptions opts)
    : reader_(std::move(reader)),
      metadata_(std::move(metadata)),
      notifier_(std::move(notifier)),
      engine_(std::move(engine)),
      metrics_(metrics),
      lag_(lag),
      opts_(opts) {}

void TopicStreamHandler::serve(const std::string& topic, const QueryParams& q, const HttpRequest& request,
                               const std::function<void(HttpResponse)>& answer) {
  auto fail = [&](const ApiError& e) { answer(error_response(e)); };

  RecordFormat fmt = RecordFormat::kString;
  if (auto e = parse_format_param(q, &fmt)) return fail(*e);
  read::TopicStreamRequest req;
  if (auto raw = q.get("partitions")) {
    if (auto e = parse_partition_list(*raw, &req.partitions)) return fail(*e);
  }
  if (auto f = q.get("follow")) {
    if (*f == "true") {
      req.follow = true;
    } else if (*f != "false") {
      return fail({kBadParameter, "follow must be true or false"});
    }
  }
  int64_t heartbeat_ms = opts_.default_heartbeat_ms;
  if (auto e = q.get_int("heartbeat_ms", kMinHeartbeatMs, kMaxHeartbeatMs, &heartbeat_ms)) return fail(*e);
  if (auto e = parse_start_params(q, &req.start)) return fail(*e);
  // A reconnecting EventSource resends the original URL plus Last-Event-ID:
  // its entries win over the URL's start for their partitions.
  if (const std::string* last = request.header("last-event-id"); last != nullptr && !last->empty()) {
    if (auto e = parse_topic_last_event_id(*last, topic, &req.resume)) return fail(*e);
  }
  if (req.follow && notifier_ == nullptr) {
    return fail({kInternal, "internal error: follow needs the watermark notifier"});
  }

  const bool sse = wants_sse(request);
  std::shared_ptr<read::TopicStreamEncoder> encoder;
  if (sse) {
    encoder = std::make_shared<TopicSseEncoder>(topic, fmt);
  } else {
    encoder = std::make_shared<TopicNdjsonEncoder>(topic, fmt);
  }
  read::TopicStreamOptions so;
  so.heartbeat = Millis(heartbeat_ms);
  so.read_timeout = Millis(opts_.read_timeout_ms);
  so.metadata_timeout = Millis(opts_.read_timeout_ms);
  // chunk_bytes then bounds a chunk's framed bytes: the record object with its
  // partition (its encoded size: TopicRecordEncoder's payloads are encoded
  // once per block, so no record_cost), plus its line break or its SSE framing
  // (an id entry per partition of the stream).
  so.record_overhead = sse ? 16 : 1;
  so.record_cost_per_partition = sse ? kIdEntryBytes + topic.size() : 0;
  const std::string group = req.start.group;
  auto producer = read::TopicStream::open(reader_, notifier_, engine_, *metadata_, encoder, topic,
                                          std::move(req), so);
  if (!producer.ok()) return answer(error_response(to_api_error(producer.error())));
  if (lag_ != nullptr && !group.empty()) {
    for (const read::TopicStreamPartition& p : (*producer)->partitions()) {
      if (p.committed) lag_->record(group, topic, p.partition, *p.committed);
    }
  }

  answer(streaming_response(*producer, &metrics_, sse));
}

}  // namespace sh::api
