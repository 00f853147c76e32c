// TopicReader: the seed's Consumer over all partitions of a topic — one poll
// reads several partitions, each from where it starts, in parallel, sharing
// the record and byte budgets fairly among the partitions that have data.
//
//   - Where each partition starts: resolve_start() per partition (the group's
//     committed offset, else the reset policy; or one position for all), unless
//     the request gives that partition an explicit offset (a resumed poll).
//   - Fair share: round 1 gives each selected partition R/P records (the
//     remainder to partitions in turn, rotating from poll to poll) and B/P
//     bytes; round 2 splits what is left among the partitions that filled
//     their share (they may have more), from where round 1 stopped. The total
//     never passes R.
//   - Parallel: the partitions of a round are read on up to `parallelism`
//     threads (the caller's included), so cold partitions wait on the store at
//     the same time — the seed's "parallel segment downloads across partitions".
//   - A partition that fails is reported with its error; the others are served.
//
// Knows nothing of HTTP. Thread-safe. Blocking I/O: call from I/O engine threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/metadata/metadata_store.h"
#include "core/read/log_reader.h"
#include "core/read/start_resolver.h"

namespace sh::read {

struct TopicReadRequest {
  std::vector<int32_t> partitions;  // empty = every partition of the topic
  StartRequest start;               // applies to every partition without an explicit offset
  std::map<int32_t, uint64_t> offsets;  // explicit start per partition (wins over `start`)
  uint32_t max_records = 100;           // total over all partitions
  uint64_t max_bytes = 1u << 20;        // total record cost over all partitions
  uint64_t max_response_bytes = 64u << 20;
  std::function<uint64_t(const RecordView&)> record_cost;  // as ReadRequest::record_cost
  // ReadRequest::encoder of each partition's reads (an encoding may embed the
  // partition); empty: none.
  std::function<std::shared_ptr<const format::RecordEncoder>(int32_t partition)> encoder;
  Deadline deadline;
};

struct PartitionRead {
  int32_t partition = 0;
  // Records of both rounds, in offset order; next_offset after the last.
  ReadResult result;
  std::optional<uint64_t> committed;  // the group's committed offset, when it has one
  std::optional<Error> error;         // the partition could not be read at all
};

struct TopicReadResult {
  std::vector<PartitionRead> partitions;  // ascending partition id
  uint64_t records = 0;
  uint64_t bytes = 0;
};

struct TopicReaderOptions {
  unsigned parallelism = 8;        // partitions read at the same time by one poll
  Millis partitions_ttl{5000};     // a topic's partition list is refreshed this often
  size_t max_cached_topics = 10000;
};

class TopicReader {
 public:
  // REQUIRES: metadata and reader outlive the TopicReader.
  TopicReader(MetadataStore& metadata, LogReader& reader, TopicReaderOptions opts = {},
              std::shared_ptr<Clock> clock = system_clock());

  // Errors: kTopicNotFound, kPartitionNotFound (a selected partition the topic
  // does not have), kInvalidArgument (from check_start_request), and the
  // metadata store's errors listing the topic. Per-partition read errors are in
  // PartitionRead::error; if every selected partition failed, the first error.
  // REQUIRES: req.max_records >= 1.
  Result<TopicReadResult> read(const std::string& topic, const TopicReadRequest& req);

  // The partitions `req` selects (all when none are named), checked against the
  // topic. For long-polls: which partitions to wait on.
  Result<std::vector<int32_t>> select(const std::string& topic, const TopicReadRequest& req);

 private:
  Result<std::vector<int32_t>> partitions_of(const std::string& topic, Deadline deadline);

  MetadataStore& metadata_;
  LogReader& reader_;
  const TopicReaderOptions opts_;
  std::shared_ptr<Clock> clock_;
  std::atomic<size_t> rotation_{0};  // who gets the remainder of a split
  std::mutex mu_;
  struct Cached {
    std::vector<int32_t> partitions;
    SteadyTime at{};
  };
  std::map<std::string, Cached> topics_;
};

}  // namespace sh::read
