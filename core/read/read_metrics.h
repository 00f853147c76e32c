// Metrics of the read path, one probe per concern (STYLE.md 21): the segment
// index and records read (ReadMetrics), each memory cache (CacheMetrics), and
// data that failed its checks (CorruptionMetrics).
#pragma once

#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "core/result.h"

namespace sh::read {

// streamhouse_segment_index_{refreshes,refresh_errors,evictions}_total,
// streamhouse_segment_index_partitions, streamhouse_records_read_total.
struct ReadMetrics {
  // REQUIRES: registry outlives this object.
  explicit ReadMetrics(prometheus::Registry& registry);
  prometheus::Counter& index_refreshes;
  prometheus::Counter& index_refresh_errors;
  prometheus::Counter& records_read;
  prometheus::Gauge& indexed_partitions;
  prometheus::Counter& index_evictions;
};

// streamhouse_cache_{hits,misses}_total{cache}, streamhouse_cache_{bytes,entries}{cache}.
struct CacheMetrics {
  // REQUIRES: registry outlives this object.
  CacheMetrics(prometheus::Registry& registry, const std::string& cache);
  prometheus::Counter& hits;
  prometheus::Counter& misses;
  prometheus::Gauge& bytes;
  prometheus::Gauge& entries;
};

// streamhouse_corrupt_reads_total{object_kind}: data read from the store that
// failed a CRC or format check. object_kind is a fixed set — "header", "block",
// "index", "footer" here, "cache_file" from the disk cache
// (core/cache/disk_cache_metrics.h) — never an object name.
inline constexpr std::string_view kCorruptReadsMetric = "streamhouse_corrupt_reads_total";

struct CorruptionMetrics {
  // REQUIRES: registry outlives this object.
  explicit CorruptionMetrics(prometheus::Registry& registry);
  // Counts one corrupt read of `kind` (anything outside the set counts as
  // "footer") and logs a warning with `e`'s message, which names the object and
  // the byte position.
  void record(std::string_view kind, const Error& e);
  prometheus::Counter& header;
  prometheus::Counter& block;
  prometheus::Counter& index;
  prometheus::Counter& footer;
};

}  // namespace sh::read
