// TopicRecordsHandler: GET /topics/{topic}/records — one poll over several
// partitions of a topic (read::TopicReader: per-partition starts, fair shares of
// max_records / max_bytes, partitions read in parallel), with a long-poll that
// waits until any selected partition has data.
//
//   {"topic":T,
//    "records":[{"partition":P,"offset":…, …the records route's record fields}],
//    "next_offsets":{"offsets":[{"topic":T,"partition":P,"offset":N}]},
//    "partitions":[{"partition":P,"next_offset":N,"high_watermark":H,"log_start_offset":L}
//                  | {"partition":P,"error":{"error_code":C,"message":M}}]}
//
// `next_offsets` is the body POST /consumer-groups/{group}/offsets takes, so a
// consumer commits a poll with one call. Records are grouped by partition, in
// offset order within each. A partition that failed is reported in
// `partitions` (and left out of next_offsets); the others are served. Every
// partition failing is the first failure's error response.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "api/group_lag.h"
#include "api/http_server.h"
#include "api/long_poll_limiter.h"
#include "api/query.h"
#include "api/read_params.h"
#include "core/exec/io_engine.h"
#include "core/metadata/metadata_store.h"
#include "core/read/log_reader.h"
#include "core/read/topic_reader.h"
#include "core/read/watermark_notifier.h"

namespace sh::api {

// Parses `partitions=0,2,5` (distinct non-negative integers, at most 10,000).
std::optional<ApiError> parse_partition_list(std::string_view raw, std::vector<int32_t>* out);

// The response body of a topic poll.
std::string encode_topic_records(const std::string& topic, const read::TopicReadResult& r,
                                 RecordFormat fmt);

class TopicRecordsHandler {
 public:
  using Finish = std::function<void(HttpResponse)>;

  // REQUIRES: everything outlives the handler; notifier may be null (no long-polls).
  TopicRecordsHandler(std::shared_ptr<read::LogReader> reader, std::shared_ptr<MetadataStore> metadata,
                      std::shared_ptr<read::WatermarkNotifier> notifier,
                      std::shared_ptr<exec::IoEngine> engine, LongPollLimiter& long_polls,
                      GroupLagTracker* lag, ReadLimits limits, int64_t request_timeout_ms);

  // Serves one request; call on an I/O engine thread. `finish` is called exactly
  // once (maybe later, from another thread, after a long-poll).
  void serve(const std::string& topic, const QueryParams& q, Responder& responder,
             const std::string& client, Deadline deadline, bool draining, Finish finish);

 private:
  HttpResponse respond(const std::string& topic, const read::TopicReadResult& r, RecordFormat fmt);

  std::shared_ptr<read::LogReader> reader_;
  std::shared_ptr<MetadataStore> metadata_;
  std::shared_ptr<read::WatermarkNotifier> notifier_;
  std::shared_ptr<exec::IoEngine> engine_;
  LongPollLimiter& long_polls_;
  GroupLagTracker* lag_;
  const ReadLimits limits_;
  const int64_t request_timeout_ms_;
  read::TopicReader topics_;
};

}  // namespace sh::api
