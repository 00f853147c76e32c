// BlockFetcher: the stored (compressed) bytes of segment blocks, through the
// read-ahead buffer and the disk cache, from the object store — the tiers below
// the decoded-block cache:
//
//   fetch(block)  prefetched (or being prefetched) → DiskCache → one ranged GET
//
// Adaptive read-ahead (DuckDB's growing read buffer, AutoMQ's window that
// collapses on a random jump, Redpanda/Aiven chunk prefetch). State is kept per
// segment object (bucket, key, ETag), not per request, so consecutive
// `records?offset=` calls of one consumer are one sequential pattern; a reader
// that reaches the end of a segment and goes on at the first block of another
// segment of the same partition (the key's directory) keeps its window:
//   - a first or random fetch reads only its own block (window 0); each demand
//     fetch of block b that follows the previous one (b is the next block, or one
//     already prefetched) grows the window ahead of b: one block, then doubling up
//     to `readahead_max_bytes`; any other block collapses it again;
//   - a request that will read several blocks says so first (expect): those it
//     lacks are read in one coalesced GET, not one round trip per block;
//   - once less than half the window is left ahead of b, blocks are fetched until
//     the window is covered again, consecutive blocks coalesced into ranged GETs
//     of a quarter of the window (at most `max_get_bytes`), several in flight at
//     once on the prefetch engine; a run is never larger than what is already
//     ahead of it, so the runs next to the reader are small and land first;
//   - prefetched bytes wait in a buffer bounded (with those in flight) by
//     `max_inflight_bytes` over all objects; nothing is prefetched past it;
//   - once read-ahead covers the end of a segment, the next segment's footer and
//     first blocks are fetched too (SegmentSource::prefetch_segment → start_ahead);
//   - read-ahead runs are served from the disk cache when all their blocks are there;
//   - a collapse, or a pattern idle for `idle_timeout`, cancels what is queued
//     and drops what it had buffered.
// Every fetched block is also written to the disk cache (when there is one).
// Bytes are returned as stored; the caller decodes them (CRC-checked).
//
// Thread-safe. Blocking I/O: call from I/O engine threads.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "core/cache/disk_cache.h"
#include "core/clock.h"
#include "core/exec/io_engine.h"
#include "core/format/format.h"
#include "core/storage/object_store.h"

namespace sh::read {

struct BlockFetcherOptions {
  uint64_t readahead_max_bytes = 16u << 20;  // 0 = no read-ahead
  uint64_t max_get_bytes = 8u << 20;         // one coalesced ranged GET
  uint64_t max_inflight_bytes = 64u << 20;   // prefetched + in flight, all objects
  Millis idle_timeout{30000};
  size_t max_patterns = 4096;                // objects with read-ahead state kept
};

// streamhouse_readahead_{gets,prefetched_bytes,hits,wasted_bytes,collapses}_total,
// streamhouse_readahead_inflight_bytes.
struct ReadAheadMetrics {
  explicit ReadAheadMetrics(prometheus::Registry& registry);
  prometheus::Counter& gets;
  prometheus::Counter& prefetched_bytes;
  prometheus::Counter& hits;
  prometheus::Counter& wasted_bytes;
  prometheus::Counter& collapses;
  prometheus::Gauge& inflight_bytes;
};

class BlockFetcher {
 public:
  // `disk` and `prefetch` may be null (no disk tier / no read-ahead).
  // REQUIRES: registry, disk and prefetch outlive the fetcher.
  BlockFetcher(BlockFetcherOptions options, cache::DiskCache* disk, exec::IoEngine* prefetch,
               prometheus::Registry& registry);
  ~BlockFetcher();
  BlockFetcher(const BlockFetcher&) = delete;
  BlockFetcher& operator=(const BlockFetcher&) = delete;

  // The entry.handle.size stored bytes of block `block_index` of the object
  // `key` in `store` (`name` = its cache name, bucket + key), read with
  // If-Match: meta.etag. Errors are the store's (a prefetch that failed is
  // retried here as a demand read). Drives read-ahead for the object.
  // REQUIRES: block_index < meta.index.size(); `store` outlives the fetcher.
  Result<std::string> fetch(ObjectStore& store, const std::string& name, const std::string& key,
                            const format::SegmentMeta& meta, size_t block_index, Deadline deadline);

  // A reader is about to need blocks [first, first + count) of the object (one
  // request's worth): those not buffered or in flight are read now, on the
  // calling thread, coalesced into one ranged GET (at most `max_get_bytes`), and
  // buffered for the fetch() calls that follow. A jump elsewhere collapses the
  // object's read-ahead first, as fetch() would. Errors are left to fetch().
  // REQUIRES: first < meta.index.size(); `store` outlives the fetcher.
  void expect(ObjectStore& store, const std::string& name, const std::string& key,
              const format::SegmentMeta& meta, size_t first, size_t count, Deadline deadline);

  // True (once per object and carried window) when the read-ahead of the
  // partition of `name` (its key's directory) has covered the end of the
  // previous segment: the reader will need `name` next and it has no read-ahead yet.
  bool wants_start(const std::string& name);
  // Runs `task` on the prefetch engine (false if there is none or it is full).
  bool submit(std::function<void()> task);
  // Starts read-ahead at block 0 of the object with the window its partition's
  // reader has, before the reader gets there. No-op if the object has a pattern.
  // REQUIRES: `store` outlives the fetcher.
  void start_ahead(ObjectStore& store, const std::string& name, const std::string& key,
                   const format::SegmentMeta& meta);

