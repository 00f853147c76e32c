// ListingMetadataStore: metadata derived from the segment objects themselves
// (the embedded default; needs no database and works over any ObjectStore).
//
//   topics      = top-level common prefixes under `prefix` whose names pass
//                 format::valid_topic_name
//   partitions  = second-level prefixes "<topic>/<n>/" with n canonical decimal
//                 in 0..2^31-1 (no sign, no leading zeros)
//   segments    = objects "<topic>/<n>/seg_<20 digits>.bin"; the base offset
//                 comes from the name, the size from the listing
// Every other object is ignored.
//
// Footers are read lazily, through a SegmentMetaLoader (the read path's, when
// wired by `serve`, so listing and serving share one footer cache): a listing
// reads only the LAST segment's footer (the high watermark needs it). Other
// segments come back with footer_known = false unless their footer is already
// cached for the listed version (same ETag and size), in which case it is
// filled in for free. Locating an offset needs only the base offsets; a
// timestamp lookup reads O(log n) footers (read::LogReader). A cached footer
// whose object the listing shows replaced is dropped from the loader.
//
// SegmentInfo as produced here: key = the full ObjectStore key (prefix included),
// bucket = "", size_bytes = object size from the listing; when footer_known:
// last_offset from the footer, record_count = sum over the index entries,
// max_timestamp = footer max_timestamp. min_timestamp = nullopt always (the
// footer only records each block's *first* timestamp; timestamps inside a
// block may go backwards, so the true minimum is not known without reading
// every block). A footer whose base offset disagrees with the file name, or a
// bad footer/index, is kCorrupt naming the key.
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

#include "core/clock.h"
#include "core/format/segment.h"
#include "core/metadata/metadata_store.h"
#include "core/metadata/segment_meta_loader.h"
#include "core/storage/object_store.h"

namespace sh {

struct ListingOptions {
  // Where topics live in the store: "" or ending with '/' (one is appended if missing).
  std::string prefix;
  // Length of the first suffix read of a segment (footer + index); at least 64.
  // Used only when meta_loader is not given.
  uint64_t footer_read_bytes = 64 * 1024;
  // Stamps committed_at_ms; nullptr = system clock.
  std::shared_ptr<Clock> clock;
  // Footers are read through this loader (REQUIRES: over the same store); the
  // read path passes its own (read::SegmentSource::meta_loader()), so a
  // segment's footer is read once for listing and serving together.
  // nullptr = a private loader over the store.
  std::shared_ptr<SegmentMetaLoader> meta_loader;
};

class ListingMetadataStore final : public MetadataStore {
 public:
  // Directory of the consumer-group objects below the prefix.
  static constexpr std::string_view kGroupsDir = "@consumer-groups/";
  // Longest metadata string accepted with a commit (Kafka's default limit).
  static constexpr size_t kMaxCommitMetadataBytes = 4096;

  // REQUIRES: store != nullptr.
  explicit ListingMetadataStore(std::shared_ptr<ObjectStore> store, ListingOptions opts = {});

  Result<std::vector<TopicInfo>> list_topics(Deadline deadline = {}) override;
  // kInvalidArgument for an invalid topic name; kTopicNotFound if no object lives under it.
  Result<TopicInfo> get_topic(std::string_view topic, Deadline deadline = {}) override;
  // kTopicNotFound / kPartitionNotFound when no object lives under the topic /
  // partition prefix; a partition holding no segment has log_start_offset =
  // high_watermark = 0. One listing and the last segment's footer; kCorrupt
  // naming the key for a bad footer.
  Result<PartitionInfo> get_partition(std::string_view topic, int32_t partition,
                                      Deadline deadline = {}) override;
  // Lists with start_after = the key of `after_base_offset`, so only newer segments
  // are listed; reads only the last listed segment's footer (unless cached). With
  // after_base_offset set, an empty answer is returned without checking that the
  // partition exists.
  Result<std::vector<SegmentInfo>> list_segments(std::string_view topic, int32_t partition,
                                                 std::optional<uint64_t> after_base_offset,
                                                 Deadline deadline = {}) override;
  // One listing for both (the read path's first load of a partition).
  Result<PartitionSegments> load_partition(std::string_view topic, int32_t partition,
                                           Deadline deadline = {}) override;
  // The object is the registration: checks that segment.key is the canonical key
  // of (topic, partition, base_offset), that the object exists, and that its
  // footer agrees with `segment` (offsets, size, record count); kInvalidArgument
  // otherwise. Warms the footer cache.
  Status register_segment(std::string_view topic, int32_t partition, const SegmentInfo& segment,
                          Deadline deadline = {}) override;

  Result<std::vector<std::string>> list_groups(Deadline deadline = {}) override;
  Result<std::vector<CommittedOffset>> get_group_offsets(std::string_view group,
                                                         Deadline deadline = {}) override;
  // kInvalidArgument for an invalid group id, an empty list, an invalid topic
  // name, a negative partition or metadata over kMaxCommitMetadataBytes.
  Status commit_offsets(std::string_view group, const std::vector<OffsetCommit>& offsets,
                        Deadline deadline = {}) override;

  // One list request with max_keys = 1 (within 5 s, or `deadline` if sooner).
  Status ping(Deadline deadline = {}) override;
  // "listing:" + the object store's describe().
  std::string describe() const override;

  // Footers this store needed (asked its loader for) so far (tests, metrics).
  uint64_t footer_reads() const { return footer_reads_.load(std::memory_order_relaxed); }
  SegmentMetaLoader& meta_loader() { return *loader_; }

 private:
  struct Listed {
    std::vector<SegmentInfo> segments;  // footer_known only where cached
    std::vector<ObjectInfo> objects;    // the listing entry of each segment
    bool any_object = false;            // anything at all under the partition prefix
  };

  std::string topic_prefix(std::string_view topic) const;
  std::string partition_prefix(std::string_view topic, int32_t partition) const;
  std::string group_key(std::string_view group) const;

  // Partition ids below a topic prefix; sets *exists when any object lives there.
  Result<std::vector<int32_t>> partitions_of(std::string_view topic, bool* exists,
                                             Deadline deadline);
  // Lists the segments of a partition with base offset > after (all when
  // nullopt) and reads the last one's footer.
  Result<Listed> list_partition(std::string_view topic, int32_t partition,
                                std::optional<uint64_t> after, Deadline deadline);
  // kTopicNotFound or kPartitionNotFound, whichever holds (one more listing).
  Error missing(std::string_view topic, int32_t partition, Deadline deadline);
  // Fills `info` from the footer of `obj` (cached or read now).
  Status read_footer(const ObjectInfo& obj, SegmentInfo* info, Deadline deadline);
  Result<std::vector<CommittedOffset>> read_group(std::string_view group, bool* exists,
                                                  Deadline deadline);

  std::shared_ptr<ObjectStore> store_;
  ListingOptions opts_;

  std::shared_ptr<SegmentMetaLoader> loader_;
  std::atomic<uint64_t> footer_reads_{0};

  std::mutex groups_mu_;  // serializes commit read-modify-writes
};

}  // namespace sh
