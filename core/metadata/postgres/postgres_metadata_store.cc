#include "core/metadata/postgres/postgres_metadata_store.h"

#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <limits>
#include <map>
#include <tuple>
#include <nlohmann/json.hpp>
#include <fmt/format.h>

#include "core/format/segment.h"
#include "core/metadata/postgres/connection_pool.h"
#include "core/metadata/postgres/pg_connection.h"
#include "core/metadata/postgres/pg_metrics.h"
#include "core/metadata/postgres/schema.h"

namespace sh::pg {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
// Client-side deadline beyond the server's statement_timeout: the server
// cancels first (kTimeout with SQLSTATE 57014); this only catches a server
// that stopped answering altogether.
constexpr int64_t kClientGraceMs = 2000;
constexpr int64_t kPingTimeoutMs = 2000;
constexpr int64_t kMigrationStatementTimeoutMs = 120000;
// pg_advisory_xact_lock key serialising migrate() across replicas ("shmigr").
constexpr const char* kMigrationLockSql = "SELECT pg_advisory_xact_lock(115104109105103114)";

// ---- statements (constants; request input only ever arrives as $n) --------

constexpr Statement kListTopics{0, "sh_list_topics", R"sql(
SELECT t.name, t.partition_count,
       coalesce(string_agg(p.partition_id::text, ',' ORDER BY p.partition_id), '')
FROM topics t LEFT JOIN partitions p ON p.topic = t.name
GROUP BY t.name, t.partition_count
ORDER BY t.name)sql"};

constexpr Statement kGetTopic{1, "sh_get_topic", R"sql(
SELECT t.name, t.partition_count,
       coalesce(string_agg(p.partition_id::text, ',' ORDER BY p.partition_id), '')
FROM topics t LEFT JOIN partitions p ON p.topic = t.name
WHERE t.name = $1::text
GROUP BY t.name, t.partition_count)sql"};

// Always one row: whether the topic exists, the partition row (NULLs if
// absent) and its segments' count and bytes.
constexpr Statement kGetPartition{2, "sh_get_partition", R"sql(
SELECT EXISTS (SELECT 1 FROM topics WHERE name = $1::text),
       p.log_start_offset, p.high_watermark, s.n, s.bytes
FROM (VALUES (1)) AS one (x)
LEFT JOIN partitions p ON p.topic = $1::text AND p.partition_id = $2::int
LEFT JOIN LATERAL (
  SELECT count(*) AS n, coalesce(sum(size_bytes), 0) AS bytes
  FROM segments WHERE topic = $1::text AND partition_id = $2::int) s ON true)sql"};

// No rows: no such partition. One row of NULL segment columns: the partition
// exists but has no segments above $3.
constexpr Statement kListSegments{3, "sh_list_segments", R"sql(
SELECT s.s3_bucket, s.s3_key, s.base_offset, s.end_offset, s.record_count, s.size_bytes,
       s.min_timestamp, s.max_timestamp
FROM partitions p
LEFT JOIN segments s ON s.topic = p.topic AND s.partition_id = p.partition_id
                    AND s.base_offset > $3::bigint
WHERE p.topic = $1::text AND p.partition_id = $2::int
ORDER BY s.base_offset)sql"};

constexpr Statement kTopicExists{4, "sh_topic_exists",
                                 "SELECT 1 FROM topics WHERE name = $1::text"};

constexpr Statement kUpsertTopic{5, "sh_upsert_topic", R"sql(
INSERT INTO topics (name, partition_count) VALUES ($1::text, $2::int)
ON CONFLICT (name) DO UPDATE SET partition_count = excluded.partition_count
WHERE topics.partition_count < excluded.partition_count)sql"};

// Locks the partition row (ON CONFLICT DO UPDATE locks it even when the WHERE
// is false), which serialises registrations of one partition.
constexpr Statement kUpsertPartition{6, "sh_upsert_partition", R"sql(
INSERT INTO partitions (topic, partition_id, high_watermark, log_start_offset)
VALUES ($1::text, $2::int, $3::bigint, $4::bigint)
ON CONFLICT (topic, partition_id) DO UPDATE SET high_watermark = excluded.high_watermark
WHERE partitions.high_watermark < excluded.high_watermark)sql"};

// The segment with the highest base_offset <= $3 (the new segment's last
// offset): the only one that can overlap it when segments do not overlap.
constexpr Statement kSegmentBelow{7, "sh_segment_below", R"sql(
SELECT s3_bucket, s3_key, base_offset, end_offset, record_count, size_bytes,
       min_timestamp, max_timestamp, id
FROM segments
WHERE topic = $1::text AND partition_id = $2::int AND base_offset <= $3::bigint
ORDER BY base_offset DESC LIMIT 1)sql"};

constexpr Statement kInsertSegment{8, "sh_insert_segment", R"sql(
INSERT INTO segments (id, topic, partition_id, base_offset, end_offset, record_count, size_bytes,
                      s3_bucket, s3_key, min_timestamp, max_timestamp)
VALUES ($1::text, $2::text, $3::int, $4::bigint, $5::bigint, $6::bigint, $7::bigint,
        $8::text, $9::text, $10::bigint, $11::bigint)
ON CONFLICT (id) DO NOTHING)sql"};

constexpr Statement kListGroups{9, "sh_list_groups",
                                "SELECT group_id FROM consumer_groups ORDER BY group_id"};

// No rows: no such group. One row of NULLs: the group has no offsets.
constexpr Statement kGetGroupOffsets{10, "sh_get_group_offsets", R"sql(
SELECT o.topic, o.partition_id, o.committed_offset, o.metadata,
       (extract(epoch FROM o.committed_at) * 1000)::bigint
FROM consumer_groups g
LEFT JOIN consumer_offsets o ON o.group_id = g.group_id
WHERE g.group_id = $1::text
ORDER BY o.topic, o.partition_id)sql"};

// One statement, hence one transaction: the group row and all its offsets.
constexpr Statement kCommitOffsets{11, "sh_commit_offsets", R"sql(
WITH g AS (
  INSERT INTO consumer_groups (group_id) VALUES ($1::text) ON CONFLICT (group_id) DO NOTHING)
INSERT INTO consumer_offsets (group_id, topic, partition_id, committed_offset, metadata, committed_at)
SELECT $1::text, o.topic, o.partition_id, o.committed_offset, o.metadata, now()
FROM jsonb_to_recordset($2::jsonb) AS o (topic text, partition_id int, committed_offset bigint,
                                        metadata text)
ON CONFLICT (group_id, topic, partition_id) DO UPDATE
SET committed_offset = excluded.committed_offset, metadata = excluded.metadata,
    committed_at = excluded.committed_at
RETURNING topic, partition_id, (extract(epoch FROM committed_at) * 1000)::bigint)sql"};

constexpr Statement kPing{12, "sh_ping", "SELECT 1"};

constexpr Statement kMigrationApplied{13, "sh_migration_applied",
                                      "SELECT 1 FROM schema_migrations WHERE version = $1::int"};
constexpr Statement kMigrationRecord{14, "sh_migration_record",
                                     "INSERT INTO schema_migrations (version) VALUES ($1::int)"};

// ---- result access ---------------------------------------------------------

class Row {
 public:
  Row(const PGresult* r, int row) : r_(r), row_(row) {}
  bool null(int col) const { return PQgetisnull(r_, row_, col) != 0; }
  std::string text(int col) const {
    return std::string(PQgetvalue(r_, row_, col), static_cast<size_t>(PQgetlength(r_, row_, col)));
  }
  Result<int64_t> i64(int col) const {
    const char* v = PQgetvalue(r_, row_, col);
    const char* end = v + PQgetlength(r_, row_, col);
    int64_t out = 0;
    auto [p, ec] = std::from_chars(v, end, out);
    if (ec != std::errc() || p != end || v == end) {
      return Error(Errc::kBadResponse, std::string("PostgreSQL returned a non-integer in column ") +
                                           PQfname(r_, col) + ": \"" + std::string(v, end) + "\"");
    }
    return out;
  }
  // A bigint column that must not be negative (offsets, counts, sizes).
  Result<uint64_t> u64(int col) const {
    SH_ASSIGN_OR_RETURN(int64_t v, i64(col));
    if (v < 0) {
      return Error(Errc::kBadResponse, std::string("negative value in column ") + PQfname(r_, col) +
                                           ": " + std::to_string(v));
    }
    return static_cast<uint64_t>(v);
  }
  Result<std::optional<int64_t>> opt_i64(int col) const {
    if (null(col)) return std::optional<int64_t>();
    SH_ASSIGN_OR_RETURN(int64_t v, i64(col));
    return std::optional<int64_t>(v);
  }
  Result<int32_t> i32(int col) const {
    SH_ASSIGN_OR_RETURN(int64_t v, i64(col));
    if (v < std::numeric_limits<int32_t>::min() || v > std::numeric_limits<int32_t>::max()) {
      return Error(Errc::kBadResponse, std::string("out-of-range int in column ") + PQfname(r_, col));
    }
    return static_cast<int32_t>(v);
  }

