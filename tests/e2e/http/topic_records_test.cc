// End to end: GET /topics/{t}/records against the real `streamhouse` binary —
// a poll over all partitions with fair shares, next_offsets that commit in one
// call (a group consuming a whole topic, checked record by record), partition
// selection and validation, and a long-poll woken by data on any partition.
#include <chrono>
#include <future>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/support/process.h"

namespace sh::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string jsonl(int n, int partition, int first) {
  std::ostringstream s;
  for (int i = 0; i < n; ++i) {
    s << json{{"key", fmt::format("k-{}", first + i)},
              {"value", fmt::format("p{}-v{}", partition, first + i)}}
             .dump()
      << "\n";
  }
  return s.str();
}

class TopicRecordsE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    store_ = "file://" + dir_->path();
    // multi: partition 0 holds 50 records, 1 holds 5, 2 holds 30.
    const std::map<int, int> counts{{0, 50}, {1, 5}, {2, 30}};
    for (auto [p, n] : counts) ASSERT_EQ(write("multi", p, jsonl(n, p, 0)).exit_code, 0);
    for (int p = 0; p < 2; ++p) ASSERT_EQ(write("lp", p, jsonl(2, p, 0)).exit_code, 0);
    server_ = new ServerProcess({"--store", store_, "--long-poll-interval-ms", "100", "--index-ttl-ms", "200"});
    ASSERT_GT(server_->port(), 0);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  static CommandResult write(const std::string& topic, int partition, const std::string& input) {
    return run_command({streamhouse_binary(), "segment", "write", "--store", store_, "--topic", topic,
                        "--partition", std::to_string(partition)},
                       input);
  }
  static json get_json(const std::string& path, long* status = nullptr) {
    auto r = http_get(server_->url(path));
    if (status) *status = r.status;
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << path << ": " << r.body.substr(0, 300);
    return j;
  }

  static TempDir* dir_;
  static std::string store_;
  static ServerProcess* server_;
};

TempDir* TopicRecordsE2E::dir_ = nullptr;
std::string TopicRecordsE2E::store_;
ServerProcess* TopicRecordsE2E::server_ = nullptr;

TEST_F(TopicRecordsE2E, OnePollSharesTheBudgetAcrossPartitionsAndEachRecordCarriesItsPartition) {
  long status = 0;
  json j = get_json("/topics/multi/records?offset=earliest&max_records=30", &status);
  ASSERT_EQ(status, 200) << j.dump();
  EXPECT_EQ(j["topic"], "multi");
  ASSERT_EQ(j["records"].size(), 30u);
  std::map<int, int> per;
  std::map<int, int64_t> next;
  for (const auto& r : j["records"]) {
    const int p = r["partition"];
    const int64_t o = r["offset"];
    EXPECT_EQ(o, per[p]) << "partition " << p << " in offset order from 0";
    EXPECT_EQ(r["value"], fmt::format("p{}-v{}", p, o));
    ++per[p];
  }
  EXPECT_EQ(per[1], 5) << "the small partition gives what it has";
  EXPECT_GE(per[0], 12);
  EXPECT_GE(per[2], 12);
  ASSERT_EQ(j["next_offsets"]["offsets"].size(), 3u);
  for (const auto& o : j["next_offsets"]["offsets"]) {
    EXPECT_EQ(o["topic"], "multi");
    EXPECT_EQ(o["offset"], per[o["partition"].get<int>()]);
  }
  ASSERT_EQ(j["partitions"].size(), 3u);
  EXPECT_EQ(j["partitions"][1]["high_watermark"], 5);
}

