// End to end: GET /topics/{t}/records/stream against the real `streamhouse`
// binary, with segments written by `streamhouse segment write`: every record
// of a 3-partition topic exactly once with its partition and the end line
// (NDJSON), SSE ids as KafkaSSE JSON arrays, a reconnect with Last-Event-ID
// resuming exactly (checked record by record), a timestamp entry, a group
// start, a follower woken by a record written after it opened, a corrupt
// partition ending the stream with an error naming it, and strict validation.
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/support/json_checks.h"
#include "tests/e2e/support/process.h"
#include "tests/e2e/support/served_store.h"
#include "tests/e2e/support/stream_client.h"

namespace sh::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int64_t kTs0 = 1'700'000'000'000;

std::string jsonl(int n, int partition, int first) {
  std::ostringstream s;
  for (int i = 0; i < n; ++i) {
    s << json{{"key", fmt::format("k-{}", first + i)},
              {"timestamp", kTs0 + (first + i) * 10},
              {"value", fmt::format("p{}-v{}", partition, first + i)}}
             .dump()
      << "\n";
  }
  return s.str();
}

class TopicStreamE2E : public ServedStoreSuite<TopicStreamE2E> {
 protected:
  static void SetUpTestSuite() {
    open_store();
    // multi: partition 0 holds 50 records in 2 segments, 1 holds 5, 2 holds 30.
    ASSERT_EQ(write("multi", 0, jsonl(30, 0, 0), {"--block-bytes", "512"}).exit_code, 0);
    ASSERT_EQ(write("multi", 0, jsonl(20, 0, 30), {"--block-bytes", "512"}).exit_code, 0);
    ASSERT_EQ(write("multi", 1, jsonl(5, 1, 0), {}).exit_code, 0);
    ASSERT_EQ(write("multi", 2, jsonl(30, 2, 0), {"--block-bytes", "512"}).exit_code, 0);
    // live: 2 partitions of 2 records; followers wait at their ends.
    for (int p = 0; p < 2; ++p) ASSERT_EQ(write("live", p, jsonl(2, p, 0), {}).exit_code, 0);
    // bad: partition 0 intact (40 records); partition 1 has two segments, a
    // byte of the second one's first block flipped on disk.
    ASSERT_EQ(write("bad", 0, jsonl(40, 0, 0), {}).exit_code, 0);
    auto w = write("bad", 1, jsonl(200, 1, 0),
                   {"--segment-records", "100", "--block-bytes", "1024", "--compression", "none"});
    ASSERT_EQ(w.exit_code, 0) << w.err;
    const std::string file = dir_->path() + "/bad/1/seg_00000000000000000100.bin";
    ASSERT_TRUE(flip_byte(file, 200)) << file;
    serve({"--long-poll-interval-ms", "100", "--index-ttl-ms", "200"});
  }
  static std::string path(const std::string& topic, const std::string& query = "") {
    return fmt::format("/topics/{}/records/stream{}", topic, query.empty() ? "" : "?" + query);
  }
  static HttpResult sse(const std::string& p, std::vector<std::string> headers = {}) {
    headers.push_back("Accept: text/event-stream");
    return http_get(server_->url(p), headers);
  }
  static bool active_streams_become(double want) {
    return metric_becomes(*server_, "streamhouse_streams_active", want);
  }
};

const std::map<int, int64_t> kMultiCounts{{0, 50}, {1, 5}, {2, 30}};