 private:
  const PGresult* r_;
  int row_;
};

Result<TopicInfo> topic_from_row(const Row& row) {
  TopicInfo t;
  t.name = row.text(0);
  SH_ASSIGN_OR_RETURN(t.partition_count, row.i32(1));
  std::string ids = row.text(2);
  std::string_view rest(ids);
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    int32_t id = 0;
    auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (ec != std::errc() || p != item.data() + item.size()) {
      return Error(Errc::kBadResponse, "bad partition id list for topic " + t.name);
    }
    t.partitions.push_back(id);
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  return t;
}

// Why `key` cannot name an object in any store we read from ("" if it can):
// empty, longer than S3's 1024 bytes, absolute, a "." or ".." component, or
// control characters.
std::string key_problem(std::string_view key) {
  if (key.empty()) return "it is empty";
  if (key.size() > 1024) return "it is longer than 1024 bytes";
  if (key.front() == '/') return "it starts with '/'";
  for (char c : key) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "it contains a control character";
  }
  size_t start = 0;
  while (start <= key.size()) {
    size_t slash = key.find('/', start);
    if (slash == std::string_view::npos) slash = key.size();
    std::string_view component = key.substr(start, slash - start);
    if (component == "." || component == "..") return "it has a '.' or '..' component";
    start = slash + 1;
  }
  return {};
}

