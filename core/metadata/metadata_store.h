// MetadataStore: topics, partitions, segments and consumer-group offsets.
// Implementations: ListingMetadataStore (derived from the objects themselves;
// the embedded default) and PostgresMetadataStore (production). Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/result.h"

namespace sh {

struct TopicInfo {
  std::string name;
  int32_t partition_count = 0;
  std::vector<int32_t> partitions;  // ids, ascending
};

// One segment object. key, bucket, base_offset and size_bytes are always known.
// The footer fields (last_offset, record_count, max_timestamp) are known when
// `footer_known`; a store that derives metadata from object names (listing)
// leaves them unknown (0 / 0 / nullopt) for segments whose footer it did not
// need to read. Such a segment holds no offset at or beyond the next segment's
// base_offset; the last segment a store returns always has footer_known.
struct SegmentInfo {
  std::string key;       // object key in the store (relative to the store's prefix)
  std::string bucket;    // "" = the configured store
  uint64_t base_offset = 0;
  uint64_t last_offset = 0;  // inclusive; only meaningful when footer_known
  uint64_t record_count = 0;  // only meaningful when footer_known
  uint64_t size_bytes = 0;
  std::optional<int64_t> min_timestamp;
  std::optional<int64_t> max_timestamp;
  bool footer_known = true;
};

struct PartitionInfo {
  std::string topic;
  int32_t partition = 0;
  uint64_t log_start_offset = 0;
  uint64_t high_watermark = 0;  // last offset of the last segment + 1 (0 when empty)
  uint64_t segment_count = 0;
  uint64_t size_bytes = 0;
};

// A partition and its segments, as one call can answer it (one listing, one query).
struct PartitionSegments {
  PartitionInfo partition;
  std::vector<SegmentInfo> segments;  // all of them, ascending base_offset
};

struct CommittedOffset {
  std::string topic;
  int32_t partition = 0;
  uint64_t offset = 0;
  std::string metadata;
  int64_t committed_at_ms = 0;
};

struct OffsetCommit {
  std::string topic;
  int32_t partition = 0;
  uint64_t offset = 0;
  std::string metadata;
};

// Every call takes a deadline (default: none) that bounds its waits on the
// backing store; past it the call fails with kTimeout (or kUnavailable).
// Nothing a store reads from its backing data surfaces as kInvalidArgument:
// malformed stored data is kCorrupt (objects) or kBadResponse (rows).
class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  virtual Result<std::vector<TopicInfo>> list_topics(Deadline deadline = {}) = 0;
  // kTopicNotFound if absent.
  virtual Result<TopicInfo> get_topic(std::string_view topic, Deadline deadline = {}) = 0;
  // kTopicNotFound / kPartitionNotFound if absent.
  virtual Result<PartitionInfo> get_partition(std::string_view topic, int32_t partition,
                                              Deadline deadline = {}) = 0;
  // Segments of a partition with base_offset > after_base_offset (all of them
  // when nullopt), ordered by base_offset. Lets callers refresh incrementally.
  // The last segment returned has footer_known.
  virtual Result<std::vector<SegmentInfo>> list_segments(std::string_view topic, int32_t partition,
                                                         std::optional<uint64_t> after_base_offset,
                                                         Deadline deadline = {}) = 0;
  // get_partition + list_segments(nullopt) in one round trip where the store can
  // (one listing, one query). The default calls both.
  virtual Result<PartitionSegments> load_partition(std::string_view topic, int32_t partition,
                                                   Deadline deadline = {});

  // Records a new segment (writers): creates topic and partition on first use
  // and advances the high watermark, atomically. REQUIRES: segment.footer_known.
  virtual Status register_segment(std::string_view topic, int32_t partition,
                                  const SegmentInfo& segment, Deadline deadline = {}) = 0;

  virtual Result<std::vector<std::string>> list_groups(Deadline deadline = {}) = 0;
  // kGroupNotFound if the group has never committed.
  virtual Result<std::vector<CommittedOffset>> get_group_offsets(std::string_view group,
                                                                 Deadline deadline = {}) = 0;
  virtual Status commit_offsets(std::string_view group, const std::vector<OffsetCommit>& offsets,
                                Deadline deadline = {}) = 0;

  // Cheap health check for /readyz.
  virtual Status ping(Deadline deadline = {}) = 0;
  // "listing:file:///data" or "postgres://host/db" (no password).
  virtual std::string describe() const = 0;
};

// Consumer group ids: 1..249 chars of [A-Za-z0-9._-] (same rule as topics).
bool valid_group_id(std::string_view group);

}  // namespace sh
