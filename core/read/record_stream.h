// RecordStream: the producer behind a partition's record stream (NDJSON, SSE),
// independent of HTTP.
//
// It reads the partition in chunks through LogReader (whose read-ahead
// prefetches the next blocks of a sequential reader), frames each chunk into
// bytes with a StreamEncoder, and keeps at most `max_chunks` framed chunks
// queued for the consumer. Production pauses while the queue is full and
// resumes when pop() makes room, so a slow consumer holds at most max_chunks
// chunks whatever the stream's length. Production runs as short tasks on an
// IoEngine (one read each); with `produce_inline`, what memory can answer (a
// cache-only read: no I/O, ReadRequest::cache_only) is produced on the thread
// that made room, typically the HTTP worker sending the stream, with no hop. A follower at the end of the
// log holds no thread: it waits on the WatermarkNotifier (weakly: a closed
// stream is freed at once), queues a heartbeat each `heartbeat` it waits and
// then reads again (a read at the end of the log refreshes its tail).
//
// Ends: without follow, at the high watermark of the first read (reason
// kHighWatermark) or at end_offset (exclusive; reason kEndOffset), whichever
// is lower; with follow, only at end_offset. A read error (a corrupt block:
// kCorrupt naming the object) ends the stream with an error piece; records
// of a block that failed its checks are never framed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "core/exec/io_engine.h"
#include "core/read/log_reader.h"
#include "core/read/watermark_notifier.h"

namespace sh::read {

enum class StreamEndReason { kHighWatermark, kEndOffset };
// "high_watermark" | "end_offset"
std::string_view stream_end_reason_name(StreamEndReason r);

// Frames the pieces of a stream into bytes; called on the producer's threads,
// one call at a time per stream. Must not throw.
class StreamEncoder {
 public:
  virtual ~StreamEncoder() = default;
  // Appends every record of `r`, in order.
  virtual void records(const ReadResult& r, std::string* out) = 0;
  virtual void heartbeat(std::string* out) = 0;
  virtual void end(uint64_t next_offset, StreamEndReason reason, std::string* out) = 0;
  virtual void error(const Error& e, uint64_t next_offset, std::string* out) = 0;
  // Once, at the head of a stream whose first chunk holds no record (a
  // follower at the head, say): where the stream stands, `next_offset` being
  // the first offset it will send, so that a client that reconnects before any
  // record came resumes there (SSE: an id-only event) rather than where its
  // URL says (offset=latest would skip what was written meanwhile).
  virtual void opened(uint64_t /*next_offset*/, std::string* /*out*/) {}
};

struct RecordStreamOptions {
  std::string topic;
  int32_t partition = 0;
  StartPosition start;                  // typically resolved by resolve_start
  std::optional<uint64_t> end_offset;   // exclusive
  bool follow = false;
  // Framed chunks queued at most, and the LogReader max_bytes of one chunk's
  // read: 2 x 32 KiB per stream (with the response's 64 KiB and libmicrohttpd's
  // pool: ~0.2 MiB per active stream, measured ~0.26 MiB in bench/followers;
  // the chunks are copies of encoded runs, so small ones cost little
  // throughput: bench/stream measured the same records/s as with 64 KiB).
  size_t max_chunks = 2;
  uint64_t chunk_bytes = 32u << 10;
  // Produce what memory can answer on the thread that makes room (pop(), or
  // start()), with no hop to the engine. on_ready may then run inside pop(),
  // on the caller's thread: only for a consumer that allows that re-entry and
  // holds no lock of its own around pop() (api's StreamSession does; a merge
  // over several streams under its lock, like TopicStream, must not).
  bool produce_inline = false;
  // ReadRequest::record_cost of the chunk reads (e.g. the framed size, so that
  // chunk_bytes bounds the framed bytes); nullptr: the record's stored size.
  std::function<uint64_t(const RecordView&)> record_cost;
  // ReadRequest::encoder of the chunk reads: records come encoded (once per
  // block, kept with it) and cost their encoded size.
  std::shared_ptr<const format::RecordEncoder> encoder;
  // ReadRequest::record_overhead of the chunk reads.
  uint64_t record_overhead = 0;
  uint32_t chunk_records = 10000;       // LogReader max_records of one chunk's read
  Millis heartbeat{15000};              // while following and waiting for data
  Millis read_timeout{10000};           // deadline of each chunk's read
};

// One framed piece for the consumer.
struct StreamChunk {
  std::string bytes;
  uint64_t records = 0;       // records framed in `bytes`
  uint64_t next_offset = 0;   // where the stream stands after this chunk
  bool last = false;          // the end or error piece is in it; nothing follows
  bool failed = false;        // it ends with an error piece
  StreamEndReason end_reason = StreamEndReason::kHighWatermark;  // if last && !failed
};

class RecordStream : public std::enable_shared_from_this<RecordStream> {
 public:
  // Performs the first read on the caller's thread (call it where storage
  // work may run), so that the errors of a bad start (kTopicNotFound,
  // kPartitionNotFound, kOffsetOutOfRange, ...) come back here rather than in
  // the stream. The first chunk is queued; production starts with start().
  // REQUIRES: reader and engine non-null; notifier non-null if opts.follow;
  // opts.max_chunks >= 1, chunk_records >= 1, chunk_bytes >= 1.
  static Result<std::shared_ptr<RecordStream>> open(std::shared_ptr<LogReader> reader,
                                                    std::shared_ptr<WatermarkNotifier> notifier,
                                                    std::shared_ptr<exec::IoEngine> engine,
                                                    std::unique_ptr<StreamEncoder> encoder,
                                                    RecordStreamOptions opts);
  ~RecordStream();
  RecordStream(const RecordStream&) = delete;
  RecordStream& operator=(const RecordStream&) = delete;