TEST_F(TopicStreamE2E, NdjsonSendsEveryRecordOnceWithItsPartitionThenTheEndLine) {
  auto r = http_get(server_->url(path("multi")));
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "application/x-ndjson");
  auto lines = split_lines(r.body);
  ASSERT_EQ(lines.size(), 86u) << r.body.substr(0, 500);
  EXPECT_EQ(lines.back(),
            R"({"end":{"next_offsets":{"offsets":[{"topic":"multi","partition":0,"offset":50},)"
            R"({"topic":"multi","partition":1,"offset":5},{"topic":"multi","partition":2,"offset":30}]},)"
            R"("reason":"high_watermark"}})");
  // Each record is the topic poll's record object (with its partition).
  auto poll = http_get(server_->url("/topics/multi/records?max_records=1000"));
  ASSERT_EQ(poll.status, 200);
  std::map<std::pair<int, int64_t>, json> want;
  const json polled = json::parse(poll.body);
  for (const auto& rec : polled["records"]) {
    want[{rec["partition"].get<int>(), rec["offset"].get<int64_t>()}] = rec;
  }
  ASSERT_EQ(want.size(), 85u);
  std::map<int, int64_t> next{{0, 0}, {1, 0}, {2, 0}};
  std::set<std::pair<int, int64_t>> seen;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    json j = json::parse(lines[i], nullptr, false);
    ASSERT_TRUE(j.is_object()) << lines[i];
    const int p = j["partition"];
    const int64_t o = j["offset"];
    EXPECT_EQ(o, next[p]) << "partition " << p << " in offset order, no gap";
    next[p] = o + 1;
    EXPECT_TRUE(seen.insert({p, o}).second) << p << "/" << o << " twice";
    EXPECT_EQ(j["value"], fmt::format("p{}-v{}", p, o));
    EXPECT_EQ(j, (want[{p, o}])) << "line " << i;
  }
  EXPECT_EQ(seen.size(), 85u);

  auto latest = http_get(server_->url(path("multi", "offset=latest&partitions=1")));
  EXPECT_EQ(latest.body,
            "{\"end\":{\"next_offsets\":{\"offsets\":[{\"topic\":\"multi\",\"partition\":1,\"offset\":5}]},"
            "\"reason\":\"high_watermark\"}}\n");
}

TEST_F(TopicStreamE2E, ABacklogDoesNotHoldBackAQuietPartition) {
  // backlog/0: 20k records with 300-byte values (~6.5 MB of NDJSON); backlog/1: 3 records.
  std::string big;
  const std::string pad(300, 'x');
  for (int i = 0; i < 20000; ++i) {
    big += fmt::format(R"({{"key":"k-{}","value":"p0-v{}-{}"}})" "\n", i, i, pad);
  }
  ASSERT_EQ(write("backlog", 0, big, {}).exit_code, 0);
  ASSERT_EQ(write("backlog", 1, jsonl(3, 1, 0), {}).exit_code, 0);
  auto r = http_get(server_->url(path("backlog")), {}, 60000);
  ASSERT_EQ(r.status, 200);
  auto lines = split_lines(r.body);
  ASSERT_EQ(lines.size(), 20004u);
  size_t last_p1 = 0;
  int64_t p0 = 0;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    // {"partition":P,"offset":O,… (parsing 20k lines as JSON is slow in a debug build)
    int p = -1;
    long long o = -1;
    ASSERT_EQ(std::sscanf(lines[i].c_str(), R"({"partition":%d,"offset":%lld,)", &p, &o), 2) << lines[i];
    if (p == 1) {
      last_p1 = i;
    } else {
      ASSERT_EQ(o, p0++) << "partition 0 in order, no gap";
    }
  }
  EXPECT_EQ(p0, 20000);
  EXPECT_LT(last_p1, 2000u) << "partition 1 waited behind " << last_p1
                            << " records of partition 0: partitions take turns, one chunk each";
}

TEST_F(TopicStreamE2E, SseIdsAreKafkaSseArraysOfEveryPartitionsLastOffset) {
  auto r = sse(path("multi", "partitions=0,2&offset=10&format=base64"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "text/event-stream");
  auto events = sse_events(r.body);
  ASSERT_EQ(events.size(), 40u + 20u + 1u) << r.body.substr(0, 400);
  // Before anything is sent a partition stands at its start minus one.
  std::map<int, int64_t> last{{0, 9}, {2, 9}};
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    const SseEvent& e = events[i];
    EXPECT_EQ(e.event, "message");
    json rec = json::parse(e.data);
    last[rec["partition"].get<int>()] = rec["offset"].get<int64_t>();
    json id = json::parse(e.id, nullptr, false);
    ASSERT_TRUE(id.is_array()) << e.id;
    ASSERT_EQ(id.size(), 2u) << e.id;
    int k = 0;
    for (const auto& [p, o] : last) {
      EXPECT_EQ(id[k], (json{{"topic", "multi"}, {"partition", p}, {"offset", o}})) << "event " << i << ": " << e.id;
      ++k;
    }
  }
  EXPECT_EQ(events.back().event, "end");
  EXPECT_EQ(json::parse(events.back().id), json::parse(R"([{"topic":"multi","partition":0,"offset":49},
                                                           {"topic":"multi","partition":2,"offset":29}])"));
  EXPECT_EQ(json::parse(events.back().data)["end"]["next_offsets"],
            json::parse(R"({"offsets":[{"topic":"multi","partition":0,"offset":50},
                                       {"topic":"multi","partition":2,"offset":30}]})"));
  // A partition that has sent nothing from offset 0 stands at -1.
  auto first = sse(path("multi", "partitions=1,2"));
  auto fe = sse_events(first.body);
  ASSERT_FALSE(fe.empty());
  json id = json::parse(fe[0].id);
  json rec = json::parse(fe[0].data);
  const int other = rec["partition"] == 1 ? 2 : 1;
  for (const auto& entry : id) {
    if (entry["partition"] == other) {
      EXPECT_EQ(entry["offset"], -1) << fe[0].id;
    }
  }
}

