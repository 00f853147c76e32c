#include "api/stream_handler.h"

#include "api/read_params.h"

#include <mutex>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "api/errors.h"
#include "api/json_writer.h"
#include "api/record_encoders.h"
#include "api/records_json.h"
#include "api/stream_session.h"
#include "core/format/names.h"
#include "core/read/record_stream.h"
#include "core/read/start_resolver.h"
#include "core/text/utf8.h"

namespace sh::api {
namespace {

constexpr int64_t kMinHeartbeatMs = 10;
constexpr int64_t kMaxHeartbeatMs = 300000;

void append_message(JsonWriter& w, const std::string& message) {
  if (text::valid_utf8(message)) {
    w.string(message);
  } else {
    w.string("(message not valid UTF-8)");
  }
}

// {"end":{"next_offset":N,"reason":"..."}}
void end_json(std::string* out, uint64_t next_offset, read::StreamEndReason reason) {
  JsonWriter w(out);
  w.ch('{').key("end").ch('{').key("next_offset").number(next_offset);
  w.ch(',').key("reason").string(read::stream_end_reason_name(reason)).ch('}').ch('}');
}

// {"error":{"error_code":C,"message":M,"next_offset":N}}
void error_json(std::string* out, const Error& e, uint64_t next_offset) {
  const ApiError api = to_api_error(e);
  JsonWriter w(out);
  w.ch('{').key("error").ch('{').key("error_code").number(static_cast<int64_t>(api.error_code));
  w.ch(',').key("message");
  append_message(w, api.message);
  w.ch(',').key("next_offset").number(next_offset).ch('}').ch('}');
}

// The records of a chunk in `framing`: copied from their blocks' encodings
// when read with record_encoder(framing, fmt), else encoded here.
void append_framed(const read::ReadResult& r, RecordFraming framing, RecordFormat fmt,
                   std::string* out) {
  if (r.records.empty()) return;
  if (r.records.front().encoded != nullptr) {
    read::append_encoded(r.records, out);
    return;
  }
  std::vector<HeaderView> scratch;
  for (const read::RecordRef& ref : r.records) {
    append_framed_record(out, ref.block->record(ref.index, &scratch), framing, fmt);
  }
}

class NdjsonEncoder final : public read::StreamEncoder {
 public:
  explicit NdjsonEncoder(RecordFormat fmt) : fmt_(fmt) {}
  void records(const read::ReadResult& r, std::string* out) override {
    append_framed(r, RecordFraming::kNdjson, fmt_, out);
  }
  // NDJSON has no comment line: a waiting follower's socket is checked instead.
  void heartbeat(std::string* /*out*/) override {}
  void end(uint64_t next_offset, read::StreamEndReason reason, std::string* out) override {
    end_json(out, next_offset, reason);
    out->push_back('\n');
  }
  void error(const Error& e, uint64_t next_offset, std::string* out) override {
    error_json(out, e, next_offset);
    out->push_back('\n');
  }

 private:
  RecordFormat fmt_;
};

class SseEncoder final : public read::StreamEncoder {
 public:
  explicit SseEncoder(RecordFormat fmt) : fmt_(fmt) {}
  void records(const read::ReadResult& r, std::string* out) override {
    append_framed(r, RecordFraming::kSse, fmt_, out);
  }
  void heartbeat(std::string* out) override { out->append(": heartbeat\n\n"); }
  // An id-only event: the browser's EventSource keeps it as its Last-Event-ID
  // and dispatches nothing. -1 stands before offset 0.
  void opened(uint64_t next_offset, std::string* out) override {
    fmt::format_to(std::back_inserter(*out), "id: {}\n\n", static_cast<int64_t>(next_offset) - 1);
  }
  void end(uint64_t next_offset, read::StreamEndReason reason, std::string* out) override {
    out->append("event: end\ndata: ");
    end_json(out, next_offset, reason);
    out->append("\n\n");
  }
  void error(const Error& e, uint64_t next_offset, std::string* out) override {
    out->append("event: error\ndata: ");
    error_json(out, e, next_offset);
    out->append("\n\n");
  }

