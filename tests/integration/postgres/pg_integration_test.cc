// PostgresMetadataStore against a real PostgreSQL 15 (see pg.sh). The server
// is started by the ctest fixture "pg"; SH_TEST_PG_URL is the password URL of
// role `streamhouse`, SH_TEST_PG_ADMIN a superuser conninfo over the unix
// socket, SH_TEST_PG_SH the harness (used to stop and restart the server).
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/metadata/postgres/pg_handles.h"
#include "core/metadata/postgres/postgres_metadata_store.h"
#include "tests/support/log_capture.h"

namespace sh::pg {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using sh::testing::LogCapture;

constexpr const char* kPassword = "sh-test-Secr3t-pw";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// Sum of a metric family's samples whose labels include all of `labels`.
double metric(prometheus::Registry& registry, const std::string& name,
              const std::map<std::string, std::string>& labels = {}) {
  double sum = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& m : family.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool found = false;
        for (const auto& l : m.label) found = found || (l.name == k && l.value == v);
        match = match && found;
      }
      if (!match) continue;
      sum += m.counter.value + m.gauge.value + static_cast<double>(m.histogram.sample_count);
    }
  }
  return sum;
}


class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = env("SH_TEST_PG_URL");
    admin_info_ = env("SH_TEST_PG_ADMIN");
    harness_ = env("SH_TEST_PG_SH");
    ASSERT_FALSE(url_.empty() || admin_info_.empty() || harness_.empty())
        << "SH_TEST_PG_URL / SH_TEST_PG_ADMIN / SH_TEST_PG_SH not set: run through ctest "
           "(fixture pg), or start tests/integration/postgres/pg.sh and export them";
    connect_admin();
    // Every test starts from an empty, freshly migrated schema.
    admin("DROP TABLE IF EXISTS consumer_offsets, consumer_groups, segments, partitions, topics, "
          "schema_migrations CASCADE");
    Status st = migrate(options());
    ASSERT_TRUE(st.ok()) << st.error().to_string();
  }

  void connect_admin() {
    admin_.reset(PQconnectdb(admin_info_.c_str()));
    ASSERT_EQ(PQstatus(admin_.get()), CONNECTION_OK)
        << "superuser connection failed: " << PQerrorMessage(admin_.get());
    PQsetNoticeProcessor(admin_.get(), [](void*, const char*) {}, nullptr);
  }

  PgOptions options() const {
    PgOptions o;
    o.conninfo = url_;
    o.pool_size = 2;
    o.statement_timeout_ms = 3000;
    o.connect_timeout_ms = 2000;
    o.acquire_timeout_ms = 2000;
    o.reconnect_backoff_initial_ms = 50;
    o.reconnect_backoff_max_ms = 400;
    return o;
  }

  std::shared_ptr<PostgresMetadataStore> open(PgOptions o) {
    auto s = open_postgres_metadata_store(std::move(o), registry_);
    EXPECT_TRUE(s.ok()) << s.error().to_string();
    return s.ok() ? *s : nullptr;
  }

  // Runs constant SQL as the superuser (the "independent writer").
  PgResultPtr admin(const std::string& sql) {
    PgResultPtr r(PQexec(admin_.get(), sql.c_str()));
    auto st = PQresultStatus(r.get());
    EXPECT_TRUE(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        << "admin SQL failed: " << sql << ": " << PQerrorMessage(admin_.get());
    return r;
  }
  std::string admin_value(const std::string& sql) {
    auto r = admin(sql);
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) < 1) return "<no row>";
    return PQgetvalue(r.get(), 0, 0);
  }

  void harness(const std::string& cmd) {
    std::string line = harness_ + " " + cmd;
    ASSERT_EQ(std::system(line.c_str()), 0) << "harness failed: " << line;
  }

  static SegmentInfo seg(uint64_t base, uint64_t last, std::string key = "") {
    SegmentInfo s;
    s.key = key.empty() ? "orders/0/" + std::to_string(base) + ".seg" : key;
    s.base_offset = base;
    s.last_offset = last;
    s.record_count = last - base + 1;
    s.size_bytes = 1000 + base;
    s.min_timestamp = 1700000000000 + static_cast<int64_t>(base);
    s.max_timestamp = 1700000000000 + static_cast<int64_t>(last);
    return s;
  }

  std::string url_, admin_info_, harness_;
  PgConnPtr admin_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
};

// ---- migrations ------------------------------------------------------------

