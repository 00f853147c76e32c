// ListingMetadataStore: metadata derived from the segment objects themselves
// (the embedded default; needs no database and works over any ObjectStore).
//
//   topics      = top-level common prefixes under `prefix` whose names pass
//                 format::valid_topic_name
//   partitions  = second-level prefixes "<topic>/<n>/" with n canonical decimal
//                 in 0..2^31-1 (no sign, no leading zeros)
//   segments    = objects "<topic>/<n>/seg_<20 digits>.bin"; their footer (one
//                 suffix read, a second only for a large index) gives offsets,
//                 record count and max timestamp
// Every other object is ignored. A segment's footer is read once per (key, etag)
// and its summary cached (segments are immutable) until a full listing of the
// partition no longer shows the key (retention); concurrent readers of one cold
// footer share a single read.
//
// SegmentInfo as produced here: key = the full ObjectStore key (prefix included),
// bucket = "", record_count = sum over the index entries, size_bytes = object size,
// max_timestamp = footer max_timestamp, min_timestamp = nullopt (the footer
// only records each block's *first* timestamp; timestamps inside a block may go
// backwards, so the true minimum is not known without reading every block).
//
// Consumer groups: one JSON object per group at
// "<prefix>@consumer-groups/<group>.json" ('@' is not a topic character, so it
// never collides with a topic):
//   {"offsets":[{"topic":"t","partition":0,"offset":42,"metadata":"","committed_at_ms":1}]}
// commit_offsets() is a read-modify-write serialized by a mutex of this store;
// it is NOT atomic across processes sharing the bucket (last writer wins).
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/cache/single_flight.h"
#include "core/clock.h"
#include "core/format/segment.h"
#include "core/metadata/metadata_store.h"
#include "core/storage/object_store.h"

namespace sh {

struct ListingOptions {
  // Where topics live in the store: "" or ending with '/' (one is appended if missing).
  std::string prefix;
  // Length of the first suffix read of a segment (footer + index); at least 64.
  uint64_t footer_read_bytes = 64 * 1024;
  // Stamps committed_at_ms; nullptr = system clock.
  std::shared_ptr<Clock> clock;
  // When set, footers are read through this instead of a suffix read of our own:
  // the read path passes its footer cache here, so a segment's footer is read once
  // for listing and serving together.
  std::function<Result<std::shared_ptr<const format::SegmentMeta>>(const std::string& key)>
      footer_loader;
};

class ListingMetadataStore final : public MetadataStore {
 public:
  // Directory of the consumer-group objects below the prefix.
  static constexpr std::string_view kGroupsDir = "@consumer-groups/";
  // Longest metadata string accepted with a commit (Kafka's default limit).
  static constexpr size_t kMaxCommitMetadataBytes = 4096;

  // REQUIRES: store != nullptr.
  explicit ListingMetadataStore(std::shared_ptr<ObjectStore> store, ListingOptions opts = {});

  Result<std::vector<TopicInfo>> list_topics() override;
  // kInvalidArgument for an invalid topic name; kTopicNotFound if no object lives under it.
  Result<TopicInfo> get_topic(std::string_view topic) override;
  // kTopicNotFound / kPartitionNotFound when no object lives under the topic /
  // partition prefix; a partition holding no segment has log_start_offset =
  // high_watermark = 0. kCorrupt naming the key for a bad footer.
  Result<PartitionInfo> get_partition(std::string_view topic, int32_t partition) override;
  // Lists with start_after = the key of `after_base_offset`, so only newer segments
  // are listed, and reads only footers not yet cached. With after_base_offset set,
  // an empty answer is returned without checking that the partition exists.
  Result<std::vector<SegmentInfo>> list_segments(
      std::string_view topic, int32_t partition,
      std::optional<uint64_t> after_base_offset) override;
  // The object is the registration: checks that segment.key is the canonical key
  // of (topic, partition, base_offset), that the object exists, and that its
  // footer agrees with `segment` (offsets, size, record count); kInvalidArgument
  // otherwise. Warms the footer cache.
  Status register_segment(std::string_view topic, int32_t partition,
                          const SegmentInfo& segment) override;

  Result<std::vector<std::string>> list_groups() override;
  Result<std::vector<CommittedOffset>> get_group_offsets(std::string_view group) override;
  // kInvalidArgument for an invalid group id, an empty list, an invalid topic
  // name, a negative partition or metadata over kMaxCommitMetadataBytes.
  Status commit_offsets(std::string_view group, const std::vector<OffsetCommit>& offsets) override;

  // One list request with max_keys = 1.
  Status ping() override;
  // "listing:" + the object store's describe().
  std::string describe() const override;

  // Suffix reads issued for segment footers so far (tests, metrics).
  uint64_t footer_reads() const { return footer_reads_.load(std::memory_order_relaxed); }
  // Segments whose footer summary is cached.
  size_t cached_segments() const;

 private:
  struct CachedSegment {
    std::string etag;
    uint64_t size = 0;
    SegmentInfo info;
  };

  std::string topic_prefix(std::string_view topic) const;
  std::string partition_prefix(std::string_view topic, int32_t partition) const;
  std::string group_key(std::string_view group) const;

  // Partition ids below a topic prefix; sets *exists when any object lives there.
  Result<std::vector<int32_t>> partitions_of(std::string_view topic, bool* exists);
  // Segments of a partition with base offset > after (all when nullopt);
  // sets *any_object when the listing returned anything under the partition.
  Result<std::vector<SegmentInfo>> load_segments(std::string_view topic, int32_t partition,
                                                 std::optional<uint64_t> after,
                                                 bool* any_object);
  // Summary of one segment object, from the cache or its footer.
  Result<SegmentInfo> segment_info(const ObjectInfo& obj, uint64_t name_base_offset);
  Result<SegmentInfo> read_footer(const ObjectInfo& obj, uint64_t name_base_offset);
  Result<std::vector<CommittedOffset>> read_group(std::string_view group, bool* exists);

  std::shared_ptr<ObjectStore> store_;
  ListingOptions opts_;

  mutable std::mutex cache_mu_;
  std::map<std::string, CachedSegment> footer_cache_;  // by object key
  cache::SingleFlight<std::string, SegmentInfo> footer_flight_;
  std::atomic<uint64_t> footer_reads_{0};

  std::mutex groups_mu_;  // serializes commit read-modify-writes
};

}  // namespace sh
