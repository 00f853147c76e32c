// Issue 4 through the real binary against the real PostgreSQL: `streamhouse
// migrate`, `segment write --metadata postgres://…` and `serve --metadata
// postgres://…` as child processes; a superuser libpq connection plays the
// independent writer (plain SQL INSERTs) and reads PostgreSQL's own counters
// (pg_stat_statements, role `streamhouse`) to count the queries the service
// sends. The database comes from the ctest fixture "pg" (pg.sh); the last
// test stops and restarts it.
#include <fmt/format.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/support/process.h"

namespace sh::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kPassword = "sh-test-Secr3t-pw";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

int64_t ms_between(SteadyClock::time_point a, SteadyClock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}
int64_t ms_since(SteadyClock::time_point t) { return ms_between(t, SteadyClock::now()); }

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Process-wide setup: libcurl's global state before any thread uses it, and
// enough file descriptors for 1,000 concurrent connections (the server, a
// child of this process, inherits the limit).
class ProcessEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    ASSERT_EQ(curl_global_init(CURL_GLOBAL_ALL), CURLE_OK);
    rlimit rl{};
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 8192 && rl.rlim_max > rl.rlim_cur) {
      rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, 65536);
      setrlimit(RLIMIT_NOFILE, &rl);
    }
  }
  void TearDown() override { curl_global_cleanup(); }
};
[[maybe_unused]] ::testing::Environment* const kProcessEnvironment =
    ::testing::AddGlobalTestEnvironment(new ProcessEnvironment);

// ---- libpq as the independent writer and as the statistics reader ---------

struct PgConnCloser {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PgResultClearer {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnCloser>;
using PgResultPtr = std::unique_ptr<PGresult, PgResultClearer>;

using Param = std::optional<std::string>;
using Rows = std::vector<std::vector<std::optional<std::string>>>;

// A superuser connection (SH_TEST_PG_ADMIN, unix socket). Every failure is a
// test failure naming the statement.
class Sql {
 public:
  explicit Sql(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str())) {
    if (PQstatus(conn_.get()) != CONNECTION_OK) {
      ADD_FAILURE() << "cannot connect to PostgreSQL as the superuser (" << conninfo
                    << "): " << PQerrorMessage(conn_.get());
      return;
    }
    PQsetNoticeProcessor(conn_.get(), [](void*, const char*) {}, nullptr);
  }

  bool ok() const { return PQstatus(conn_.get()) == CONNECTION_OK; }