TEST_F(PgTest, MigrateTwiceIsIdempotentAndCreatesTheContractSchema) {
  for (int i = 0; i < 2; ++i) {
    Status st = migrate(options());
    ASSERT_TRUE(st.ok()) << "re-running migrate failed: " << st.error().to_string();
  }
  EXPECT_EQ(admin_value("SELECT count(*) FROM schema_migrations"),
            std::to_string(latest_schema_version()))
      << "each version must be recorded exactly once";
  EXPECT_EQ(admin_value("SELECT count(*) FROM schema_migrations WHERE applied_at IS NULL"), "0");
  auto columns = [&](const std::string& table) {
    return admin_value("SELECT string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position) "
                       "FROM information_schema.columns WHERE table_name = '" + table + "'");
  };
  EXPECT_EQ(columns("topics"),
            "name:text,partition_count:integer,config:jsonb,created_at:timestamp with time zone");
  EXPECT_EQ(columns("partitions"),
            "topic:text,partition_id:integer,high_watermark:bigint,log_start_offset:bigint");
  EXPECT_EQ(columns("segments"),
            "id:text,topic:text,partition_id:integer,base_offset:bigint,end_offset:bigint,"
            "record_count:bigint,size_bytes:bigint,s3_bucket:text,s3_key:text,min_timestamp:bigint,"
            "max_timestamp:bigint,created_at:timestamp with time zone");
  EXPECT_EQ(columns("consumer_groups"), "group_id:text,created_at:timestamp with time zone");
  EXPECT_EQ(columns("consumer_offsets"),
            "group_id:text,topic:text,partition_id:integer,committed_offset:bigint,metadata:text,"
            "committed_at:timestamp with time zone");
  EXPECT_NE(admin_value("SELECT indexdef FROM pg_indexes WHERE tablename = 'segments' "
                        "AND indexdef LIKE '%(topic, partition_id, base_offset)%'"),
            "<no row>")
      << "segments needs an index on (topic, partition_id, base_offset)";
}

TEST_F(PgTest, ConcurrentMigrateFromSeveralReplicasSucceeds) {
  admin("DROP TABLE IF EXISTS consumer_offsets, consumer_groups, segments, partitions, topics, "
        "schema_migrations CASCADE");
  constexpr int kReplicas = 4;
  std::vector<std::string> errors(kReplicas);
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      Status st = migrate(options());
      if (!st.ok()) errors[i] = st.error().to_string();
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  for (int i = 0; i < kReplicas; ++i) EXPECT_EQ(errors[i], "") << "replica " << i << " failed to migrate";
  EXPECT_EQ(admin_value("SELECT count(*) FROM schema_migrations"),
            std::to_string(latest_schema_version()));
}

TEST_F(PgTest, MigrateKeepsTablesAndRowsAWriterCreatedFirst) {
  admin("DROP TABLE IF EXISTS consumer_offsets, consumer_groups, segments, partitions, topics, "
        "schema_migrations CASCADE");
  admin("SET ROLE streamhouse");  // the writer owns its tables
  admin("CREATE TABLE topics (name text primary key, partition_count int not null, "
        "config jsonb not null default '{}', created_at timestamptz not null default now())");
  admin("INSERT INTO topics (name, partition_count) VALUES ('legacy', 3)");
  admin("RESET ROLE");
  Status st = migrate(options());
  ASSERT_TRUE(st.ok()) << st.error().to_string();
  EXPECT_EQ(admin_value("SELECT partition_count FROM topics WHERE name = 'legacy'"), "3")
      << "migrate must not drop a writer's existing data";
}

// ---- topics, partitions, segments -----------------------------------------

TEST_F(PgTest, RegisteredSegmentsAreVisibleThroughTheStore) {
  auto store = open(options());
  ASSERT_TRUE(store);
  for (uint64_t base : {0, 100, 200}) {
    Status st = store->register_segment("orders", 0, seg(base, base + 99));
    ASSERT_TRUE(st.ok()) << st.error().to_string();
  }
  auto other = seg(0, 9, "orders/2/0.seg");
  other.bucket = "archive";
  other.min_timestamp.reset();
  other.max_timestamp.reset();
  ASSERT_TRUE(store->register_segment("orders", 2, other).ok());

  auto topics = store->list_topics();
  ASSERT_TRUE(topics.ok()) << topics.error().to_string();
  ASSERT_EQ(topics->size(), 1u);
  EXPECT_EQ((*topics)[0].name, "orders");
  EXPECT_EQ((*topics)[0].partition_count, 3) << "partition_count = highest partition + 1";
  EXPECT_EQ((*topics)[0].partitions, (std::vector<int32_t>{0, 2}));

  auto p0 = store->get_partition("orders", 0);
  ASSERT_TRUE(p0.ok()) << p0.error().to_string();
  EXPECT_EQ(p0->high_watermark, 300u);
  EXPECT_EQ(p0->log_start_offset, 0u);
  EXPECT_EQ(p0->segment_count, 3u);
  EXPECT_EQ(p0->size_bytes, 1000u + 1100u + 1200u);

  auto all = store->list_segments("orders", 0, std::nullopt);
  ASSERT_TRUE(all.ok()) << all.error().to_string();
  ASSERT_EQ(all->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*all)[i].base_offset, 100 * i) << "segments must be ordered by base_offset";
    EXPECT_EQ((*all)[i].last_offset, 100 * i + 99);
    EXPECT_EQ((*all)[i].key, "orders/0/" + std::to_string(100 * i) + ".seg");
    EXPECT_EQ((*all)[i].bucket, "");
    EXPECT_EQ((*all)[i].record_count, 100u);
    EXPECT_EQ((*all)[i].min_timestamp, std::optional<int64_t>(1700000000000 + 100 * i));
  }
  auto p2 = store->list_segments("orders", 2, std::nullopt);
  ASSERT_TRUE(p2.ok());
  ASSERT_EQ(p2->size(), 1u);
  EXPECT_EQ((*p2)[0].bucket, "archive");
  EXPECT_FALSE((*p2)[0].min_timestamp.has_value()) << "NULL timestamps map to nullopt";

  auto after = store->list_segments("orders", 0, 0);
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->size(), 2u) << "incremental listing returns only base_offset > after";
  EXPECT_EQ((*after)[0].base_offset, 100u);
  auto none = store->list_segments("orders", 0, 200);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto huge = store->list_segments("orders", 0, UINT64_MAX);
  ASSERT_TRUE(huge.ok()) << huge.error().to_string();
  EXPECT_TRUE(huge->empty());

  EXPECT_EQ(admin_value("SELECT id || ' ' || s3_key FROM segments WHERE base_offset = 100"),
            "orders/0/100 orders/0/100.seg");
  EXPECT_EQ(admin_value("SELECT s3_bucket FROM segments WHERE partition_id = 2"), "archive");
}

