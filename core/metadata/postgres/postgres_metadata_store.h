// PostgresMetadataStore: the MetadataStore over the PostgreSQL schema that
// writers share (tables topics, partitions, segments, consumer_groups,
// consumer_offsets; see README.md beside this file).
//
// Every call is one short statement or one transaction on a pooled
// connection, with prepared statements and text parameters only. Errors:
// server unreachable / connection lost -> kUnavailable (retryable; the message
// names the server without its password), statement_timeout -> kTimeout,
// credentials rejected -> kPermissionDenied. A call that finds its pooled
// connection dead (server restarted) retries once on a fresh one.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/metadata/metadata_store.h"
#include "core/result.h"

namespace prometheus {
class Registry;
}

namespace sh::pg {

struct PgOptions {
  // libpq conninfo ("host=... dbname=...") or URL ("postgres://user:pw@host:5432/db").
  // Keywords it leaves out come from the standard PG* environment variables.
  std::string conninfo;
  int pool_size = 4;
  int64_t statement_timeout_ms = 5000;  // server-side, per connection
  int64_t connect_timeout_ms = 3000;
  int64_t acquire_timeout_ms = 3000;    // waiting for a free pooled connection
  // After a failed connect, the next attempt waits this long, doubling per
  // failure up to the max; a success resets it.
  int64_t reconnect_backoff_initial_ms = 100;
  int64_t reconnect_backoff_max_ms = 5000;
  // Committed offsets of a group are kept in memory this long after they were
  // read (0 = always query): a consumer polling with group= costs no statement
  // meanwhile. Commits through this store update the copy as they succeed;
  // commits by other replicas show within the TTL.
  int64_t group_offsets_ttl_ms = 5000;
  size_t max_cached_groups = 10000;
};

class ConnectionPool;
struct PgMetrics;

class PostgresMetadataStore final : public MetadataStore {
 public:
  // Use open_postgres_metadata_store().
  PostgresMetadataStore(PgOptions opts, std::unique_ptr<ConnectionPool> pool,
                        std::shared_ptr<prometheus::Registry> registry,
                        std::unique_ptr<PgMetrics> metrics);
  ~PostgresMetadataStore() override;

  // Every call waits for a pooled connection and for its statements at most
  // until `deadline` (besides the configured acquire and statement timeouts);
  // a statement still running at the caller's deadline costs its connection
  // (dropped, as after any client-side timeout).
  Result<std::vector<TopicInfo>> list_topics(Deadline deadline = {}) override;
  Result<TopicInfo> get_topic(std::string_view topic, Deadline deadline = {}) override;
  Result<PartitionInfo> get_partition(std::string_view topic, int32_t partition,
                                      Deadline deadline = {}) override;
  // Rows are fully populated (footer_known). A row whose s3_key is not a usable
  // object key, or whose offsets contradict each other, is kBadResponse naming
  // topic, partition and base_offset of the row.
  Result<std::vector<SegmentInfo>> list_segments(std::string_view topic, int32_t partition,
                                                 std::optional<uint64_t> after_base_offset,
                                                 Deadline deadline = {}) override;
  // Both statements on one connection.
  Result<PartitionSegments> load_partition(std::string_view topic, int32_t partition,
                                           Deadline deadline = {}) override;
  // Segment id "<topic>/<partition>/<base_offset>". Registering a segment
  // identical to an existing one is a no-op; one overlapping an existing
  // segment's offsets otherwise is kAlreadyExists. A new partition row starts
  // with log_start_offset = the segment's base_offset.
  // REQUIRES (else kInvalidArgument): valid topic name, partition >= 0,
  // base_offset <= last_offset < 2^63-1, non-empty key, no NUL in strings.
  Status register_segment(std::string_view topic, int32_t partition, const SegmentInfo& segment,
                          Deadline deadline = {}) override;
  Result<std::vector<std::string>> list_groups(Deadline deadline = {}) override;
  // Served from memory while the group's copy is younger than
  // PgOptions::group_offsets_ttl_ms (a group that never committed too).
  // Offsets come ordered by (topic, partition) in byte order.
  Result<std::vector<CommittedOffset>> get_group_offsets(std::string_view group,
                                                         Deadline deadline = {}) override;
  // Stores the offsets as given (the API validates them); the last entry wins
  // for a repeated (topic, partition). kInvalidArgument for offsets >= 2^63,
  // non-UTF-8 or NUL in strings.
  Status commit_offsets(std::string_view group, const std::vector<OffsetCommit>& offsets,
                        Deadline deadline = {}) override;
  Status ping(Deadline deadline = {}) override;
  std::string describe() const override;

  int open_connections() const;

 private:
  template <typename T, typename Fn>
  Result<T> run(int kind, Deadline deadline, Fn&& fn);
  Result<std::vector<CommittedOffset>> query_group_offsets(std::string_view group,
                                                           Deadline deadline);

  // In-memory committed offsets (get_group_offsets / commit_offsets).
  struct CachedGroup {
    std::optional<std::vector<CommittedOffset>> offsets;  // nullopt: the group does not exist
    std::chrono::steady_clock::time_point read_at;
  };
  std::mutex groups_mu_;
  std::unordered_map<std::string, CachedGroup> groups_;
  uint64_t groups_generation_ = 0;  // bumped by every commit: a read racing one is not kept

  const PgOptions opts_;
  std::string target_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<PgMetrics> metrics_;
  std::unique_ptr<ConnectionPool> pool_;
};

// Creates or upgrades the schema. Versioned (table schema_migrations), each
// version in its own transaction under pg_advisory_xact_lock, so replicas may
// run it concurrently and repeatedly. Tables that writers created already are
// kept (CREATE ... IF NOT EXISTS).
Status migrate(const PgOptions& opts);

// Latest schema version migrate() applies.
int latest_schema_version();

// Validates the options and conninfo; does not connect (the store connects on
// first use, so a service may start while the database is down). `registry`
// may be null (metrics then go to a private registry).
Result<std::shared_ptr<PostgresMetadataStore>> open_postgres_metadata_store(
    PgOptions opts, std::shared_ptr<prometheus::Registry> registry);

// conninfo without password, for logs: "postgres://user@host:port/db".
std::string redact_conninfo(std::string_view conninfo);

}  // namespace sh::pg
