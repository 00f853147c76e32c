// TopicStreamHandler: GET /topics/{topic}/records/stream — the records of
// several partitions of a topic (all, or `partitions=`) in one stream, merged
// fairly as they come (read::TopicStream, core/read/topic_stream.h), as NDJSON
// (default, application/x-ndjson) or Server-Sent Events (Accept:
// text/event-stream), fed to a ResponseStream only as fast as the socket takes it.
//
// Start: as GET /topics/{topic}/records (`offset` / `timestamp` for every
// partition, or `group` with `auto_offset_reset`; default earliest), every
// partition opened before the first byte (an error there is an ordinary error
// response: 400/404/416/5xx, naming the partition).
//
// NDJSON: one record object per line — GET /topics/{topic}/records's record
//   objects, with "partition" (format=json: raw line breaks inside an embedded
//   JSON value become spaces). The last line, without follow, once every
//   partition reached the high watermark of the moment it opened:
//     {"end":{"next_offsets":{"offsets":[{"topic","partition","offset"}]},"reason":"high_watermark"}}
//   (next_offsets: the body POST /consumer-groups/{group}/offsets takes); or,
//   when a partition cannot be read mid-stream (a corrupt block names its
//   object; no record of it is sent), the stream ends with
//     {"error":{"error_code":C,"message":M,"partition":P,"next_offsets":{...}}}
// SSE (KafkaSSE / Wikimedia EventStreams ids): per record
//   "id: [{"topic":T,"partition":P,"offset":O},…]\ndata: <record JSON>\n\n" with
//   one entry per partition of the stream, ascending; O is the last offset the
//   stream delivered for P (resume after it), and for a partition that has
//   delivered nothing yet its start minus one (-1 for a start at 0) — every
//   id resumes exactly. "event: end" / "event: error" carry the JSON above as
//   data (with the id of where the stream stands); ": heartbeat" comments
//   every heartbeat_ms while a follower waits.
// Last-Event-ID (an id above, e.g. resent by a reconnecting EventSource; any
//   format): each entry resumes its partition after `offset`, or, with
//   "timestamp" (ms) instead, at that partition's first record at or after
//   it; partitions without an entry start as the query says. Strictly
//   checked (40001): a JSON array of objects with exactly topic (this topic),
//   partition (a partition of the stream, once) and offset (>= -1) or timestamp.
//
// Memory is bounded (TopicStream's chunks, about 4 MiB over all partitions,
// plus StreamHandler::kHighWaterBytes queued in the response). Metrics: the
// stream metrics of StreamHandler (streamhouse_streams_*; outcomes
// high_watermark | error | client_gone).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/errors.h"
#include "api/group_lag.h"
#include "api/http_server.h"
#include "api/query.h"
#include "api/stream_handler.h"
#include "core/exec/io_engine.h"
#include "core/metadata/metadata_store.h"
#include "core/read/log_reader.h"
#include "core/read/topic_stream.h"
#include "core/read/watermark_notifier.h"

namespace sh::api {

// Parses a Last-Event-ID of a topic stream of `topic` into per-partition
// starts (offset O → O + 1; timestamp T → at_timestamp(T)). Does not check the
// partitions against the stream (TopicStream::open does: kInvalidArgument).
std::optional<ApiError> parse_topic_last_event_id(std::string_view header, const std::string& topic,
                                                  std::map<int32_t, read::StartPosition>* out);

struct TopicStreamHandlerOptions {
  int64_t default_heartbeat_ms = 15000;
  int64_t read_timeout_ms = 10000;  // deadline of each chunk's read and of the metadata calls
};

class TopicStreamHandler {
 public:
  // REQUIRES: everything non-null (lag may be null) and outliving every stream.
  TopicStreamHandler(std::shared_ptr<read::LogReader> reader, std::shared_ptr<MetadataStore> metadata,
                     std::shared_ptr<read::WatermarkNotifier> notifier,
                     std::shared_ptr<exec::IoEngine> engine, StreamMetrics& metrics,
                     GroupLagTracker* lag, TopicStreamHandlerOptions opts);

  // Validates, opens every partition, then answers through `answer` exactly
  // once: an error response before any body byte, or 200 with the stream.
  // REQUIRES: runs where storage work may run (the IoEngine), not on an HTTP worker.
  void serve(const std::string& topic, const QueryParams& q, const HttpRequest& request,
             const std::function<void(HttpResponse)>& answer);

 private:
  std::shared_ptr<read::LogReader> reader_;
  std::shared_ptr<MetadataStore> metadata_;
  std::shared_ptr<read::WatermarkNotifier> notifier_;
  std::shared_ptr<exec::IoEngine> engine_;
  StreamMetrics& metrics_;
  GroupLagTracker* lag_;
  TopicStreamHandlerOptions opts_;
};

}  // namespace sh::api
