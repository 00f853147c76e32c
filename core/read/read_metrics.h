// Metrics of the read path, one probe per concern (STYLE.md 21): the segment
// index and records read (ReadMetrics), and each memory cache (CacheMetrics).
#pragma once

#include <string>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

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

}  // namespace sh::read
