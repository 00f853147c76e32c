#include "core/cache/disk_cache_metrics.h"

namespace sh::cache {
namespace {

prometheus::Counter& counter(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
}
prometheus::Gauge& gauge(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
}

}  // namespace

DiskCacheMetrics::DiskCacheMetrics(prometheus::Registry& r)
    : hits(counter(r, "streamhouse_disk_cache_hits_total",
                   "Disk cache lookups answered from a verified local file")),
      misses(counter(r, "streamhouse_disk_cache_misses_total",
                     "Disk cache lookups not answered (absent, colliding or corrupt entry)")),
      read_bytes(counter(r, "streamhouse_disk_cache_read_bytes_total",
                         "Payload bytes served by disk cache hits")),
      written_bytes(counter(r, "streamhouse_disk_cache_written_bytes_total",
                            "Payload bytes stored in the disk cache")),
      evictions(counter(r, "streamhouse_disk_cache_evictions_total",
                        "Disk cache entries removed by trimming (least recently used first)")),
      corruptions(counter(r, "streamhouse_disk_cache_corruptions_total",
                          "Disk cache files found corrupt, truncated or vanished, and removed")),
      skipped_puts(counter(r, "streamhouse_disk_cache_skipped_puts_total",
                           "Disk cache puts skipped for lack of space (trim rate-limited or entry too large)")),
      corrupt_reads(prometheus::BuildCounter()
                        .Name("streamhouse_corrupt_reads_total")
                        .Help("Data read from the object store or a cache file that failed a CRC "
                              "or format check")
                        .Register(r)
                        .Add({{"object_kind", "cache_file"}})),
      bytes(gauge(r, "streamhouse_disk_cache_bytes",
                  "On-disk bytes held by the disk cache (headers included)")),
      entries(gauge(r, "streamhouse_disk_cache_entries", "Entries held by the disk cache")) {}

}  // namespace sh::cache