  // Starts producing. `on_ready` runs after each chunk is queued, on a
  // producer thread with no lock of the stream held (keep it short; it may
  // call pop()). It may still run once while close() runs: capture weakly.
  // Call once.
  void start(std::function<void()> on_ready);
  // The next queued chunk, or nullopt if none is queued now. Never blocks;
  // wakes a producer that paused for room.
  std::optional<StreamChunk> pop();
  // Stops producing and drops the queued chunks (their pinned blocks with
  // them); a pending production task or notifier wait finds the stream
  // closed and does nothing. Idempotent; on_ready is not called afterwards.
  void close();

  size_t queued() const;
  // True while a production task is queued or running, or a follower waits.
  bool producing() const;
  // The offset the first read started at (after earliest/latest/timestamp).
  uint64_t start_offset() const { return start_offset_; }
  // The high watermark when the stream opened.
  uint64_t high_watermark_at_open() const { return hwm_at_open_; }

 private:
  RecordStream(std::shared_ptr<LogReader> reader, std::shared_ptr<WatermarkNotifier> notifier,
               std::shared_ptr<exec::IoEngine> engine, std::unique_ptr<StreamEncoder> encoder,
               RecordStreamOptions opts);

  // Frames `r` (trimmed to the stop offset) plus the end piece if it reaches
  // it; returns the chunk to queue. Producer thread only.
  StreamChunk frame(ReadResult& r);
  enum class Step { kMore, kStopped, kWouldBlock };
  // Reads and queues one chunk. kMore: room for another; kStopped: paused for
  // room, done, closed, failed or waiting on the notifier; kWouldBlock (only
  // with cache_only): memory cannot answer, nothing changed.
  Step step_once(bool cache_only);
  // One production task on the engine: step_once with I/O, then produce().
  void step();
  // Produces on this thread while memory answers (a bounded number of
  // chunks), then hands the rest to the engine (schedule()).
  void produce();
  // Submits step() to the engine; on refusal queues an error piece.
  void schedule();
  // Follow at the end of the log: waits on the notifier (holding no thread).
  void wait_for_data();
  void on_wake(WatermarkNotifier::Wake why);
  // Queues `chunk`; true if there is room to produce the next one (else it
  // paused for room, or stopped after the last piece).
  bool push(StreamChunk chunk);
  // Queues the error piece (the last) unless closed.
  void push_error(const Error& e);
  void notify();

  const std::shared_ptr<LogReader> reader_;
  const std::shared_ptr<WatermarkNotifier> notifier_;
  const std::shared_ptr<exec::IoEngine> engine_;
  const std::unique_ptr<StreamEncoder> encoder_;
  const RecordStreamOptions opts_;
  uint64_t start_offset_ = 0;
  uint64_t hwm_at_open_ = 0;
  // Where the stream stops (exclusive) and why; none: follow without end_offset.
  std::optional<uint64_t> stop_at_;
  StreamEndReason stop_reason_ = StreamEndReason::kHighWatermark;

  mutable std::mutex mu_;
  std::deque<StreamChunk> queue_;
  std::function<void()> on_ready_;
  uint64_t next_offset_ = 0;  // producer side: next offset to read
  bool producing_ = false;    // a task queued/running or a notifier wait pending
  bool paused_ = false;       // production stopped for room; pop() resumes it
  bool done_ = false;         // the last piece is queued
  bool closed_ = false;
  bool started_ = false;
};

}  // namespace sh::read
