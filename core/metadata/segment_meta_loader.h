// SegmentMetaLoader: the one place that reads a segment's footer + index
// (format::SegmentMeta) from an ObjectStore, with one byte-charged LRU cache
// and one single-flight. Shared by the read path (read::SegmentSource) and the
// listing metadata store, so a footer read to list a segment is not read again
// to serve it.
//
//   load(key)    cached meta, else one suffix read of `footer_read_bytes`
//                (footer + a typical index); a second suffix read only for a
//                larger index, sent with If-Match = the ETag of the first, so
//                footer and index always come from one version of the object.
//
// N concurrent misses of one name cost one load; a waiter gives up at its own
// deadline. Entries are keyed by a name unique across stores (the key in the
// configured store; "s3://bucket/key" for other buckets) and stay until
// evicted by charge or invalidated (the object changed or is gone).
//
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/cache/lru_cache.h"
#include "core/cache/single_flight.h"
#include "core/clock.h"
#include "core/format/format.h"
#include "core/metadata/metadata_store.h"
#include "core/result.h"
#include "core/storage/object_store.h"

namespace sh {

// Copies the footer summary (last offset, record count, max timestamp) into
// `info` and sets footer_known. kCorrupt naming info->key if the footer's base
// offset is not info->base_offset.
Status fill_from_footer(const format::SegmentMeta& meta, SegmentInfo* info);

// Checks that the footer of the object agrees with the metadata row `info`
// that names it: the same base offset and, when the row carries the footer
// summary (footer_known: PostgreSQL rows, listed segments whose footer was
// read), the same last offset and record count. Otherwise kCorrupt naming the
// object key and the row's range — serving such an object would return records
// beyond the high watermark or silently skip offsets.
Status check_footer_against_row(const format::SegmentMeta& meta, const SegmentInfo& info);

struct SegmentMetaLoaderOptions {
  size_t cache_bytes = 64u << 20;
  // First suffix read: footer + a typical index. At least kMinFooterReadBytes.
  uint64_t footer_read_bytes = 64u << 10;
  // Observers for metrics (optional): every lookup (hit or miss), and the
  // cache's usage after each change.
  std::function<void(bool hit)> on_lookup;
  std::function<void(size_t bytes, size_t entries)> on_usage;
  // Called once per footer or index read from the store that fails a check
  // (kCorrupt), with the part that failed ("footer", "index", "header").
  std::function<void(std::string_view part, const Error& e)> on_corrupt;
};

class SegmentMetaLoader {
 public:
  using MetaPtr = std::shared_ptr<const format::SegmentMeta>;
  static constexpr uint64_t kMinFooterReadBytes = 64;

  // REQUIRES: store != nullptr.
  SegmentMetaLoader(std::shared_ptr<ObjectStore> store, SegmentMetaLoaderOptions opts = {});

  // Footer and index of `key` in the configured store (cached under `key`).
  // kCorrupt naming the key for a bad footer or index; store errors as they are.
  Result<MetaPtr> load(const std::string& key, Deadline deadline);
  // Footer and index of `key` in `store`, cached under `name`.
  Result<MetaPtr> load(ObjectStore& store, const std::string& name, const std::string& key,
                       Deadline deadline);

  // What is cached under `name`, without any I/O (nullptr if nothing).
  MetaPtr cached(const std::string& name) const;
  // Forgets `name`.
  void invalidate(const std::string& name);

  ObjectStore& store() { return *store_; }
  // Suffix reads issued so far (tests, metrics).
  uint64_t suffix_reads() const { return suffix_reads_.load(std::memory_order_relaxed); }
  size_t usage() const { return cache_.usage(); }
  size_t entries() const { return cache_.entries(); }

 private:
  Result<MetaPtr> read_meta(ObjectStore& store, const std::string& key, Deadline deadline);
  void report_usage();

  std::shared_ptr<ObjectStore> store_;
  SegmentMetaLoaderOptions opts_;
  mutable cache::LruCache<std::string, format::SegmentMeta> cache_;
  cache::SingleFlight<std::string, MetaPtr> flight_;
  std::atomic<uint64_t> suffix_reads_{0};
};

}  // namespace sh