TEST_F(TopicStreamE2E, ReconnectWithLastEventIdResumesExactlyRecordByRecord) {
  auto full = sse(path("multi"));
  ASSERT_EQ(full.status, 200);
  auto events = sse_events(full.body);
  ASSERT_EQ(events.size(), 86u);
  for (size_t cut : {size_t{0}, size_t{7}, size_t{40}, size_t{84}}) {
    // The client saw events [0, cut] and reconnects with the id of the last one.
    auto again = sse(path("multi"), {"Last-Event-ID: " + events[cut].id});
    ASSERT_EQ(again.status, 200) << again.body;
    auto rest = sse_events(again.body);
    ASSERT_FALSE(rest.empty());
    EXPECT_EQ(rest.back().event, "end");
    std::set<std::pair<int, int64_t>> got;
    for (size_t i = 0; i <= cut; ++i) {
      json rec = json::parse(events[i].data);
      got.insert({rec["partition"].get<int>(), rec["offset"].get<int64_t>()});
    }
    std::map<int, int64_t> next;
    for (size_t i = 0; i + 1 < rest.size(); ++i) {
      json rec = json::parse(rest[i].data);
      const int p = rec["partition"];
      const int64_t o = rec["offset"];
      EXPECT_TRUE(got.insert({p, o}).second) << "after event " << cut << ": " << p << "/" << o << " again";
      EXPECT_EQ(rec["value"], fmt::format("p{}-v{}", p, o));
      if (next.count(p)) {
        EXPECT_EQ(o, next[p]) << "a gap in partition " << p;
      }
      next[p] = o + 1;
    }
    EXPECT_EQ(got.size(), 85u) << "after event " << cut << ": records missing";
  }
  // Any format resumes from an SSE id (NDJSON here), and the URL's start does
  // not override it.
  auto nd = http_get(server_->url(path("multi", "offset=latest")), {"Last-Event-ID: " + events[40].id});
  ASSERT_EQ(nd.status, 200);
  EXPECT_EQ(split_lines(nd.body).size(), 85u - 41u + 1u);
}

TEST_F(TopicStreamE2E, ATimestampEntryStartsThatPartitionAtThatTime) {
  const std::string id = fmt::format(R"([{{"topic":"multi","partition":2,"timestamp":{}}},)"
                                     R"({{"topic":"multi","partition":0,"offset":47}}])",
                                     kTs0 + 255);
  auto r = http_get(server_->url(path("multi", "partitions=0,2")), {"Last-Event-ID: " + id});
  ASSERT_EQ(r.status, 200) << r.body;
  auto lines = split_lines(r.body);
  std::map<int, std::vector<int64_t>> offsets;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    json j = json::parse(lines[i]);
    offsets[j["partition"].get<int>()].push_back(j["offset"].get<int64_t>());
    EXPECT_GE(j["timestamp"].get<int64_t>(), j["partition"] == 2 ? kTs0 + 255 : 0);
  }
  EXPECT_EQ(offsets[0], (std::vector<int64_t>{48, 49}));
  ASSERT_EQ(offsets[2].size(), 4u);  // timestamps kTs0 + 260 .. + 290: offsets 26..29
  EXPECT_EQ(offsets[2].front(), 26);
}

