// End to end: the real `streamhouse` binary writes segments with
// `segment write`, serves them with `serve` on a temp directory, and every
// route and error case of the HTTP contract is checked over HTTP.
#include <fmt/format.h>
#include <chrono>
#include <fstream>
#include <future>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/support/process.h"
#include "tests/e2e/support/served_store.h"
#include "tests/support/test_paths.h"

namespace sh::testing {
namespace {

using json = nlohmann::json;

std::string orders_jsonl(int n, int first_ts) {
  std::ostringstream s;
  for (int i = 0; i < n; ++i) {
    json line{{"key", fmt::format("order-{}", i)},
              {"timestamp", first_ts + i * 10},
              {"headers", {{"source", "e2e"}, {"n", std::to_string(i)}}},
              {"value", {{"order_id", i}, {"amount", i * 1.5}, {"note", "caf\u00e9 \"quoted\""}}}};
    s << line.dump() << "\n";
  }
  return s.str();
}

class HttpE2E : public ServedStoreSuite<HttpE2E> {
 protected:
  static void SetUpTestSuite() {
    open_store();
    // orders/0: 250 records in 3 segments, small blocks.
    auto w = write("orders", 0, orders_jsonl(250, 1'700'000'000), {"--segment-records", "100", "--block-bytes", "1024"});
    ASSERT_EQ(w.exit_code, 0) << w.err;
    // orders/1: explicit offsets with gaps, a tombstone, list-style headers, non-UTF-8 value.
    std::string p1 =
        R"({"offset":10,"key":"a","value":"first","timestamp":5000,"headers":[{"key":"h","value":null}]})" "\n"
        R"({"offset":15,"key":null,"value":null,"timestamp":4000})" "\n"
        R"({"offset":16,"key":"b","value":"/w==","value_encoding":"base64","timestamp":6000})" "\n"
        R"({"offset":30,"key":"c","value":"{\"nested\":true}","timestamp":7000})" "\n";
    w = write("orders", 1, p1, {});
    ASSERT_EQ(w.exit_code, 0) << w.err;
    serve({"--long-poll-interval-ms", "100", "--index-ttl-ms", "60000"});
  }

  static json get_json(const std::string& path, long expect_status) {
    auto r = http_get(server_->url(path));
    EXPECT_EQ(r.error, "") << path;
    EXPECT_EQ(r.status, expect_status) << path << " → " << r.body;
    EXPECT_NE(r.headers["content-type"].find("application/json"), std::string::npos) << path;
    json j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << path << " body is not JSON: " << r.body;
    return j;
  }

  static void expect_error(const std::string& path, int error_code, const std::string& method = "GET",
                           const std::string& body = "") {
    auto r = http_request(method, server_->url(path), body);
    EXPECT_EQ(r.status, error_code / 100) << method << " " << path << " → " << r.body;
    json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << path << ": " << r.body;
    EXPECT_EQ(j["error_code"], error_code) << path << ": " << r.body;
    ASSERT_TRUE(j["message"].is_string()) << path;
    EXPECT_FALSE(j["message"].get<std::string>().empty()) << path;
  }
};

TEST_F(HttpE2E, TopicsAndPartitions) {
  json topics = get_json("/topics", 200);
  ASSERT_EQ(topics["topics"].size(), 1u);
  EXPECT_EQ(topics["topics"][0]["name"], "orders");
  EXPECT_EQ(topics["topics"][0]["partitions"], 2);

  json t = get_json("/topics/orders", 200);
  ASSERT_EQ(t["partitions"].size(), 2u);
  EXPECT_EQ(t["partitions"][0]["high_watermark"], 250);
  EXPECT_EQ(t["partitions"][0]["segments"], 3);
  EXPECT_EQ(t["partitions"][1]["log_start_offset"], 10);
  EXPECT_EQ(t["partitions"][1]["high_watermark"], 31);

  json p = get_json("/topics/orders/partitions/0", 200);
  EXPECT_EQ(p["log_start_offset"], 0);
  EXPECT_EQ(p["high_watermark"], 250);
  EXPECT_GT(p["bytes"].get<int64_t>(), 0);

  json s = get_json("/topics/orders/partitions/0/segments", 200);
  ASSERT_EQ(s["segments"].size(), 3u);
  EXPECT_EQ(s["segments"][1]["base_offset"], 100);
  EXPECT_EQ(s["segments"][1]["last_offset"], 199);
  EXPECT_EQ(s["segments"][1]["key"], "orders/0/seg_00000000000000000100.bin");
}

TEST_F(HttpE2E, RecordsFromOffsetAcrossSegments) {
  json r = get_json("/topics/orders/partitions/0/records?offset=95&max_records=10", 200);
  EXPECT_EQ(r["topic"], "orders");
  EXPECT_EQ(r["partition"], 0);
  ASSERT_EQ(r["records"].size(), 10u);
  for (int i = 0; i < 10; ++i) {
    const json& rec = r["records"][i];
    EXPECT_EQ(rec["offset"], 95 + i);
    EXPECT_EQ(rec["key"], fmt::format("order-{}", 95 + i));
    EXPECT_EQ(rec["timestamp"], 1'700'000'000 + (95 + i) * 10);
    json value = json::parse(rec["value"].get<std::string>());
    EXPECT_EQ(value["order_id"], 95 + i);
    EXPECT_EQ(value["note"], "caf\u00e9 \"quoted\"");
    ASSERT_EQ(rec["headers"].size(), 2u);
  }
  EXPECT_EQ(r["next_offset"], 105);
  EXPECT_EQ(r["high_watermark"], 250);
  EXPECT_EQ(r["log_start_offset"], 0);

  json def = get_json("/topics/orders/partitions/0/records", 200);
  EXPECT_EQ(def["records"].size(), 100u) << "default max_records is 100";
  EXPECT_EQ(def["records"][0]["offset"], 0) << "default start is the earliest offset";
}

TEST_F(HttpE2E, RecordsEarliestLatestTimestampGapsAndFormats) {
  json e = get_json("/topics/orders/partitions/1/records?offset=earliest", 200);
  ASSERT_EQ(e["records"].size(), 4u);
  EXPECT_EQ(e["records"][0]["offset"], 10);
  EXPECT_TRUE(e["records"][0]["headers"][0]["value"].is_null());
  EXPECT_TRUE(e["records"][1]["key"].is_null());
  EXPECT_TRUE(e["records"][1]["value"].is_null()) << "tombstone";
  EXPECT_EQ(e["records"][2]["value"], "/w==");
  EXPECT_EQ(e["records"][2]["value_encoding"], "base64");

  json gap = get_json("/topics/orders/partitions/1/records?offset=17&max_records=1", 200);
  ASSERT_EQ(gap["records"].size(), 1u);
  EXPECT_EQ(gap["records"][0]["offset"], 30) << "an offset in a gap starts at the next record";
  EXPECT_EQ(gap["next_offset"], 31);

  json latest = get_json("/topics/orders/partitions/1/records?offset=latest", 200);
  EXPECT_TRUE(latest["records"].empty());
  EXPECT_EQ(latest["next_offset"], 31);

  json ts = get_json("/topics/orders/partitions/1/records?timestamp=5500&max_records=1", 200);
  EXPECT_EQ(ts["records"][0]["offset"], 16) << "first record with timestamp >= 5500 in log order";
  json ts0 = get_json("/topics/orders/partitions/0/records?timestamp=1700000995&max_records=1", 200);
  EXPECT_EQ(ts0["records"][0]["offset"], 100);

  json js = get_json("/topics/orders/partitions/1/records?offset=30&format=json", 200);
  EXPECT_EQ(js["records"][0]["value"]["nested"], true);
  json b64 = get_json("/topics/orders/partitions/1/records?offset=10&max_records=1&format=base64", 200);
  EXPECT_EQ(b64["records"][0]["key"], "YQ==");
  EXPECT_EQ(b64["records"][0]["value"], "Zmlyc3Q=");

  json small = get_json("/topics/orders/partitions/0/records?offset=0&max_bytes=1", 200);
  EXPECT_EQ(small["records"].size(), 1u) << "at least one record is always returned";
}

TEST_F(HttpE2E, EveryErrorCaseOfTheContract) {
  expect_error("/topics/orders/partitions/0/records?colour=red", 40002);
  expect_error("/topics/orders/partitions/0/records?offset=abc", 40001);
  expect_error("/topics/orders/partitions/0/records?offset=-1", 40001);
  expect_error("/topics/orders/partitions/0/records?offset=1&offset=2", 40001);
  expect_error("/topics/orders/partitions/0/records?max_records=0", 40001);
  expect_error("/topics/orders/partitions/0/records?max_records=10001", 40001);
  expect_error("/topics/orders/partitions/0/records?max_bytes=0", 40001);
  expect_error("/topics/orders/partitions/0/records?timeout_ms=30001", 40001);
  expect_error("/topics/orders/partitions/0/records?format=xml", 40001);
  expect_error("/topics/orders/partitions/0/records?timestamp=x", 40001);
  expect_error("/topics/orders/partitions/0/records?offset=1&timestamp=5", 40004);
  expect_error("/topics/orders/partitions/0/records?auto_offset_reset=earliest", 40004);
  expect_error("/topics/bad$name/partitions/0/records", 40003);
  expect_error("/topics/orders/partitions/x/records", 40003);
  expect_error("/topics/orders/partitions/2147483648", 40003);
  expect_error("/topics?x=1", 40002);
  expect_error("/topics/nope", 40401);
  expect_error("/topics/nope/partitions/0/records", 40401);
  expect_error("/topics/orders/partitions/9", 40402);
  expect_error("/topics/orders/partitions/9/records", 40402);
  expect_error("/consumer-groups/nobody/offsets", 40403);
  expect_error("/no/such/route", 40400);
  expect_error("/topics", 40500, "POST");
  expect_error("/topics/orders/partitions/0/records", 40500, "DELETE");
  auto denied = http_request("DELETE", server_->url("/topics/orders/partitions/0/records"));
  EXPECT_EQ(denied.headers["allow"], "GET, HEAD, OPTIONS");
  // OPTIONS says what a route allows, without CORS configured and without a body.
  for (auto [path, allow] : {std::pair{"/topics/orders/partitions/0/records", "GET, HEAD, OPTIONS"},
                             std::pair{"/consumer-groups/g1/offsets", "GET, HEAD, POST, OPTIONS"}}) {
    auto r = http_request("OPTIONS", server_->url(path));
    EXPECT_EQ(r.status, 204) << path << ": " << r.body;
    EXPECT_EQ(r.headers["allow"], allow) << path;
    EXPECT_TRUE(r.body.empty()) << path << ": " << r.body;
    EXPECT_EQ(r.headers.count("access-control-allow-methods"), 0u) << "no CORS header unless --cors-origin";
  }
  EXPECT_EQ(http_request("OPTIONS", server_->url("/no/such/route")).status, 404);

  for (const char* off : {"251", "1000000"}) {
    auto r = http_get(server_->url(std::string("/topics/orders/partitions/0/records?offset=") + off));
    EXPECT_EQ(r.status, 416) << off;
    json j = json::parse(r.body);
    EXPECT_EQ(j["error_code"], 41600);
    EXPECT_EQ(j["log_start_offset"], 0);
    EXPECT_EQ(j["high_watermark"], 250);
  }
  auto below = http_get(server_->url("/topics/orders/partitions/1/records?offset=3"));
  EXPECT_EQ(below.status, 416);
  EXPECT_EQ(json::parse(below.body)["log_start_offset"], 10);
}

TEST_F(HttpE2E, HealthReadinessMetricsAndOpenApi) {
  EXPECT_EQ(get_json("/healthz", 200)["status"], "ok");
  EXPECT_EQ(get_json("/readyz", 200)["ready"], true);

  get_json("/topics/orders/partitions/0/records?offset=0&max_records=3", 200);
  auto m = http_get(server_->url("/metrics"));
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.headers["content-type"].find("text/plain"), std::string::npos);
  for (const char* name : {"streamhouse_http_requests_total", "streamhouse_http_request_duration_seconds_bucket",
                           "streamhouse_records_served_total", "streamhouse_record_bytes_served_total",
                           "streamhouse_cache_hits_total", "streamhouse_cache_misses_total",
                           "streamhouse_cache_bytes", "streamhouse_object_store_requests_total",
                           "streamhouse_object_store_read_bytes_total"}) {
    EXPECT_NE(m.body.find(name), std::string::npos) << "missing metric " << name;
  }
  EXPECT_NE(m.body.find(R"(route="/topics/{topic}/partitions/{partition}/records")"), std::string::npos);
  auto promtool = run_command({"/usr/bin/promtool", "check", "metrics"}, m.body);
  EXPECT_EQ(promtool.exit_code, 0) << "promtool check metrics:\n" << promtool.out << promtool.err;

  auto spec = http_get(server_->url("/openapi.yaml"));
  ASSERT_EQ(spec.status, 200);
  std::ifstream f(sh::testing::source_dir() + "/openapi/openapi.yaml", std::ios::binary);
  std::stringstream want;
  want << f.rdbuf();
  EXPECT_EQ(spec.body, want.str()) << "/openapi.yaml must serve openapi/openapi.yaml byte for byte";

  auto dash = http_get(server_->url("/"));
  EXPECT_EQ(dash.status, 200);
  EXPECT_NE(dash.body.find("<title>StreamHouse Reader</title>"), std::string::npos);
}

TEST_F(HttpE2E, ConsumerGroupsCommitLagAndResume) {
  auto bad = http_request("POST", server_->url("/consumer-groups/g1/offsets"), "{not json");
  EXPECT_EQ(bad.status, 400);
  auto above = http_request("POST", server_->url("/consumer-groups/g1/offsets"),
                            R"({"offsets":[{"topic":"orders","partition":0,"offset":251}]})");
  EXPECT_EQ(above.status, 416) << above.body;
  auto unknown = http_request("POST", server_->url("/consumer-groups/g1/offsets"),
                              R"({"offsets":[{"topic":"orders","partition":5,"offset":1}]})");
  EXPECT_EQ(unknown.status, 404) << unknown.body;

  auto ok = http_request("POST", server_->url("/consumer-groups/g1/offsets"),
                         R"({"offsets":[{"topic":"orders","partition":0,"offset":200,"metadata":"m1"}]})");
  EXPECT_EQ(ok.status, 204) << ok.body;
  json offsets = get_json("/consumer-groups/g1/offsets", 200);
  ASSERT_EQ(offsets["offsets"].size(), 1u);
  EXPECT_EQ(offsets["offsets"][0]["committed_offset"], 200);
  EXPECT_EQ(offsets["offsets"][0]["lag"], 50);
  EXPECT_EQ(offsets["offsets"][0]["metadata"], "m1");
  auto metrics = http_get(server_->url("/metrics"));
  EXPECT_NE(metrics.body.find(
                R"(streamhouse_consumer_group_lag{group="g1",partition="0",topic="orders"} 50)"),
            std::string::npos)
      << "lag gauge per group and partition";
  json groups = get_json("/consumer-groups", 200);
  EXPECT_NE(groups["consumer_groups"].dump().find("g1"), std::string::npos);

  json resumed = get_json("/topics/orders/partitions/0/records?group=g1&max_records=2", 200);
  EXPECT_EQ(resumed["records"][0]["offset"], 200) << "group resumes at the committed offset";
  json fresh = get_json("/topics/orders/partitions/0/records?group=new-group&auto_offset_reset=earliest&max_records=1", 200);
  EXPECT_EQ(fresh["records"][0]["offset"], 0);
  json fresh_latest = get_json("/topics/orders/partitions/0/records?group=new-group", 200);
  EXPECT_TRUE(fresh_latest["records"].empty()) << "default reset policy is latest";
}

TEST_F(HttpE2E, LongPollTimesOutThenWakesOnNewSegment) {
  auto start = std::chrono::steady_clock::now();
  json empty = get_json("/topics/orders/partitions/1/records?offset=31&timeout_ms=400", 200);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(empty["records"].empty());
  EXPECT_GE(waited, std::chrono::milliseconds(380));
  EXPECT_LT(waited, std::chrono::milliseconds(3000));

  auto pending = std::async(std::launch::async, [] {
    return http_get(server_->url("/topics/orders/partitions/1/records?offset=31&timeout_ms=20000"));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto w = write("orders", 1, R"({"key":"late","value":"arrived","timestamp":9000})" "\n", {});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  const auto written = std::chrono::steady_clock::now();
  ASSERT_EQ(pending.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto r = pending.get();
  EXPECT_LT(std::chrono::steady_clock::now() - written, std::chrono::seconds(2))
      << "a waiting client must see new data within about a second";
  ASSERT_EQ(r.status, 200) << r.body;
  json j = json::parse(r.body);
  ASSERT_EQ(j["records"].size(), 1u);
  EXPECT_EQ(j["records"][0]["offset"], 31);
  EXPECT_EQ(j["records"][0]["value"], "arrived");
}

TEST_F(HttpE2E, SegmentToolsRoundTripAndDetectCorruption) {
  TempDir tmp;
  const std::string store = "file://" + tmp.path();
  const std::string input = orders_jsonl(30, 1000);
  auto w = run_command({streamhouse_binary(), "segment", "write", "--store", store, "--topic", "t",
                        "--partition", "3", "--compression", "none"},
                       input);
  ASSERT_EQ(w.exit_code, 0) << w.err;
  const std::string file = tmp.path() + "/t/3/seg_00000000000000000000.bin";
  auto dump = run_command({streamhouse_binary(), "segment", "dump", file});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  std::istringstream want(input), got(dump.out);
  std::string a, b;
  int lines = 0;
  while (std::getline(want, a) && std::getline(got, b)) {
    json ja = json::parse(a), jb = json::parse(b);
    EXPECT_EQ(jb["offset"], lines);
    EXPECT_EQ(jb["key"], ja["key"]);
    EXPECT_EQ(jb["timestamp"], ja["timestamp"]);
    EXPECT_EQ(json::parse(jb["value"].get<std::string>()), ja["value"]);
    ++lines;
  }
  EXPECT_EQ(lines, 30);

  auto ok = run_command({streamhouse_binary(), "segment", "verify", "file://" + file});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_NE(ok.out.find("30 records"), std::string::npos) << ok.out;

  std::string bytes;
  {
    std::ifstream f(file, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    bytes = ss.str();
  }
  for (size_t pos : {size_t{3}, size_t{40}, bytes.size() / 2, bytes.size() - 60, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[pos] ^= 0x01;
    const std::string bad_file = tmp.path() + "/bad.bin";
    std::ofstream(bad_file, std::ios::binary) << bad;
    auto v = run_command({streamhouse_binary(), "segment", "verify", bad_file});
    EXPECT_EQ(v.exit_code, 1) << "flip at " << pos << " not detected";
    EXPECT_NE(v.err.find("bad.bin"), std::string::npos) << "the message names the object: " << v.err;
  }

  // Bad input names its line and loses nothing written before it.
  auto bad_line = run_command({streamhouse_binary(), "segment", "write", "--store", store, "--topic", "t",
                               "--partition", "3"},
                              R"({"value":"ok"})" "\n" R"({"value":"x","offset":1})" "\n");
  EXPECT_EQ(bad_line.exit_code, 1);
  EXPECT_NE(bad_line.err.find("line 2"), std::string::npos) << bad_line.err;
}

TEST_F(HttpE2E, TooManyLongPollsGet429WithRetryAfter) {
  ServerProcess s({"--store", store_, "--max-long-polls", "1"});
  ASSERT_GT(s.port(), 0);
  auto first = std::async(std::launch::async, [&] {
    return http_get(s.url("/topics/orders/partitions/0/records?offset=latest&timeout_ms=1500"));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto second = http_get(s.url("/topics/orders/partitions/0/records?offset=latest&timeout_ms=1500"));
  EXPECT_EQ(second.status, 429) << second.body;
  EXPECT_EQ(json::parse(second.body)["error_code"], 42900);
  EXPECT_EQ(second.headers["retry-after"], "1");
  auto plain = http_get(s.url("/topics/orders/partitions/0/records?offset=latest"));
  EXPECT_EQ(plain.status, 200) << "a read that does not wait is not limited";
  EXPECT_EQ(first.get().status, 200);
}

TEST_F(HttpE2E, AdminListenerServesProbesAndMetricsOnly) {
  ServerProcess s({"--store", store_, "--admin-listen", "127.0.0.1:0"});
  ASSERT_GT(s.port(), 0);
  // The admin port is logged once it is bound (after the main one).
  std::smatch m;
  std::string log;
  const std::regex logged(R"(admin listener \(/healthz, /readyz, /metrics\) on http://127\.0\.0\.1:(\d+))");
  for (int i = 0; i < 100 && !std::regex_search(log = s.log(), m, logged); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(std::regex_search(log, m, logged)) << log;
  const std::string admin = "http://127.0.0.1:" + m[1].str();
  ASSERT_NE(std::stoi(m[1].str()), s.port());

  auto health = http_get(admin + "/healthz");
  EXPECT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(json::parse(health.body, nullptr, false)["status"], "ok") << health.body;
  auto ready = http_get(admin + "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(json::parse(ready.body, nullptr, false)["ready"], true) << ready.body;
  // A read on the main port shows in the admin port's /metrics: one registry.
  ASSERT_EQ(http_get(s.url("/topics/orders/partitions/0/records?offset=0&max_records=3")).status, 200);
  auto metrics = http_get(admin + "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find(R"(route="/topics/{topic}/partitions/{partition}/records")"), std::string::npos)
      << "the admin /metrics must be the process's metrics";
  auto promtool = run_command({"/usr/bin/promtool", "check", "metrics"}, metrics.body);
  EXPECT_EQ(promtool.exit_code, 0) << promtool.out << promtool.err;
  // Nothing else is served there: data, dashboard, spec.
  for (const char* path : {"/topics", "/topics/orders/partitions/0/records?offset=0", "/", "/openapi.yaml",
                           "/consumer-groups"}) {
    auto r = http_get(admin + path);
    EXPECT_EQ(r.status, 404) << path << " → " << r.body;
    auto j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << path << ": " << r.body;
    EXPECT_EQ(j["error_code"], 40400) << path;
    EXPECT_NE(j["message"].get<std::string>().find("admin listener serves /healthz, /readyz and /metrics"),
              std::string::npos)
        << j["message"];
  }
  EXPECT_EQ(http_request("POST", admin + "/healthz").status, 405) << "methods as on the main port";
  // The main port still serves the probes too.
  EXPECT_EQ(http_get(s.url("/healthz")).status, 200);
  EXPECT_EQ(s.terminate(), 0) << s.log();
}

TEST_F(HttpE2E, ABadAdminListenAddressIsRefusedNamingTheFlag) {
  auto r = run_command({streamhouse_binary(), "serve", "--store", store_, "--listen", "127.0.0.1:0",
                        "--admin-listen", "127.0.0.1:notaport"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_NE((r.out + r.err).find("--admin-listen"), std::string::npos) << r.out << r.err;
  // Taken: the admin address is bound, so a second server cannot start on it.
  ServerProcess first({"--store", store_});
  ASSERT_GT(first.port(), 0);
  auto taken = run_command({streamhouse_binary(), "serve", "--store", store_, "--listen", "127.0.0.1:0",
                            "--admin-listen", fmt::format("127.0.0.1:{}", first.port())});
  EXPECT_EQ(taken.exit_code, 1) << taken.out << taken.err;
  EXPECT_NE((taken.out + taken.err).find("--admin-listen"), std::string::npos) << taken.out << taken.err;
}

TEST_F(HttpE2E, ZZSigtermDrainsAndExitsZero) {
  // Last test of the suite (gtest runs them in order): uses its own server.
  ServerProcess s({"--store", store_});
  ASSERT_GT(s.port(), 0);
  auto waiting = std::async(std::launch::async, [&] {
    return http_get(s.url("/topics/orders/partitions/0/records?offset=latest&timeout_ms=25000"));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(s.terminate(), 0) << s.log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  auto r = waiting.get();
  EXPECT_EQ(r.status, 200) << "an in-flight long-poll is answered before exit: " << r.error;
}

}  // namespace
}  // namespace sh::testing