// Columns: s3_bucket, s3_key, base_offset, end_offset, record_count,
// size_bytes, min_timestamp, max_timestamp. Whatever is wrong with a row is
// kBadResponse naming topic, partition and base offset (502: the metadata is
// wrong, not the request).
Result<SegmentInfo> segment_from_row(const Row& row, std::string_view topic, int32_t partition) {
  SegmentInfo s;
  s.bucket = row.text(0);
  s.key = row.text(1);
  auto in_row = [&](std::string what) {
    return Error(Errc::kBadResponse,
                 fmt::format("segments row of {}/{} at base_offset {}: {}", topic, partition,
                             row.null(2) ? std::string("NULL") : row.text(2), what));
  };
  auto field = [&](Result<uint64_t> r) -> Result<uint64_t> {
    if (!r.ok()) return in_row(r.error().message());
    return r;
  };
  SH_ASSIGN_OR_RETURN(s.base_offset, field(row.u64(2)));
  SH_ASSIGN_OR_RETURN(s.last_offset, field(row.u64(3)));
  SH_ASSIGN_OR_RETURN(s.record_count, field(row.u64(4)));
  SH_ASSIGN_OR_RETURN(s.size_bytes, field(row.u64(5)));
  auto min_ts = row.opt_i64(6);
  if (!min_ts.ok()) return in_row(min_ts.error().message());
  s.min_timestamp = *min_ts;
  auto max_ts = row.opt_i64(7);
  if (!max_ts.ok()) return in_row(max_ts.error().message());
  s.max_timestamp = *max_ts;
  s.footer_known = true;
  if (const std::string why = key_problem(s.key); !why.empty()) {
    return in_row(fmt::format("s3_key '{}' is not a valid object key: {}",
                              s.key.substr(0, 256), why));
  }
  if (s.last_offset < s.base_offset) {
    return in_row(fmt::format("segment {} has end_offset {} below base_offset {}", s.key,
                              s.last_offset, s.base_offset));
  }
  return s;
}

bool same_segment(const SegmentInfo& a, const SegmentInfo& b) {
  return a.bucket == b.bucket && a.key == b.key && a.base_offset == b.base_offset &&
         a.last_offset == b.last_offset && a.record_count == b.record_count &&
         a.size_bytes == b.size_bytes && a.min_timestamp == b.min_timestamp &&
         a.max_timestamp == b.max_timestamp;
}

// libpq passes text parameters as C strings: an embedded NUL would silently
// truncate the value, so it is refused.
Status check_text(std::string_view value, std::string_view what) {
  if (value.find('\0') != std::string_view::npos) {
    return invalid_argument(std::string(what) + " contains a NUL byte");
  }
  return ok_status();
}

Param num(int64_t v) { return std::to_string(v); }
Param opt_num(const std::optional<int64_t>& v) {
  return v ? Param(std::to_string(*v)) : Param(std::nullopt);
}

// Runs statements for one store call on one connection and counts each one.
class Session {
 public:
  // Each statement waits at most timeout_ms, and never past `deadline`.
  Session(PgConnection& conn, PgMetrics::PerKind& metrics, int64_t timeout_ms, Deadline deadline)
      : conn_(conn), metrics_(metrics), timeout_ms_(timeout_ms), deadline_(deadline) {}

  Result<PgResultPtr> exec(const Statement& stmt, const std::vector<Param>& params) {
    auto start = std::chrono::steady_clock::now();
    metrics_.queries->Increment();
    auto r = conn_.exec_prepared(stmt, params, statement_deadline());
    observe(start);
    return r;
  }
  Status exec_constant(const char* sql) {
    auto start = std::chrono::steady_clock::now();
    metrics_.queries->Increment();
    auto r = conn_.exec_constant(sql, statement_deadline());
    observe(start);
    if (!r.ok()) return std::move(r).error();
    return ok_status();
  }
  // Runs fn between BEGIN and COMMIT; ROLLBACK if it fails.
  template <typename Fn>
  Status transaction(Fn&& fn) {
    SH_RETURN_IF_ERROR(exec_constant("BEGIN"));
    Status st = fn();
    if (!st.ok()) {
      // A connection still in the transaction after this is closed by the pool.
      if (!conn_.broken()) (void)exec_constant("ROLLBACK");
      return st;
    }
    return exec_constant("COMMIT");
  }