TEST_F(TopicStreamE2E, AGroupStartsEachPartitionAtItsCommittedOffset) {
  auto c = http_request("POST", server_->url("/consumer-groups/ts-g/offsets"),
                        R"({"offsets":[{"topic":"multi","partition":0,"offset":45},{"topic":"multi","partition":1,"offset":5}]})",
                        {"Content-Type: application/json"});
  ASSERT_EQ(c.status, 204) << c.body;
  auto r = http_get(server_->url(path("multi", "group=ts-g&auto_offset_reset=earliest")));
  ASSERT_EQ(r.status, 200) << r.body;
  auto lines = split_lines(r.body);
  std::map<int, std::vector<int64_t>> offsets;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    json j = json::parse(lines[i]);
    offsets[j["partition"].get<int>()].push_back(j["offset"].get<int64_t>());
  }
  EXPECT_EQ(offsets[0], (std::vector<int64_t>{45, 46, 47, 48, 49})) << "from the committed offset";
  EXPECT_TRUE(offsets[1].empty()) << "committed at its end";
  EXPECT_EQ(offsets[2].size(), 30u) << "no commit: auto_offset_reset=earliest";
  // The end line commits as it is.
  json end = json::parse(lines.back());
  auto commit = http_request("POST", server_->url("/consumer-groups/ts-g/offsets"), end["end"]["next_offsets"].dump(),
                             {"Content-Type: application/json"});
  EXPECT_EQ(commit.status, 204) << commit.body;
  auto after = http_get(server_->url(path("multi", "group=ts-g")));
  EXPECT_EQ(split_lines(after.body).size(), 1u) << "everything committed: only the end line: " << after.body;
}

TEST_F(TopicStreamE2E, FollowWakesOnARecordWrittenAfterTheStreamOpened) {
  ASSERT_TRUE(active_streams_become(0));
  StreamClient c(server_->port(), path("live", "offset=latest&follow=true&heartbeat_ms=100"),
                 {"Accept: text/event-stream"});
  ASSERT_TRUE(c.read_until(": heartbeat\n\n")) << c.head << c.body;
  EXPECT_EQ(c.status, 200);
  EXPECT_EQ(c.body.find("event: end"), std::string::npos) << "a follower does not end at the watermark";
  ASSERT_TRUE(active_streams_become(1));

  auto w = write("live", 1, jsonl(1, 1, 2), {});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  const auto written = Clock::now();
  ASSERT_TRUE(c.read_until("\"value\":\"p1-v2\"", 10s)) << "the follower must get the new record: " << c.body;
  EXPECT_LT(Clock::now() - written, 5s);
  std::optional<SseEvent> rec;
  for (const auto& e : sse_events(c.body)) {
    if (e.data.find("p1-v2") != std::string::npos) rec = e;
  }
  ASSERT_TRUE(rec.has_value()) << c.body;
  EXPECT_EQ(json::parse(rec->data)["partition"], 1);
  EXPECT_EQ(json::parse(rec->id), json::parse(R"([{"topic":"live","partition":0,"offset":1},
                                                  {"topic":"live","partition":1,"offset":2}])"));
  c.close();
  EXPECT_TRUE(active_streams_become(0)) << "a follower that hung up must be freed";
}

TEST_F(TopicStreamE2E, AFollowerAtTheHeadSaysWhereEveryPartitionStandsSoAReconnectMissesNothing) {
  // Before its first record, the stream's first piece is an id-only event
  // (a browser keeps it as Last-Event-ID, dispatches nothing) with every
  // partition's position: live/0 and live/1 hold offsets 0..1.
  StreamClient c(server_->port(), path("live", "offset=latest&follow=true"), {"Accept: text/event-stream"});
  ASSERT_TRUE(c.read_until("\n\n", 5s)) << c.head << c.body;
  EXPECT_TRUE(sse_events(c.body).empty()) << c.body;
  ASSERT_EQ(c.body.rfind("id: ", 0), 0u) << c.body;
  const std::string last = sse_last_event_id(c.body);
  EXPECT_EQ(json::parse(last), json::parse(R"([{"topic":"live","partition":0,"offset":1},
                                               {"topic":"live","partition":1,"offset":1}])"));
  c.close();
  // Written while the client was away; its reconnect with that id gets it.
  ASSERT_EQ(write("live", 0, jsonl(1, 0, 2), {}).exit_code, 0);
  StreamClient again(server_->port(), path("live", "offset=latest&follow=true"),
                     {"Accept: text/event-stream", "Last-Event-ID: " + last});
  ASSERT_TRUE(again.read_until("\"value\":\"p0-v2\"", 10s)) << again.body;
  auto events = sse_events(again.body);
  ASSERT_EQ(events.size(), 1u) << again.body;
  EXPECT_EQ(json::parse(events[0].data)["offset"], 2);
}