TEST_F(TopicRecordsE2E, AGroupConsumesTheWholeTopicWithOneCommitPerPoll) {
  std::set<std::pair<int, int64_t>> seen;
  for (int poll = 0; poll < 50; ++poll) {
    long status = 0;
    json j = get_json("/topics/multi/records?group=whole&auto_offset_reset=earliest&max_records=17", &status);
    ASSERT_EQ(status, 200) << j.dump();
    if (j["records"].empty()) break;
    for (const auto& r : j["records"]) {
      const auto key = std::make_pair(r["partition"].get<int>(), r["offset"].get<int64_t>());
      EXPECT_TRUE(seen.insert(key).second) << "record " << key.first << "/" << key.second << " twice";
      EXPECT_EQ(r["value"], fmt::format("p{}-v{}", key.first, key.second));
    }
    auto c = http_request("POST", server_->url("/consumer-groups/whole/offsets"), j["next_offsets"].dump(),
                          {"Content-Type: application/json"});
    ASSERT_EQ(c.status, 204) << c.body;
  }
  EXPECT_EQ(seen.size(), 85u) << "every record of every partition, once";
  json offsets = get_json("/consumer-groups/whole/offsets");
  ASSERT_TRUE(offsets.contains("offsets")) << offsets.dump();
  std::map<int, int64_t> committed;
  for (const auto& o : offsets["offsets"]) committed[o["partition"].get<int>()] = o["committed_offset"].get<int64_t>();
  EXPECT_EQ(committed[0], 50);
  EXPECT_EQ(committed[1], 5);
  EXPECT_EQ(committed[2], 30);
}

TEST_F(TopicRecordsE2E, PartitionsSelectsAndEveryParameterIsValidated) {
  long status = 0;
  json j = get_json("/topics/multi/records?partitions=2,0&max_records=1000", &status);
  ASSERT_EQ(status, 200);
  std::set<int> parts;
  for (const auto& r : j["records"]) parts.insert(r["partition"].get<int>());
  EXPECT_EQ(parts, (std::set<int>{0, 2}));
  EXPECT_EQ(j["records"].size(), 80u);

  j = get_json("/topics/multi/records?partitions=9", &status);
  EXPECT_EQ(status, 404) << j.dump();
  j = get_json("/topics/nope/records", &status);
  EXPECT_EQ(status, 404) << j.dump();
  for (const char* bad : {"partitions=x", "partitions=1,1", "partitions=", "partitions=01",
                          "max_records=0", "offset=-1", "format=xml", "auto_offset_reset=none",
                          "offset=1&timestamp=5", "what=1", "group=bad%20group"}) {
    j = get_json(fmt::format("/topics/multi/records?{}", bad), &status);
    EXPECT_EQ(status, 400) << bad << ": " << j.dump();
    EXPECT_TRUE(j.contains("error_code")) << bad << ": " << j.dump();
  }
}

TEST_F(TopicRecordsE2E, ALongPollWakesOnDataInAnyPartitionAndTimesOutEmptyOtherwise) {
  // Nothing new: an empty answer after the timeout, with next_offsets at the end.
  const auto t0 = Clock::now();
  long status = 0;
  json j = get_json("/topics/lp/records?offset=latest&timeout_ms=400", &status);
  EXPECT_EQ(status, 200) << j.dump();
  EXPECT_TRUE(j["records"].empty());
  EXPECT_GE(Clock::now() - t0, 350ms);
  ASSERT_EQ(j["next_offsets"]["offsets"].size(), 2u);

  // Data arrives on partition 1 while the poll waits.
  auto waiting = std::async(std::launch::async, [] {
    return http_get(server_->url("/topics/lp/records?offset=latest&timeout_ms=15000"), {}, 30000);
  });
  std::this_thread::sleep_for(500ms);
  const auto written = Clock::now();
  ASSERT_EQ(write("lp", 1, jsonl(1, 1, 2)).exit_code, 0);
  auto r = waiting.get();
  const auto answered = Clock::now();
  ASSERT_EQ(r.status, 200) << r.body;
  j = json::parse(r.body);
  ASSERT_EQ(j["records"].size(), 1u) << r.body;
  EXPECT_EQ(j["records"][0]["partition"], 1);
  EXPECT_EQ(j["records"][0]["offset"], 2);
  EXPECT_LT(answered - written, 5s) << "woken by the new data, not by the timeout";
}

}  // namespace
}  // namespace sh::testing