  // Forgets read-ahead state and buffered bytes of an object (it changed or is gone).
  void forget(const std::string& name);

  uint64_t inflight_bytes() const;
  // Bytes the object's pattern reads ahead of its last block (0 if none), for tests.
  uint64_t window_bytes(const std::string& name, const std::string& etag) const;

 private:
  struct Span {
    uint64_t position = 0;
    uint64_t size = 0;
  };
  struct Pattern {
    std::string name;  // cache name
    std::string key;   // store key
    std::string etag;
    ObjectStore* store = nullptr;
    std::vector<Span> blocks;  // the object's block handles (copied from the index)
    size_t last_demand = SIZE_MAX;  // block index of the last demand fetch
    size_t ahead_end = 0;           // blocks [.., ahead_end) are buffered or in flight
    uint64_t window = 0;
    uint64_t generation = 0;  // bumped on collapse / idle: queued runs are dropped
    bool carried = false;     // window inherited from the partition's previous segment
    size_t expected = SIZE_MAX;  // block an expect() prepared (its fetch does not collapse)
    SteadyTime last_used{};
    std::list<std::string>::iterator lru;
  };
  struct Buffered {
    std::string bytes;
    std::string pattern;  // owning pattern id
  };

  static std::string pattern_id(const std::string& name, const std::string& etag);
  static std::string block_id(const std::string& name, const std::string& etag, uint64_t position);
  // Disk cache key of a block: bucket + key, ETag, position and size.
  static std::string disk_key(const std::string& name, const std::string& etag, const Span& s);

  // REQUIRES: mu_ held. Updates the window for a demand fetch of `b` and queues
  // runs ahead of it. Returns the runs to submit (done outside the lock).
  struct Run {
    std::string pattern;
    uint64_t generation = 0;
    size_t first = 0;
    size_t count = 0;
    uint64_t bytes = 0;
    std::vector<std::string> block_ids;  // pending_ keys of its blocks
    Deadline deadline{};                 // none: kPrefetchTimeout from its start
  };
  std::vector<Run> plan_locked(Pattern& p, size_t b);
  // REQUIRES: mu_ held. Marks the runs' blocks pending (a demand fetch waits for
  // them) and returns the promise each run fulfils when it lands.
  std::vector<std::shared_ptr<std::promise<void>>> register_locked(const Pattern& p,
                                                                   std::vector<Run>& runs);
  // Queues the runs on the prefetch engine (REQUIRES: mu_ not held).
  void launch(const std::vector<Run>& runs,
              const std::vector<std::shared_ptr<std::promise<void>>>& promises);
  // REQUIRES: mu_ held. Plans runs from p.ahead_end until `ahead` covers the window.
  std::vector<Run> fill_locked(Pattern& p, uint64_t ahead);
  void drop_pattern_locked(const std::string& id, bool count_waste);
  void sweep_idle_locked(SteadyTime now);
  // REQUIRES: mu_ held. The pattern of an object, created (with the window its
  // partition carries, if `first_block` is 0) on first use.
  Pattern& pattern_locked(ObjectStore& store, const std::string& name, const std::string& key,
                          const format::SegmentMeta& meta, size_t first_block, SteadyTime now);
  // REQUIRES: mu_ held. Drops what the pattern buffered and cancels its queued runs.
  void collapse_locked(Pattern& p);
  // REQUIRES: mu_ held. Read-ahead of `p` covers its last block: the partition's
  // next segment starts with this window.
  void carry_locked(const Pattern& p, SteadyTime now);
  void run_prefetch(const Run& run, std::shared_ptr<std::promise<void>> done);
  // The run's bytes from the disk cache, if every block of it is there.
  Result<RangeRead> from_disk(const std::string& name, const std::string& etag,
                              const std::vector<Span>& spans);
  Result<std::string> read_through(ObjectStore& store, const std::string& key,
                                   const std::string& etag, const std::string& dkey, uint64_t position,
                                   uint64_t size, Deadline deadline);

  const BlockFetcherOptions options_;
  cache::DiskCache* disk_;
  exec::IoEngine* prefetch_;
  ReadAheadMetrics metrics_;

  mutable std::mutex mu_;
  std::unordered_map<std::string, Pattern> patterns_;
  std::list<std::string> pattern_lru_;  // most recent first
  struct Carry {
    uint64_t window = 0;
    SteadyTime at{};
    std::string from;     // the segment whose end was covered
    std::string started;  // the segment wants_start() last said yes to
  };
  // Partition directory → window of a pattern that reached the end of its segment.
  std::unordered_map<std::string, Carry> carry_;
  std::unordered_map<std::string, Buffered> buffer_;  // block id → prefetched bytes
  std::unordered_map<std::string, std::shared_future<void>> pending_;  // block id → its run
  uint64_t inflight_ = 0;  // bytes buffered + in flight
  SteadyTime last_sweep_{};
};

}  // namespace sh::read
