// The real `streamhouse` binary over Ceph RGW: segments written with
// `streamhouse segment write --store s3://...` are served record-exact by
// `streamhouse serve`; wrong credentials, a missing object and the bytes a
// cold read costs are checked from the outside (HTTP, /metrics, the log).
// Environment: S3_ENDPOINT, S3_ACCESS, S3_SECRET, S3_BUCKET; STREAMHOUSE_BIN
// overrides the binary path.
#include <gtest/gtest.h>

#include <random>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "core/storage/s3/s3_object_store.h"
#include "tests/integration/s3/serve_harness.h"

namespace sh::s3 {
namespace {

struct Record {
  std::string key, value;
  int64_t timestamp;
};

class RgwServeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_FALSE(env("S3_ENDPOINT").empty() || env("S3_BUCKET").empty()) << "run through ctest (rgw fixture)";
    ASSERT_EQ(access(binary().c_str(), X_OK), 0)
        << binary() << " is not built (build the `streamhouse` target or set STREAMHOUSE_BIN)";
    std::mt19937_64 rng(std::random_device{}());
    prefix_ = "serve-" + std::to_string(rng() % 1000000000) + "/";
    dir_ = fmt::format("/tmp/sh-rgw-serve-{}", getpid());
    mkdir(dir_.c_str(), 0755);
    // 5000 records with distinct keys, incompressible values of 500-1500 bytes
    // (segments of ~1 MB, so a whole-segment fetch cannot hide inside a
    // footer read), increasing timestamps.
    static const char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::ofstream jsonl(dir_ + "/records.jsonl");
    for (int i = 0; i < 5000; ++i) {
      std::string value = "value " + std::to_string(i) + " ";
      for (size_t n = 500 + rng() % 1000; n > 0; --n) value.push_back(kAlnum[rng() % 62]);
      Record r{fmt::format("key-{}", i), std::move(value), 1'700'000'000'000 + i * 10};
      records_.push_back(r);
      jsonl << nlohmann::json{{"key", r.key}, {"value", r.value}, {"timestamp", r.timestamp}}.dump() << "\n";
    }
    jsonl.close();
    pid_t pid = spawn({binary(), "segment", "write", "--store", store_url(), "--topic", "orders", "--partition",
                       "0", "--segment-records", "1000", "--block-bytes", "4096", "--s3-endpoint",
                       env("S3_ENDPOINT")},
                      {"AWS_ACCESS_KEY_ID=" + env("S3_ACCESS"), "AWS_SECRET_ACCESS_KEY=" + env("S3_SECRET"),
                       "AWS_EC2_METADATA_DISABLED=true"},
                      dir_ + "/records.jsonl", dir_ + "/write.log");
    ASSERT_GT(pid, 0);
    ASSERT_EQ(wait_exit(pid), 0) << "segment write failed: " << read_file(dir_ + "/write.log");
  }
  static std::string store_url() { return "s3://" + env("S3_BUCKET") + "/" + prefix_; }
  static std::shared_ptr<ObjectStore> direct_store() {
    S3Options o;
    o.bucket = env("S3_BUCKET");
    o.prefix = prefix_;
    o.endpoint = env("S3_ENDPOINT");
    o.access_key_id = env("S3_ACCESS");
    o.secret_access_key = env("S3_SECRET");
    return make_s3_object_store(o, nullptr, system_clock()).value();
  }

  static std::string prefix_;
  static std::string dir_;
  static std::vector<Record> records_;
};
std::string RgwServeTest::prefix_;
std::string RgwServeTest::dir_;
std::vector<Record> RgwServeTest::records_;

