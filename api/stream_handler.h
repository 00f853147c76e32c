// StreamHandler: GET /topics/{topic}/partitions/{partition}/records/stream —
// a partition's records as NDJSON (default, application/x-ndjson) or
// Server-Sent Events (Accept: text/event-stream), produced by
// read::RecordStream (core/read/record_stream.h) and fed to a ResponseStream
// (api/response_stream.h) only as fast as the socket takes it.
//
// NDJSON: one record object per line, the records response's record objects
//   (api/records_json.h; in format=json, raw line breaks inside an embedded
//   JSON value become spaces, so a record is always one line). The last line
//   says why the stream ended: {"end":{"next_offset":N,"reason":"high_watermark"|"end_offset"}}
//   or {"error":{"error_code":C,"message":M,"next_offset":N}} (a corrupt block
//   names its object; no record of it is sent).
// SSE: per record "id: <offset>\ndata: <record JSON>\n\n"; "event: end" and
//   "event: error" carry the JSON lines above as data; ": heartbeat" comments
//   every heartbeat_ms while a follower waits. Last-Event-ID (the browser's
//   EventSource sends it when it reconnects) resumes at the next offset and
//   takes precedence over offset/timestamp/group.
//
// Memory per stream is bounded (RecordStream's queued chunks plus
// kHighWaterBytes queued in the response) whatever the stream's length; a
// client that goes away frees the stream as soon as the server notices (at
// once while bytes flow; at the next heartbeat_ms while a follower waits).
//
//   streamhouse_streams_active                 gauge
//   streamhouse_streams_total{outcome}         high_watermark | end_offset | error | client_gone
//   streamhouse_stream_records_total           records sent on streams
//   streamhouse_stream_bytes_total             body bytes queued on streams
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "api/group_lag.h"
#include "api/http_server.h"
#include "api/query.h"
#include "core/exec/io_engine.h"
#include "core/metadata/metadata_store.h"
#include "core/read/log_reader.h"
#include "core/read/watermark_notifier.h"

namespace sh::api {

struct StreamMetrics {
  explicit StreamMetrics(prometheus::Registry& registry);
  prometheus::Gauge& active;
  prometheus::Family<prometheus::Counter>& ended;  // {outcome}
  prometheus::Counter& records;
  prometheus::Counter& bytes;
};

struct StreamHandlerOptions {
  int64_t default_heartbeat_ms = 15000;
  int64_t read_timeout_ms = 10000;  // deadline of each chunk's read
};

class StreamHandler {
 public:
  // Bytes queued in the response above which the handler stops feeding it,
  // and the level at which it starts again.
  static constexpr size_t kHighWaterBytes = size_t{64} << 10;
  static constexpr size_t kLowWaterBytes = size_t{32} << 10;

  // REQUIRES: reader, metadata, engine non-null and outliving every stream;
  // `lag` may be null.
  StreamHandler(std::shared_ptr<read::LogReader> reader, std::shared_ptr<MetadataStore> metadata,
                std::shared_ptr<read::WatermarkNotifier> notifier,
                std::shared_ptr<exec::IoEngine> engine, prometheus::Registry& registry,
                GroupLagTracker* lag, StreamHandlerOptions opts);

  // Validates the query and headers, resolves the start and performs the first
  // read, then answers through `answer` exactly once: an error response
  // (400/404/416/5xx, before any body byte), or 200 with the streamed body.
  // REQUIRES: runs where storage work may run (the IoEngine), not on an HTTP worker.
  void serve(const std::string& topic, int32_t partition, const QueryParams& q,
             const HttpRequest& request,
             const std::function<void(HttpResponse)>& answer);

  StreamMetrics& metrics() { return metrics_; }

 private:
  std::shared_ptr<read::LogReader> reader_;
  std::shared_ptr<MetadataStore> metadata_;
  std::shared_ptr<read::WatermarkNotifier> notifier_;
  std::shared_ptr<exec::IoEngine> engine_;
  GroupLagTracker* lag_;
  StreamHandlerOptions opts_;
  StreamMetrics metrics_;
};

}  // namespace sh::api
