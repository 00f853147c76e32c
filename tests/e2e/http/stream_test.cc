// End to end: GET /topics/{t}/partitions/{p}/records/stream against the real
// `streamhouse` binary, with segments written by `streamhouse segment write`.
// NDJSON and SSE framing, end reasons, Last-Event-ID resume, a follower woken
// by a new segment, disconnects freeing the stream, a slow reader not growing
// the server's memory, and a corrupt block ending the stream with an error.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
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

const std::string kStream = "/records/stream";

std::string jsonl(int n, int first, size_t value_bytes = 0) {
  std::ostringstream s;
  for (int i = 0; i < n; ++i) {
    json line{{"key", fmt::format("k-{}", first + i)},
              {"timestamp", 1'700'000'000 + (first + i) * 10},
              {"headers", {{"n", std::to_string(first + i)}}},
              {"value", value_bytes == 0 ? fmt::format("v-{} caf\u00e9 \"q\"", first + i)
                                         : fmt::format("v-{}-{}", first + i, std::string(value_bytes, 'x'))}};
    s << line.dump() << "\n";
  }
  return s.str();
}

// Resident set size of our `streamhouse serve` child, from /proc.
std::optional<long> server_rss_kib() {
  const std::string me = std::to_string(::getpid());
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(e.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    const size_t close = line.rfind(')');
    if (close == std::string::npos || line.find("(streamhouse)") == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 2));
    std::string state, ppid;
    rest >> state >> ppid;
    if (ppid != me) continue;
    std::ifstream status(e.path() / "status");
    for (std::string l; std::getline(status, l);) {
      if (l.rfind("VmRSS:", 0) == 0) return std::atol(l.c_str() + 6);
    }
  }
  return std::nullopt;
}

class StreamE2E : public ServedStoreSuite<StreamE2E> {
 protected:
  static void SetUpTestSuite() {
    open_store();
    // orders/0: 250 records in 3 segments, small blocks.
    auto w = write("orders", 0, jsonl(250, 0), {"--segment-records", "100", "--block-bytes", "1024"});
    ASSERT_EQ(w.exit_code, 0) << w.err;
    // live/0: 3 records; followers wait at its end.
    w = write("live", 0, jsonl(3, 0), {});
    ASSERT_EQ(w.exit_code, 0) << w.err;
    // bad/0: two segments; a byte of the second one's first block flipped on disk.
    w = write("bad", 0, jsonl(200, 0), {"--segment-records", "100", "--block-bytes", "1024",
                                         "--compression", "none"});
    ASSERT_EQ(w.exit_code, 0) << w.err;
    const std::string file = dir_->path() + "/bad/0/seg_00000000000000000100.bin";
    ASSERT_TRUE(flip_byte(file, 200)) << file;
    serve({"--long-poll-interval-ms", "100", "--index-ttl-ms", "60000"});
  }

