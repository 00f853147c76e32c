// LogReader: reads records of any partition, from an offset, the earliest or
// latest position, or a timestamp, across segment and block boundaries.
//
// Records come back as references into decoded blocks that the result pins,
// so encoding them costs no copy.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <span>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <prometheus/registry.h>

#include "core/clock.h"
#include "core/format/segment.h"
#include "core/metadata/metadata_store.h"
#include "core/read/read_metrics.h"
#include "core/read/segment_index.h"
#include "core/read/segment_source.h"
#include "core/storage/object_store.h"

namespace sh::read {

struct StartPosition {
  enum class Kind { kOffset, kEarliest, kLatest, kTimestamp };
  Kind kind = Kind::kEarliest;
  uint64_t offset = 0;    // kOffset
  int64_t timestamp = 0;  // kTimestamp: first record with timestamp >= this

  static StartPosition at(uint64_t o) { return {Kind::kOffset, o, 0}; }
  static StartPosition earliest() { return {Kind::kEarliest, 0, 0}; }
  static StartPosition latest() { return {Kind::kLatest, 0, 0}; }
  static StartPosition at_timestamp(int64_t ts) { return {Kind::kTimestamp, 0, ts}; }
};

struct ReadRequest {
  StartPosition start;
  uint32_t max_records = 100;
  // Budget of record cost (see record_cost). The first record is returned
  // whatever it costs, as long as it fits max_response_bytes.
  uint64_t max_bytes = 1u << 20;
  // Hard cap of one response: records stop before the total would pass it. A
  // first record costing more than it can never be served: kInvalidArgument
  // naming its offset and the object (a later one ends the result before it).
  uint64_t max_response_bytes = 64u << 20;
  // What a record costs against the budgets — the bytes it adds to the
  // response (api::encoded_record_size). nullptr: its raw size in the block.
  std::function<uint64_t(const RecordView&)> record_cost;
  // When set, records are encoded by it — once per block, kept with the block
  // (format::DecodedBlock::encoded) — each costs its encoded size (record_cost
  // is then not used), and RecordRef::encoded points at the encoding.
  std::shared_ptr<const format::RecordEncoder> encoder;
  // Added to every record's cost, encoded or not: framing the caller writes
  // around each record later (e.g. a topic stream's SSE id of all positions).
  uint64_t record_overhead = 0;
  // Answer from memory only — the partition's index (fresh within its TTL),
  // footers and decoded blocks — or fail with kWouldBlock and do nothing else
  // (the caller then reads where I/O may run). Reads at or past the high
  // watermark and timestamp starts always need the other path. For the HTTP
  // workers' warm path: no hop to the I/O engine for what is cached.
  bool cache_only = false;
  Deadline deadline;
};

struct RecordRef {
  const format::DecodedBlock* block = nullptr;
  uint32_t index = 0;
  // The block's records in ReadRequest::encoder's encoding (null without one).
  const format::EncodedRecords* encoded = nullptr;
  uint64_t offset() const { return block->offset_at(index); }
  std::string_view encoded_bytes() const { return encoded->record(index); }
};

// Appends the encoded bytes of `refs` (each with its encoder's framing), as
// one copy per run of consecutive records of a block.
// REQUIRES: every ref has `encoded` (read with ReadRequest::encoder).
void append_encoded(std::span<const RecordRef> refs, std::string* out);

struct ReadResult {
  std::vector<std::shared_ptr<const format::DecodedBlock>> pinned;  // keeps `records` valid
  std::vector<RecordRef> records;
  uint64_t start_offset = 0;  // where the read started (after resolving earliest/latest/timestamp)
  uint64_t next_offset = 0;   // offset to ask for next
  uint64_t high_watermark = 0;
  uint64_t log_start_offset = 0;
  uint64_t bytes = 0;  // cost of the records returned (ReadRequest::record_cost)
  // The read stopped early at next_offset because a segment or block failed
  // (records before it are whole and correct); the next read from next_offset
  // meets the error. Empty when the read was not cut short.
  std::optional<Error> stopped_by;
};

struct LogReaderOptions {
  SegmentSourceOptions source;
  Millis index_ttl{5000};            // a partition's segment list is refreshed this often
  Millis tail_refresh_interval{500};  // reads at/after the high watermark refresh at most this often
  // Partitions whose segment index is kept in memory; past this, the least
  // recently used index is dropped (and reloaded on its next read).
  size_t max_indexed_partitions = 10000;
  // A topic or partition the metadata store does not know is remembered as
  // unknown this long (no query for it meanwhile), so reads of unknown names
  // cost one lookup per interval, not one per request; a partition created
  // meanwhile becomes readable within it. 0 = not remembered.
  Millis unknown_partition_ttl{1000};
  size_t max_unknown_partitions = 10000;  // remembered unknown (topic, partition)s
  // After a read met a segment that vanished (retention), the partition's index
  // is reloaded at most once per interval; reads meanwhile reuse that reload.
  Millis missing_segment_reload_interval{1000};
};


class LogReader {
 public:
  LogReader(std::shared_ptr<MetadataStore> metadata, std::shared_ptr<ObjectStore> store,
            LogReaderOptions opts, prometheus::Registry& registry,
            std::shared_ptr<Clock> clock = system_clock());
  // Shares `source` (and its caches) with others, e.g. the listing metadata store
  // (ListingOptions::meta_loader = source->meta_loader()), so a footer read to
  // list a segment is not read again to serve it.
  LogReader(std::shared_ptr<MetadataStore> metadata, std::shared_ptr<SegmentSource> source,
            LogReaderOptions opts, prometheus::Registry& registry,
            std::shared_ptr<Clock> clock = system_clock());

