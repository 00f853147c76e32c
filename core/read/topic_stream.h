// TopicStream: the producer behind a topic-wide record stream (several
// partitions of one topic, merged), independent of HTTP.
//
// One RecordStream per selected partition (record_stream.h: chunked reads on
// the IoEngine, at most `max_chunks` chunks queued per partition, followers
// waiting on the WatermarkNotifier and holding no thread) produces that
// partition's records; pop() merges them into one stream:
//
//   - Fair: partitions take turns, one queued chunk each (round robin from the
//     one after the last served). A chunk is at most `chunk_records` records
//     and about `chunk_bytes` bytes, so a partition with a large backlog delays
//     a live one by at most one chunk per other partition, whatever its size.
//   - Positions: pop() keeps, per partition, the offset it resumes at (after
//     the last record delivered, or its start); every piece is framed with the
//     positions as they stand after it, so a consumer resumes exactly (no
//     duplicate, no gap) from the positions of the last piece it received.
//   - Ends: without follow, when every partition reached the high watermark of
//     its first read (one end piece with every partition's position); with
//     follow, never by itself. A partition whose read fails (a corrupt block:
//     kCorrupt naming the object) ends the whole stream with one error piece
//     naming the partition; its records before the bad block are delivered,
//     none of the block. Closing frees every partition's queue at once.
//
// Framing (bytes) is the TopicStreamEncoder's: records are encoded on the
// producer threads (record_payload) and framed with the positions at merge
// time (record), so the expensive part never runs on the consumer's thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/exec/io_engine.h"
#include "core/metadata/metadata_store.h"
#include "core/read/log_reader.h"
#include "core/read/record_stream.h"
#include "core/read/start_resolver.h"
#include "core/read/watermark_notifier.h"

namespace sh::read {

namespace detail {
struct TopicStreamTap;  // what a partition's RecordStream reports besides its bytes
}

// Where one partition of a topic stream stands.
struct TopicStreamPosition {
  int32_t partition = 0;
  // The offset the partition resumes at: after the last record delivered
  // (past any gap the read skipped), or where it started.
  uint64_t next_offset = 0;
};

// Frames a topic stream's pieces into bytes. Must not throw.
class TopicStreamEncoder {
 public:
  virtual ~TopicStreamEncoder() = default;
  // Producer threads, concurrently for different partitions: appends what
  // represents record `r` of `partition` (e.g. its JSON object). Must be safe
  // to call concurrently.
  virtual void record_payload(int32_t partition, const RecordView& r, std::string* out) const = 0;
  // When not null, the payloads of `partition` are this encoder's output,
  // kept with each decoded block (format::DecodedBlock::encoded): a record is
  // encoded once, whichever streams read it. It must write exactly what
  // record_payload writes (which then serves only as its reference).
  virtual std::shared_ptr<const format::RecordEncoder> payload_encoder(int32_t /*partition*/) const {
    return nullptr;
  }
  // Consumer side (pop), one call at a time: frames one record (its payload as
  // record_payload wrote it). `positions` (ascending partition) already count it.
  virtual void record(int32_t partition, uint64_t offset, std::string_view payload,
                      std::span<const TopicStreamPosition> positions, std::string* out) = 0;
  // A follower's heartbeat while every partition waits for data.
  virtual void heartbeat(std::string* out) = 0;
  // Every partition reached its stop (the high watermark when it opened).
  virtual void end(std::span<const TopicStreamPosition> positions, std::string* out) = 0;
  // `partition` failed with `e`; nothing follows.
  virtual void error(int32_t partition, const Error& e, std::span<const TopicStreamPosition> positions,
                     std::string* out) = 0;
  // Once, first, when the stream's first piece holds no record: where every
  // partition stands (as StreamEncoder::opened), so that a client reconnecting
  // before any record came resumes there.
  virtual void opened(std::span<const TopicStreamPosition> /*positions*/, std::string* /*out*/) {}
};

struct TopicStreamRequest {
  std::vector<int32_t> partitions;          // empty = every partition of the topic
  StartRequest start;                       // for partitions without a `resume` entry
  std::map<int32_t, StartPosition> resume;  // explicit starts; each must be a selected partition
  bool follow = false;
};

struct TopicStreamOptions {
  size_t max_chunks = 2;  // queued chunks per partition at most
  // Bytes queued over all partitions at most (about): a partition's chunk_bytes
  // is max_queued_bytes / (partitions * max_chunks), within [min, max]_chunk_bytes.
  uint64_t max_queued_bytes = 4u << 20;
  uint64_t min_chunk_bytes = 4u << 10;
  uint64_t max_chunk_bytes = 256u << 10;
  uint32_t chunk_records = 1000;
  // What a record's payload costs against chunk_bytes (as
  // RecordStreamOptions::record_cost), when the encoder has no payload_encoder;
  // with one, a payload costs its encoded size.
  std::function<uint64_t(const RecordView&)> record_cost;
  // Added to every record's cost: the framing around its payload (a line
  // break, SSE's "data: "...), plus record_cost_per_partition per partition of
  // the stream (framing that grows with it, e.g. an SSE id listing every one).
  uint64_t record_overhead = 0;
  uint64_t record_cost_per_partition = 0;
  Millis heartbeat{15000};
  Millis read_timeout{10000};       // deadline of each chunk's read
  Millis metadata_timeout{10000};   // deadline of the topic lookup and group offsets
  unsigned open_parallelism = 8;    // partitions opened (first read) at the same time
};

// One merged piece for the consumer.
struct TopicStreamChunk {
  std::string bytes;
  uint64_t records = 0;
  bool last = false;    // the end or error piece is in it; nothing follows
  bool failed = false;  // it ends with an error piece
};

// A selected partition as it opened.
struct TopicStreamPartition {
  int32_t partition = 0;
  uint64_t start_offset = 0;     // after resolving earliest/latest/timestamp/group
  uint64_t high_watermark = 0;   // at open
  std::optional<uint64_t> committed;  // the group's committed offset, when it has one
};

class TopicStream : public std::enable_shared_from_this<TopicStream> {
 public:
  // Selects the partitions, resolves each one's start (its `resume` entry, or
  // resolve_start) and opens its RecordStream (the first read, on the caller's
  // threads and up to open_parallelism helper threads: call where storage work
  // may run). Errors, before any piece: kInvalidArgument (a bad start
  // combination; a `resume` entry for a partition not selected), kTopicNotFound,
  // kPartitionNotFound (a selected partition the topic does not have), and the
  // first failing partition's open error (kOffsetOutOfRange, kCorrupt, ...),
  // its message naming the partition.
  // REQUIRES: reader, engine, encoder non-null; notifier non-null if req.follow;
  // opts.max_chunks >= 1, chunk_records >= 1.
  static Result<std::shared_ptr<TopicStream>> open(std::shared_ptr<LogReader> reader,
                                                   std::shared_ptr<WatermarkNotifier> notifier,
                                                   std::shared_ptr<exec::IoEngine> engine,
                                                   MetadataStore& metadata,
                                                   std::shared_ptr<TopicStreamEncoder> encoder,
                                                   const std::string& topic, TopicStreamRequest req,
                                                   TopicStreamOptions opts);
  ~TopicStream();
  TopicStream(const TopicStream&) = delete;
  TopicStream& operator=(const TopicStream&) = delete;

