#include "core/metadata/postgres/pg_metrics.h"

#include <string>

namespace sh::pg {

std::string_view query_kind_name(QueryKind kind) {
  switch (kind) {
    case QueryKind::kListTopics: return "list_topics";
    case QueryKind::kGetTopic: return "get_topic";
    case QueryKind::kGetPartition: return "get_partition";
    case QueryKind::kListSegments: return "list_segments";
    case QueryKind::kRegisterSegment: return "register_segment";
    case QueryKind::kListGroups: return "list_groups";
    case QueryKind::kGetGroupOffsets: return "get_group_offsets";
    case QueryKind::kCommitOffsets: return "commit_offsets";
    case QueryKind::kPing: return "ping";
    case QueryKind::kCount: break;
  }
  return "unknown";
}

PgMetrics::PgMetrics(prometheus::Registry& registry) {
  auto& queries = prometheus::BuildCounter()
                      .Name("streamhouse_metadata_queries_total")
                      .Help("SQL statements sent to the metadata database, by operation kind")
                      .Register(registry);
  auto& duration = prometheus::BuildHistogram()
                       .Name("streamhouse_metadata_query_duration_seconds")
                       .Help("Round-trip time of each SQL statement, by operation kind")
                       .Register(registry);
  auto& errors = prometheus::BuildCounter()
                     .Name("streamhouse_metadata_errors_total")
                     .Help("Metadata store operations that returned an error, by kind")
                     .Register(registry);
  auto& pool = prometheus::BuildGauge()
                   .Name("streamhouse_metadata_pool_connections")
                   .Help("Open (or opening) connections in the PostgreSQL pool")
                   .Register(registry);
  auto& connects = prometheus::BuildCounter()
                       .Name("streamhouse_metadata_connects_total")
                       .Help("Connection attempts to PostgreSQL, by result")
                       .Register(registry);
  const prometheus::Histogram::BucketBoundaries buckets{0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                        0.025,  0.05,  0.1,    0.25,  0.5,
                                                        1,      2.5,   5,      10};
  for (size_t i = 0; i < kinds.size(); ++i) {
    std::string name(query_kind_name(static_cast<QueryKind>(i)));
    kinds[i].queries = &queries.Add({{"kind", name}});
    kinds[i].duration = &duration.Add({{"kind", name}}, buckets);
    kinds[i].errors = &errors.Add({{"kind", name}});
  }
  pool_connections = &pool.Add({});
  connects_ok = &connects.Add({{"result", "ok"}});
  connects_failed = &connects.Add({{"result", "error"}});
}

}  // namespace sh::pg