TEST_F(PgTest, UnknownTopicsAndPartitionsAreDistinguished) {
  auto store = open(options());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->register_segment("orders", 0, seg(0, 9)).ok());
  auto t = store->get_topic("nosuch");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().code(), Errc::kTopicNotFound) << t.error().to_string();
  auto p = store->get_partition("nosuch", 0);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), Errc::kTopicNotFound) << p.error().to_string();
  p = store->get_partition("orders", 7);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), Errc::kPartitionNotFound) << p.error().to_string();
  auto l = store->list_segments("nosuch", 0, std::nullopt);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code(), Errc::kTopicNotFound);
  l = store->list_segments("orders", 7, std::nullopt);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code(), Errc::kPartitionNotFound);
  auto good = store->get_topic("orders");
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->partitions, std::vector<int32_t>{0});
}

TEST_F(PgTest, HighWatermarkOnlyAdvancesAndDuplicatesAreRecognised) {
  auto store = open(options());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->register_segment("orders", 0, seg(100, 199)).ok());
  ASSERT_TRUE(store->register_segment("orders", 0, seg(0, 99)).ok()) << "out-of-order registration";
  auto p = store->get_partition("orders", 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->high_watermark, 200u) << "an older segment must not move the watermark back";
  EXPECT_EQ(p->log_start_offset, 100u) << "a new partition starts at its first segment";

  Status again = store->register_segment("orders", 0, seg(100, 199));
  EXPECT_TRUE(again.ok()) << "re-registering an identical segment is a no-op: " << again.error().to_string();
  auto clash = store->register_segment("orders", 0, seg(150, 260, "orders/0/other.seg"));
  ASSERT_FALSE(clash.ok()) << "an overlapping segment must be refused";
  EXPECT_EQ(clash.error().code(), Errc::kAlreadyExists) << clash.error().to_string();
  auto same_base = store->register_segment("orders", 0, seg(100, 199, "orders/0/dup.seg"));
  ASSERT_FALSE(same_base.ok());
  EXPECT_EQ(same_base.error().code(), Errc::kAlreadyExists);
  p = store->get_partition("orders", 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->segment_count, 2u);
  EXPECT_EQ(p->high_watermark, 200u) << "a refused segment must not advance the watermark";

  EXPECT_EQ(store->register_segment("bad topic!", 0, seg(0, 1)).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(store->register_segment("orders", -1, seg(0, 1)).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(store->register_segment("orders", 0, seg(5, 4)).error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(store->register_segment("orders", 0, seg(0, UINT64_MAX - 1)).error().code(),
            Errc::kInvalidArgument);
}

TEST_F(PgTest, ConcurrentWritersKeepTheWatermarkConsistent) {
  auto store = open(options());
  ASSERT_TRUE(store);
  constexpr int kThreads = 4, kPerThread = 10;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        uint64_t base = static_cast<uint64_t>(i * kThreads + t) * 10;
        if (!store->register_segment("busy", t % 2, seg(base, base + 9)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  for (int p = 0; p < 2; ++p) {
    auto info = store->get_partition("busy", p);
    ASSERT_TRUE(info.ok()) << info.error().to_string();
    EXPECT_EQ(info->segment_count, 20u);
    uint64_t expected_hw = p == 0 ? (9 * kThreads + 2) * 10 + 10 : (9 * kThreads + 3) * 10 + 10;
    EXPECT_EQ(info->high_watermark, expected_hw);
  }
  EXPECT_LE(store->open_connections(), 2) << "the pool must not grow beyond pool_size";
  EXPECT_LE(metric(*registry_, "streamhouse_metadata_pool_connections"), 2.0);
}

TEST_F(PgTest, PlainSqlWritesByAnIndependentWriterAreVisible) {
  auto store = open(options());
  ASSERT_TRUE(store);
  admin("INSERT INTO topics (name, partition_count) VALUES ('clicks', 2)");
  admin("INSERT INTO partitions (topic, partition_id, high_watermark, log_start_offset) "
        "VALUES ('clicks', 0, 50, 10), ('clicks', 1, 0, 0)");
  admin("INSERT INTO segments (id, topic, partition_id, base_offset, end_offset, record_count, "
        "size_bytes, s3_bucket, s3_key) VALUES "
        "('clicks-0-10', 'clicks', 0, 10, 29, 20, 4096, 'streamhouse', 'clicks/0/seg_10.bin'), "
        "('clicks-0-30', 'clicks', 0, 30, 49, 20, 5000, 'streamhouse', 'clicks/0/seg_30.bin')");

  auto topics = store->list_topics();
  ASSERT_TRUE(topics.ok()) << topics.error().to_string();
  ASSERT_EQ(topics->size(), 1u);
  EXPECT_EQ((*topics)[0].partitions, (std::vector<int32_t>{0, 1}));
  auto p = store->get_partition("clicks", 0);
  ASSERT_TRUE(p.ok()) << p.error().to_string();
  EXPECT_EQ(p->log_start_offset, 10u);
  EXPECT_EQ(p->high_watermark, 50u);
  EXPECT_EQ(p->segment_count, 2u);
  EXPECT_EQ(p->size_bytes, 9096u);
  auto empty = store->get_partition("clicks", 1);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->segment_count, 0u);
  auto segs = store->list_segments("clicks", 0, std::nullopt);
  ASSERT_TRUE(segs.ok());
  ASSERT_EQ(segs->size(), 2u);
  EXPECT_EQ((*segs)[1].key, "clicks/0/seg_30.bin");
  EXPECT_EQ((*segs)[1].bucket, "streamhouse");
  EXPECT_EQ((*segs)[1].last_offset, 49u) << "last_offset = end_offset (inclusive)";
  EXPECT_FALSE((*segs)[1].max_timestamp.has_value());
  auto none = store->list_segments("clicks", 1, std::nullopt);
  ASSERT_TRUE(none.ok()) << "an existing partition without segments is not an error";
  EXPECT_TRUE(none->empty());

  // The writer appends; an incremental listing sees only the new segment.
  admin("BEGIN; INSERT INTO segments (id, topic, partition_id, base_offset, end_offset, record_count, "
        "size_bytes, s3_bucket, s3_key, min_timestamp, max_timestamp) VALUES ('clicks-0-50', 'clicks', 0, "
        "50, 69, 20, 100, 'streamhouse', 'clicks/0/seg_50.bin', 1, 2); "
        "UPDATE partitions SET high_watermark = 70 WHERE topic = 'clicks' AND partition_id = 0; COMMIT");
  auto fresh = store->list_segments("clicks", 0, 30);
  ASSERT_TRUE(fresh.ok());
  ASSERT_EQ(fresh->size(), 1u);
  EXPECT_EQ((*fresh)[0].base_offset, 50u);
  EXPECT_EQ((*fresh)[0].max_timestamp, std::optional<int64_t>(2));
  p = store->get_partition("clicks", 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->high_watermark, 70u);

  // And the store's own registration continues after the writer's rows.
  ASSERT_TRUE(store->register_segment("clicks", 0, seg(70, 79, "clicks/0/seg_70.bin")).ok());
  p = store->get_partition("clicks", 0);
  EXPECT_EQ(p->high_watermark, 80u);
  EXPECT_EQ(p->log_start_offset, 10u) << "registration must not move an existing log start";
}

// ---- consumer groups ---------------------------------------------------------

TEST_F(PgTest, ConsumerGroupCommitGetAndList) {
  auto store = open(options());
  ASSERT_TRUE(store);
  auto missing = store->get_group_offsets("g1");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Errc::kGroupNotFound) << missing.error().to_string();
  auto groups = store->list_groups();
  ASSERT_TRUE(groups.ok());
  EXPECT_TRUE(groups->empty());

  const int64_t before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count();
  const std::string tricky = "ünïcode ✓ \"},{\"topic\":\"x\" '; DROP TABLE topics; --";
  Status st = store->commit_offsets("g1", {{"orders", 0, 5, tricky}, {"orders", 1, 7, ""}});
  ASSERT_TRUE(st.ok()) << st.error().to_string();
  auto got = store->get_group_offsets("g1");
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].topic, "orders");
  EXPECT_EQ((*got)[0].partition, 0);
  EXPECT_EQ((*got)[0].offset, 5u);
  EXPECT_EQ((*got)[0].metadata, tricky) << "metadata text must round-trip byte for byte";
  EXPECT_EQ((*got)[1].offset, 7u);
  EXPECT_GE((*got)[0].committed_at_ms, before_ms - 5000);
  EXPECT_LE((*got)[0].committed_at_ms, before_ms + 60000);

  // Recommit: the offset moves, committed_at does not go back; the last
  // entry wins for a repeated partition; unknown topics are stored as given.
  std::this_thread::sleep_for(20ms);
  st = store->commit_offsets("g1", {{"orders", 0, 3, "a"}, {"orders", 0, 9, "b"}, {"nosuch", 4, 1, ""}});
  ASSERT_TRUE(st.ok()) << st.error().to_string();
  auto again = store->get_group_offsets("g1");
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 3u);
  EXPECT_EQ((*again)[0].topic, "nosuch");
  EXPECT_EQ((*again)[1].offset, 9u);
  EXPECT_EQ((*again)[1].metadata, "b");
  EXPECT_GT((*again)[1].committed_at_ms, (*got)[0].committed_at_ms);
  EXPECT_EQ((*again)[2].offset, 7u) << "partitions not in a commit keep their offset";

  const std::string odd_group = "g2'; DROP TABLE consumer_groups; --";
  ASSERT_TRUE(store->commit_offsets(odd_group, {{"orders", 0, 1, ""}}).ok());
  groups = store->list_groups();
  ASSERT_TRUE(groups.ok());
  EXPECT_EQ(*groups, (std::vector<std::string>{"g1", odd_group}));
  EXPECT_EQ(admin_value("SELECT count(*) FROM consumer_offsets"), "4");

  std::string bad_utf8 = "\xff\xfe";
  auto bad = store->commit_offsets("g1", {{"orders", 0, 1, bad_utf8}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), Errc::kInvalidArgument) << bad.error().to_string();
  auto nul = store->commit_offsets("g1", {{"orders", 0, 1, std::string("a\0b", 3)}});
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(nul.error().code(), Errc::kInvalidArgument);
  auto big = store->commit_offsets("g1", {{"orders", 0, UINT64_MAX, ""}});
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), Errc::kInvalidArgument);
  auto unchanged = store->get_group_offsets("g1");
  ASSERT_TRUE(unchanged.ok());
  EXPECT_EQ((*unchanged)[1].offset, 9u) << "a refused commit must change nothing";
}