 private:
  // On the steady clock the connection polls with (the caller's may be injected).
  Deadline statement_deadline() const {
    const Millis limit = deadline_.is_never() ? Millis(timeout_ms_)
                                              : std::min(Millis(timeout_ms_), deadline_.remaining());
    return Deadline::after(limit);
  }
  void observe(std::chrono::steady_clock::time_point start) {
    metrics_.duration->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }

  PgConnection& conn_;
  PgMetrics::PerKind& metrics_;
  int64_t timeout_ms_;
  Deadline deadline_;
};

Error topic_not_found(std::string_view topic) {
  return Error(Errc::kTopicNotFound, "unknown topic " + std::string(topic));
}
Error partition_not_found(std::string_view topic, int32_t partition) {
  return Error(Errc::kPartitionNotFound,
               "unknown partition " + std::to_string(partition) + " of topic " + std::string(topic));
}

// The partition row and its segments' count and bytes.
Result<PartitionInfo> partition_in(Session& s, std::string_view topic, int32_t partition) {
  SH_ASSIGN_OR_RETURN(auto res, s.exec(kGetPartition, {std::string(topic), num(partition)}));
  if (PQntuples(res.get()) != 1) {
    return Error(Errc::kBadResponse,
                 fmt::format("get_partition returned {} rows", PQntuples(res.get())));
  }
  Row row(res.get(), 0);
  if (row.text(0) != "t") return topic_not_found(topic);
  if (row.null(1)) return partition_not_found(topic, partition);
  PartitionInfo p;
  p.topic = std::string(topic);
  p.partition = partition;
  SH_ASSIGN_OR_RETURN(p.log_start_offset, row.u64(1));
  SH_ASSIGN_OR_RETURN(p.high_watermark, row.u64(2));
  SH_ASSIGN_OR_RETURN(p.segment_count, row.u64(3));
  SH_ASSIGN_OR_RETURN(p.size_bytes, row.u64(4));
  return p;
}

// Segments with base_offset > after (all when nullopt).
Result<std::vector<SegmentInfo>> segments_in(Session& s, std::string_view topic, int32_t partition,
                                             std::optional<uint64_t> after_base_offset) {
  // base_offset is a bigint >= 0: "above -1" is every segment, nothing lies
  // above 2^63-1.
  int64_t after = -1;
  if (after_base_offset) {
    after = *after_base_offset > static_cast<uint64_t>(kInt64Max)
                ? kInt64Max
                : static_cast<int64_t>(*after_base_offset);
  }
  SH_ASSIGN_OR_RETURN(auto res,
                      s.exec(kListSegments, {std::string(topic), num(partition), num(after)}));
  const int n = PQntuples(res.get());
  if (n == 0) {
    // Rare path: say which of topic / partition is missing.
    SH_ASSIGN_OR_RETURN(auto t, s.exec(kTopicExists, {std::string(topic)}));
    if (PQntuples(t.get()) == 0) return topic_not_found(topic);
    return partition_not_found(topic, partition);
  }
  std::vector<SegmentInfo> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    Row row(res.get(), i);
    if (row.null(2)) continue;  // partition exists, no segments above `after`
    SH_ASSIGN_OR_RETURN(auto seg, segment_from_row(row, topic, partition));
    out.push_back(std::move(seg));
  }
  return out;
}

}  // namespace

// ---- store -----------------------------------------------------------------

PostgresMetadataStore::PostgresMetadataStore(PgOptions opts, std::unique_ptr<ConnectionPool> pool,
                                             std::shared_ptr<prometheus::Registry> registry,
                                             std::unique_ptr<PgMetrics> metrics)
    : opts_(std::move(opts)),
      target_(pool->target()),
      registry_(std::move(registry)),
      metrics_(std::move(metrics)),
      pool_(std::move(pool)) {}

PostgresMetadataStore::~PostgresMetadataStore() = default;

std::string PostgresMetadataStore::describe() const { return target_; }

int PostgresMetadataStore::open_connections() const { return pool_->open_connections(); }