TEST_F(RgwServeTest, SegmentsInRgwAreServedRecordExact) {
  auto objects = list_all(*direct_store(), "");
  ASSERT_TRUE(objects.ok()) << objects.error().to_string();
  ASSERT_GE(objects->size(), 5u) << "5000 records cut every 1000 should make at least 5 segment objects";

  Server server(store_url(), env("S3_SECRET"), dir_ + "/serve-ok.log");
  ASSERT_TRUE(server.wait_up()) << server.log();
  auto topics = server.get("/topics");
  ASSERT_EQ(topics.status, 200) << topics.body;
  EXPECT_NE(topics.body.find("orders"), std::string::npos) << topics.body;

  uint64_t next = 0;
  size_t pages = 0;
  while (next < records_.size()) {
    auto page = server.get("/topics/orders/partitions/0/records",
                           {{"offset", std::to_string(next)}, {"max_records", "700"}});
    ASSERT_EQ(page.status, 200) << page.body;
    auto j = nlohmann::json::parse(page.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << page.body.substr(0, 300);
    ASSERT_EQ(j["high_watermark"].get<uint64_t>(), records_.size());
    const auto& recs = j["records"];
    ASSERT_FALSE(recs.empty()) << "no progress at offset " << next;
    for (const auto& r : recs) {
      const uint64_t off = r["offset"].get<uint64_t>();
      ASSERT_EQ(off, next) << "offsets must be contiguous";
      ASSERT_EQ(r["key"].get<std::string>(), records_[off].key) << "offset " << off;
      ASSERT_EQ(r["value"].get<std::string>(), records_[off].value) << "offset " << off;
      ASSERT_EQ(r["timestamp"].get<int64_t>(), records_[off].timestamp) << "offset " << off;
      ++next;
    }
    ASSERT_EQ(j["next_offset"].get<uint64_t>(), next);
    ++pages;
  }
  EXPECT_GE(pages, 8u);
  EXPECT_GT(server.metric("streamhouse_s3_requests_total", "operation=\"get_object\""), 0)
      << "S3 metrics must be exported on /metrics";
  const std::string log = server.log();
  EXPECT_EQ(log.find(env("S3_SECRET")), std::string::npos) << "the service log contains the secret key";
}

TEST_F(RgwServeTest, ColdReadOfOneOffsetCostsAtMostFooterAndOneBlock) {
  auto objects = list_all(*direct_store(), "");
  ASSERT_TRUE(objects.ok());
  uint64_t smallest_segment = UINT64_MAX;
  for (const auto& o : *objects) smallest_segment = std::min(smallest_segment, o.size);

  Server server(store_url(), env("S3_SECRET"), dir_ + "/serve-cold.log");
  ASSERT_TRUE(server.wait_up()) << server.log();
  ASSERT_EQ(server.get("/readyz").status, 200) << server.log();
  // Learn the partition (metadata) first; then one cold read of an offset in the middle.
  ASSERT_EQ(server.get("/topics/orders/partitions/0").status, 200);
  const double gets_before = server.metric("streamhouse_s3_requests_total", "operation=\"get_object\"");
  const double retries_before = server.metric("streamhouse_s3_retries_total");
  const double bytes_before = server.metric("streamhouse_s3_received_bytes_total");
  auto one = server.get("/topics/orders/partitions/0/records", {{"offset", "2500"}, {"max_records", "1"}});
  ASSERT_EQ(one.status, 200) << one.body;
  auto j = nlohmann::json::parse(one.body);
  ASSERT_EQ(j["records"].size(), 1u);
  EXPECT_EQ(j["records"][0]["key"].get<std::string>(), records_[2500].key);
  // An attempt the client retried (a timeout on a loaded machine) is a request
  // the store saw, not a read the design asked for: count the reads.
  const double retries = server.metric("streamhouse_s3_retries_total") - retries_before;
  const double gets =
      server.metric("streamhouse_s3_requests_total", "operation=\"get_object\"") - gets_before - retries;
  const double bytes = server.metric("streamhouse_s3_received_bytes_total") - bytes_before;
  std::printf("cold read of one offset: %.0f GETs (%.0f more attempts retried), %.0f bytes received "
              "(smallest segment %llu bytes)\n",
              gets, retries, bytes, static_cast<unsigned long long>(smallest_segment));
  EXPECT_GE(gets, 1) << "a cold read must fetch something";
  EXPECT_LE(gets, 2) << "a cold read costs at most one suffix GET (footer+index) and one ranged GET (block)";
  EXPECT_LT(bytes, static_cast<double>(smallest_segment)) << "a cold read must never fetch a whole segment";
}

TEST_F(RgwServeTest, WrongSecretGivesClear503AndNotReady) {
  const std::string wrong = "WRONGsecretWRONGsecretWRONGsecret1234567";
  Server server(store_url(), wrong, dir_ + "/serve-wrong.log");
  ASSERT_TRUE(server.wait_up()) << "the service must come up (and report not ready) with bad credentials: "
                                << server.log();
  auto ready = server.get("/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  auto r = server.get("/topics/orders/partitions/0/records", {{"offset", "0"}});
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(r.body.find("credentials rejected") != std::string::npos ||
              r.body.find("SignatureDoesNotMatch") != std::string::npos)
      << "the 503 body must say the credentials were rejected: " << r.body;
  EXPECT_EQ(r.body.find(wrong), std::string::npos) << "secret in response body";
  EXPECT_GT(server.metric("streamhouse_s3_requests_total", "status=\"403\""), 0)
      << "the rejected requests are counted by status";
  const std::string log = server.log();
  EXPECT_EQ(log.find(wrong), std::string::npos) << "the service log contains the secret key";
  EXPECT_EQ(log.find(env("S3_SECRET")), std::string::npos);
}

TEST_F(RgwServeTest, MissingSegmentObjectIsAClearError) {
  Server server(store_url(), env("S3_SECRET"), dir_ + "/serve-missing.log", {"--index-ttl-ms", "3600000"});
  ASSERT_TRUE(server.wait_up()) << server.log();
  ASSERT_EQ(server.get("/topics/orders/partitions/0").status, 200);
  // Delete the segment holding offset 3500 behind the service's back.
  auto objects = list_all(*direct_store(), "");
  ASSERT_TRUE(objects.ok());
  std::string victim;
  for (const auto& o : *objects) {
    if (o.key.find("00000000000000003000") != std::string::npos) victim = o.key;
  }
  ASSERT_FALSE(victim.empty()) << "no segment starting at offset 3000 under " << prefix_;
  const std::string cmd = "curl -sf -X DELETE --aws-sigv4 aws:amz:us-east-1:s3 --user '" + env("S3_ACCESS") + ":" +
                          env("S3_SECRET") + "' -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' '" + env("S3_ENDPOINT") +
                          "/" + env("S3_BUCKET") + "/" + prefix_ + victim + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "cannot delete " << victim;
  auto r = server.get("/topics/orders/partitions/0/records", {{"offset", "3500"}, {"max_records", "1"}});
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find(victim), std::string::npos) << "the error must name the missing object: " << r.body;
  EXPECT_NE(r.body.find("NoSuchKey"), std::string::npos) << r.body;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_EQ(j["error_code"], 50202) << r.body;
  EXPECT_EQ(j["message"].get<std::string>().rfind("segment object missing: ", 0), 0u) << r.body;
  EXPECT_GT(server.metric("streamhouse_object_store_requests_total", "outcome=\"not_found\""), 0)
      << "the missing object is counted";

  // Never a silent skip: not on a later read either (after the index reload the
  // 404 triggered, at most once per second, no longer lists the object), and a
  // read that starts before the hole stops at it.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  for (const char* offset : {"3000", "3500", "3999"}) {
    auto again = server.get("/topics/orders/partitions/0/records", {{"offset", offset}, {"max_records", "10"}});
    auto ja = nlohmann::json::parse(again.body, nullptr, false);
    ASSERT_TRUE(ja.is_object()) << again.body;
    EXPECT_EQ(again.status, 502) << "offset " << offset << ": records of the missing segment must not be "
                                 << "replaced by later ones: " << again.body.substr(0, 300);
    EXPECT_EQ(ja["error_code"], 50202) << again.body.substr(0, 300);
    EXPECT_NE(again.body.find(victim), std::string::npos) << "offset " << offset << ": " << again.body;
  }
  auto before_hole = server.get("/topics/orders/partitions/0/records", {{"offset", "2995"}, {"max_records", "100"}});
  auto jb = nlohmann::json::parse(before_hole.body, nullptr, false);
  ASSERT_TRUE(jb.is_object()) << before_hole.body;
  if (before_hole.status == 200) {
    for (const auto& rec : jb["records"]) {
      EXPECT_LT(rec["offset"].get<uint64_t>(), 3000u) << "a read from 2995 jumped over the missing segment";
    }
    EXPECT_LE(jb["next_offset"].get<uint64_t>(), 3000u) << before_hole.body.substr(0, 300);
  } else {
    EXPECT_EQ(before_hole.status, 502) << before_hole.body;
  }
}