// ---- committed offsets in memory -------------------------------------------

TEST_F(PgTest, GroupPollsCostNoStatementWhileTheCopyIsFreshAndCommitsWriteThrough) {
  // Executions of the get_group_offsets statement (pg_stat_statements, our role).
  auto group_reads = [&] {
    return std::stoll(admin_value(
        "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s "
        "JOIN pg_roles r ON r.oid = s.userid JOIN pg_database d ON d.oid = s.dbid "
        "WHERE r.rolname = 'streamhouse' AND d.datname = current_database() "
        "AND s.query LIKE '%LEFT JOIN consumer_offsets%'"));
  };
  PgOptions o = options();
  ASSERT_EQ(o.group_offsets_ttl_ms, 5000) << "the default this test's time bound assumes";
  auto store = open(o);
  ASSERT_TRUE(store);
  admin("SELECT pg_stat_statements_reset()");

  const auto t0 = Clock::now();
  auto missing = store->get_group_offsets("poller");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Errc::kGroupNotFound);
  ASSERT_TRUE(store->commit_offsets("poller", {{"orders", 0, 0, "m"}, {"orders", 1, 50, ""}}).ok());
  // A consumer's loop: poll with group=, commit the next offset.
  for (uint64_t i = 0; i < 200; ++i) {
    auto got = store->get_group_offsets("poller");
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    ASSERT_EQ(got->size(), 2u);
    EXPECT_EQ((*got)[0].offset, i) << "the poll sees the commit before it";
    EXPECT_EQ((*got)[1].offset, 50u) << "partitions not committed keep their offset";
    ASSERT_TRUE(store->commit_offsets("poller", {{"orders", 0, i + 1, "m"}}).ok());
  }
  const int64_t elapsed = ms_since(t0);
  const int64_t reads = group_reads();
  // One read at the start (the group did not exist yet); the TTL may add one per 5 s.
  EXPECT_LE(reads, 1 + elapsed / 5000) << "200 polls by a group in " << elapsed << " ms sent "
                                       << reads << " get_group_offsets statements";

  // The copy holds what the server stored, committed_at included.
  auto got = store->get_group_offsets("poller");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)[0].offset, 200u);
  EXPECT_EQ(std::to_string((*got)[0].committed_at_ms),
            admin_value("SELECT (extract(epoch FROM committed_at) * 1000)::bigint FROM "
                        "consumer_offsets WHERE group_id = 'poller' AND partition_id = 0"));

  // An independent writer's commit shows once the TTL has passed.
  PgOptions short_ttl = options();
  short_ttl.group_offsets_ttl_ms = 200;
  auto other = open(short_ttl);
  ASSERT_TRUE(other);
  ASSERT_TRUE(other->get_group_offsets("poller").ok());
  admin("UPDATE consumer_offsets SET committed_offset = 777 WHERE group_id = 'poller' "
        "AND partition_id = 1");
  auto stale = other->get_group_offsets("poller");
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ((*stale)[1].offset, 50u) << "within the TTL, the copy";
  std::this_thread::sleep_for(300ms);
  auto fresh = other->get_group_offsets("poller");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ((*fresh)[1].offset, 777u) << "past the TTL, the server's value";

  // Without a TTL every call is a statement (the count above can see them).
  PgOptions no_cache = options();
  no_cache.group_offsets_ttl_ms = 0;
  auto plain = open(no_cache);
  ASSERT_TRUE(plain);
  const int64_t before = group_reads();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(plain->get_group_offsets("poller").ok());
  EXPECT_EQ(group_reads() - before, 5);
}