template <typename T, typename Fn>
Result<T> PostgresMetadataStore::run(int kind_index, Deadline deadline, Fn&& fn) {
  auto kind = static_cast<QueryKind>(kind_index);
  auto& m = metrics_->of(kind);
  const int64_t timeout_ms = kind == QueryKind::kPing
                                 ? std::min<int64_t>(kPingTimeoutMs, opts_.statement_timeout_ms + kClientGraceMs)
                                 : opts_.statement_timeout_ms + kClientGraceMs;
  for (int attempt = 0;; ++attempt) {
    bool lost = false;
    bool retry = false;
    Result<T> r = [&]() -> Result<T> {
      SH_ASSIGN_OR_RETURN(auto lease, pool_->acquire(deadline));
      Session session(*lease, m, timeout_ms, deadline);
      Result<T> out = fn(session);
      if (!out.ok() && lease->broken() && out.error().code() == Errc::kUnavailable) {
        lost = true;
        // A pooled connection that died while idle (server restarted) says
        // nothing about the server now: try once more on a fresh one. Every
        // call is idempotent, so a retry after a lost COMMIT is safe.
        retry = lease.reused() && attempt == 0 && !deadline.expired();
      }
      return out;
    }();
    if (lost) pool_->drop_idle();
    if (retry) {
      // Info level: no server address (describe() has it, for debug output).
      spdlog::info("PostgreSQL connection was lost while idle; retrying {} on a new one",
                   query_kind_name(kind));
      continue;
    }
    if (!r.ok()) {
      m.errors->Increment();
      const bool reads_stored_data = kind != QueryKind::kRegisterSegment &&
                                     kind != QueryKind::kCommitOffsets;
      if (reads_stored_data && r.error().code() == Errc::kInvalidArgument) {
        // Our parameters were checked before the call: a data exception now
        // (SQLSTATE 22xxx) is about what is stored, not about the request.
        return Error(Errc::kBadResponse,
                     fmt::format("PostgreSQL could not answer {}: {}", query_kind_name(kind),
                                 r.error().message()));
      }
    }
    return r;
  }
}

Result<std::vector<TopicInfo>> PostgresMetadataStore::list_topics(Deadline deadline) {
  return run<std::vector<TopicInfo>>(static_cast<int>(QueryKind::kListTopics), deadline,
                                     [&](Session& s) -> Result<std::vector<TopicInfo>> {
    SH_ASSIGN_OR_RETURN(auto res, s.exec(kListTopics, {}));
    std::vector<TopicInfo> out;
    for (int i = 0; i < PQntuples(res.get()); ++i) {
      SH_ASSIGN_OR_RETURN(auto t, topic_from_row(Row(res.get(), i)));
      out.push_back(std::move(t));
    }
    return out;
  });
}

Result<TopicInfo> PostgresMetadataStore::get_topic(std::string_view topic, Deadline deadline) {
  SH_RETURN_IF_ERROR(check_text(topic, "topic"));
  return run<TopicInfo>(static_cast<int>(QueryKind::kGetTopic), deadline, [&](Session& s) -> Result<TopicInfo> {
    SH_ASSIGN_OR_RETURN(auto res, s.exec(kGetTopic, {std::string(topic)}));
    if (PQntuples(res.get()) == 0) return topic_not_found(topic);
    return topic_from_row(Row(res.get(), 0));
  });
}

Result<PartitionInfo> PostgresMetadataStore::get_partition(std::string_view topic, int32_t partition,
                                                           Deadline deadline) {
  SH_RETURN_IF_ERROR(check_text(topic, "topic"));
  return run<PartitionInfo>(static_cast<int>(QueryKind::kGetPartition), deadline,
                            [&](Session& s) { return partition_in(s, topic, partition); });
}

Result<std::vector<SegmentInfo>> PostgresMetadataStore::list_segments(
    std::string_view topic, int32_t partition, std::optional<uint64_t> after_base_offset,
    Deadline deadline) {
  SH_RETURN_IF_ERROR(check_text(topic, "topic"));
  return run<std::vector<SegmentInfo>>(
      static_cast<int>(QueryKind::kListSegments), deadline,
      [&](Session& s) { return segments_in(s, topic, partition, after_base_offset); });
}

Result<PartitionSegments> PostgresMetadataStore::load_partition(std::string_view topic,
                                                                int32_t partition,
                                                                Deadline deadline) {
  SH_RETURN_IF_ERROR(check_text(topic, "topic"));
  return run<PartitionSegments>(static_cast<int>(QueryKind::kListSegments), deadline,
                                [&](Session& s) -> Result<PartitionSegments> {
    PartitionSegments out;
    SH_ASSIGN_OR_RETURN(out.partition, partition_in(s, topic, partition));
    SH_ASSIGN_OR_RETURN(out.segments, segments_in(s, topic, partition, std::nullopt));
    return out;
  });
}