TEST_F(TopicStreamE2E, ACorruptPartitionEndsTheStreamWithAnErrorNamingItAndTheObject) {
  std::vector<std::string> lines;
  json last;
  ASSERT_NO_FATAL_FAILURE(get_stream_ended_by_error(*server_, path("bad"), 50201, &lines, &last));
  EXPECT_EQ(last["error"]["partition"], 1) << lines.back();
  EXPECT_NE(last["error"]["message"].get<std::string>().find("bad/1/seg_00000000000000000100.bin"),
            std::string::npos)
      << lines.back();
  std::map<int, int64_t> next{{0, 0}, {1, 0}};
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    json j = json::parse(lines[i]);
    const int p = j["partition"];
    EXPECT_EQ(j["offset"], next[p]);
    EXPECT_EQ(j["value"], fmt::format("p{}-v{}", p, next[p]));
    ++next[p];
  }
  EXPECT_EQ(next[1], 100) << "partition 1's first segment whole, nothing of the corrupt block";
  json want_positions = json::parse(fmt::format(
      R"({{"offsets":[{{"topic":"bad","partition":0,"offset":{}}},{{"topic":"bad","partition":1,"offset":100}}]}})",
      next[0]));
  EXPECT_EQ(last["error"]["next_offsets"], want_positions) << lines.back();

  auto s = sse(path("bad", "partitions=1&offset=90"));
  ASSERT_EQ(s.status, 200);
  auto events = sse_events(s.body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().event, "error") << s.body;
  EXPECT_EQ(json::parse(events.back().id), json::parse(R"([{"topic":"bad","partition":1,"offset":99}])"));
}

TEST_F(TopicStreamE2E, BadLastEventIdAndBadParametersAre400BeforeTheStream) {
  const std::vector<std::string> bad_ids = {
      "x1",
      "42",
      "[]",
      R"({"topic":"multi","partition":0,"offset":1})",
      R"([{"topic":"other","partition":0,"offset":1}])",
      R"([{"topic":"multi","partition":9,"offset":1}])",
      R"([{"topic":"multi","partition":0,"offset":-2}])",
      R"([{"topic":"multi","partition":0,"offset":1.5}])",
      R"([{"topic":"multi","partition":0,"offset":"1"}])",
      R"([{"topic":"multi","partition":-1,"offset":1}])",
      R"([{"topic":"multi","partition":0}])",
      R"([{"topic":"multi","partition":0,"offset":1,"timestamp":5}])",
      R"([{"topic":"multi","partition":0,"offset":1,"extra":true}])",
      R"([{"topic":"multi","partition":0,"offset":1},{"topic":"multi","partition":0,"offset":2}])",
      R"([{"partition":0,"offset":1}])",
      R"([{"topic":"multi","partition":0,"offset":1}] trailing)",
  };
  for (const std::string& id : bad_ids) {
    auto r = sse(path("multi"), {"Last-Event-ID: " + id});
    EXPECT_EQ(r.status, 400) << id << " → " << r.body;
    json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << id << ": " << r.body;
    EXPECT_EQ(j["error_code"], 40001) << id << ": " << r.body;
  }
  // A partition the stream does not select.
  auto r = http_get(server_->url(path("multi", "partitions=0")),
                    {R"(Last-Event-ID: [{"topic":"multi","partition":2,"offset":1}])"});
  EXPECT_EQ(r.status, 400) << r.body;

  auto expect_error = [](const std::string& p, int code) { expect_get_error(*server_, p, code); };
  expect_error(path("multi", "follow=yes"), 40001);
  expect_error(path("multi", "partitions=x"), 40001);
  expect_error(path("multi", "partitions=1,1"), 40001);
  expect_error(path("multi", "format=xml"), 40001);
  expect_error(path("multi", "heartbeat_ms=0"), 40001);
  expect_error(path("multi", "max_records=5"), 40002);
  expect_error(path("multi", "end_offset=5"), 40002);
  expect_error(path("multi", "offset=1&group=g"), 40004);
  expect_error(path("multi", "auto_offset_reset=earliest"), 40004);
  expect_error(path("nope"), 40401);
  expect_error(path("multi", "partitions=0,9"), 40402);
  expect_error(path("multi", "offset=40"), 41600);
}

}  // namespace
}  // namespace sh::testing