// ---- failures ---------------------------------------------------------------

TEST_F(PgTest, ServerDownFailsFastWithoutHammeringAndRecoversWithoutANewStore) {
  LogCapture logs;
  auto store = open(options());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->register_segment("orders", 0, seg(0, 9)).ok());
  ASSERT_TRUE(store->list_topics().ok());  // leaves an idle pooled connection

  harness("server-stop");
  struct Restart {  // the server comes back even if an assertion fails
    std::string cmd;
    bool done = false;
    void now() {
      if (!done) {
        EXPECT_EQ(std::system(cmd.c_str()), 0) << "restarting the server failed: " << cmd;
      }
      done = true;
    }
    ~Restart() { now(); }
  } restart{harness_ + " server-start"};

  auto t0 = Clock::now();
  auto r = store->list_topics();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kUnavailable) << r.error().to_string();
  EXPECT_TRUE(r.error().retryable());
  EXPECT_LT(ms_since(t0), 2500) << "a stopped server must fail fast, not hang";
  EXPECT_NE(r.error().message().find("127.0.0.1"), std::string::npos)
      << "the error should name the server: " << r.error().message();
  EXPECT_EQ(r.error().message().find(kPassword), std::string::npos) << r.error().message();

  const double failed_before = metric(*registry_, "streamhouse_metadata_connects_total", {{"result", "error"}});
  t0 = Clock::now();
  for (int i = 0; i < 30; ++i) {
    Status p = store->ping();
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().code(), Errc::kUnavailable);
  }
  const auto burst_ms = ms_since(t0);
  const double attempts = metric(*registry_, "streamhouse_metadata_connects_total", {{"result", "error"}}) - failed_before;
  EXPECT_LT(burst_ms, 1500) << "calls while the server is down must not wait";
  // Backoff 50 ms doubling to 400 ms: a burst this short allows a handful of
  // attempts, never one per call.
  EXPECT_LE(attempts, 2 + burst_ms / 50.0) << "reconnect attempts must back off";
  EXPECT_LT(attempts, 30);
  EXPECT_GE(metric(*registry_, "streamhouse_metadata_errors_total", {{"kind", "ping"}}), 30.0);

  restart.now();
  t0 = Clock::now();
  Status ok = store->ping();
  while (!ok.ok() && ms_since(t0) < 10000) {
    std::this_thread::sleep_for(50ms);
    ok = store->ping();
  }
  ASSERT_TRUE(ok.ok()) << "store did not recover after the server restarted: " << ok.error().to_string();
  EXPECT_LT(ms_since(t0), 2000) << "recovery should take about one backoff interval";
  auto topics = store->list_topics();
  ASSERT_TRUE(topics.ok()) << topics.error().to_string();
  EXPECT_EQ(topics->size(), 1u);
  EXPECT_EQ(logs.text().find(kPassword), std::string::npos) << "password leaked into the log";
}