Status PostgresMetadataStore::register_segment(std::string_view topic, int32_t partition,
                                               const SegmentInfo& seg, Deadline deadline) {
  if (!format::valid_topic_name(topic)) {
    return invalid_argument("invalid topic name \"" + std::string(topic) + "\"");
  }
  if (partition < 0 || partition == std::numeric_limits<int32_t>::max()) {
    return invalid_argument("invalid partition " + std::to_string(partition));
  }
  if (seg.key.empty()) return invalid_argument("segment key is empty");
  SH_RETURN_IF_ERROR(check_text(seg.key, "segment key"));
  SH_RETURN_IF_ERROR(check_text(seg.bucket, "segment bucket"));
  if (seg.last_offset < seg.base_offset) {
    return invalid_argument("segment " + seg.key + ": last_offset " + std::to_string(seg.last_offset) +
                            " < base_offset " + std::to_string(seg.base_offset));
  }
  if (seg.last_offset >= static_cast<uint64_t>(kInt64Max) ||
      seg.record_count > static_cast<uint64_t>(kInt64Max) ||
      seg.size_bytes > static_cast<uint64_t>(kInt64Max)) {
    return invalid_argument("segment " + seg.key + ": offset, count or size beyond 2^63-1");
  }
  const std::string t(topic);
  const auto base = static_cast<int64_t>(seg.base_offset);
  const auto last = static_cast<int64_t>(seg.last_offset);
  const std::string id = t + "/" + std::to_string(partition) + "/" + std::to_string(seg.base_offset);

  return run<void>(static_cast<int>(QueryKind::kRegisterSegment), deadline, [&](Session& s) -> Status {
    return s.transaction([&]() -> Status {
      SH_RETURN_IF_ERROR(s.exec(kUpsertTopic, {t, num(int64_t{partition} + 1)}));
      SH_RETURN_IF_ERROR(s.exec(kUpsertPartition, {t, num(partition), num(last + 1), num(base)}));
      SH_ASSIGN_OR_RETURN(auto below, s.exec(kSegmentBelow, {t, num(partition), num(last)}));
      if (PQntuples(below.get()) > 0) {
        Row row(below.get(), 0);
        SH_ASSIGN_OR_RETURN(auto existing, segment_from_row(row, topic, partition));
        if (existing.last_offset >= seg.base_offset) {
          if (same_segment(existing, seg)) return ok_status();  // already registered
          return Error(Errc::kAlreadyExists,
                       "segment " + seg.key + " [" + std::to_string(seg.base_offset) + ".." +
                           std::to_string(seg.last_offset) + "] of " + t + "/" +
                           std::to_string(partition) + " overlaps registered segment " +
                           row.text(8) + " [" + std::to_string(existing.base_offset) + ".." +
                           std::to_string(existing.last_offset) + "] " + existing.key);
        }
      }
      SH_ASSIGN_OR_RETURN(auto ins, s.exec(kInsertSegment,
                                           {id, t, num(partition), num(base), num(last),
                                            num(static_cast<int64_t>(seg.record_count)),
                                            num(static_cast<int64_t>(seg.size_bytes)), seg.bucket,
                                            seg.key, opt_num(seg.min_timestamp),
                                            opt_num(seg.max_timestamp)}));
      if (std::string_view(PQcmdTuples(ins.get())) != "1") {
        return Error(Errc::kAlreadyExists, "a segment with id " + id + " already exists");
      }
      return ok_status();
    });
  });
}

Result<std::vector<std::string>> PostgresMetadataStore::list_groups(Deadline deadline) {
  return run<std::vector<std::string>>(static_cast<int>(QueryKind::kListGroups), deadline,
                                       [&](Session& s) -> Result<std::vector<std::string>> {
    SH_ASSIGN_OR_RETURN(auto res, s.exec(kListGroups, {}));
    std::vector<std::string> out;
    for (int i = 0; i < PQntuples(res.get()); ++i) out.push_back(Row(res.get(), i).text(0));
    return out;
  });
}

Result<std::vector<CommittedOffset>> PostgresMetadataStore::get_group_offsets(std::string_view group,
                                                                             Deadline deadline) {
  SH_RETURN_IF_ERROR(check_text(group, "group"));
  const std::string g(group);
  auto not_found = [&] { return Error(Errc::kGroupNotFound, "unknown consumer group " + g); };
  const bool cached = opts_.group_offsets_ttl_ms > 0 && opts_.max_cached_groups > 0;
  uint64_t generation = 0;
  if (cached) {
    std::lock_guard lock(groups_mu_);
    auto it = groups_.find(g);
    if (it != groups_.end() && std::chrono::steady_clock::now() - it->second.read_at <
                                   std::chrono::milliseconds(opts_.group_offsets_ttl_ms)) {
      if (!it->second.offsets) return not_found();
      return *it->second.offsets;
    }
    generation = groups_generation_;
  }
  auto read_at = std::chrono::steady_clock::now();
  auto got = query_group_offsets(group, deadline);
  if (cached && (got.ok() || got.error().code() == Errc::kGroupNotFound)) {
    std::lock_guard lock(groups_mu_);
    if (generation == groups_generation_) {  // no commit raced the query
      if (groups_.size() >= opts_.max_cached_groups && !groups_.contains(g)) groups_.clear();
      CachedGroup& c = groups_[g];
      c.read_at = read_at;
      if (got.ok()) {
        c.offsets = *got;
      } else {
        c.offsets.reset();
      }
    }
  }
  return got;
}

