// Prometheus metrics of the DiskCache, in one probe (one family per question an operator asks).
#pragma once

#include <cstdint>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace sh::cache {

struct DiskCacheMetrics {
  // REQUIRES: registry outlives this object (families are owned by it).
  // Several DiskCaches may share one probe: the gauges are moved by deltas, so they
  // hold the sum over every live cache.
  explicit DiskCacheMetrics(prometheus::Registry& registry);

  prometheus::Counter& hits;           // streamhouse_disk_cache_hits_total
  prometheus::Counter& misses;         // streamhouse_disk_cache_misses_total (corrupt entries included)
  prometheus::Counter& read_bytes;     // streamhouse_disk_cache_read_bytes_total (payload served by hits)
  prometheus::Counter& written_bytes;  // streamhouse_disk_cache_written_bytes_total (payload stored)
  prometheus::Counter& evictions;      // streamhouse_disk_cache_evictions_total (entries trimmed)
  prometheus::Counter& corruptions;    // streamhouse_disk_cache_corruptions_total (bad/vanished files)
  prometheus::Counter& skipped_puts;   // streamhouse_disk_cache_skipped_puts_total (no space, rate-limited trim)
  // streamhouse_corrupt_reads_total{object_kind="cache_file"}: the read path's
  // corruption counter (core/read/read_metrics.h), for cache files that fail their checks.
  prometheus::Counter& corrupt_reads;
  prometheus::Gauge& bytes;            // streamhouse_disk_cache_bytes (on-disk bytes, headers included)
  prometheus::Gauge& entries;          // streamhouse_disk_cache_entries
};

}  // namespace sh::cache