TEST_F(PgTest, IdleConnectionsKilledByARestartAreReplacedTransparently) {
  auto store = open(options());
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->register_segment("orders", 0, seg(0, 9)).ok());
  ASSERT_TRUE(store->list_topics().ok());
  ASSERT_GE(store->open_connections(), 1);
  harness("server-stop");
  harness("server-start");
  auto r = store->get_partition("orders", 0);
  ASSERT_TRUE(r.ok()) << "a dead idle connection must be replaced, not surface as an error: "
                      << r.error().to_string();
  EXPECT_EQ(r->high_watermark, 10u);
  Status st = store->register_segment("orders", 0, seg(10, 19));
  EXPECT_TRUE(st.ok()) << st.error().to_string();
}

TEST_F(PgTest, StatementTimeoutIsReportedAsTimeout) {
  PgOptions o = options();
  o.statement_timeout_ms = 300;
  auto store = open(o);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->register_segment("orders", 0, seg(0, 9)).ok());
  admin("BEGIN");
  admin("LOCK TABLE partitions IN ACCESS EXCLUSIVE MODE");
  auto t0 = Clock::now();
  auto r = store->get_partition("orders", 0);
  auto elapsed = ms_since(t0);
  admin("ROLLBACK");
  ASSERT_FALSE(r.ok()) << "the query should have been blocked by the lock";
  EXPECT_EQ(r.error().code(), Errc::kTimeout) << r.error().to_string();
  EXPECT_NE(r.error().message().find("57014"), std::string::npos) << r.error().message();
  EXPECT_GE(elapsed, 250);
  EXPECT_LT(elapsed, 2000) << "statement_timeout (300 ms) must bound the wait";
  EXPECT_EQ(metric(*registry_, "streamhouse_metadata_errors_total", {{"kind", "get_partition"}}), 1.0);
  auto again = store->get_partition("orders", 0);
  ASSERT_TRUE(again.ok()) << "the store must keep working after a timeout: " << again.error().to_string();
  EXPECT_EQ(again->high_watermark, 10u);
}

