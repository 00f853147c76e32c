#include "api/topic_records_handler.h"

#include <algorithm>
#include <atomic>
#include <chrono>

#include <fmt/format.h>

#include "api/json_writer.h"
#include "api/record_encoders.h"
#include "api/records_json.h"

namespace sh::api {
namespace {

constexpr size_t kMaxListedPartitions = 10000;

}  // namespace

std::optional<ApiError> parse_partition_list(std::string_view raw, std::vector<int32_t>* out) {
  std::vector<int32_t> parts;
  size_t i = 0;
  while (true) {
    const size_t comma = raw.find(',', i);
    const std::string_view item = raw.substr(i, comma == std::string_view::npos ? raw.npos : comma - i);
    auto v = parse_uint(item);
    if (!v || *v > INT32_MAX || (item.size() > 1 && item[0] == '0')) {
      return ApiError{kBadParameter,
                      fmt::format("partitions must be a comma-separated list of partition ids "
                                  "(integers in [0, 2147483647]), got '{}'",
                                  item.substr(0, 32))};
    }
    parts.push_back(static_cast<int32_t>(*v));
    if (parts.size() > kMaxListedPartitions) {
      return ApiError{kBadParameter, fmt::format("partitions lists more than {} ids", kMaxListedPartitions)};
    }
    if (comma == std::string_view::npos) break;
    i = comma + 1;
  }
  std::sort(parts.begin(), parts.end());
  if (std::adjacent_find(parts.begin(), parts.end()) != parts.end()) {
    return ApiError{kBadParameter, "partitions lists a partition twice"};
  }
  *out = std::move(parts);
  return std::nullopt;
}

std::string encode_topic_records(const std::string& topic, const read::TopicReadResult& r,
                                 RecordFormat fmt) {
  std::string out;
  out.reserve(256 + r.bytes);
  JsonWriter w(&out);
  w.ch('{').key("topic").string(topic).raw(",\"records\":[");
  // Read with record_encoder(kTopic, fmt, partition): each record is
  // {"partition":P, + the records route's fields, and its ',', kept with its block.
  bool any = false;
  for (const read::PartitionRead& pr : r.partitions) {
    if (pr.error || pr.result.records.empty()) continue;
    any = true;
    if (pr.result.records.front().encoded != nullptr) {
      read::append_encoded(pr.result.records, &out);
      continue;
    }
    std::vector<HeaderView> scratch;  // read without the encoder: encoded here
    for (const read::RecordRef& ref : pr.result.records) {
      append_framed_record(&out, ref.block->record(ref.index, &scratch), RecordFraming::kTopic,
                           fmt, pr.partition);
    }
  }
  if (any) out.pop_back();  // the last ','
  w.raw("],\"next_offsets\":{\"offsets\":[");
  bool first = true;
  for (const read::PartitionRead& pr : r.partitions) {
    if (pr.error) continue;
    if (!first) w.ch(',');
    first = false;
    w.ch('{').key("topic").string(topic).ch(',').key("partition").number(pr.partition).ch(',');
    w.key("offset").number(pr.result.next_offset).ch('}');
  }
  w.raw("]},\"partitions\":[");
  first = true;
  for (const read::PartitionRead& pr : r.partitions) {
    if (!first) w.ch(',');
    first = false;
    w.ch('{').key("partition").number(pr.partition).ch(',');
    if (pr.error) {
      const ApiError e = to_api_error(*pr.error);
      w.key("error").ch('{').key("error_code").number(static_cast<int64_t>(e.error_code)).ch(',');
      w.key("message").string(e.message).raw("}}");
      continue;
    }
    w.key("next_offset").number(pr.result.next_offset).ch(',');
    w.key("high_watermark").number(pr.result.high_watermark).ch(',');
    w.key("log_start_offset").number(pr.result.log_start_offset).ch('}');
  }
  w.raw("]}");
  return out;
}

TopicRecordsHandler::TopicRecordsHandler(std::shared_ptr<read::LogReader> reader,
                                         std::shared_ptr<MetadataStore> metadata,
                                         std::shared_ptr<read::WatermarkNotifier> notifier,
                                         std::shared_ptr<exec::IoEngine> engine,
                                         LongPollLimiter& long_polls, GroupLagTracker* lag,
                                         ReadLimits limits, int64_t request_timeout_ms)
    : reader_(std::move(reader)),
      metadata_(std::move(metadata)),
      notifier_(std::move(notifier)),
      engine_(std::move(engine)),
      long_polls_(long_polls),
      lag_(lag),
      limits_(limits),
      request_timeout_ms_(request_timeout_ms),
      topics_(*metadata_, *reader_) {}

HttpResponse TopicRecordsHandler::respond(const std::string& topic, const read::TopicReadResult& r,
                                          RecordFormat fmt) {
  HttpResponse resp;
  resp.body = encode_topic_records(topic, r, fmt);
  resp.with_header("Cache-Control", "no-store");
  return resp;
}

void TopicRecordsHandler::serve(const std::string& topic, const QueryParams& q, Responder& responder,
                                const std::string& client, Deadline deadline, bool draining,
                                Finish finish) {
  ReadParams p;
  if (auto e = parse_read_params(q, limits_, &p)) return finish(error_response(*e));
  read::TopicReadRequest req;
  if (auto raw = q.get("partitions")) {
    if (auto e = parse_partition_list(*raw, &req.partitions)) return finish(error_response(*e));
  }
  req.start = p.start;
  req.max_records = p.max_records;
  req.max_bytes = p.max_bytes;
  req.max_response_bytes = limits_.max_bytes_limit;
  const RecordFormat fmt = p.format;
  req.encoder = [fmt](int32_t partition) {
    return record_encoder(RecordFraming::kTopic, fmt, partition);
  };
  req.deadline = deadline;
  auto result = topics_.read(topic, req);
  if (!result.ok()) return finish(error_response(to_api_error(result.error())));
  if (lag_ && !p.start.group.empty()) {
    for (const auto& pr : result->partitions) {
      if (pr.committed) lag_->record(p.start.group, topic, pr.partition, *pr.committed);
    }
  }
  // Partitions to wait on: those read, at the offset each would go on from.
  read::TopicReadRequest again = req;
  again.start = {};
  again.partitions.clear();
  for (const auto& pr : result->partitions) {
    if (pr.error || pr.result.next_offset < pr.result.high_watermark) continue;
    again.partitions.push_back(pr.partition);
    again.offsets[pr.partition] = pr.result.next_offset;
  }
  const bool all_caught_up = again.partitions.size() == result->partitions.size();
  if (result->records > 0 || p.timeout_ms == 0 || !notifier_ || !all_caught_up) {
    return finish(respond(topic, *result, fmt));
  }
  if (draining) {
    HttpResponse r = error_response(kShuttingDown, "server shutting down; retry (another replica may serve you)");
    r.with_header("Connection", "close");
    return finish(std::move(r));
  }
  LongPollLimiter::Refusal refusal = LongPollLimiter::Refusal::kNone;
  std::shared_ptr<LongPollLimiter::Slot> slot = long_polls_.try_acquire(client, &refusal);
  if (!slot) {
    return finish(error_response(
        kOverloaded, refusal == LongPollLimiter::Refusal::kClient
                         ? "too many waiting long-polls from this client; retry later or poll with timeout_ms=0"
                         : "too many waiting long-polls; retry later or poll with timeout_ms=0"));
  }
  if (!responder.on_client_gone([slot] { slot->release(); })) {
    slot->release();
    return finish(respond(topic, *result, fmt));
  }
  // Wait on every partition; the first wake-up answers, the others find it done.
  struct Wait {
    std::atomic<bool> fired{false};
    read::TopicReadResult empty;
    read::TopicReadRequest again;
    Finish finish;
  };
  auto wait = std::make_shared<Wait>();
  wait->empty = std::move(*result);
  wait->again = std::move(again);
  wait->finish = std::move(finish);
  const auto until = std::chrono::steady_clock::now() + Millis(static_cast<int64_t>(p.timeout_ms));
  for (int32_t partition : wait->again.partitions) {
    notifier_->wait(topic, partition, wait->again.offsets[partition], until,
                    [this, wait, slot, topic, fmt](read::WatermarkNotifier::Wake why) {
                      if (wait->fired.exchange(true)) return;
                      if (!slot->release()) return;  // the client hung up: nothing to answer
                      try {
                        if (why != read::WatermarkNotifier::Wake::kData) {
                          return wait->finish(respond(topic, wait->empty, fmt));
                        }
                        read::TopicReadRequest req = wait->again;
                        req.deadline = Deadline::after(Millis(request_timeout_ms_));
                        // The read touches storage: on the engine, not the notifier's thread.
                        const bool queued = engine_->try_submit(
                            [this, wait, req, topic, fmt](bool expired) {
                              try {
                                if (expired) {
                                  return wait->finish(error_response(
                                      kUpstreamTimeout, "deadline passed while waiting for storage"));
                                }
                                auto r = topics_.read(topic, req);
                                if (!r.ok()) return wait->finish(error_response(to_api_error(r.error())));
                                wait->finish(respond(topic, *r, fmt));
                              } catch (const std::exception&) {
                                wait->finish(error_response(kInternal, "internal error"));
                              }
                            },
                            req.deadline);
                        if (!queued) {
                          wait->finish(error_response(kBusy, "busy: too many storage requests waiting; retry later"));
                        }
                      } catch (const std::exception&) {
                        wait->finish(error_response(kInternal, "internal error"));
                      }
                    });
  }
}

}  // namespace sh::api