Result<std::vector<CommittedOffset>> PostgresMetadataStore::query_group_offsets(
    std::string_view group, Deadline deadline) {
  return run<std::vector<CommittedOffset>>(static_cast<int>(QueryKind::kGetGroupOffsets), deadline,
                                           [&](Session& s) -> Result<std::vector<CommittedOffset>> {
    SH_ASSIGN_OR_RETURN(auto res, s.exec(kGetGroupOffsets, {std::string(group)}));
    const int n = PQntuples(res.get());
    if (n == 0) return Error(Errc::kGroupNotFound, "unknown consumer group " + std::string(group));
    std::vector<CommittedOffset> out;
    for (int i = 0; i < n; ++i) {
      Row row(res.get(), i);
      if (row.null(0)) continue;  // group without offsets
      CommittedOffset c;
      c.topic = row.text(0);
      SH_ASSIGN_OR_RETURN(c.partition, row.i32(1));
      SH_ASSIGN_OR_RETURN(c.offset, row.u64(2));
      c.metadata = row.null(3) ? "" : row.text(3);
      SH_ASSIGN_OR_RETURN(c.committed_at_ms, row.i64(4));
      out.push_back(std::move(c));
    }
    // Byte order (the server's collation may differ), as commit_offsets keeps its copy.
    std::sort(out.begin(), out.end(), [](const CommittedOffset& a, const CommittedOffset& b) {
      return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
    });
    return out;
  });
}

Status PostgresMetadataStore::commit_offsets(std::string_view group,
                                             const std::vector<OffsetCommit>& offsets,
                                             Deadline deadline) {
  SH_RETURN_IF_ERROR(check_text(group, "group"));
  // Last entry wins for a repeated (topic, partition): one statement cannot
  // update a row twice.
  std::map<std::pair<std::string, int32_t>, const OffsetCommit*> latest;
  for (const auto& o : offsets) {
    SH_RETURN_IF_ERROR(check_text(o.topic, "topic"));
    SH_RETURN_IF_ERROR(check_text(o.metadata, "offset metadata"));
    if (o.offset > static_cast<uint64_t>(kInt64Max)) {
      return invalid_argument("offset " + std::to_string(o.offset) + " beyond 2^63-1");
    }
    latest[{o.topic, o.partition}] = &o;
  }
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& [key, o] : latest) {
    rows.push_back({{"topic", o->topic},
                    {"partition_id", o->partition},
                    {"committed_offset", static_cast<int64_t>(o->offset)},
                    {"metadata", o->metadata}});
  }
  std::string payload;
  try {
    payload = rows.dump();
  } catch (const nlohmann::json::exception&) {
    return invalid_argument("offset commit for group " + std::string(group) +
                            " has a topic or metadata that is not valid UTF-8");
  }
  const std::string g(group);
  // committed_at of each stored row, as the server stamped it.
  std::map<std::pair<std::string, int32_t>, int64_t> stamped;
  Status st = run<void>(static_cast<int>(QueryKind::kCommitOffsets), deadline, [&](Session& s) -> Status {
    stamped.clear();
    SH_ASSIGN_OR_RETURN(auto res, s.exec(kCommitOffsets, {g, payload}));
    for (int i = 0; i < PQntuples(res.get()); ++i) {
      Row row(res.get(), i);
      SH_ASSIGN_OR_RETURN(int32_t partition, row.i32(1));
      SH_ASSIGN_OR_RETURN(int64_t at, row.i64(2));
      stamped[{row.text(0), partition}] = at;
    }
    return ok_status();
  });
  std::lock_guard lock(groups_mu_);
  ++groups_generation_;
  auto it = groups_.find(g);
  if (it == groups_.end()) return st;
  if (!st.ok() || stamped.size() != latest.size()) {
    groups_.erase(it);  // not sure what is stored now: read it next time
    return st;
  }
  // Write-through: the copy now holds what the statement stored.
  std::map<std::pair<std::string, int32_t>, CommittedOffset> merged;
  if (it->second.offsets) {
    for (auto& c : *it->second.offsets) merged[{c.topic, c.partition}] = std::move(c);
  }
  for (const auto& [key, o] : latest) {
    CommittedOffset& c = merged[key];
    c.topic = o->topic;
    c.partition = o->partition;
    c.offset = o->offset;
    c.metadata = o->metadata;
    c.committed_at_ms = stamped.at(key);
  }
  std::vector<CommittedOffset> copy;
  copy.reserve(merged.size());
  for (auto& [key, c] : merged) copy.push_back(std::move(c));
  it->second.offsets = std::move(copy);
  return st;
}

