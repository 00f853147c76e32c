#include "core/read/read_metrics.h"

#include <spdlog/spdlog.h>

namespace sh::read {

ReadMetrics::ReadMetrics(prometheus::Registry& registry)
    : index_refreshes(prometheus::BuildCounter()
                          .Name("streamhouse_segment_index_refreshes_total")
                          .Help("Segment index loads and refreshes from the metadata store")
                          .Register(registry)
                          .Add({})),
      index_refresh_errors(prometheus::BuildCounter()
                               .Name("streamhouse_segment_index_refresh_errors_total")
                               .Help("Segment index refreshes that failed")
                               .Register(registry)
                               .Add({})),
      records_read(prometheus::BuildCounter()
                       .Name("streamhouse_records_read_total")
                       .Help("Records read from segments")
                       .Register(registry)
                       .Add({})),
      indexed_partitions(prometheus::BuildGauge()
                             .Name("streamhouse_segment_index_partitions")
                             .Help("Partitions whose segment index is held in memory")
                             .Register(registry)
                             .Add({})),
      index_evictions(prometheus::BuildCounter()
                          .Name("streamhouse_segment_index_evictions_total")
                          .Help("Partition indexes dropped to stay within max_indexed_partitions")
                          .Register(registry)
                          .Add({})) {}

CacheMetrics::CacheMetrics(prometheus::Registry& registry, const std::string& cache)
    : hits(prometheus::BuildCounter()
               .Name("streamhouse_cache_hits_total")
               .Help("Cache lookups answered from memory")
               .Register(registry)
               .Add({{"cache", cache}})),
      misses(prometheus::BuildCounter()
                 .Name("streamhouse_cache_misses_total")
                 .Help("Cache lookups that had to fetch from the object store")
                 .Register(registry)
                 .Add({{"cache", cache}})),
      bytes(prometheus::BuildGauge()
                .Name("streamhouse_cache_bytes")
                .Help("Bytes held by the cache")
                .Register(registry)
                .Add({{"cache", cache}})),
      entries(prometheus::BuildGauge()
                  .Name("streamhouse_cache_entries")
                  .Help("Entries held by the cache")
                  .Register(registry)
                  .Add({{"cache", cache}})) {}

namespace {

prometheus::Counter& corrupt_reads(prometheus::Registry& registry, const char* kind) {
  return prometheus::BuildCounter()
      .Name(std::string(kCorruptReadsMetric))
      .Help("Data read from the object store or a cache file that failed a CRC or format check")
      .Register(registry)
      .Add({{"object_kind", kind}});
}

}  // namespace

CorruptionMetrics::CorruptionMetrics(prometheus::Registry& registry)
    : header(corrupt_reads(registry, "header")),
      block(corrupt_reads(registry, "block")),
      index(corrupt_reads(registry, "index")),
      footer(corrupt_reads(registry, "footer")) {}

void CorruptionMetrics::record(std::string_view kind, const Error& e) {
  prometheus::Counter& c = kind == "header" ? header
                           : kind == "block" ? block
                           : kind == "index" ? index
                                             : footer;
  c.Increment();
  spdlog::warn("corrupt {} read from the object store: {}", kind.empty() ? "footer" : kind,
               e.message());
}

}  // namespace sh::read