 private:
  RecordFormat fmt_;
};

}  // namespace

StreamMetrics::StreamMetrics(prometheus::Registry& registry)
    : active(prometheus::BuildGauge()
                 .Name("streamhouse_streams_active")
                 .Help("Record streams (NDJSON, SSE) currently open")
                 .Register(registry)
                 .Add({})),
      ended(prometheus::BuildCounter()
                .Name("streamhouse_streams_total")
                .Help("Record streams that ended, by outcome (high_watermark, end_offset, error, "
                      "client_gone)")
                .Register(registry)),
      records(prometheus::BuildCounter()
                  .Name("streamhouse_stream_records_total")
                  .Help("Records sent on record streams")
                  .Register(registry)
                  .Add({})),
      bytes(prometheus::BuildCounter()
                .Name("streamhouse_stream_bytes_total")
                .Help("Body bytes queued on record streams")
                .Register(registry)
                .Add({})) {}

StreamHandler::StreamHandler(std::shared_ptr<read::LogReader> reader,
                             std::shared_ptr<MetadataStore> metadata,
                             std::shared_ptr<read::WatermarkNotifier> notifier,
                             std::shared_ptr<exec::IoEngine> engine, prometheus::Registry& registry,
                             GroupLagTracker* lag, StreamHandlerOptions opts)
    : reader_(std::move(reader)),
      metadata_(std::move(metadata)),
      notifier_(std::move(notifier)),
      engine_(std::move(engine)),
      lag_(lag),
      opts_(opts),
      metrics_(registry) {}

void StreamHandler::serve(const std::string& topic, int32_t partition, const QueryParams& q,
                          const HttpRequest& request,
                          const std::function<void(HttpResponse)>& answer) {
  auto fail = [&](const ApiError& e) { answer(error_response(e)); };

  RecordFormat fmt = RecordFormat::kString;
  if (auto e = parse_format_param(q, &fmt)) return fail(*e);
  read::RecordStreamOptions so;
  so.topic = topic;
  so.partition = partition;
  so.read_timeout = Millis(opts_.read_timeout_ms);
  if (auto f = q.get("follow")) {
    if (*f == "true") {
      so.follow = true;
    } else if (*f != "false") {
      return fail({kBadParameter, "follow must be true or false"});
    }
  }
  if (q.has("end_offset")) {
    uint64_t end = 0;
    if (auto e = q.get_uint("end_offset", 0, static_cast<uint64_t>(INT64_MAX), &end)) return fail(*e);
    so.end_offset = end;
  }
  int64_t heartbeat_ms = opts_.default_heartbeat_ms;
  if (auto e = q.get_int("heartbeat_ms", kMinHeartbeatMs, kMaxHeartbeatMs, &heartbeat_ms)) return fail(*e);
  so.heartbeat = Millis(heartbeat_ms);

  read::StartRequest start;
  if (auto e = parse_start_params(q, &start)) return fail(*e);
  // A reconnecting EventSource resends the original URL plus Last-Event-ID:
  // resume after the last event it saw, whatever the URL's start says.
  std::optional<uint64_t> resume_at;
  if (const std::string* last = request.header("last-event-id"); last != nullptr && !last->empty()) {
    // -1 is the id a stream that opened at offset 0 sends before its first record.
    if (*last == "-1") {
      resume_at = 0;
    } else {
      auto id = parse_uint(*last);
      if (!id || *id >= static_cast<uint64_t>(INT64_MAX)) {
        return fail({kBadParameter, fmt::format("Last-Event-ID must be a record offset (or -1), got '{}'",
                                                last->substr(0, 64))});
      }
      resume_at = *id + 1;
    }
  }
  if (so.follow && notifier_ == nullptr) {
    return fail({kInternal, "internal error: follow needs the watermark notifier"});
  }

  auto core_fail = [&](const Error& e) {
    if (e.code() == Errc::kOffsetOutOfRange) {
      auto info = reader_->partition_info(topic, partition);
      if (info.ok()) {
        return answer(offset_out_of_range_response(e.message(), info->log_start_offset,
                                                   info->high_watermark));
      }
    }
    answer(error_response(to_api_error(e)));
  };
  if (resume_at) {
    so.start = read::StartPosition::at(*resume_at);
  } else {
    auto resolved = read::resolve_start(start, topic, partition, *metadata_, *reader_);
    if (!resolved.ok()) return core_fail(resolved.error());
    if (resolved->committed && lag_ != nullptr) {
      lag_->record(start.group, topic, partition, *resolved->committed);
    }
    so.start = resolved->start;
  }

  const bool sse = wants_sse(request);
  // chunk_bytes then bounds a chunk's framed bytes (the record object plus
  // its line break, or its SSE "id:"/"data:" framing).
  so.encoder = record_encoder(sse ? RecordFraming::kSse : RecordFraming::kNdjson, fmt);
  // Warm chunks are produced on the worker that sends them (StreamSession
  // allows the re-entry): no engine hop, whatever the engine's load.
  so.produce_inline = true;
  std::unique_ptr<read::StreamEncoder> encoder;
  if (sse) {
    encoder = std::make_unique<SseEncoder>(fmt);
  } else {
    encoder = std::make_unique<NdjsonEncoder>(fmt);
  }
  auto producer = read::RecordStream::open(reader_, notifier_, engine_, std::move(encoder), so);
  if (!producer.ok()) return core_fail(producer.error());

  answer(streaming_response(*producer, &metrics_, sse));
}

}  // namespace sh::api