  Rows query(const std::string& sql, const std::vector<Param>& params = {}) {
    Rows rows;
    if (!ok()) {
      ADD_FAILURE() << "no superuser connection for: " << sql;
      return rows;
    }
    std::vector<const char*> values;
    for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
    PgResultPtr r(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0));
    const ExecStatusType st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      ADD_FAILURE() << "SQL failed: " << sql << "\n  " << PQresultErrorMessage(r.get());
      return rows;
    }
    for (int i = 0; i < PQntuples(r.get()); ++i) {
      std::vector<std::optional<std::string>> row;
      for (int c = 0; c < PQnfields(r.get()); ++c) {
        if (PQgetisnull(r.get(), i, c)) {
          row.emplace_back(std::nullopt);
        } else {
          row.emplace_back(std::string(PQgetvalue(r.get(), i, c),
                                       static_cast<size_t>(PQgetlength(r.get(), i, c))));
        }
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  void exec(const std::string& sql, const std::vector<Param>& params = {}) { (void)query(sql, params); }

  // First column of the single row as an integer (-1 and a failure otherwise).
  int64_t scalar(const std::string& sql, const std::vector<Param>& params = {}) {
    Rows rows = query(sql, params);
    if (rows.size() != 1 || rows[0].empty() || !rows[0][0]) {
      ADD_FAILURE() << "expected one non-NULL value from: " << sql;
      return -1;
    }
    return std::stoll(*rows[0][0]);
  }

 private:
  PgConnPtr conn_;
};

// Statements PostgreSQL executed for role `streamhouse` in database
// `streamhouse` since the server started (pg_stat_statements; BEGIN/COMMIT
// included, track_utility is on). Only the service and the streamhouse tools
// use that role; this reader and the SQL writer are the superuser. The
// readiness prober's `SELECT 1` (one every 2 s whatever the traffic, behind
// /readyz) is not counted: these counts are what reads and polls cost.
int64_t streamhouse_queries(Sql& admin) {
  return admin.scalar(
      "SELECT coalesce(sum(s.calls), 0)::bigint FROM pg_stat_statements s "
      "JOIN pg_roles r ON r.oid = s.userid JOIN pg_database d ON d.oid = s.dbid "
      "WHERE r.rolname = 'streamhouse' AND d.datname = 'streamhouse' "
      "AND s.query NOT IN ('SELECT 1', 'SELECT $1')");  // the ping, normalized or not
}

// ---- records and the binary ------------------------------------------------

struct Rec {
  uint64_t offset = 0;
  int64_t timestamp = 0;
  std::string key;
  std::string value;
  std::string source;  // value of header "src"
};

// n records from `first`, distinguishable by tag and offset.
std::vector<Rec> make_records(const std::string& tag, uint64_t first, int n) {
  std::vector<Rec> out;
  for (int i = 0; i < n; ++i) {
    const uint64_t off = first + static_cast<uint64_t>(i);
    Rec r;
    r.offset = off;
    r.timestamp = 1'700'000'000'000 + static_cast<int64_t>(off) * 10;
    r.key = tag + fmt::format("-k{}", off);
    r.value = json{{"tag", tag}, {"n", off}, {"text", "caf\u00e9 \"q\" " + std::string(off % 7, 'x')}}.dump();
    r.source = tag;
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<Rec> concat(std::initializer_list<std::vector<Rec>> parts) {
  std::vector<Rec> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::string jsonl(const std::vector<Rec>& recs, bool with_offsets) {
  std::ostringstream s;
  for (const Rec& r : recs) {
    json line{{"timestamp", r.timestamp}, {"key", r.key}, {"value", r.value}, {"headers", {{"src", r.source}}}};
    if (with_offsets) line["offset"] = r.offset;
    s << line.dump() << "\n";
  }
  return s.str();
}

CommandResult streamhouse(std::vector<std::string> args, const std::string& input = "",
                          const std::map<std::string, std::string>& extra_env = {}) {
  args.insert(args.begin(), streamhouse_binary());
  return run_command(args, input, extra_env);
}

// Keep-alive HTTP client for hot loops (one per thread).
class HttpClient {
 public:
  HttpResult get(const std::string& url, long timeout_ms = 10000) {
    HttpResult r;
    CURL* c = handle_.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &HttpClient::append);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) r.error = curl_easy_strerror(rc);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    return r;
  }

 private:
  static size_t append(char* p, size_t size, size_t n, void* ud) {
    static_cast<std::string*>(ud)->append(p, size * n);
    return size * n;
  }
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> handle_{curl_easy_init(), &curl_easy_cleanup};
};

// Sum of the samples of a Prometheus text family whose line contains `labels`.
double prom_sum(const std::string& text, const std::string& name, const std::string& labels = "") {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
    const char next = line[name.size()];
    if (next != '{' && next != ' ') continue;
    if (!labels.empty() && line.find(labels) == std::string::npos) continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

double server_metric(const ServerProcess& s, const std::string& name, const std::string& labels = "") {
  auto r = http_get(s.url("/metrics"));
  EXPECT_EQ(r.status, 200) << "GET /metrics: " << r.error << r.body;
  return prom_sum(r.body, name, labels);
}

// streamhouse_metadata_queries_total without the readiness prober's pings.
double metadata_queries(const ServerProcess& s) {
  return server_metric(s, "streamhouse_metadata_queries_total") -
         server_metric(s, "streamhouse_metadata_queries_total", "kind=\"ping\"");
}

// Waits until the server reports at least `n` waiting long-polls.
bool wait_for_waiters(const ServerProcess& s, double n, std::chrono::milliseconds timeout) {
  const auto until = SteadyClock::now() + timeout;
  while (SteadyClock::now() < until) {
    if (server_metric(s, "streamhouse_long_poll_waiters") >= n) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

// Waits until the server reports no waiting long-poll.
bool wait_for_no_waiters(const ServerProcess& s, std::chrono::milliseconds timeout) {
  const auto until = SteadyClock::now() + timeout;
  while (SteadyClock::now() < until) {
    if (server_metric(s, "streamhouse_long_poll_waiters") == 0) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

json parse_json(const HttpResult& r, const std::string& what) {
  json j = json::parse(r.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << what << ": body is not JSON: " << r.body.substr(0, 500)
                                 << " (transport error: '" << r.error << "')";
  return j;
}

// Every record of [expected.front().offset, expected.back().offset] read page
// by page through GET records equals `expected`, field by field.
::testing::AssertionResult served_exactly(const ServerProcess& s, const std::string& topic, int partition,
                                          const std::vector<Rec>& expected) {
  if (expected.empty()) return ::testing::AssertionFailure() << "nothing expected";
  const std::string base = "/topics/" + topic + "/partitions/" + std::to_string(partition) + "/records";
  std::vector<json> got;
  uint64_t next = expected.front().offset;
  const uint64_t end = expected.back().offset + 1;
  for (int page = 0; page < 10000 && next < end; ++page) {
    auto r = http_get(s.url(base + "?offset=" + std::to_string(next) + "&max_records=97"));
    if (r.status != 200) {
      return ::testing::AssertionFailure() << "GET " << base << "?offset=" << next << " → " << r.status
                                           << " " << r.body << r.error;
    }
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded() || !j["records"].is_array()) {
      return ::testing::AssertionFailure() << "bad records body: " << r.body.substr(0, 300);
    }
    if (j["records"].empty()) break;
    for (auto& rec : j["records"]) got.push_back(rec);
    next = j["next_offset"].get<uint64_t>();
  }
  if (got.size() != expected.size()) {
    return ::testing::AssertionFailure() << topic << "/" << partition << ": served " << got.size()
                                         << " records from offset " << expected.front().offset
                                         << ", expected " << expected.size();
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    const Rec& e = expected[i];
    const json& g = got[i];
    const json want_headers = json::array({json{{"key", "src"}, {"value", e.source}}});
    if (g["offset"] != e.offset || g["timestamp"] != e.timestamp || g["key"] != e.key ||
        g["value"] != e.value || g["headers"] != want_headers) {
      return ::testing::AssertionFailure()
             << topic << "/" << partition << " record #" << i << " differs: served " << g.dump()
             << ", expected offset " << e.offset << " ts " << e.timestamp << " key " << e.key
             << " value " << e.value << " header src=" << e.source;
    }
  }
  return ::testing::AssertionSuccess();
}

// Stops PostgreSQL (pg.sh server-stop) for the guard's lifetime; starts it
// again on destruction even when the test fails.
class DatabaseDown {
 public:
  explicit DatabaseDown(std::string harness) : harness_(std::move(harness)) {
    auto r = run_command({harness_, "server-stop"});
    down_ = true;  // even a half-failed stop must be undone
    EXPECT_EQ(r.exit_code, 0) << "pg.sh server-stop failed:\n" << r.out << r.err;
  }
  // Returns false (and fails the test) if the server does not come back.
  bool restart() {
    if (!down_) return true;
    down_ = false;
    auto r = run_command({harness_, "server-start"});
    EXPECT_EQ(r.exit_code, 0) << "pg.sh server-start failed:\n" << r.out << r.err;
    return r.exit_code == 0;
  }
  ~DatabaseDown() { restart(); }
  DatabaseDown(const DatabaseDown&) = delete;
  DatabaseDown& operator=(const DatabaseDown&) = delete;

 private:
  std::string harness_;
  bool down_ = false;
};

// ---- the fixture -------------------------------------------------------------

class PgServe : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = env("SH_TEST_PG_URL");
    admin_info_ = env("SH_TEST_PG_ADMIN");
    harness_ = env("SH_TEST_PG_SH");
    ASSERT_FALSE(url_.empty() || admin_info_.empty() || harness_.empty())
        << "SH_TEST_PG_URL / SH_TEST_PG_ADMIN / SH_TEST_PG_SH not set: run through ctest "
           "(fixture pg), or start tests/integration/postgres/pg.sh and export them";
    ASSERT_TRUE(fs::exists(streamhouse_binary())) << "build the streamhouse target first";
    admin_ = std::make_unique<Sql>(admin_info_);
    ASSERT_TRUE(admin_->ok());
    // Every test starts from a database without the schema.
    admin_->exec("DROP TABLE IF EXISTS consumer_offsets, consumer_groups, segments, partitions, topics, "
                 "schema_migrations CASCADE");
    ASSERT_FALSE(HasFailure());
    store_ = "file://" + data_.path();
  }

  void migrate() {
    auto r = streamhouse({"migrate", "--metadata", url_});
    ASSERT_EQ(r.exit_code, 0) << "streamhouse migrate failed:\n" << r.out << r.err;
  }

  // `segment write --metadata postgres://…` into the served store.
  void write_pg(const std::string& topic, int partition, const std::vector<Rec>& recs,
                std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"segment", "write", "--store", store_, "--metadata", url_,
                                     "--topic", topic, "--partition", std::to_string(partition)};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = streamhouse(args, jsonl(recs, /*with_offsets=*/false));
    ASSERT_EQ(r.exit_code, 0) << "segment write --metadata postgres failed:\n" << r.out << r.err;
  }

  // The independent writer: makes one segment object of `recs` with
  // `segment write` into a scratch store (no database), uploads it into the
  // served store under a key of its own choosing, then registers it with
  // plain SQL (topic, partition, segment rows; partitions.high_watermark).
  void write_by_sql(const std::string& topic, int partition, const std::vector<Rec>& recs,
                    const std::string& key) {
    ASSERT_FALSE(recs.empty());
    TempDir scratch;
    auto r = streamhouse({"segment", "write", "--store", "file://" + scratch.path(), "--topic", topic,
                          "--partition", std::to_string(partition)},
                         jsonl(recs, /*with_offsets=*/true));
    ASSERT_EQ(r.exit_code, 0) << "segment write into a scratch store failed:\n" << r.out << r.err;
    std::vector<fs::path> objects;
    for (const auto& e : fs::recursive_directory_iterator(scratch.path())) {
      if (e.is_regular_file() && e.path().filename().string().rfind("seg_", 0) == 0) objects.push_back(e.path());
    }
    ASSERT_EQ(objects.size(), 1u) << "expected one segment object in the scratch store";
    const fs::path dest = fs::path(data_.path()) / key;
    fs::create_directories(dest.parent_path());
    fs::copy_file(objects[0], dest, fs::copy_options::overwrite_existing);
    const auto size = static_cast<int64_t>(fs::file_size(dest));

    int64_t min_ts = recs[0].timestamp, max_ts = recs[0].timestamp;
    for (const Rec& x : recs) {
      min_ts = std::min(min_ts, x.timestamp);
      max_ts = std::max(max_ts, x.timestamp);
    }
    const std::string p = std::to_string(partition);
    const std::string base = std::to_string(recs.front().offset);
    const std::string end = std::to_string(recs.back().offset);
    Sql& w = *admin_;
    w.exec("BEGIN");
    w.exec("INSERT INTO topics (name, partition_count) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
           {topic, std::to_string(partition + 1)});
    w.exec("UPDATE topics SET partition_count = greatest(partition_count, $2::int) WHERE name = $1",
           {topic, std::to_string(partition + 1)});
    w.exec("INSERT INTO partitions (topic, partition_id, log_start_offset) VALUES ($1, $2, $3) "
           "ON CONFLICT (topic, partition_id) DO NOTHING",
           {topic, p, base});
    w.exec("INSERT INTO segments (id, topic, partition_id, base_offset, end_offset, record_count, "
           "size_bytes, s3_bucket, s3_key, min_timestamp, max_timestamp) "
           "VALUES ($1, $2, $3, $4, $5, $6, $7, '', $8, $9, $10)",
           {"independent:" + key, topic, p, base, end, std::to_string(recs.size()), std::to_string(size), key,
            std::to_string(min_ts), std::to_string(max_ts)});
    w.exec("UPDATE partitions SET high_watermark = greatest(high_watermark, $3::bigint + 1) "
           "WHERE topic = $1 AND partition_id = $2::int",
           {topic, p, end});
    w.exec("COMMIT");
    ASSERT_FALSE(HasFailure()) << "registering " << key << " by SQL failed";
  }

  std::unique_ptr<ServerProcess> serve(std::vector<std::string> extra,
                                       std::map<std::string, std::string> extra_env = {},
                                       std::string metadata = "") {
    std::vector<std::string> args = {"--store", store_, "--metadata", metadata.empty() ? url_ : metadata};
    args.insert(args.end(), extra.begin(), extra.end());
    auto s = std::make_unique<ServerProcess>(args, extra_env);
    EXPECT_GT(s->port(), 0) << "streamhouse serve did not start";
    return s;
  }

  std::string url_, admin_info_, harness_, store_;
  std::unique_ptr<Sql> admin_;
  TempDir data_;
};

std::string records_path(const std::string& topic, int partition, const std::string& query) {
  return "/topics/" + topic + "/partitions/" + std::to_string(partition) + "/records" +
         (query.empty() ? "" : "?" + query);
}

// ---- 1. migrations -----------------------------------------------------------

TEST_F(PgServe, MigrateTwiceThenServeMigrateOnMigratedAndOnEmptyDatabase) {
  const std::string tables =
      "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN "
      "('topics', 'partitions', 'segments', 'consumer_groups', 'consumer_offsets', 'schema_migrations')";
  ASSERT_EQ(admin_->scalar(tables), 0) << "SetUp should have dropped the schema";

  auto first = streamhouse({"migrate", "--metadata", url_});
  ASSERT_EQ(first.exit_code, 0) << "first migrate:\n" << first.out << first.err;
  EXPECT_NE(first.out.find("migrations applied"), std::string::npos) << first.out;
  EXPECT_EQ(admin_->scalar(tables), 6) << "migrate must create the five contract tables + schema_migrations";
  EXPECT_EQ(admin_->scalar("SELECT count(*) FROM pg_indexes WHERE tablename = 'segments' AND "
                           "indexdef LIKE '%(topic, partition_id, base_offset)%'"),
            1)
      << "segments needs an index on (topic, partition_id, base_offset)";
  const Rows versions = admin_->query("SELECT version, applied_at::text FROM schema_migrations ORDER BY version");
  ASSERT_FALSE(versions.empty()) << "schema_migrations records no version";

  auto second = streamhouse({"migrate", "--metadata", url_});
  EXPECT_EQ(second.exit_code, 0) << "second migrate (must be a no-op):\n" << second.out << second.err;
  EXPECT_EQ(admin_->query("SELECT version, applied_at::text FROM schema_migrations ORDER BY version"), versions)
      << "a second migrate re-applied or re-recorded a version";

  // Data survives another migrate, and serve --migrate starts on the migrated database.
  const auto recs = make_records("mig", 0, 25);
  write_pg("mig", 0, recs);
  auto third = streamhouse({"migrate", "--metadata", url_});
  EXPECT_EQ(third.exit_code, 0) << third.out << third.err;
  EXPECT_EQ(admin_->scalar("SELECT count(*) FROM segments WHERE topic = 'mig'"), 1)
      << "migrate touched registered segments";
  {
    auto s = serve({"--migrate"});
    ASSERT_GT(s->port(), 0);
    auto ready = http_get(s->url("/readyz"));
    EXPECT_EQ(ready.status, 200) << "serve --migrate on a migrated database is not ready: " << ready.body;
    EXPECT_TRUE(served_exactly(*s, "mig", 0, recs));
    EXPECT_EQ(admin_->query("SELECT version, applied_at::text FROM schema_migrations ORDER BY version"), versions)
        << "serve --migrate re-applied a version";
  }

  // serve --migrate on a database without the schema creates it.
  admin_->exec("DROP TABLE consumer_offsets, consumer_groups, segments, partitions, topics, schema_migrations");
  auto s = serve({"--migrate"});
  ASSERT_GT(s->port(), 0);
  EXPECT_EQ(admin_->scalar(tables), 6) << "serve --migrate did not create the schema";
  auto topics = http_get(s->url("/topics"));
  EXPECT_EQ(topics.status, 200) << topics.body;
  EXPECT_EQ(parse_json(topics, "/topics")["topics"], json::array()) << topics.body;
  EXPECT_EQ(http_get(s->url("/readyz")).status, 200);
}

// ---- 2. segments from the tool and from plain SQL ---------------------------

TEST_F(PgServe, SegmentsFromSegmentWriteAndFromPlainSqlAreServedRecordExact) {
  migrate();
  // mixed/0: three tool segments, one SQL segment, then the tool again (it
  // must continue at the watermark the SQL writer set).
  const auto tool_a = make_records("toolA", 0, 250);
  write_pg("mixed", 0, tool_a, {"--segment-records", "100", "--block-bytes", "2048"});
  const auto sql_a = make_records("sqlA", 250, 80);
  write_by_sql("mixed", 0, sql_a, "independent/mixed-0-250.seg");
  const auto tool_b = make_records("toolB", 330, 30);
  write_pg("mixed", 0, tool_b);
  EXPECT_EQ(admin_->scalar("SELECT high_watermark FROM partitions WHERE topic = 'mixed' AND partition_id = 0"), 360);
  EXPECT_EQ(admin_->scalar("SELECT min(base_offset) FROM segments WHERE topic = 'mixed' AND partition_id = 0 "
                           "AND base_offset >= 330"),
            330)
      << "segment write did not continue at the high watermark the SQL writer set";
  const auto mixed1 = make_records("toolC", 0, 40);
  write_pg("mixed", 1, mixed1);
  // foreign: a topic only the SQL writer knows; partition 1 starts at 1000.
  const auto f0 = make_records("sqlF0", 0, 60);
  write_by_sql("foreign", 0, f0, "elsewhere/f0/a.seg");
  const auto f1 = make_records("sqlF1", 1000, 20);
  write_by_sql("foreign", 1, f1, "elsewhere/f1/b.seg");
  ASSERT_FALSE(HasFailure());

  auto s = serve({"--index-ttl-ms", "60000", "--long-poll-interval-ms", "200"});
  ASSERT_GT(s->port(), 0);
  json topics = parse_json(http_get(s->url("/topics")), "/topics");
  EXPECT_EQ(topics["topics"], json::parse(R"([{"name":"foreign","partitions":2},{"name":"mixed","partitions":2}])"))
      << topics.dump();
  json fp = parse_json(http_get(s->url("/topics/foreign/partitions/1")), "partition");
  EXPECT_EQ(fp["log_start_offset"], 1000) << fp.dump();
  EXPECT_EQ(fp["high_watermark"], 1020) << fp.dump();
  json segs = parse_json(http_get(s->url("/topics/mixed/partitions/0/segments")), "segments");
  ASSERT_EQ(segs["segments"].size(), 5u) << segs.dump();
  EXPECT_EQ(segs["segments"][3]["key"], "independent/mixed-0-250.seg") << segs.dump();
  EXPECT_EQ(segs["segments"][3]["base_offset"], 250);
  EXPECT_EQ(segs["segments"][3]["last_offset"], 329);

  EXPECT_TRUE(served_exactly(*s, "mixed", 0, concat({tool_a, sql_a, tool_b})));
  EXPECT_TRUE(served_exactly(*s, "mixed", 1, mixed1));
  EXPECT_TRUE(served_exactly(*s, "foreign", 0, f0));
  EXPECT_TRUE(served_exactly(*s, "foreign", 1, f1));
  auto below = http_get(s->url(records_path("foreign", 1, "offset=999")));
  EXPECT_EQ(below.status, 416) << "an offset below the SQL-set log start: " << below.body;

  // While serving: the SQL writer and the tool extend mixed/1; a reader at the
  // old end sees the new records without a restart (TTL is 60 s: the read
  // past the known end must trigger the refresh).
  const auto sql_b = make_records("sqlB", 40, 15);
  write_by_sql("mixed", 1, sql_b, "independent/mixed-1-40.seg");
  const auto tool_d = make_records("toolD", 55, 10);
  write_pg("mixed", 1, tool_d);
  const auto t0 = SteadyClock::now();
  uint64_t hwm = 0;
  while (ms_since(t0) < 3000) {
    json j = parse_json(http_get(s->url(records_path("mixed", 1, "offset=40&max_records=1"))), "tail read");
    if (j.contains("high_watermark") && j["high_watermark"] == 65) {
      hwm = 65;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(hwm, 65u) << "segments registered while serving were not picked up within 3 s";
  EXPECT_TRUE(served_exactly(*s, "mixed", 1, concat({mixed1, sql_b, tool_d})));
}

// ---- 3. steady state costs the database nothing ----------------------------

class SteadyState : public PgServe {
 protected:
  static constexpr int kPartitions = 4;
  static constexpr int kPerPartition = 1000;

  void write_partitions() {
    migrate();
    for (int p = 0; p < kPartitions; ++p) {
      write_pg("steady", p, make_records(fmt::format("st{}", p), 0, kPerPartition),
               {"--segment-records", "100", "--block-bytes", "4096"});
    }
  }

  // `reads` GETs of records below the high watermark on `threads` threads
  // (random partition, offset, max_records); every answer must start at the
  // offset asked for. Stops early at `until` if given. Returns reads made.
  int64_t read_storm(const ServerProcess& s, int reads, int threads,
                     std::optional<SteadyClock::time_point> until = std::nullopt) {
    std::atomic<int64_t> done{0};
    std::atomic<int> bad{0};
    std::mutex first_bad_mu;
    std::string first_bad;
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        HttpClient c;
        uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(t + 1);
        for (int i = t; i < reads; i += threads) {
          if (until && SteadyClock::now() >= *until) break;
          x ^= x << 13, x ^= x >> 7, x ^= x << 17;
          const int p = static_cast<int>(x % kPartitions);
          const uint64_t off = (x >> 8) % kPerPartition;
          const int max = 1 + static_cast<int>((x >> 20) % 20);
          auto r = c.get(s.url(records_path("steady", p, "offset=" + std::to_string(off) +
                                                             fmt::format("&max_records={}", max))));
          json j = json::parse(r.body, nullptr, false);
          const std::string want_key = "st" + std::to_string(p) + fmt::format("-k{}", off);
          if (r.status != 200 || j.is_discarded() || j["records"].empty() ||
              j["records"][0]["offset"] != off || j["records"][0]["key"] != want_key) {
            if (bad.fetch_add(1) == 0) {
              std::lock_guard lock(first_bad_mu);
              first_bad = "steady/" + std::to_string(p) + " offset " + std::to_string(off) + " → " +
                          std::to_string(r.status) + " " + r.body.substr(0, 300) + r.error;
            }
          }
          done.fetch_add(1);
        }
      });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(bad.load(), 0) << "reads that did not return the record asked for; first: " << first_bad;
    return done.load();
  }
};

TEST_F(SteadyState, ThousandsOfReadsBelowTheHighWatermarkCostZeroQueries) {
  write_partitions();
  ASSERT_FALSE(HasFailure());
  auto s = serve({"--index-ttl-ms", "60000"});
  ASSERT_GT(s->port(), 0);

  // Warm-up: the first read of each partition loads its index. It must show
  // up in PostgreSQL's statistics, or the zero below would prove nothing.
  const int64_t before_warmup = streamhouse_queries(*admin_);
  for (int p = 0; p < kPartitions; ++p) {
    auto r = http_get(s->url(records_path("steady", p, "offset=0&max_records=1000")));
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(parse_json(r, "warm-up")["records"].size(), static_cast<size_t>(kPerPartition));
  }
  const int64_t warmup_queries = streamhouse_queries(*admin_) - before_warmup;
  EXPECT_GE(warmup_queries, kPartitions)
      << "loading " << kPartitions << " partition indexes left no trace in pg_stat_statements: "
      << "the measurement below cannot be trusted";

  const int64_t pg_before = streamhouse_queries(*admin_);
  const double metric_before = metadata_queries(*s);
  const auto t0 = SteadyClock::now();
  const int64_t reads = read_storm(*s, 3000, 4);
  const int64_t elapsed = ms_since(t0);
  const int64_t pg_queries = streamhouse_queries(*admin_) - pg_before;
  const double metric_queries = metadata_queries(*s) - metric_before;

  EXPECT_EQ(reads, 3000);
  EXPECT_EQ(pg_queries, 0) << reads << " reads below the high watermark in " << elapsed
                           << " ms sent " << pg_queries
                           << " statements to PostgreSQL (pg_stat_statements, role streamhouse); "
                              "steady-state reads must cost none";
  EXPECT_EQ(metric_queries, 0) << "streamhouse_metadata_queries_total grew by " << metric_queries;
  std::cout << "[steady] warm-up: " << warmup_queries << " queries; " << reads << " reads in " << elapsed
            << " ms: " << pg_queries << " queries\n";
}

TEST_F(SteadyState, IndexTtlBoundsQueriesPerPartitionNotPerRead) {
  write_partitions();
  ASSERT_FALSE(HasFailure());
  constexpr int64_t kTtlMs = 1000;
  constexpr int64_t kWindowMs = 3000;
  auto s = serve({"--index-ttl-ms", std::to_string(kTtlMs)});
  ASSERT_GT(s->port(), 0);
  for (int p = 0; p < kPartitions; ++p) {
    ASSERT_EQ(http_get(s->url(records_path("steady", p, "offset=0"))).status, 200);
  }

  const int64_t pg_before = streamhouse_queries(*admin_);
  const double metric_before = metadata_queries(*s);
  const double refreshes_before = server_metric(*s, "streamhouse_segment_index_refreshes_total");
  const auto t0 = SteadyClock::now();
  const int64_t reads = read_storm(*s, 1'000'000, 4, t0 + std::chrono::milliseconds(kWindowMs));
  const int64_t elapsed = ms_since(t0);
  const int64_t pg_queries = streamhouse_queries(*admin_) - pg_before;
  const double metric_queries = metadata_queries(*s) - metric_before;
  // Not asserted: this counter also counts callers that found a refresh just
  // made by a concurrent caller (no query), so it runs above the query count.
  const double refreshes = server_metric(*s, "streamhouse_segment_index_refreshes_total") - refreshes_before;

  // At most one incremental refresh (one statement) per partition per TTL,
  // plus one at each window edge.
  const int64_t bound = kPartitions * (elapsed / kTtlMs + 2);
  EXPECT_GE(reads, 500) << "too few reads to tell per-read from per-TTL querying";
  EXPECT_LE(pg_queries, bound) << reads << " reads over " << elapsed << " ms with a " << kTtlMs
                               << " ms index TTL sent " << pg_queries << " statements; at most " << bound
                               << " (~1 per TTL per partition) expected";
  EXPECT_GE(pg_queries, kPartitions) << "no TTL refresh reached PostgreSQL in " << elapsed
                                     << " ms although the TTL is " << kTtlMs << " ms";
  EXPECT_NEAR(metric_queries, static_cast<double>(pg_queries), 1.0)
      << "streamhouse_metadata_queries_total disagrees with PostgreSQL's own count of the service's statements";
  std::cout << "[ttl] " << reads << " reads in " << elapsed << " ms, TTL " << kTtlMs << " ms, " << kPartitions
            << " partitions: " << pg_queries << " queries (metric: " << metric_queries << "), "
            << refreshes << " on streamhouse_segment_index_refreshes_total\n";
}

// ---- 4. consumer groups -----------------------------------------------------

TEST_F(PgServe, ConsumerGroupsCommitResumeLagAndErrors) {
  migrate();
  write_pg("cg", 0, make_records("cg0", 0, 100), {"--segment-records", "30"});
  write_pg("cg", 1, make_records("cg1", 0, 50));
  ASSERT_FALSE(HasFailure());
  auto s = serve({"--index-ttl-ms", "60000"});
  ASSERT_GT(s->port(), 0);
  const std::string offsets_url = s->url("/consumer-groups/billing/offsets");
  auto commit = [&](const std::string& group, const json& offsets) {
    return http_request("POST", s->url("/consumer-groups/" + group + "/offsets"),
                        json{{"offsets", offsets}}.dump(), {"Content-Type: application/json"});
  };

  auto none = http_get(offsets_url);
  EXPECT_EQ(none.status, 404) << "offsets of a group that never committed: " << none.body;
  EXPECT_EQ(parse_json(none, "unknown group")["error_code"], 40403);

  const int64_t before_ms = wall_ms();
  auto c1 = commit("billing", json::array({{{"topic", "cg"}, {"partition", 0}, {"offset", 40}, {"metadata", "m-40"}}}));
  EXPECT_EQ(c1.status, 204) << c1.body;
  EXPECT_TRUE(c1.body.empty()) << "204 with a body: " << c1.body;

  Rows row = admin_->query(
      "SELECT committed_offset::text, metadata FROM consumer_offsets "
      "WHERE group_id = 'billing' AND topic = 'cg' AND partition_id = 0");
  ASSERT_EQ(row.size(), 1u) << "the commit is not in consumer_offsets";
  EXPECT_EQ(row[0][0], std::optional<std::string>("40"));
  EXPECT_EQ(row[0][1], std::optional<std::string>("m-40"));
  EXPECT_EQ(admin_->scalar("SELECT count(*) FROM consumer_groups WHERE group_id = 'billing'"), 1);

  json groups = parse_json(http_get(s->url("/consumer-groups")), "groups");
  EXPECT_EQ(groups["consumer_groups"], json::array({"billing"})) << groups.dump();

  json got = parse_json(http_get(offsets_url), "offsets");
  ASSERT_EQ(got["offsets"].size(), 1u) << got.dump();
  const json& o = got["offsets"][0];
  EXPECT_EQ(o["topic"], "cg");
  EXPECT_EQ(o["partition"], 0);
  EXPECT_EQ(o["committed_offset"], 40);
  EXPECT_EQ(o["metadata"], "m-40");
  EXPECT_EQ(o["high_watermark"], 100);
  EXPECT_EQ(o["lag"], 60) << "lag = high watermark - committed offset";
  ASSERT_TRUE(o["committed_at_ms"].is_number_integer()) << o.dump();
  const int64_t committed_at = o["committed_at_ms"].get<int64_t>();
  EXPECT_GE(committed_at, before_ms - 5000) << "committed_at_ms is not the commit time";
  EXPECT_LE(committed_at, wall_ms() + 5000) << "committed_at_ms is not the commit time";

  // Resume at the committed offset.
  json resumed = parse_json(http_get(s->url(records_path("cg", 0, "group=billing&max_records=5"))), "resume");
  ASSERT_EQ(resumed["records"].size(), 5u) << resumed.dump();
  EXPECT_EQ(resumed["records"][0]["offset"], 40) << "group read did not resume at the committed offset";
  EXPECT_EQ(resumed["records"][0]["key"], "cg0-k40");
  EXPECT_EQ(resumed["next_offset"], 45);

  // No commit for partition 1: auto_offset_reset decides (default latest).
  json def = parse_json(http_get(s->url(records_path("cg", 1, "group=billing"))), "default reset");
  EXPECT_TRUE(def["records"].empty()) << "default reset should be latest: " << def.dump();
  EXPECT_EQ(def["next_offset"], 50);
  json earliest = parse_json(
      http_get(s->url(records_path("cg", 1, "group=billing&auto_offset_reset=earliest&max_records=3"))), "earliest");
  ASSERT_FALSE(earliest["records"].empty()) << earliest.dump();
  EXPECT_EQ(earliest["records"][0]["offset"], 0);
  json latest = parse_json(http_get(s->url(records_path("cg", 1, "group=billing&auto_offset_reset=latest"))), "latest");
  EXPECT_TRUE(latest["records"].empty()) << latest.dump();
  EXPECT_EQ(latest["next_offset"], 50);
  json fresh = parse_json(
      http_get(s->url(records_path("cg", 0, "group=newcomers&auto_offset_reset=earliest&max_records=1"))), "new group");
  ASSERT_EQ(fresh["records"].size(), 1u) << fresh.dump();
  EXPECT_EQ(fresh["records"][0]["offset"], 0);

  // Errors: above the high watermark, unknown partition and topic. Nothing changes.
  auto above = commit("billing", json::array({{{"topic", "cg"}, {"partition", 0}, {"offset", 101}}}));
  EXPECT_EQ(above.status, 416) << above.body;
  json aj = parse_json(above, "commit above hwm");
  EXPECT_EQ(aj["error_code"], 41600);
  EXPECT_EQ(aj["high_watermark"], 100) << above.body;
  auto unknown_p = commit("billing", json::array({{{"topic", "cg"}, {"partition", 7}, {"offset", 0}}}));
  EXPECT_EQ(unknown_p.status, 404) << unknown_p.body;
  EXPECT_EQ(parse_json(unknown_p, "unknown partition")["error_code"], 40402);
  auto unknown_t = commit("billing", json::array({{{"topic", "nope"}, {"partition", 0}, {"offset", 0}}}));
  EXPECT_EQ(unknown_t.status, 404) << unknown_t.body;
  EXPECT_EQ(parse_json(unknown_t, "unknown topic")["error_code"], 40401);
  EXPECT_EQ(admin_->scalar("SELECT committed_offset FROM consumer_offsets WHERE group_id = 'billing' "
                           "AND topic = 'cg' AND partition_id = 0"),
            40)
      << "a refused commit changed the stored offset";
  EXPECT_EQ(admin_->scalar("SELECT count(*) FROM consumer_offsets WHERE group_id = 'billing'"), 1);

  // Committing the high watermark itself is allowed (consumed everything): lag 0.
  auto at_end = commit("billing", json::array({{{"topic", "cg"}, {"partition", 0}, {"offset", 100}},
                                               {{"topic", "cg"}, {"partition", 1}, {"offset", 10}}}));
  EXPECT_EQ(at_end.status, 204) << at_end.body;
  json after = parse_json(http_get(offsets_url), "offsets after");
  ASSERT_EQ(after["offsets"].size(), 2u) << after.dump();
  EXPECT_EQ(after["offsets"][0]["lag"], 0) << after.dump();
  EXPECT_EQ(after["offsets"][1]["lag"], 40) << after.dump();
  EXPECT_GE(after["offsets"][0]["committed_at_ms"].get<int64_t>(), committed_at);
  EXPECT_EQ(admin_->scalar("SELECT committed_offset FROM consumer_offsets WHERE group_id = 'billing' "
                           "AND topic = 'cg' AND partition_id = 1"),
            10);
}

// Issue 4: "A gauge exposes lag per group and partition."
TEST_F(PgServe, GroupPollsAndReadsOfUnknownTopicsCostNoStatementPerRequest) {
  migrate();
  write_pg("gp", 0, make_records("gp0", 0, 100));
  ASSERT_FALSE(HasFailure());
  auto s = serve({"--index-ttl-ms", "60000"});
  ASSERT_GT(s->port(), 0);
  auto commit = [&](uint64_t offset) {
    return http_request("POST", s->url("/consumer-groups/pollers/offsets"),
                        json{{"offsets", json::array({{{"topic", "gp"}, {"partition", 0},
                                                        {"offset", offset}}})}}
                            .dump(),
                        {"Content-Type: application/json"});
  };
  ASSERT_EQ(commit(10).status, 204);
  ASSERT_EQ(http_get(s->url(records_path("gp", 0, "group=pollers&max_records=1"))).status, 200);

  // A consumer's loop: poll with group=, commit the next offset. Commits cost
  // their statement; the polls none (the committed offsets are in memory,
  // written through on commit, re-read every 5 s).
  constexpr int kPolls = 50;
  int64_t pg_before = streamhouse_queries(*admin_);
  auto t0 = SteadyClock::now();
  for (int i = 0; i < kPolls; ++i) {
    json got = parse_json(http_get(s->url(records_path("gp", 0, "group=pollers&max_records=1"))), "poll");
    ASSERT_EQ(got["records"].size(), 1u) << got.dump();
    ASSERT_EQ(got["records"][0]["offset"], 10 + i) << "the poll resumes at the commit before it";
    ASSERT_EQ(commit(11 + i).status, 204);
  }
  int64_t elapsed = ms_since(t0);
  int64_t statements = streamhouse_queries(*admin_) - pg_before;
  EXPECT_LE(statements, kPolls + elapsed / 5000)
      << kPolls << " polls and " << kPolls << " commits in " << elapsed << " ms sent " << statements
      << " statements: the polls must cost none (pg_stat_statements, role streamhouse)";
  EXPECT_EQ(admin_->scalar("SELECT committed_offset FROM consumer_offsets WHERE group_id = 'pollers'"),
            10 + kPolls);

  // 20 reads of 2 unknown topics: one lookup per topic per second, not one per read.
  pg_before = streamhouse_queries(*admin_);
  t0 = SteadyClock::now();
  for (int i = 0; i < 20; ++i) {
    for (const char* topic : {"nope-a", "nope-b"}) {
      auto r = http_get(s->url(records_path(topic, 0, "offset=0")));
      ASSERT_EQ(r.status, 404) << r.body;
      EXPECT_EQ(parse_json(r, "unknown topic")["error_code"], 40401);
    }
  }
  elapsed = ms_since(t0);
  statements = streamhouse_queries(*admin_) - pg_before;
  EXPECT_LE(statements, 2 * (1 + elapsed / 1000 + 1))
      << "20 reads of 2 unknown topics in " << elapsed << " ms sent " << statements << " statements";
}

TEST_F(PgServe, ConsumerGroupLagGaugeInMetrics) {
  migrate();
  write_pg("lagged", 0, make_records("lg", 0, 30));
  ASSERT_FALSE(HasFailure());
  auto s = serve({});
  ASSERT_GT(s->port(), 0);
  auto c = http_request("POST", s->url("/consumer-groups/lagging/offsets"),
                        R"({"offsets":[{"topic":"lagged","partition":0,"offset":12}]})");
  ASSERT_EQ(c.status, 204) << c.body;
  (void)http_get(s->url("/consumer-groups/lagging/offsets"));
  auto m = http_get(s->url("/metrics"));
  ASSERT_EQ(m.status, 200);
  std::string lag_line;
  std::istringstream in(m.body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("streamhouse_consumer_group_lag{", 0) == 0 && line.find("\"lagging\"") != std::string::npos) {
      lag_line = line;
    }
  }
  ASSERT_FALSE(lag_line.empty()) << "no lag gauge for group 'lagging' in /metrics (issue 4 asks for a gauge of "
                                    "lag per group and partition); metric names present:\n"
                                 << [&] {
                                      std::string names;
                                      std::istringstream in2(m.body);
                                      for (std::string l; std::getline(in2, l);) {
                                        if (l.rfind("# TYPE", 0) == 0) names += l + "\n";
                                      }
                                      return names;
                                    }();
  EXPECT_EQ(std::stod(lag_line.substr(lag_line.rfind(' ') + 1)), 18) << lag_line;
}

// ---- 5. long-poll --------------------------------------------------------------

struct Timed {
  HttpResult r;
  SteadyClock::time_point done;
};

std::future<Timed> get_async(std::string url, long timeout_ms = 40000) {
  return std::async(std::launch::async, [url = std::move(url), timeout_ms] {
    Timed t;
    t.r = http_get(url, {}, timeout_ms);
    t.done = SteadyClock::now();
    return t;
  });
}

TEST_F(PgServe, LongPollWakesWithinASecondOfRegistrationAndTimesOutEmpty) {
  migrate();
  write_pg("lp", 0, make_records("lp0", 0, 10));
  ASSERT_FALSE(HasFailure());
  auto s = serve({"--index-ttl-ms", "60000", "--long-poll-interval-ms", "500"});
  ASSERT_GT(s->port(), 0);

  // (a) woken by `segment write --metadata postgres://…`
  {
    auto poll = get_async(s->url(records_path("lp", 0, "offset=10&timeout_ms=20000")));
    ASSERT_TRUE(wait_for_waiters(*s, 1, 5s)) << "the long-poll never started waiting";
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(poll.wait_for(0s), std::future_status::timeout) << "the long-poll answered without new data";
    const auto added = make_records("lp1", 10, 5);
    write_pg("lp", 0, added);
    const auto registered = SteadyClock::now();
    ASSERT_EQ(poll.wait_for(5s), std::future_status::ready) << "no answer 5 s after a segment was registered";
    Timed t = poll.get();
    EXPECT_EQ(t.r.status, 200) << t.r.body << t.r.error;
    json j = parse_json(t.r, "long-poll");
    ASSERT_EQ(j["records"].size(), 5u) << j.dump();
    EXPECT_EQ(j["records"][0]["offset"], 10);
    EXPECT_EQ(j["records"][0]["key"], added[0].key);
    EXPECT_EQ(j["high_watermark"], 15);
    EXPECT_LE(ms_between(registered, t.done), 1000)
        << "the waiting client got the new segment " << ms_between(registered, t.done)
        << " ms after `segment write` registered it (must be within a second)";
    std::cout << "[long-poll] segment write → answer: " << ms_between(registered, t.done) << " ms\n";
  }

  // (b) woken by an independent writer's plain SQL INSERT
  {
    ASSERT_TRUE(wait_for_no_waiters(*s, 2s));
    auto poll = get_async(s->url(records_path("lp", 0, "offset=15&timeout_ms=20000&max_records=3")));
    ASSERT_TRUE(wait_for_waiters(*s, 1, 5s)) << "the long-poll never started waiting";
    std::this_thread::sleep_for(300ms);
    ASSERT_EQ(poll.wait_for(0s), std::future_status::timeout) << "the long-poll answered without new data";
    const auto added = make_records("lpsql", 15, 5);
    write_by_sql("lp", 0, added, "independent/lp-0-15.seg");
    const auto registered = SteadyClock::now();  // after COMMIT
    ASSERT_EQ(poll.wait_for(5s), std::future_status::ready) << "no answer 5 s after a SQL INSERT";
    Timed t = poll.get();
    EXPECT_EQ(t.r.status, 200) << t.r.body << t.r.error;
    json j = parse_json(t.r, "long-poll");
    ASSERT_EQ(j["records"].size(), 3u) << j.dump();
    EXPECT_EQ(j["records"][0]["offset"], 15);
    EXPECT_EQ(j["records"][0]["key"], added[0].key);
    EXPECT_EQ(j["next_offset"], 18);
    EXPECT_EQ(j["high_watermark"], 20);
    EXPECT_LE(ms_between(registered, t.done), 1000)
        << "the waiting client got the SQL-registered segment " << ms_between(registered, t.done)
        << " ms after COMMIT (must be within a second)";
    std::cout << "[long-poll] SQL insert → answer: " << ms_between(registered, t.done) << " ms\n";
  }

  // (c) no new data: 200 with an empty list once the timeout passes.
  {
    const auto t0 = SteadyClock::now();
    auto r = http_get(s->url(records_path("lp", 0, "offset=20&timeout_ms=1500")), {}, 10000);
    const int64_t took = ms_since(t0);
    EXPECT_EQ(r.status, 200) << r.body << r.error;
    json j = parse_json(r, "timed-out long-poll");
    EXPECT_EQ(j["records"], json::array()) << j.dump();
    EXPECT_EQ(j["next_offset"], 20);
    EXPECT_EQ(j["high_watermark"], 20);
    EXPECT_GE(took, 1400) << "a long-poll without data answered before its timeout_ms (1500)";
    EXPECT_LE(took, 3000) << "a long-poll without data answered " << took << " ms after a 1500 ms timeout";
  }
}

// ---- 6. 1,000 concurrent long-polls -------------------------------------------

// n concurrent GETs driven by one curl multi handle on a background thread.
class LongPollCrowd {
 public:
  struct Answer {
    long status = 0;
    std::string body;
    std::string error;
    SteadyClock::time_point done{};
  };

  LongPollCrowd(const std::string& url, int n) : answers_(static_cast<size_t>(n)) {
    for (int i = 0; i < n; ++i) {
      CURL* e = curl_easy_init();
      easies_.emplace_back(e, &curl_easy_cleanup);
      curl_easy_setopt(e, CURLOPT_URL, url.c_str());
      curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &LongPollCrowd::append);
      curl_easy_setopt(e, CURLOPT_WRITEDATA, &answers_[static_cast<size_t>(i)].body);
      curl_easy_setopt(e, CURLOPT_PRIVATE, reinterpret_cast<void*>(static_cast<intptr_t>(i)));
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
      curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
      curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
      curl_multi_add_handle(multi_.get(), e);
    }
    thread_ = std::thread([this] { run(); });
  }
  ~LongPollCrowd() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (auto& e : easies_) curl_multi_remove_handle(multi_.get(), e.get());
  }
  LongPollCrowd(const LongPollCrowd&) = delete;
  LongPollCrowd& operator=(const LongPollCrowd&) = delete;

  int done() const { return done_.load(); }
  bool wait_all(std::chrono::milliseconds timeout) {
    const auto until = SteadyClock::now() + timeout;
    while (done_.load() < static_cast<int>(answers_.size())) {
      if (SteadyClock::now() >= until) return false;
      std::this_thread::sleep_for(10ms);
    }
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return true;
  }
  // REQUIRES: wait_all() returned true.
  const std::vector<Answer>& answers() const { return answers_; }

 private:
  static size_t append(char* p, size_t size, size_t n, void* ud) {
    static_cast<std::string*>(ud)->append(p, size * n);
    return size * n;
  }
  void run() {
    int running = 1;
    while (!stop_ && done_.load() < static_cast<int>(answers_.size())) {
      curl_multi_perform(multi_.get(), &running);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        void* priv = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        Answer& a = answers_[static_cast<size_t>(reinterpret_cast<intptr_t>(priv))];
        a.done = SteadyClock::now();
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &a.status);
        if (msg->data.result != CURLE_OK) a.error = curl_easy_strerror(msg->data.result);
        done_.fetch_add(1);
      }
      curl_multi_poll(multi_.get(), nullptr, 0, 50, nullptr);
    }
  }

