// PartitionAppender: appends records to one topic partition. It continues at
// the partition's high watermark, cuts segments at the configured limits, writes
// each segment object and registers it in the MetadataStore.
//
// Per segment, in this order:
//   1. finish the segment bytes (format::SegmentWriter);
//   2. put_if_absent(key) with a deadline of AppendOptions::put_timeout: an
//      object already at the key (another writer appended to the partition after
//      this appender read the high watermark) is kAlreadyExists, and nothing is
//      written or registered. The check and the write are one atomic call, so no
//      other writer's segment is ever overwritten;
//   3. MetadataStore::register_segment. For PostgreSQL this is the registration;
//      the listing store checks that the object exists and its footer agrees.
//
// Errors:
//  - a rejected record (its offset is below next_offset(), or a format limit)
//    is kInvalidArgument. Nothing changes and the appender can still be used.
//  - a failed segment write (steps 1-3) leaves the appender failed(): the
//    records of that segment are lost, and every later append() or flush()
//    returns kInternal. Segments written before the failure stay in written().
//
// Knows nothing of HTTP or the command line. Not thread-safe: one appender per
// writer of a partition.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/format/record.h"
#include "core/format/segment.h"
#include "core/metadata/metadata_store.h"
#include "core/result.h"
#include "core/storage/object_store.h"

namespace sh::write {

struct AppendOptions {
  uint64_t segment_records = 0;          // cut a segment after this many records; 0 = no limit
  uint64_t segment_bytes = 64ull << 20;  // cut a segment when its estimated size reaches this
  uint32_t block_bytes = 1u << 20;       // cut a block when its raw size reaches this
  format::Compression compression = format::Compression::kLz4;
  // Prefix of segment keys in the store: "" or ending with '/'. It must match
  // the prefix the MetadataStore was opened with.
  std::string key_prefix;
  // SegmentInfo::bucket of registered segments ("" = the configured store).
  std::string bucket;
  Millis put_timeout{120000};
  // Stamps each segment's created_at_ms; nullptr = the system clock.
  std::shared_ptr<Clock> clock;
};

// What has been written so far.
struct AppendSummary {
  uint64_t segments = 0;
  uint64_t records = 0;                // in written segments
  std::optional<uint64_t> first_offset;  // set when records > 0
  std::optional<uint64_t> last_offset;   // set when records > 0
  uint64_t next_offset = 0;  // the offset the next record gets (pending records included)
};

class PartitionAppender {
 public:
  // Reads the partition's high watermark from `metadata`; a topic or partition
  // that does not exist yet starts at offset 0. kInvalidArgument for an invalid
  // topic name, a negative partition or a non-empty key_prefix not ending with
  // '/'. Other errors come from the metadata store.
  // REQUIRES: store != nullptr, metadata != nullptr.
  static Result<PartitionAppender> open(std::shared_ptr<ObjectStore> store,
                                        std::shared_ptr<MetadataStore> metadata,
                                        std::string topic, int32_t partition,
                                        AppendOptions opts);

  PartitionAppender(PartitionAppender&&) = default;
  PartitionAppender& operator=(PartitionAppender&&) = default;
  PartitionAppender(const PartitionAppender&) = delete;
  PartitionAppender& operator=(const PartitionAppender&) = delete;

  // Adds `r` at r.offset to the open segment. If the segment then reaches a
  // limit, it is written and registered before this returns.
  // REQUIRES (else kInvalidArgument): r.offset >= next_offset(). Offsets may
  // leave gaps. Callers without an offset of their own use next_offset().
  Status append(const Record& r);
  Status append(const RecordView& r);

  // Writes and registers the open segment, if it holds any record.
  Status flush();

  // The offset the next record gets: the high watermark at open(), then one
  // past the last record accepted.
  uint64_t next_offset() const { return next_offset_; }
  // Records accepted but not yet written (the open segment).
  uint64_t pending_records() const { return writer_.record_count(); }
  // True after a segment write failed; see the header comment.
  bool failed() const { return failed_; }
  // Segments written and registered so far, in offset order.
  const std::vector<SegmentInfo>& written() const { return written_; }
  AppendSummary summary() const;

  const std::string& topic() const { return topic_; }
  int32_t partition() const { return partition_; }

 private:
  PartitionAppender(std::shared_ptr<ObjectStore> store, std::shared_ptr<MetadataStore> metadata,
                    std::string topic, int32_t partition, AppendOptions opts,
                    uint64_t next_offset);

  template <typename R>
  Status append_record(const R& r);
  bool segment_full() const;
  // Steps 1-4 for the open segment. REQUIRES: !writer_.empty().
  Result<SegmentInfo> write_segment();
  format::SegmentWriter new_writer() const;
  Error failed_error() const;

  std::shared_ptr<ObjectStore> store_;
  std::shared_ptr<MetadataStore> metadata_;
  std::string topic_;
  int32_t partition_ = 0;
  AppendOptions opts_;
  format::SegmentWriter writer_;
  uint64_t next_offset_ = 0;
  bool failed_ = false;
  std::vector<SegmentInfo> written_;
};

}  // namespace sh::write
