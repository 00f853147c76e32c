// Metrics of the PostgreSQL metadata store, all in one place.
//
//   streamhouse_metadata_queries_total{kind}            statements sent to the server
//                                                       (BEGIN/COMMIT/ROLLBACK included)
//   streamhouse_metadata_query_duration_seconds{kind}   round trip of each statement
//   streamhouse_metadata_errors_total{kind}             store calls that returned an error
//   streamhouse_metadata_pool_connections               open (or opening) connections
//   streamhouse_metadata_connects_total{result}         connection attempts, ok | error
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <string_view>

namespace sh::pg {

enum class QueryKind {
  kListTopics,
  kGetTopic,
  kGetPartition,
  kListSegments,
  kRegisterSegment,
  kListGroups,
  kGetGroupOffsets,
  kCommitOffsets,
  kPing,
  kCount,  // not a kind
};

// The `kind` label value: "list_topics", "get_partition", ...
std::string_view query_kind_name(QueryKind kind);

struct PgMetrics {
  explicit PgMetrics(prometheus::Registry& registry);

  struct PerKind {
    prometheus::Counter* queries = nullptr;
    prometheus::Histogram* duration = nullptr;
    prometheus::Counter* errors = nullptr;
  };

  PerKind& of(QueryKind kind) { return kinds[static_cast<size_t>(kind)]; }

  std::array<PerKind, static_cast<size_t>(QueryKind::kCount)> kinds;
  prometheus::Gauge* pool_connections = nullptr;
  prometheus::Counter* connects_ok = nullptr;
  prometheus::Counter* connects_failed = nullptr;
};

}  // namespace sh::pg