  // Starts producing. `on_ready` runs each time a partition queued a chunk, on
  // a producer thread with no lock of the stream held; it may call pop(), and
  // may run (once) while pop() or close() run on another thread: it must not
  // wait for them. Call once.
  void start(std::function<void()> on_ready);
  // The next merged piece, or nullopt if no partition has one queued now.
  // Never blocks on I/O; wakes producers paused for room.
  std::optional<TopicStreamChunk> pop();
  // Stops every partition and drops their queued chunks. Idempotent.
  void close();

  const std::vector<TopicStreamPartition>& partitions() const { return parts_; }
  // The positions after the pieces popped so far (ascending partition).
  std::vector<TopicStreamPosition> positions() const;
  uint64_t chunk_bytes() const { return chunk_bytes_; }
  // Chunks queued over all partitions.
  size_t queued() const;
  // True while any partition produces (a task queued/running or a follower waits).
  bool producing() const;

 private:
  struct Source {
    std::shared_ptr<RecordStream> stream;
    std::shared_ptr<detail::TopicStreamTap> tap;
    bool done = false;
  };

  TopicStream(std::shared_ptr<TopicStreamEncoder> encoder, std::vector<TopicStreamPartition> parts,
              std::vector<Source> sources, uint64_t chunk_bytes);
  // Frames chunk `c` of source `i` (mu_ held).
  TopicStreamChunk frame_locked(size_t i, StreamChunk& c);
  void notify();

  const std::shared_ptr<TopicStreamEncoder> encoder_;
  const std::vector<TopicStreamPartition> parts_;
  const uint64_t chunk_bytes_;

  // Consumer side: guards the merge state (pop, close).
  mutable std::mutex mu_;
  std::vector<Source> sources_;
  std::vector<TopicStreamPosition> positions_;
  size_t next_turn_ = 0;
  bool finished_ = false;  // the last piece was popped
  bool opened_ = false;    // the first piece was popped (under mu_)

  std::mutex cb_mu_;  // guards on_ready_ (never held while it runs)
  std::function<void()> on_ready_;
  std::atomic<bool> closed_{false};
  bool started_ = false;  // under cb_mu_
};

}  // namespace sh::read