  // big/0: 200k records with 256-byte values (~65 MB of NDJSON); written on
  // first use (ctest runs each test in its own process).
  static void ensure_big() {
    static bool written = false;
    if (written) return;
    std::string big;
    big.reserve(200000 * 330);
    const std::string pad(256, 'x');
    for (int i = 0; i < 200000; ++i) {
      big += fmt::format(R"({{"key":"k-{}","timestamp":{},"headers":{{"n":"{}"}},"value":"v-{}-{}"}})"
                         "\n",
                         i, 1'700'000'000 + i * 10, i, i, pad);
    }
    auto w = write("big", 0, big, {"--segment-records", "50000"});
    ASSERT_EQ(w.exit_code, 0) << w.err;
    written = true;
  }

  static std::string path(const std::string& topic, const std::string& query = "") {
    return fmt::format("/topics/{}/partitions/0{}{}", topic, kStream, query.empty() ? "" : "?" + query);
  }

  static double metric(const std::string& name) { return metric_value(*server_, name); }
  // Waits (up to 15 s) for the active-streams gauge to read `want`.
  static bool active_streams_become(double want) {
    return metric_becomes(*server_, "streamhouse_streams_active", want);
  }
};

TEST_F(StreamE2E, NdjsonReadsToTheHighWatermarkWithTheRecordsObjectsAndAnEndLine) {
  auto r = http_get(server_->url(path("orders")));
  ASSERT_EQ(r.error, "");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "application/x-ndjson");
  auto lines = split_lines(r.body);
  ASSERT_EQ(lines.size(), 251u);
  EXPECT_EQ(lines.back(), R"({"end":{"next_offset":250,"reason":"high_watermark"}})");
  // Each line is byte for byte the record object of the records response.
  auto rec = http_get(server_->url("/topics/orders/partitions/0/records?offset=0&max_records=250"));
  ASSERT_EQ(rec.status, 200);
  json all = json::parse(rec.body);
  ASSERT_EQ(all["records"].size(), 250u);
  for (int i = 0; i < 250; ++i) {
    json j = json::parse(lines[i], nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << lines[i];
    EXPECT_EQ(j["offset"], i);
    EXPECT_EQ(j, all["records"][i]) << "line " << i;
    EXPECT_NE(rec.body.find(lines[i]), std::string::npos) << "not the records response's bytes: " << lines[i];
  }
  // offset=latest: nothing, then the end line at the watermark.
  auto latest = http_get(server_->url(path("orders", "offset=latest")));
  EXPECT_EQ(latest.body, "{\"end\":{\"next_offset\":250,\"reason\":\"high_watermark\"}}\n");
}

TEST_F(StreamE2E, EndOffsetStopsBeforeItAndFormatIsTheRecordsFormat) {
  auto r = http_get(server_->url(path("orders", "offset=95&end_offset=105&format=base64")));
  ASSERT_EQ(r.status, 200) << r.body;
  auto lines = split_lines(r.body);
  ASSERT_EQ(lines.size(), 11u) << r.body;
  for (int i = 0; i < 10; ++i) {
    json j = json::parse(lines[i]);
    EXPECT_EQ(j["offset"], 95 + i);
  }
  auto b64 = http_get(server_->url("/topics/orders/partitions/0/records?offset=95&max_records=10&format=base64"));
  json want = json::parse(b64.body);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(json::parse(lines[i]), want["records"][i]);
  EXPECT_EQ(lines.back(), R"({"end":{"next_offset":105,"reason":"end_offset"}})");
}

TEST_F(StreamE2E, SseFramingAndLastEventIdResume) {
  auto r = http_get(server_->url(path("orders", "offset=0&end_offset=3")), {"Accept: text/event-stream"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "text/event-stream");
  // The data lines are the NDJSON lines (the records response's record objects).
  auto nd = http_get(server_->url(path("orders", "offset=0&end_offset=3")));
  auto lines = split_lines(nd.body);
  ASSERT_EQ(lines.size(), 4u) << nd.body;
  std::string want;
  for (int i = 0; i < 3; ++i) want += fmt::format("id: {}\ndata: {}\n\n", i, lines[i]);
  want += "event: end\ndata: {\"end\":{\"next_offset\":3,\"reason\":\"end_offset\"}}\n\n";
  EXPECT_EQ(r.body, want);

  // The browser's EventSource reconnects with the same URL and Last-Event-ID.
  auto again = http_get(server_->url(path("orders", "offset=0&end_offset=6")),
                        {"Accept: text/event-stream", "Last-Event-ID: 2"});
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.body.rfind("id: 3\n", 0), 0u) << again.body;
  EXPECT_EQ(again.body.find("id: 2\n"), std::string::npos);
  EXPECT_NE(again.body.find("id: 5\n"), std::string::npos);

  auto bad = http_get(server_->url(path("orders")), {"Accept: text/event-stream", "Last-Event-ID: x1"});
  EXPECT_EQ(bad.status, 400) << bad.body;
}

TEST_F(StreamE2E, EveryParameterIsValidated) {
  auto expect_error = [](const std::string& p, int code) { expect_get_error(*server_, p, code); };
  expect_error(path("orders", "follow=yes"), 40001);
  expect_error(path("orders", "end_offset=-1"), 40001);
  expect_error(path("orders", "end_offset=1x"), 40001);
  expect_error(path("orders", "format=xml"), 40001);
  expect_error(path("orders", "offset=abc"), 40001);
  expect_error(path("orders", "heartbeat_ms=0"), 40001);
  expect_error(path("orders", "max_records=5"), 40002);
  expect_error(path("orders", "offset=1&offset=2"), 40001);
  expect_error(path("orders", "offset=1&timestamp=5"), 40004);
  expect_error(path("orders", "auto_offset_reset=earliest"), 40004);
  expect_error(path("orders", "offset=251"), 41600);
  expect_error(path("nope"), 40401);
  expect_error("/topics/orders/partitions/7" + kStream, 40402);
}

TEST_F(StreamE2E, FollowerGetsHeartbeatsThenWakesOnANewSegment) {
  StreamClient c(server_->port(), path("live", "offset=0&follow=true&heartbeat_ms=100"),
                 {"Accept: text/event-stream"});
  ASSERT_TRUE(c.read_until("id: 2\n")) << c.head << c.body;
  EXPECT_EQ(c.status, 200);
  ASSERT_TRUE(c.read_until(": heartbeat\n\n")) << "a waiting follower gets heartbeats: " << c.body;
  EXPECT_EQ(c.body.find("event: end"), std::string::npos) << "a follower does not end at the watermark";

  auto w = write("live", 0, jsonl(2, 3), {});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  const auto written = Clock::now();
  ASSERT_TRUE(c.read_until("id: 4\n", 10s)) << "the follower must get the new records: " << c.body;
  EXPECT_LT(Clock::now() - written, 5s);
  EXPECT_NE(c.body.find("\"key\":\"k-3\""), std::string::npos) << c.body;
}

TEST_F(StreamE2E, AFollowerAtTheHeadSaysWhereItStandsSoAReconnectMissesNothing) {
  // Before its first record, an SSE stream says where it stands with an
  // id-only event, which a browser keeps as Last-Event-ID and dispatches not:
  // live/0 holds offsets 0..2.
  StreamClient c(server_->port(), path("live", "offset=latest&follow=true"), {"Accept: text/event-stream"});
  ASSERT_TRUE(c.read_until("\n\n", 5s)) << c.head << c.body;
  EXPECT_EQ(c.body, "id: 2\n\n");
  EXPECT_TRUE(sse_events(c.body).empty());
  const std::string last = sse_last_event_id(c.body);
  c.close();
  // Written while the client was away: its reconnect (the same URL, which
  // says latest, and that id) gets it all the same.
  auto w = write("live", 0, jsonl(2, 3), {});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  StreamClient again(server_->port(), path("live", "offset=latest&follow=true"),
                     {"Accept: text/event-stream", "Last-Event-ID: " + last});
  ASSERT_TRUE(again.read_until("id: 4\n", 10s)) << again.body;
  auto events = sse_events(again.body);
  ASSERT_EQ(events.size(), 2u) << again.body;
  EXPECT_EQ(events[0].id, "3");
  EXPECT_EQ(events[1].id, "4");

  // A stream that opens at offset 0 stands before it: -1, which resumes at 0.
  auto from0 = http_get(server_->url(path("live", "offset=latest")), {"Accept: text/event-stream", "Last-Event-ID: -1"});
  ASSERT_EQ(from0.status, 200) << from0.body;
  auto all = sse_events(from0.body);
  ASSERT_EQ(all.size(), 6u) << from0.body;  // 0..4 and the end event
  EXPECT_EQ(all[0].id, "0");
  EXPECT_EQ(all[5].event, "end");
  auto bad = http_get(server_->url(path("live")), {"Accept: text/event-stream", "Last-Event-ID: -2"});
  EXPECT_EQ(bad.status, 400) << bad.body;
}

TEST_F(StreamE2E, DisconnectFreesTheStream) {
  ensure_big();
  ASSERT_TRUE(active_streams_become(0));
  {
    // A follower waiting at the end of the log (NDJSON: no heartbeat bytes).
    StreamClient c(server_->port(), path("live", "offset=latest&follow=true&heartbeat_ms=100"));
    ASSERT_TRUE(c.read_some(5s));
    EXPECT_EQ(c.status, 200) << c.head;
    ASSERT_TRUE(active_streams_become(1));
    c.close();
    EXPECT_TRUE(active_streams_become(0)) << "a waiting follower that hung up must be freed";
  }
  {
    // A stream cut off in the middle of a large partition.
    StreamClient c(server_->port(), path("big"));
    ASSERT_TRUE(c.read_until("\"offset\":1000,"));
    ASSERT_TRUE(active_streams_become(1));
    c.close();
    EXPECT_TRUE(active_streams_become(0)) << "a stream whose client hung up must be freed";
  }
  EXPECT_GT(metric("streamhouse_stream_records_total"), 1000);
}

TEST_F(StreamE2E, SlowReaderDoesNotGrowServerMemory) {
  ensure_big();
  // Warm the server (index, footers) so that only streaming is measured.
  ASSERT_EQ(http_get(server_->url("/topics/big/partitions/0/records?offset=0&max_records=1")).status, 200);
  auto before = server_rss_kib();
  ASSERT_TRUE(before.has_value()) << "cannot find the server's /proc entry";
  StreamClient c(server_->port(), path("big"), {}, 4096);
  // About 1.5 KB/s for 4 s, while the server has ~65 MB to send.
  const auto until = Clock::now() + 4s;
  while (Clock::now() < until) {
    c.read_some(100ms, 150);
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(c.status, 200);
  EXPECT_FALSE(c.done);
  auto during = server_rss_kib();
  ASSERT_TRUE(during.has_value());
  EXPECT_LT(*during - *before, 32 * 1024)
      << "server RSS grew from " << *before << " KiB to " << *during
      << " KiB while a slow client read a 65 MB stream: the body must not be buffered";
  // The records that did arrive are whole lines in order.
  auto lines = split_lines(c.body);
  ASSERT_GT(lines.size(), 2u);
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    json j = json::parse(lines[i], nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << lines[i];
    EXPECT_EQ(j["offset"], i);
  }
}

TEST_F(StreamE2E, CorruptBlockEndsTheStreamWithAnErrorLineNamingTheObject) {
  std::vector<std::string> lines;
  json last;
  ASSERT_NO_FATAL_FAILURE(get_stream_ended_by_error(*server_, path("bad"), 50201, &lines, &last));
  EXPECT_NE(last["error"]["message"].get<std::string>().find("bad/0/seg_00000000000000000100.bin"),
            std::string::npos)
      << lines.back();
  EXPECT_EQ(last["error"]["next_offset"], 100);
  // Every record before it is the right one; none from the corrupt segment.
  ASSERT_EQ(lines.size(), 101u);
  for (int i = 0; i < 100; ++i) {
    json j = json::parse(lines[i]);
    EXPECT_EQ(j["offset"], i);
    EXPECT_EQ(j["key"], fmt::format("k-{}", i));
  }

  auto sse = http_get(server_->url(path("bad", "offset=90")), {"Accept: text/event-stream"});
  ASSERT_EQ(sse.status, 200);
  EXPECT_NE(sse.body.find("\n\nevent: error\ndata: {\"error\":{\"error_code\":50201,"), std::string::npos)
      << sse.body;
  EXPECT_EQ(sse.body.find("id: 100\n"), std::string::npos);
}

}  // namespace
}  // namespace sh::testing