Status PostgresMetadataStore::ping(Deadline deadline) {
  return run<void>(static_cast<int>(QueryKind::kPing), deadline, [&](Session& s) -> Status {
    SH_ASSIGN_OR_RETURN(auto res, s.exec(kPing, {}));
    if (PQntuples(res.get()) != 1 || Row(res.get(), 0).text(0) != "1") {
      return Error(Errc::kBadResponse, "PostgreSQL answered SELECT 1 with something else");
    }
    return ok_status();
  });
}

// ---- open / migrate --------------------------------------------------------

namespace {

Status validate(const PgOptions& o) {
  if (o.pool_size < 1 || o.pool_size > 1000) {
    return invalid_argument("PostgreSQL pool size must be 1..1000, got " + std::to_string(o.pool_size));
  }
  if (o.statement_timeout_ms < 1 || o.connect_timeout_ms < 1 || o.acquire_timeout_ms < 1) {
    return invalid_argument("PostgreSQL statement, connect and acquire timeouts must be positive");
  }
  if (o.reconnect_backoff_initial_ms < 1 || o.reconnect_backoff_max_ms < o.reconnect_backoff_initial_ms) {
    return invalid_argument("PostgreSQL reconnect backoff must satisfy 1 <= initial <= max");
  }
  return ok_status();
}

}  // namespace

Result<std::shared_ptr<PostgresMetadataStore>> open_postgres_metadata_store(
    PgOptions opts, std::shared_ptr<prometheus::Registry> registry) {
  SH_RETURN_IF_ERROR(validate(opts));
  SH_ASSIGN_OR_RETURN(auto settings, parse_conninfo(opts.conninfo));
  if (!registry) registry = std::make_shared<prometheus::Registry>();
  auto metrics = std::make_unique<PgMetrics>(*registry);
  PoolOptions po;
  po.connect.settings = std::move(settings);
  po.connect.statement_timeout_ms = opts.statement_timeout_ms;
  po.connect.connect_timeout_ms = opts.connect_timeout_ms;
  po.size = opts.pool_size;
  po.acquire_timeout_ms = opts.acquire_timeout_ms;
  po.backoff_initial_ms = opts.reconnect_backoff_initial_ms;
  po.backoff_max_ms = opts.reconnect_backoff_max_ms;
  auto pool = std::make_unique<ConnectionPool>(std::move(po), metrics.get());
  // The server address only at debug level: info lines carry no internal endpoint.
  spdlog::info("PostgreSQL metadata store (pool of {}, statement timeout {} ms)", opts.pool_size,
               opts.statement_timeout_ms);
  spdlog::debug("PostgreSQL metadata store at {}", pool->target());
  return std::make_shared<PostgresMetadataStore>(std::move(opts), std::move(pool),
                                                 std::move(registry), std::move(metrics));
}

int latest_schema_version() { return schema_migrations().back().version; }

Status migrate(const PgOptions& opts) {
  SH_RETURN_IF_ERROR(validate(opts));
  SH_ASSIGN_OR_RETURN(auto settings, parse_conninfo(opts.conninfo));
  ConnectParams cp;
  cp.settings = std::move(settings);
  // DDL and waiting for another replica's migration may take longer than a
  // read path query is allowed to.
  cp.statement_timeout_ms = std::max(opts.statement_timeout_ms, kMigrationStatementTimeoutMs);
  cp.connect_timeout_ms = opts.connect_timeout_ms;
  SH_ASSIGN_OR_RETURN(auto conn, PgConnection::connect(cp, Deadline::never()));
  auto deadline = [&] { return Deadline::after(Millis(cp.statement_timeout_ms + kClientGraceMs)); };
  auto exec = [&](const char* sql) -> Status {
    auto r = conn->exec_constant(sql, deadline());
    if (!r.ok()) return std::move(r).error();
    return ok_status();
  };

  for (const Migration& m : schema_migrations()) {
    SH_RETURN_IF_ERROR(exec("BEGIN"));
    Status st = [&]() -> Status {
      SH_RETURN_IF_ERROR(exec(kMigrationLockSql));
      SH_RETURN_IF_ERROR(exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          "version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"));
      SH_ASSIGN_OR_RETURN(auto applied,
                          conn->exec_prepared(kMigrationApplied, {num(m.version)}, deadline()));
      if (PQntuples(applied.get()) > 0) return ok_status();
      SH_RETURN_IF_ERROR(exec(m.sql));
      SH_RETURN_IF_ERROR(conn->exec_prepared(kMigrationRecord, {num(m.version)}, deadline()));
      spdlog::info("applied schema migration {} ({})", m.version, m.description);
      return ok_status();
    }();
    if (!st.ok()) {
      if (!conn->broken()) (void)exec("ROLLBACK");
      Error e = std::move(st).error();
      e.prefix("schema migration " + std::to_string(m.version));
      return e;
    }
    SH_RETURN_IF_ERROR(exec("COMMIT"));
  }
  return ok_status();
}

}  // namespace sh::pg
