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

struct SegmentInfo {
  std::string key;       // object key in the store (relative to the store's prefix)
  std::string bucket;    // "" = the configured store
  uint64_t base_offset = 0;
  uint64_t last_offset = 0;  // inclusive
  uint64_t record_count = 0;
  uint64_t size_bytes = 0;
  std::optional<int64_t> min_timestamp;
  std::optional<int64_t> max_timestamp;
};

struct PartitionInfo {
  std::string topic;
  int32_t partition = 0;
  uint64_t log_start_offset = 0;
  uint64_t high_watermark = 0;  // last offset of the last segment + 1 (0 when empty)
  uint64_t segment_count = 0;
  uint64_t size_bytes = 0;
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

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

  virtual Result<std::vector<TopicInfo>> list_topics() = 0;
  // kTopicNotFound if absent.
  virtual Result<TopicInfo> get_topic(std::string_view topic) = 0;
  // kTopicNotFound / kPartitionNotFound if absent.
  virtual Result<PartitionInfo> get_partition(std::string_view topic, int32_t partition) = 0;
  // Segments of a partition with base_offset > after_base_offset (all of them
  // when nullopt), ordered by base_offset. Lets callers refresh incrementally.
  virtual Result<std::vector<SegmentInfo>> list_segments(
      std::string_view topic, int32_t partition, std::optional<uint64_t> after_base_offset) = 0;

  // Records a new segment (writers): creates topic and partition on first use
  // and advances the high watermark, atomically.
  virtual Status register_segment(std::string_view topic, int32_t partition,
                                  const SegmentInfo& segment) = 0;

  virtual Result<std::vector<std::string>> list_groups() = 0;
  // kGroupNotFound if the group has never committed.
  virtual Result<std::vector<CommittedOffset>> get_group_offsets(std::string_view group) = 0;
  virtual Status commit_offsets(std::string_view group,
                                const std::vector<OffsetCommit>& offsets) = 0;

  // Cheap health check for /readyz.
  virtual Status ping() = 0;
  // "listing:file:///data" or "postgres://host/db" (no password).
  virtual std::string describe() const = 0;
};

// Consumer group ids: 1..249 chars of [A-Za-z0-9._-] (same rule as topics).
bool valid_group_id(std::string_view group);

}  // namespace sh