TEST_F(RgwServeTest, StoppedServerGivesClear503WithinTheDeadline) {
  // Nothing listens on this port: to a client, exactly a stopped S3 server.
  const std::string dead = fmt::format("http://127.0.0.1:{}", free_port());
  Server server(store_url(), env("S3_SECRET"), dir_ + "/serve-stopped.log",
                {"--s3-endpoint", dead, "--request-timeout-ms", "2000"});
  ASSERT_TRUE(server.wait_up()) << "the service must come up and report not ready: " << server.log();
  auto ready = server.get("/readyz");
  EXPECT_EQ(ready.status, 503) << ready.body;
  EXPECT_NE(ready.body.find("\"object_store\":\"unavailable\""), std::string::npos) << ready.body;
  const auto t0 = std::chrono::steady_clock::now();
  auto r = server.get("/topics/orders/partitions/0/records", {{"offset", "0"}});
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(r.status == 503 || r.status == 504) << r.body;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.body;
  EXPECT_TRUE(j["error_code"] == 50301 || j["error_code"] == 50401) << r.body;
  EXPECT_NE(r.body.find(env("S3_BUCKET")), std::string::npos) << "the message names the bucket: " << r.body;
  EXPECT_LT(took, std::chrono::seconds(6)) << "the request deadline bounds the wait";
  EXPECT_EQ(server.log().find(env("S3_SECRET")), std::string::npos) << "secret in the log";
}

}  // namespace
}  // namespace sh::s3
