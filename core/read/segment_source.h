// SegmentSource: the bytes of segments, through the footer cache and the block cache.
//
//   meta(segment)          footer + index through the SegmentMetaLoader
//                          (core/metadata/segment_meta_loader.h) — the one loader,
//                          cache and single-flight for footers, shared with the
//                          listing metadata store (meta_loader())
//   block(segment, i)      decoded block i: BlockCache, else one ranged read of
//                          the block (fetch_block) then decoding (load_block)
//
// N concurrent misses of one footer or block cost one fetch (single-flight).
// The object's ETag is pinned by its footer: a block read of a replaced object
// fails (kPreconditionFailed) and drops what was cached for it.
// Keys come from metadata: a key the store refuses is kBadResponse naming it,
// bytes that fail a check are kCorrupt naming the object — never kInvalidArgument
// — and count in streamhouse_corrupt_reads_total{object_kind} with a warning.
// Block decodes in flight hold a DecodeBudget of bytes (stored + raw) taken
// before the raw buffer is allocated; a decode that cannot get it before its
// deadline fails with kResourceExhausted.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <prometheus/registry.h>

#include "core/cache/lru_cache.h"
#include "core/cache/single_flight.h"
#include "core/format/segment.h"
#include "core/metadata/metadata_store.h"
#include "core/metadata/segment_meta_loader.h"
#include "core/read/decode_budget.h"
#include "core/read/read_metrics.h"
#include "core/storage/object_store.h"

namespace sh::read {

class BlockFetcher;

struct SegmentSourceOptions {
  size_t block_cache_bytes = 256u << 20;
  size_t meta_cache_bytes = 64u << 20;
  uint64_t footer_read_bytes = 64u << 10;  // first suffix read: footer + a typical index
  // Bytes of block decodes in flight (stored + raw). A block larger than this
  // decodes alone.
  uint64_t decode_budget_bytes = 256u << 20;
  // Shared with other sources when set (then decode_budget_bytes is ignored).
  std::shared_ptr<DecodeBudget> decode_budget;
  // Compression learned from separately read headers, by segment (LRU by bytes).
  size_t compression_cache_bytes = 1u << 20;
};


// Finds the store of a bucket other than the configured one (metadata may place
// segments in several buckets). Called with a non-empty bucket name.
using BucketResolver =
    std::function<Result<std::shared_ptr<ObjectStore>>(const std::string& bucket)>;

class SegmentSource {
 public:
  // Without a resolver, every segment is read from `store` whatever its bucket.
  SegmentSource(std::shared_ptr<ObjectStore> store, SegmentSourceOptions opts,
                prometheus::Registry& registry, BucketResolver resolver = nullptr);

  // Footer and index of the segment object `key` (in `bucket`; "" = the configured store).
  Result<std::shared_ptr<const format::SegmentMeta>> meta(const std::string& key,
                                                          Deadline deadline,
                                                          const std::string& bucket = {});

  // Footer and index of the segment a metadata row names, checked against the
  // row (check_footer_against_row): an object whose footer disagrees with its
  // row is kCorrupt naming the key and the row's range.
  Result<std::shared_ptr<const format::SegmentMeta>> meta(const SegmentInfo& segment,
                                                          Deadline deadline);

  // meta(segment) from memory only: nullptr when the footer is not cached (no
  // I/O); errors as meta(segment) for a cached footer that disagrees with its row.
  Result<std::shared_ptr<const format::SegmentMeta>> cached_meta(const SegmentInfo& segment);
  // block() from the decoded-block cache only: nullptr when it is not there.
  std::shared_ptr<const format::DecodedBlock> cached_block(const std::string& key,
                                                           const format::SegmentMeta& meta,
                                                           size_t block_index,
                                                           const std::string& bucket = {});

  // Block `block_index` of the segment (REQUIRES: block_index < meta.index.size()).
  Result<std::shared_ptr<const format::DecodedBlock>> block(const std::string& key,
                                                            const format::SegmentMeta& meta,
                                                            size_t block_index, Deadline deadline,
                                                            const std::string& bucket = {});

  // A reader is about to read blocks [first, first + count) of the segment (one
  // request's worth): with a block fetcher, the ones not cached are fetched in
  // one coalesced read now, so the block() calls that follow do not wait one
  // round trip each. No-op without a fetcher or when the first blocks are cached.
  void will_read(const std::string& key, const format::SegmentMeta& meta, size_t first,
                 size_t count, Deadline deadline, const std::string& bucket = {});

  // Stored block bytes come through `fetcher` (read-ahead, disk cache) instead of
  // a ranged read of our own. REQUIRES: called before the first block().
  void set_block_fetcher(std::shared_ptr<BlockFetcher> fetcher) { fetcher_ = std::move(fetcher); }

  // A sequential reader is near the end of the segment before `key`: loads the
  // footer of `key` and starts its read-ahead in the background (prefetch
  // engine), so the reader does not wait at the boundary. No-op without a
  // block fetcher or a sequential reader.
  void prefetch_segment(const std::string& key, const std::string& bucket = {});

  // Forgets everything cached for `key` (the object changed or is gone).
  void invalidate(const std::string& key, const std::string& bucket = {});

  ObjectStore& store() { return *store_; }
  DecodeBudget& decode_budget() { return *budget_; }
  // Segments whose compression is remembered from a separately read header.
  size_t compression_entries() const { return compression_.entries(); }
  // The footer loader (and cache) of this source, to share with ListingOptions::meta_loader.
  const std::shared_ptr<SegmentMetaLoader>& meta_loader() const { return meta_loader_; }

 private:
  using MetaPtr = std::shared_ptr<const format::SegmentMeta>;
  using BlockPtr = std::shared_ptr<const format::DecodedBlock>;

  // The store of `bucket`, and the name objects of it are cached under.
  Result<ObjectStore*> store_for(const std::string& bucket);
  static std::string cache_name(const std::string& key, const std::string& bucket);

  // The stored bytes of block `block_index`: through the BlockFetcher if set, else
  // one ranged read (both If-Match the footer's ETag).
  Result<std::string> fetch_block(ObjectStore& store, const std::string& name,
                                  const std::string& key, const format::SegmentMeta& meta,
                                  size_t block_index, Deadline deadline);
  // fetch_block, then decoding (CRC, decompression, records).
  Result<BlockPtr> load_block(ObjectStore& store, const std::string& name, const std::string& key,
                              const format::SegmentMeta& meta, size_t block_index,
                              Deadline deadline);
  Result<format::Compression> compression_of(ObjectStore& store, const std::string& name,
                                             const std::string& key,
                                             const format::SegmentMeta& meta, Deadline deadline);
  void invalidate_name(const std::string& name);
  void update_gauges();

  std::shared_ptr<ObjectStore> store_;
  BucketResolver resolver_;
  SegmentSourceOptions opts_;
  CacheMetrics meta_metrics_;
  CacheMetrics block_metrics_;
  CorruptionMetrics corruption_;
  std::shared_ptr<DecodeBudget> budget_;
  std::shared_ptr<SegmentMetaLoader> meta_loader_;
  std::shared_ptr<BlockFetcher> fetcher_;  // nullptr: ranged reads of our own
  cache::LruCache<std::string, format::DecodedBlock> block_cache_;
  cache::SingleFlight<std::string, BlockPtr> block_flight_;

  // Compression of segments whose header was read separately (rare: only when
  // a block's lengths cannot tell), bounded by bytes and dropped with invalidate().
  cache::LruCache<std::string, format::Compression> compression_;
};

}  // namespace sh::read