TEST_F(PgTest, AHungServerCostsTheClientDeadlineNotABlockedThread) {
  PgOptions o = options();
  o.pool_size = 1;
  o.statement_timeout_ms = 300;
  auto store = open(o);
  ASSERT_TRUE(store);
  ASSERT_TRUE(store->ping().ok());
  // Freeze the backend serving the store's one connection: it can no longer
  // enforce its own statement_timeout, so only the client deadline helps.
  std::string pid = admin_value("SELECT pid FROM pg_stat_activity WHERE usename = 'streamhouse' "
                                "AND backend_type = 'client backend'");
  ASSERT_NE(pid, "<no row>");
  ASSERT_EQ(std::system(("kill -STOP " + pid).c_str()), 0);
  auto t0 = Clock::now();
  auto r = store->list_topics();
  auto elapsed = ms_since(t0);
  EXPECT_EQ(std::system(("kill -CONT " + pid).c_str()), 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kTimeout) << r.error().to_string();
  EXPECT_LT(elapsed, 300 + 2000 + 1000) << "the client deadline (statement timeout + grace) must bound the call";
  EXPECT_EQ(store->open_connections(), 0) << "a connection in an unknown state must be dropped";
  auto again = store->list_topics();
  EXPECT_TRUE(again.ok()) << "a fresh connection must serve the next call: " << again.error().to_string();
}

TEST_F(PgTest, PasswordNeverAppearsInDescribeErrorsOrLogs) {
  LogCapture logs;
  auto store = open(options());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->describe(), "postgres://streamhouse@127.0.0.1:15432/streamhouse");
  EXPECT_EQ(redact_conninfo(url_), "postgres://streamhouse@127.0.0.1:15432/streamhouse");
  EXPECT_EQ(redact_conninfo("host=db.internal port=6543 user=reader password=kv-Secret dbname=meta"),
            "postgres://reader@db.internal:6543/meta");

  std::vector<std::string> messages;
  // Wrong password over TCP (scram): rejected, not retryable, and neither
  // password is echoed.
  PgOptions wrong = options();
  wrong.conninfo = "postgres://streamhouse:Wrong-Passw0rd@127.0.0.1:15432/streamhouse";
  auto bad_store = open(wrong);
  ASSERT_TRUE(bad_store);
  EXPECT_EQ(bad_store->describe().find("Wrong-Passw0rd"), std::string::npos);
  Status p = bad_store->ping();
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), Errc::kPermissionDenied) << p.error().to_string();
  messages.push_back(p.error().to_string());
  Status m = migrate(wrong);
  ASSERT_FALSE(m.ok());
  messages.push_back(m.error().to_string());
  // Malformed URLs that carry a password.
  for (const char* url : {"postgres://streamhouse:Wrong-Passw0rd@127.0.0.1:notaport/streamhouse",
                          "postgres://streamhouse:Wrong-Passw0rd@127.0.0.1:15432/streamhouse?bogus=1",
                          "host=127.0.0.1 password=Wrong-Passw0rd junk"}) {
    PgOptions o = options();
    o.conninfo = url;
    auto s = open_postgres_metadata_store(o, registry_);
    if (!s.ok()) {
      messages.push_back(s.error().to_string());
    } else {
      Status ps = (*s)->ping();
      EXPECT_FALSE(ps.ok()) << url;
      if (!ps.ok()) messages.push_back(ps.error().to_string());
      messages.push_back((*s)->describe());
    }
    Status ms = migrate(o);
    EXPECT_FALSE(ms.ok()) << url;
    if (!ms.ok()) messages.push_back(ms.error().to_string());
    messages.push_back(redact_conninfo(url));
  }
  // Percent-encoded password in a URL.
  PgOptions enc = options();
  enc.conninfo = "postgres://streamhouse:Wr%40ng-Pw@127.0.0.1:15432/streamhouse";
  Status me = migrate(enc);
  ASSERT_FALSE(me.ok());
  messages.push_back(me.error().to_string());

  for (const auto& msg : messages) {
    EXPECT_EQ(msg.find("Wrong-Passw0rd"), std::string::npos) << "password leaked: " << msg;
    EXPECT_EQ(msg.find("Wr@ng-Pw"), std::string::npos) << "password leaked: " << msg;
    EXPECT_EQ(msg.find("Wr%40ng-Pw"), std::string::npos) << "password leaked: " << msg;
    EXPECT_EQ(msg.find(kPassword), std::string::npos) << "password leaked: " << msg;
  }
  std::string log = logs.text();
  EXPECT_EQ(log.find("Wrong-Passw0rd"), std::string::npos) << "password leaked into the log";
  EXPECT_EQ(log.find(kPassword), std::string::npos) << "password leaked into the log";
}