  std::unique_ptr<CURLM, decltype(&curl_multi_cleanup)> multi_{curl_multi_init(), &curl_multi_cleanup};
  std::vector<std::unique_ptr<CURL, decltype(&curl_easy_cleanup)>> easies_;
  std::vector<Answer> answers_;
  std::atomic<int> done_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST_F(PgServe, ThousandLongPollsOnFourWorkersHoldNoThreadAndPollAtABoundedRate) {
  constexpr int kWaiters = 1000;
  constexpr int64_t kIntervalMs = 500;
  constexpr int64_t kWindowMs = 3000;
  migrate();
  write_pg("crowd", 0, make_records("cr", 0, 20));
  ASSERT_FALSE(HasFailure());
  // 1,000 long-polls from one address: the per-address limits are lifted.
  auto s = serve({"--threads", "4", "--index-ttl-ms", "60000", "--long-poll-interval-ms",
                  std::to_string(kIntervalMs), "--max-connections-per-ip", "0",
                  "--max-long-polls-per-ip", "0"});
  ASSERT_GT(s->port(), 0);
  ASSERT_EQ(http_get(s->url(records_path("crowd", 0, "offset=0"))).status, 200);

  // Counts PostgreSQL statements and watermark polls over kWindowMs.
  struct Window {
    int64_t queries;
    double polls;
  };
  auto measure = [&]() -> Window {
    const int64_t q0 = streamhouse_queries(*admin_);
    const double p0 = server_metric(*s, "streamhouse_long_poll_watermark_polls_total");
    std::this_thread::sleep_for(std::chrono::milliseconds(kWindowMs));
    return {streamhouse_queries(*admin_) - q0,
            server_metric(*s, "streamhouse_long_poll_watermark_polls_total") - p0};
  };

  // Window A: one waiter.
  Window one{};
  {
    auto single = get_async(s->url(records_path("crowd", 0, "offset=20&timeout_ms=5000")));
    ASSERT_TRUE(wait_for_waiters(*s, 1, 5s));
    one = measure();
    ASSERT_EQ(single.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(single.get().r.status, 200);
  }
  ASSERT_TRUE(wait_for_no_waiters(*s, 2s));
  ASSERT_EQ(server_metric(*s, "streamhouse_long_poll_waiters"), 0);

  // Window B: a thousand waiters on the same partition.
  LongPollCrowd crowd(s->url(records_path("crowd", 0, "offset=20&timeout_ms=30000")), kWaiters);
  const auto crowd_started = SteadyClock::now();
  ASSERT_TRUE(wait_for_waiters(*s, kWaiters, 20s))
      << "only " << server_metric(*s, "streamhouse_long_poll_waiters") << " of " << kWaiters
      << " long-polls are waiting after 20 s (answered early: " << crowd.done() << ")";
  const int64_t setup_ms = ms_since(crowd_started);
  const Window many = measure();

  // While they wait, ordinary requests are served at once by the 4 workers.
  int64_t slowest = 0;
  for (int i = 0; i < 10; ++i) {
    for (const char* path : {"/topics", "/topics/crowd/partitions/0", "/topics/crowd/partitions/0/records?offset=0&max_records=5"}) {
      const auto t0 = SteadyClock::now();
      auto r = http_get(s->url(path), {}, 5000);
      const int64_t took = ms_since(t0);
      slowest = std::max(slowest, took);
      EXPECT_EQ(r.status, 200) << path << " while " << kWaiters << " long-polls wait: " << r.error << r.body;
      EXPECT_LT(took, 1000) << path << " took " << took << " ms while " << kWaiters
                            << " long-polls wait: waiting must not hold worker threads";
    }
  }
  ASSERT_EQ(crowd.done(), 0) << "long-polls answered before any new data was registered";

  const int64_t polls_per_window = kWindowMs / kIntervalMs;
  EXPECT_LE(many.queries, one.queries + 2)
      << "metadata queries in " << kWindowMs << " ms: " << one.queries << " with 1 waiter, " << many.queries
      << " with " << kWaiters << " — polling must not grow with the number of waiters";
  EXPECT_LE(many.queries, polls_per_window + 2)
      << many.queries << " queries in " << kWindowMs << " ms with a " << kIntervalMs << " ms poll interval";
  EXPECT_GE(many.polls, polls_per_window - 2) << "the watermark watcher is not polling while clients wait";
  EXPECT_LE(many.polls, static_cast<double>(polls_per_window + 2));

  // A new segment: every waiter gets its records.
  const auto added = make_records("cr-new", 20, 7);
  write_pg("crowd", 0, added);
  const auto registered = SteadyClock::now();
  ASSERT_TRUE(crowd.wait_all(15s)) << "only " << crowd.done() << " of " << kWaiters
                                   << " long-polls answered within 15 s of the new segment";
  int ok = 0;
  int64_t latest_ms = 0;
  std::string first_bad;
  for (const auto& a : crowd.answers()) {
    json j = json::parse(a.body, nullptr, false);
    const bool good = a.status == 200 && !j.is_discarded() && j["records"].size() == added.size() &&
                      j["records"][0]["offset"] == 20 && j["records"][0]["key"] == added[0].key;
    if (good) {
      ++ok;
    } else if (first_bad.empty()) {
      first_bad = std::to_string(a.status) + " " + a.error + " " + a.body.substr(0, 300);
    }
    latest_ms = std::max(latest_ms, ms_between(registered, a.done));
  }
  EXPECT_EQ(ok, kWaiters) << "long-polls without the new records; first: " << first_bad;
  EXPECT_LE(latest_ms, 5000) << "the last of " << kWaiters << " waiters was answered " << latest_ms
                             << " ms after registration";
  EXPECT_TRUE(wait_for_no_waiters(*s, 2s));
  EXPECT_EQ(server_metric(*s, "streamhouse_long_poll_waiters"), 0);
  std::cout << "[crowd] " << kWaiters << " waiters set up in " << setup_ms << " ms; queries per " << kWindowMs
            << " ms: 1 waiter " << one.queries << " (polls " << one.polls << "), " << kWaiters << " waiters "
            << many.queries << " (polls " << many.polls << "); slowest ordinary request " << slowest
            << " ms; all answered " << latest_ms << " ms after registration\n";
}

// ---- 7. degraded mode ----------------------------------------------------------

TEST_F(PgServe, DatabaseDownReadsKeepWorkingMetadataAnswers503ThenRecovers) {
  migrate();
  const auto recs = make_records("dg", 0, 300);
  write_pg("dg", 0, recs, {"--segment-records", "100", "--block-bytes", "4096"});
  ASSERT_FALSE(HasFailure());
  // The password travels in PGPASSWORD, not in the URL; it must never be shown.
  std::string url_no_password = url_;
  const std::string pw_part = std::string(":") + kPassword + "@";
  if (auto at = url_no_password.find(pw_part); at != std::string::npos) url_no_password.replace(at, pw_part.size(), "@");
  auto s = serve({"--index-ttl-ms", "1000", "--long-poll-interval-ms", "200"}, {{"PGPASSWORD", kPassword}},
                 url_no_password);
  ASSERT_GT(s->port(), 0);
  ASSERT_TRUE(served_exactly(*s, "dg", 0, recs));
  auto first_commit = http_request("POST", s->url("/consumer-groups/dg-readers/offsets"),
                                   R"({"offsets":[{"topic":"dg","partition":0,"offset":5}]})");
  ASSERT_EQ(first_commit.status, 204) << first_commit.body;
  ASSERT_EQ(http_get(s->url("/readyz")).status, 200);

  // Readers hammer the indexed partition for the whole outage.
  std::atomic<bool> stop{false};
  std::atomic<int64_t> reads{0}, failures{0};
  std::mutex bad_mu;
  std::string first_failure;
  std::thread reader([&] {
    HttpClient c;
    uint64_t off = 0;
    while (!stop) {
      off = (off + 37) % recs.size();
      auto r = c.get(s->url(records_path("dg", 0, "offset=" + std::to_string(off) + "&max_records=3")));
      json j = json::parse(r.body, nullptr, false);
      if (r.status != 200 || j.is_discarded() || j["records"].empty() || j["records"][0]["offset"] != off) {
        if (failures.fetch_add(1) == 0) {
          std::lock_guard lock(bad_mu);
          first_failure = "offset " + std::to_string(off) + " → " + std::to_string(r.status) + " " +
                          r.body.substr(0, 300) + r.error;
        }
      }
      reads.fetch_add(1);
      std::this_thread::sleep_for(5ms);
    }
  });
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& t;
    ~Joiner() {
      stop = true;
      if (t.joinable()) t.join();
    }
  } joiner{stop, reader};

  {
    DatabaseDown down(harness_);
    ASSERT_FALSE(HasFailure());
    std::this_thread::sleep_for(1500ms);  // the index TTL (1 s) expires: refreshes now fail

    EXPECT_TRUE(served_exactly(*s, "dg", 0, recs)) << "reads of indexed segments while PostgreSQL is down";
    EXPECT_GT(server_metric(*s, "streamhouse_segment_index_refresh_errors_total"), 0)
        << "no index refresh failed during the outage: the reads above did not exercise degraded mode";
    auto part = http_get(s->url("/topics/dg/partitions/0"));
    EXPECT_EQ(part.status, 200) << "partition info from the index while PostgreSQL is down: " << part.body;

    auto commit = http_request("POST", s->url("/consumer-groups/dg-readers/offsets"),
                               R"({"offsets":[{"topic":"dg","partition":0,"offset":50}]})");
    EXPECT_EQ(commit.status, 503) << "commit while PostgreSQL is down: " << commit.body;
    json cj = parse_json(commit, "commit while down");
    EXPECT_EQ(cj["error_code"], 50301) << commit.body;
    ASSERT_TRUE(cj["message"].is_string()) << commit.body;
    EXPECT_NE(cj["message"].get<std::string>().find("PostgreSQL"), std::string::npos)
        << "the 503 should say the metadata database is unavailable: " << commit.body;
    EXPECT_FALSE(commit.headers["retry-after"].empty()) << "503 without Retry-After";

    auto unknown = http_get(s->url(records_path("dg", 7, "offset=0")));
    EXPECT_EQ(unknown.status, 503) << "a partition not yet indexed while PostgreSQL is down: " << unknown.body;
    EXPECT_EQ(parse_json(unknown, "unknown partition while down")["error_code"], 50301);
    EXPECT_FALSE(unknown.headers["retry-after"].empty()) << "503 without Retry-After";
    auto group_read = http_get(s->url(records_path("dg", 0, "group=dg-readers")));
    EXPECT_EQ(group_read.status, 503) << "group offsets need the database: " << group_read.body;

    // /readyz answers from a background prober (a request that saw the database
    // fail asks it for a new round): it reports the outage within a few seconds.
    auto ready = http_get(s->url("/readyz"));
    for (int i = 0; i < 50 && ready.status != 503; ++i) {
      std::this_thread::sleep_for(100ms);
      ready = http_get(s->url("/readyz"));
    }
    EXPECT_EQ(ready.status, 503) << "/readyz while PostgreSQL is down: " << ready.body;
    json rj = parse_json(ready, "readyz while down");
    EXPECT_EQ(rj["ready"], false) << ready.body;
    EXPECT_EQ(rj["checks"]["metadata"], "unavailable") << ready.body;
    EXPECT_EQ(http_get(s->url("/healthz")).status, 200) << "liveness must not depend on the database";

    for (const std::string& body : {commit.body, unknown.body, ready.body}) {
      EXPECT_EQ(body.find(kPassword), std::string::npos) << "the database password leaked: " << body;
    }
    ASSERT_TRUE(down.restart());
  }
  admin_ = std::make_unique<Sql>(admin_info_);  // the old connection died with the server
  ASSERT_TRUE(admin_->ok());

  // Back: ready and committing again without a restart.
  const auto back = SteadyClock::now();
  int64_t recovered_ms = -1;
  HttpResult last_ready, last_commit;
  while (ms_since(back) < 15000) {
    last_ready = http_get(s->url("/readyz"));
    if (last_ready.status == 200) {
      last_commit = http_request("POST", s->url("/consumer-groups/dg-readers/offsets"),
                                 R"({"offsets":[{"topic":"dg","partition":0,"offset":50}]})");
      if (last_commit.status == 204) {
        recovered_ms = ms_since(back);
        break;
      }
    }
    std::this_thread::sleep_for(200ms);
  }
  ASSERT_GE(recovered_ms, 0) << "not recovered 15 s after PostgreSQL came back: readyz " << last_ready.status
                             << " " << last_ready.body << "; commit " << last_commit.status << " "
                             << last_commit.body;
  EXPECT_LE(recovered_ms, 10000) << "recovery took " << recovered_ms << " ms";
  EXPECT_EQ(admin_->query("SELECT committed_offset::text FROM consumer_offsets WHERE group_id = 'dg-readers'"),
            (Rows{{std::optional<std::string>("50")}}));
  auto unknown_again = http_get(s->url(records_path("dg", 7, "offset=0")));
  EXPECT_EQ(unknown_again.status, 404) << "unknown partition after recovery: " << unknown_again.body;

  // New segments are picked up again.
  const auto more = make_records("dg-after", 300, 10);
  write_by_sql("dg", 0, more, "independent/dg-0-300.seg");
  const auto t0 = SteadyClock::now();
  bool seen = false;
  while (!seen && ms_since(t0) < 5000) {
    json j = parse_json(http_get(s->url(records_path("dg", 0, "offset=300&timeout_ms=1000"))), "after recovery");
    seen = j.contains("records") && !j["records"].empty();
  }
  EXPECT_TRUE(seen) << "a segment registered after recovery was not served within 5 s";
  EXPECT_TRUE(served_exactly(*s, "dg", 0, concat({recs, more})));

  stop = true;
  reader.join();
  EXPECT_GT(reads.load(), 100) << "the background reader barely ran";
  EXPECT_EQ(failures.load(), 0) << failures.load() << " of " << reads.load()
                                << " reads of indexed segments failed across the outage; first: " << first_failure;
  const std::string log = s->log();
  EXPECT_EQ(log.find(kPassword), std::string::npos) << "the database password appears in the server log";
  std::cout << "[degraded] " << reads.load() << " reads across the outage, " << failures.load()
            << " failed; recovered " << recovered_ms << " ms after PostgreSQL came back\n";
}

}  // namespace
}  // namespace sh::testing