  // Errors: kTopicNotFound, kPartitionNotFound, kOffsetOutOfRange (offset below
  // the log start or above the high watermark), kCorrupt, kUnavailable, kTimeout.
  // REQUIRES: req.max_records >= 1.
  Result<ReadResult> read(std::string_view topic, int32_t partition, const ReadRequest& req);

  // Watermarks and sizes from the in-memory index (refreshed on TTL); reads no
  // footer beyond what loading the index needs (the last segment's, in listing mode).
  // `deadline` bounds the metadata calls.
  Result<PartitionInfo> partition_info(std::string_view topic, int32_t partition,
                                       Deadline deadline = {});
  // Current index snapshot of a partition (refreshed on TTL). Segments may lack
  // their footer summary (SegmentInfo::footer_known).
  // Every segment of the partition with its footer summary filled in: the
  // footers the index does not know yet (listing metadata reads them lazily) are
  // read through the footer cache — one read per such segment, for listings such
  // as GET .../segments, never for reads.
  Result<std::vector<SegmentInfo>> describe_segments(std::string_view topic, int32_t partition,
                                                     Deadline deadline = {});
  Result<std::shared_ptr<const IndexSnapshot>> index(std::string_view topic, int32_t partition,
                                                     Deadline deadline = {});
  // The index snapshot as it is, without any metadata query (nullptr if never loaded).
  std::shared_ptr<const IndexSnapshot> cached_index(std::string_view topic, int32_t partition);
  // Forces a refresh now (at most one query for concurrent callers); used by
  // long-poll watchers to learn about new segments.
  Result<std::shared_ptr<const IndexSnapshot>> refresh_now(std::string_view topic, int32_t partition,
                                                           Deadline deadline = {});

  MetadataStore& metadata() { return *metadata_; }
  SegmentSource& source() { return *source_; }

 private:
  std::shared_ptr<SegmentIndex> index_of(std::string_view topic, int32_t partition);
  // index_of, unless the partition is remembered as unknown: then its error.
  Result<std::shared_ptr<SegmentIndex>> known_index_of(std::string_view topic, int32_t partition);
  void remember_unknown(const std::string& key, const Error& e);
  Result<std::shared_ptr<const IndexSnapshot>> current(SegmentIndex& idx, bool want_tail,
                                                       Deadline deadline);
  Result<ReadResult> read_snapshot(const IndexSnapshot& snap, const ReadRequest& req);
  // First offset with timestamp >= ts. Reads O(log n) footers when the index
  // lacks segments' max timestamps (binary search over segments, which assumes
  // max timestamps do not decrease along the log); none when it has them all.
  Result<uint64_t> resolve_timestamp(const IndexSnapshot& snap, int64_t ts, Deadline deadline);
  // Footer + index of `seg`; kCorrupt naming the object if its footer's base
  // offset is not the one the metadata gave.
  Result<std::shared_ptr<const format::SegmentMeta>> segment_meta(const SegmentInfo& seg,
                                                                  Deadline deadline);
  // segment_meta / SegmentSource::block from memory only: kWouldBlock if not there.
  Result<std::shared_ptr<const format::SegmentMeta>> cached_segment_meta(const SegmentInfo& seg);
  Result<std::shared_ptr<const format::DecodedBlock>> cached_block(const SegmentInfo& seg,
                                                                   const format::SegmentMeta& meta,
                                                                   size_t b);

  std::shared_ptr<MetadataStore> metadata_;
  LogReaderOptions opts_;
  std::shared_ptr<Clock> clock_;
  std::shared_ptr<SegmentSource> source_;
  ReadMetrics metrics_;

  std::mutex indexes_mu_;
  std::unordered_map<std::string, std::shared_ptr<SegmentIndex>> indexes_;

  struct Unknown {
    Error error;  // kTopicNotFound / kPartitionNotFound
    SteadyTime until;
  };
  std::mutex unknown_mu_;
  std::unordered_map<std::string, Unknown> unknown_;  // "topic/partition"
};

}  // namespace sh::read