TEST_F(PgTest, StandardPgEnvironmentVariablesFillWhatTheConninfoLeavesOut) {
  struct EnvGuard {
    std::vector<std::string> names;
    ~EnvGuard() {
      for (auto& n : names) unsetenv(n.c_str());
    }
  } guard{{"PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD"}};
  setenv("PGHOST", "127.0.0.1", 1);
  setenv("PGPORT", "15432", 1);
  setenv("PGUSER", "streamhouse", 1);
  setenv("PGDATABASE", "streamhouse", 1);
  setenv("PGPASSWORD", kPassword, 1);
  PgOptions o = options();
  o.conninfo = "";
  auto store = open(o);
  ASSERT_TRUE(store);
  EXPECT_EQ(store->describe(), "postgres://streamhouse@127.0.0.1:15432/streamhouse");
  Status p = store->ping();
  EXPECT_TRUE(p.ok()) << "conninfo from PG* environment failed: " << p.error().to_string();
  o.conninfo = "dbname=streamhouse application_name=sh-test";  // key=value form + env
  auto kv = open(o);
  ASSERT_TRUE(kv);
  EXPECT_TRUE(kv->ping().ok());
  unsetenv("PGPASSWORD");
  auto nopw = open(o);
  ASSERT_TRUE(nopw);
  Status denied = nopw->ping();
  ASSERT_FALSE(denied.ok()) << "without PGPASSWORD the TCP login must be refused";
  EXPECT_EQ(denied.error().code(), Errc::kPermissionDenied) << denied.error().to_string();
}

// ---- the metric counts real queries ----------------------------------------

TEST_F(PgTest, QueryMetricMatchesPgStatStatements) {
  auto store = open(options());
  ASSERT_TRUE(store);
  auto stmt_calls = [&] {
    return std::stod(admin_value(
        "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s "
        "JOIN pg_roles r ON r.oid = s.userid JOIN pg_database d ON d.oid = s.dbid "
        "WHERE r.rolname = 'streamhouse' AND d.datname = current_database()"));
  };
  admin("SELECT pg_stat_statements_reset()");
  ASSERT_EQ(stmt_calls(), 0.0);
  const double before = metric(*registry_, "streamhouse_metadata_queries_total");

  for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(store->register_segment("orders", i % 3, seg(i * 10, i * 10 + 9)).ok());
  ASSERT_TRUE(store->register_segment("orders", 0, seg(0, 9)).ok());                  // duplicate
  ASSERT_FALSE(store->register_segment("orders", 0, seg(5, 15, "x")).ok());            // overlap -> rollback
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->list_topics().ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->get_topic("orders").ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store->get_partition("orders", i % 3).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(store->list_segments("orders", i % 3, i % 2 ? std::optional<uint64_t>(20) : std::nullopt).ok());
  ASSERT_FALSE(store->list_segments("nosuch", 0, std::nullopt).ok());  // two statements
  ASSERT_FALSE(store->get_partition("orders", 9).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->commit_offsets("g", {{"orders", i, 5, "m"}}).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->get_group_offsets("g").ok());
  ASSERT_FALSE(store->get_group_offsets("nope").ok());
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(store->list_groups().ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->ping().ok());

  const double counted = metric(*registry_, "streamhouse_metadata_queries_total") - before;
  const double executed = stmt_calls();
  EXPECT_GT(counted, 60.0) << "the batch sends well over 60 statements";
  EXPECT_EQ(counted, executed) << "streamhouse_metadata_queries_total must equal the statements "
                                  "PostgreSQL executed for the store's role";
  if (counted != executed) {
    auto r = admin("SELECT s.calls, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 70) FROM pg_stat_statements s "
                   "JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = 'streamhouse' ORDER BY 2");
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      ADD_FAILURE() << PQgetvalue(r.get(), i, 0) << "  " << PQgetvalue(r.get(), i, 1);
    }
  }
  EXPECT_EQ(metric(*registry_, "streamhouse_metadata_query_duration_seconds", {{"kind", "ping"}}), 3.0)
      << "one duration sample per statement";
}

}  // namespace
}  // namespace sh::pg
