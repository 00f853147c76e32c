#include "core/read/read_metrics.h"

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

}  // namespace sh::read
