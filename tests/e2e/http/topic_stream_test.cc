// End to end: GET /topics/{t}/records/stream against the real `streamhouse`
// binary, with segments written by `streamhouse segment write`: every record
// of a 3-partition topic exactly once with its partition and the end line
// (NDJSON), SSE ids as KafkaSSE JSON arrays, a reconnect with Last-Event-ID
// resuming exactly (checked record by record), a timestamp entry, a group
// start, a follower woken by a record written after it opened, a corrupt
// partition ending the stream with an error naming it, and strict validation.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/support/process.h"

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

std::vector<std::string> split_lines(const std::string& body) {
  std::vector<std::string> out;
  std::istringstream in(body);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

struct SseEvent {
  std::string event = "message";
  std::string id;
  std::string data;
};

// Events of an SSE body (comments skipped); a field line per line.
std::vector<SseEvent> sse_events(const std::string& body) {
  std::vector<SseEvent> out;
  SseEvent cur;
  bool any = false;
  for (const std::string& l : split_lines(body)) {
    if (l.empty()) {
      if (any) out.push_back(cur);
      cur = SseEvent{};
      any = false;
      continue;
    }
    if (l[0] == ':') continue;
    const size_t colon = l.find(": ");
    const std::string field = l.substr(0, colon);
    const std::string value = colon == std::string::npos ? "" : l.substr(colon + 2);
    any = true;
    if (field == "event") cur.event = value;
    if (field == "id") cur.id = value;
    if (field == "data") cur.data = value;
  }
  return out;
}

// A raw HTTP/1.1 client that reads the chunked body as it arrives, at the
// pace the test wants (curl's easy interface would read it all).
class StreamClient {
 public:
  StreamClient(int port, const std::string& path, const std::vector<std::string>& headers = {},
               int rcvbuf = 0) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ADD_FAILURE() << "connect failed";
      return;
    }
    std::string req = fmt::format("GET {} HTTP/1.1\r\nHost: 127.0.0.1\r\n", path);
    for (const auto& h : headers) req += h + "\r\n";
    req += "\r\n";
    (void)!::write(fd_, req.data(), req.size());
  }
  ~StreamClient() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Reads up to `max` raw bytes, waiting at most `wait`; false on EOF/error/timeout.
  bool read_some(std::chrono::milliseconds wait, size_t max = 65536) {
    if (fd_ < 0 || eof_) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
    std::string buf(max, '\0');
    ssize_t n = ::read(fd_, buf.data(), buf.size());
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    raw_.append(buf.data(), static_cast<size_t>(n));
    decode();
    return true;
  }
  // Reads until the body contains `what` (or the body ends); false on timeout.
  bool read_until(const std::string& what, std::chrono::milliseconds timeout = 20s) {
    const auto give_up = Clock::now() + timeout;
    while (body.find(what) == std::string::npos) {
      if (done || eof_ || Clock::now() > give_up) return body.find(what) != std::string::npos;
      read_some(100ms);
    }
    return true;
  }
  bool read_to_end(std::chrono::milliseconds timeout = 30s) {
    const auto give_up = Clock::now() + timeout;
    while (!done && !eof_ && Clock::now() < give_up) read_some(100ms);
    return done;
  }

  int status = 0;
  std::string head;  // status line and headers
  std::string body;  // decoded body so far
  bool done = false; // the terminating chunk arrived

 private:
  void decode() {
    if (status == 0) {
      size_t end = raw_.find("\r\n\r\n");
      if (end == std::string::npos) return;
      head = raw_.substr(0, end);
      status = std::atoi(head.c_str() + 9);
      pos_ = end + 4;
    }
    for (;;) {
      if (chunk_left_ > 0) {  // chunk data, possibly partial
        const size_t take = std::min(chunk_left_, raw_.size() - pos_);
        body.append(raw_, pos_, take);
        pos_ += take;
        chunk_left_ -= take;
        if (chunk_left_ > 0) break;
        crlf_due_ = true;
      }
      if (crlf_due_) {
        if (raw_.size() - pos_ < 2) break;
        pos_ += 2;
        crlf_due_ = false;
      }
      const size_t eol = raw_.find("\r\n", pos_);
      if (eol == std::string::npos) break;
      const size_t size = std::strtoul(raw_.c_str() + pos_, nullptr, 16);
      pos_ = eol + 2;
      if (size == 0) {
        done = true;
        break;
      }
      chunk_left_ = size;
    }
    raw_.erase(0, pos_);
    pos_ = 0;
  }

  int fd_ = -1;
  bool eof_ = false;
  std::string raw_;
  size_t pos_ = 0;
  size_t chunk_left_ = 0;   // bytes of the current chunk still to come
  bool crlf_due_ = false;   // the CRLF after a chunk's data
};


class TopicStreamE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    store_ = "file://" + dir_->path();
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
    {
      const std::string file = dir_->path() + "/bad/1/seg_00000000000000000100.bin";
      std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
      ASSERT_TRUE(f.good()) << file;
      f.seekg(200);
      char c = 0;
      f.read(&c, 1);
      c = static_cast<char>(c ^ 0x5a);
      f.seekp(200);
      f.write(&c, 1);
    }
    server_ = new ServerProcess({"--store", store_, "--long-poll-interval-ms", "100", "--index-ttl-ms", "200"});
    ASSERT_GT(server_->port(), 0);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete dir_;
  }
  static CommandResult write(const std::string& topic, int partition, const std::string& input,
                             std::vector<std::string> extra) {
    std::vector<std::string> argv = {streamhouse_binary(), "segment", "write", "--store", store_,
                                     "--topic", topic, "--partition", std::to_string(partition)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return run_command(argv, input);
  }
  static std::string path(const std::string& topic, const std::string& query = "") {
    return fmt::format("/topics/{}/records/stream{}", topic, query.empty() ? "" : "?" + query);
  }
  static HttpResult sse(const std::string& p, std::vector<std::string> headers = {}) {
    headers.push_back("Accept: text/event-stream");
    return http_get(server_->url(p), headers);
  }
  static double metric(const std::string& name) {
    auto r = http_get(server_->url("/metrics"));
    for (const std::string& l : split_lines(r.body)) {
      if (l.rfind(name + " ", 0) == 0) return std::atof(l.c_str() + name.size() + 1);
    }
    return -1;
  }
  static bool active_streams_become(double want) {
    const auto give_up = Clock::now() + 15s;
    while (Clock::now() < give_up) {
      if (metric("streamhouse_streams_active") == want) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  static TempDir* dir_;
  static std::string store_;
  static ServerProcess* server_;
};

TempDir* TopicStreamE2E::dir_ = nullptr;
std::string TopicStreamE2E::store_;
ServerProcess* TopicStreamE2E::server_ = nullptr;

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

TEST_F(TopicStreamE2E, ACorruptPartitionEndsTheStreamWithAnErrorNamingItAndTheObject) {
  auto r = http_get(server_->url(path("bad")));
  ASSERT_EQ(r.status, 200) << r.body;
  auto lines = split_lines(r.body);
  ASSERT_FALSE(lines.empty());
  json last = json::parse(lines.back(), nullptr, false);
  ASSERT_TRUE(last.is_object() && last.contains("error")) << lines.back();
  EXPECT_EQ(last["error"]["error_code"], 50201) << lines.back();
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

  auto expect_error = [](const std::string& p, int code) {
    auto r = http_get(server_->url(p));
    EXPECT_EQ(r.status, code / 100) << p << " → " << r.body;
    json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << p << ": " << r.body;
    EXPECT_EQ(j["error_code"], code) << p << ": " << r.body;
  };
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
