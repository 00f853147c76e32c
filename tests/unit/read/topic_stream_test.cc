// TopicStream over real segment objects in a temp directory (LocalObjectStore
// + ListingMetadataStore), a real IoEngine and WatermarkNotifier: every record
// of every partition exactly once and in order, the fair merge (a backlog
// never holds back a live partition for more than one turn), the end at the
// high watermarks with every partition's position, exact resume from the
// positions of any piece, close freeing the partitions, and a corrupt
// partition ending the stream with an error naming it, never a wrong record.
#include "core/read/topic_stream.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/fault_injecting_object_store.h"
#include "tests/unit/read/stream_test_util.h"

namespace sh::read {
namespace {

using namespace std::chrono_literals;

std::string value_of(int32_t partition, uint64_t offset) { return fmt::format("p{}-v{}", partition, offset); }

std::string positions_text(std::span<const TopicStreamPosition> positions) {
  std::string s;
  for (const auto& p : positions) s += fmt::format("{}{}:{}", s.empty() ? "" : ",", p.partition, p.next_offset);
  return s;
}

// Lines: "r <partition> <offset> <value> @<positions>", "hb", "end @<positions>",
// "error <partition> <message> @<positions>", with `opening` "opened @<positions>";
// <positions> = "p:next,p:next".
class TextEncoder final : public TopicStreamEncoder {
 public:
  explicit TextEncoder(bool opening = false) : opening_(opening) {}
  void opened(std::span<const TopicStreamPosition> positions, std::string* out) override {
    if (opening_) out->append(fmt::format("opened @{}\n", positions_text(positions)));
  }
  void record_payload(int32_t partition, const RecordView& r, std::string* out) const override {
    out->append(fmt::format("{} {} {}", partition, r.offset, r.value ? std::string(*r.value) : "null"));
  }
  void record(int32_t /*partition*/, uint64_t /*offset*/, std::string_view payload,
              std::span<const TopicStreamPosition> positions, std::string* out) override {
    out->append(fmt::format("r {} @{}\n", payload, positions_text(positions)));
  }
  void heartbeat(std::string* out) override { out->append("hb\n"); }
  void end(std::span<const TopicStreamPosition> positions, std::string* out) override {
    out->append(fmt::format("end @{}\n", positions_text(positions)));
  }
  void error(int32_t partition, const Error& e, std::span<const TopicStreamPosition> positions,
             std::string* out) override {
    out->append(fmt::format("error {} {} @{}\n", partition, e.to_string(), positions_text(positions)));
  }

 private:
  const bool opening_;
};

struct Line {
  int32_t partition = -1;
  uint64_t offset = 0;
  std::string value;
  std::map<int32_t, uint64_t> positions;
};

std::map<int32_t, uint64_t> parse_positions(const std::string& text) {
  std::map<int32_t, uint64_t> out;
  std::istringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    const size_t colon = item.find(':');
    out[std::stoi(item.substr(0, colon))] = std::stoull(item.substr(colon + 1));
  }
  return out;
}

// The record lines of a collected stream, parsed.
std::vector<Line> record_lines_of(const std::string& text) {
  std::vector<Line> out;
  for (const std::string& l : stream_test::lines_of(text)) {
    if (l.rfind("r ", 0) != 0) continue;
    std::istringstream in(l.substr(2));
    Line r;
    std::string at;
    in >> r.partition >> r.offset >> r.value >> at;
    r.positions = parse_positions(at.substr(1));
    out.push_back(std::move(r));
  }
  return out;
}

// Takes pieces as they come (on_ready), like the HTTP side does.
class Collector : public stream_test::Collector<TopicStream> {
 public:
  using stream_test::Collector<TopicStream>::Collector;
  // The record lines, parsed.
  std::vector<Line> record_lines() const { return record_lines_of(text); }
};

// A segment of partition p with records [base, base+n).
struct Segment {
  int32_t p;
  uint64_t base;
  int n;
};

// Options whose chunks hold at most `n` records.
TopicStreamOptions chunks_of(uint32_t n) {
  TopicStreamOptions o;
  o.chunk_records = n;
  return o;
}

class TopicStreamTest : public stream_test::StreamFixture {
 protected:
  TopicStreamTest() : StreamFixture("sh-topic-stream-test") {}
  void adjust(LogReaderOptions& o) override { o.unknown_partition_ttl = Millis(0); }

  // One segment of partition `p` with records [base, base+n), small blocks.
  void write_segment(int32_t p, uint64_t base, int n) {
    put_segment(p, base, n, 512, [p](uint64_t offset) { return value_of(p, offset); });
  }
  void write_segments(std::initializer_list<Segment> segments) {
    for (const Segment& s : segments) write_segment(s.p, s.base, s.n);
  }

  Result<std::shared_ptr<TopicStream>> open(TopicStreamRequest req, TopicStreamOptions o = {},
                                            bool opening = false) {
    return TopicStream::open(reader_, notifier_, engine_, *metadata_, std::make_shared<TextEncoder>(opening),
                             "t", std::move(req), std::move(o));
  }

  // Every record line is the record the log holds there, each partition's
  // offsets strictly increase from first[p] without a gap, counts match.
  static void expect_exactly(const std::vector<Line>& lines, const std::map<int32_t, uint64_t>& first,
                             const std::map<int32_t, uint64_t>& count) {
    std::map<int32_t, uint64_t> want = first;
    std::map<int32_t, uint64_t> seen;
    for (const Line& l : lines) {
      ASSERT_TRUE(want.count(l.partition)) << "a record of partition " << l.partition;
      EXPECT_EQ(l.offset, want[l.partition]) << "partition " << l.partition << " out of order or with a gap";
      EXPECT_EQ(l.value, value_of(l.partition, l.offset));
      want[l.partition] = l.offset + 1;
      ++seen[l.partition];
    }
    for (const auto& [p, n] : count) EXPECT_EQ(seen[p], n) << "records of partition " << p;
  }
};

TEST_F(TopicStreamTest, EveryRecordOfEveryPartitionOnceThenOneEndAtTheHighWatermarks) {
  write_segments({{0, 0, 200}, {0, 200, 100}, {1, 0, 10}, {2, 0, 150}});
  auto s = open({}, chunks_of(20));
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  ASSERT_EQ((*s)->partitions().size(), 3u);
  EXPECT_EQ((*s)->partitions()[0].high_watermark, 300u);
  Collector c(*s);
  c.start();
  ASSERT_TRUE(c.run());
  ASSERT_TRUE(c.last.has_value());
  EXPECT_FALSE(c.last->failed);
  expect_exactly(c.record_lines(), {{0, 0}, {1, 0}, {2, 0}}, {{0, 300}, {1, 10}, {2, 150}});
  EXPECT_EQ(c.records, 460u);
  EXPECT_EQ(c.lines().back(), "end @0:300,1:10,2:150");
  EXPECT_EQ(c.text.find("end @"), c.text.rfind("end @")) << "one end piece";
  EXPECT_EQ(positions_text((*s)->positions()), "0:300,1:10,2:150");
  // Interleaved: partition 2's records do not all wait for partition 0's.
  const auto lines = c.record_lines();
  size_t first_p2 = 0;
  while (first_p2 < lines.size() && lines[first_p2].partition != 2) ++first_p2;
  EXPECT_LE(first_p2, 40u) << "partition 2 waited for " << first_p2 << " records of others";
}

// A RecordEncoder writing what TextEncoder::record_payload writes, counting its calls.
class CountingPayloadEncoder final : public format::RecordEncoder {
 public:
  CountingPayloadEncoder(int32_t partition, std::atomic<int>* calls) : partition_(partition), calls_(calls) {}
  size_t slot() const override { return 5; }
  void encode(const RecordView& r, std::string* out) const override {
    calls_->fetch_add(1);
    out->append(fmt::format("{} {} {}", partition_, r.offset, r.value ? std::string(*r.value) : "null"));
  }

 private:
  const int32_t partition_;
  std::atomic<int>* calls_;
};

// TextEncoder whose payloads come from the decoded blocks' cached encodings.
class CachedTextEncoder final : public TopicStreamEncoder {
 public:
  void record_payload(int32_t partition, const RecordView& r, std::string* out) const override {
    ++fresh;
    text_.record_payload(partition, r, out);
  }
  std::shared_ptr<const format::RecordEncoder> payload_encoder(int32_t partition) const override {
    return std::make_shared<CountingPayloadEncoder>(partition, &encoded);
  }
  void record(int32_t partition, uint64_t offset, std::string_view payload,
              std::span<const TopicStreamPosition> positions, std::string* out) override {
    text_.record(partition, offset, payload, positions, out);
  }
  void heartbeat(std::string* out) override { text_.heartbeat(out); }
  void end(std::span<const TopicStreamPosition> positions, std::string* out) override { text_.end(positions, out); }
  void error(int32_t partition, const Error& e, std::span<const TopicStreamPosition> positions,
             std::string* out) override {
    text_.error(partition, e, positions, out);
  }
  mutable std::atomic<int> encoded{0};
  mutable std::atomic<int> fresh{0};

 private:
  mutable TextEncoder text_;
};

TEST_F(TopicStreamTest, PayloadsAreEncodedOncePerBlockAndSharedByLaterStreams) {
  write_segments({{0, 0, 200}, {1, 0, 120}});
  auto enc = std::make_shared<CachedTextEncoder>();
  for (int round = 0; round < 2; ++round) {
    auto s = TopicStream::open(reader_, notifier_, engine_, *metadata_, enc, "t", {}, chunks_of(20));
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    Collector c(*s);
    c.start();
    ASSERT_TRUE(c.run());
    ASSERT_TRUE(c.last.has_value());
    EXPECT_FALSE(c.last->failed);
    expect_exactly(c.record_lines(), {{0, 0}, {1, 0}}, {{0, 200}, {1, 120}});
    EXPECT_EQ(enc->fresh.load(), 0) << "no payload is encoded outside the blocks' cache";
    EXPECT_EQ(enc->encoded.load(), 320) << "each record encoded once, in round " << round;
  }
}

TEST_F(TopicStreamTest, SelectedPartitionsAndPerPartitionStarts) {
  write_segment(0, 0, 50);
  write_segment(1, 0, 50);
  write_segment(2, 0, 50);
  TopicStreamRequest req;
  req.partitions = {2, 0};
  req.start.position = StartPosition::at(40);
  req.resume[2] = StartPosition::at(45);
  auto s = open(req);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  ASSERT_EQ((*s)->partitions().size(), 2u);
  EXPECT_EQ((*s)->partitions()[0].partition, 0);
  EXPECT_EQ((*s)->partitions()[1].start_offset, 45u);
  // Before anything is popped each partition stands at its start.
  EXPECT_EQ(positions_text((*s)->positions()), "0:40,2:45");
  Collector c(*s);
  c.start();
  ASSERT_TRUE(c.run());
  expect_exactly(c.record_lines(), {{0, 40}, {2, 45}}, {{0, 10}, {2, 5}});
  EXPECT_EQ(c.lines().back(), "end @0:50,2:50");

  // A timestamp start (first record with timestamp >= 1030: offset 30).
  TopicStreamRequest ts;
  ts.partitions = {1};
  ts.resume[1] = StartPosition::at_timestamp(1030);
  auto s2 = open(ts);
  ASSERT_TRUE(s2.ok()) << s2.error().to_string();
  Collector c2(*s2);
  c2.start();
  ASSERT_TRUE(c2.run());
  expect_exactly(c2.record_lines(), {{1, 30}}, {{1, 20}});
}

TEST_F(TopicStreamTest, OpenErrorsComeBeforeAnyPiece) {
  write_segment(0, 0, 10);
  write_segment(1, 0, 3);
  TopicStreamRequest unknown;
  unknown.partitions = {0, 7};
  auto s = open(unknown);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Errc::kPartitionNotFound);

  TopicStreamRequest not_selected;
  not_selected.partitions = {0};
  not_selected.resume[1] = StartPosition::at(0);
  s = open(not_selected);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Errc::kInvalidArgument) << s.error().to_string();

  TopicStreamRequest past;  // offset 5 is past partition 1's log (3 records)
  past.start.position = StartPosition::at(5);
  s = open(past);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Errc::kOffsetOutOfRange);
  EXPECT_NE(s.error().message().find("partition 1"), std::string::npos) << s.error().message();

  TopicStreamRequest conflict;
  conflict.start.position = StartPosition::at(0);
  conflict.start.group = "g";
  s = open(conflict);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Errc::kInvalidArgument);

  s = TopicStream::open(reader_, notifier_, engine_, *metadata_, std::make_shared<TextEncoder>(), "nope", {}, {});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Errc::kTopicNotFound);
}

TEST_F(TopicStreamTest, ResumingFromThePositionsOfAnyRecordIsExact) {
  write_segments({{0, 0, 120}, {1, 0, 7}, {2, 0, 60}, {2, 60, 40}});
  const TopicStreamOptions o = chunks_of(16);
  auto s = open({}, o);
  ASSERT_TRUE(s.ok());
  Collector c(*s);
  c.start();
  ASSERT_TRUE(c.run());
  const std::vector<Line> all = c.record_lines();
  ASSERT_EQ(all.size(), 227u);
  // The positions of each record count it and everything before it, no more.
  std::map<int32_t, uint64_t> delivered{{0, 0}, {1, 0}, {2, 0}};
  for (const Line& l : all) {
    delivered[l.partition] = l.offset + 1;
    ASSERT_EQ(l.positions, delivered) << "positions after " << l.partition << "/" << l.offset;
  }
  // A consumer cut off after record k resumes from its positions: the rest, exactly.
  for (size_t k : {size_t{0}, size_t{5}, size_t{50}, size_t{130}, all.size() - 1}) {
    TopicStreamRequest req;
    for (const auto& [p, next] : all[k].positions) req.resume[p] = StartPosition::at(next);
    auto again = open(req, o);
    ASSERT_TRUE(again.ok()) << again.error().to_string();
    Collector rest(*again);
    rest.start();
    ASSERT_TRUE(rest.run());
    std::set<std::pair<int32_t, uint64_t>> seen;
    for (size_t i = 0; i <= k; ++i) seen.insert({all[i].partition, all[i].offset});
    for (const Line& l : rest.record_lines()) {
      EXPECT_TRUE(seen.insert({l.partition, l.offset}).second)
          << "resumed after record " << k << ": " << l.partition << "/" << l.offset << " twice";
      EXPECT_EQ(l.value, value_of(l.partition, l.offset));
    }
    EXPECT_EQ(seen.size(), all.size()) << "resumed after record " << k << ": records missing";
  }
}

TEST_F(TopicStreamTest, ABacklogDelaysALivePartitionByOneTurnAtMost) {
  write_segment(0, 0, 5000);
  write_segment(1, 0, 5);
  TopicStreamRequest req;
  req.follow = true;
  req.resume[1] = StartPosition::at(5);  // partition 1 waits at its end
  TopicStreamOptions o;
  o.max_chunks = 2;
  o.chunk_records = 50;
  o.heartbeat = Millis(60000);
  auto s = open(req, o);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  (*s)->start([] {});
  // The backlog fills its queue and pauses; the live partition has nothing.
  auto wait_queued = [&](size_t n) {
    stream_test::wait_until([&] { return (*s)->queued() >= n; }, 10s);
    return (*s)->queued();
  };
  ASSERT_EQ(wait_queued(2), 2u);
  std::vector<TopicStreamChunk> taken;
  for (int i = 0; i < 4; ++i) {  // the consumer takes a few backlog chunks
    std::optional<TopicStreamChunk> c;
    stream_test::wait_until([&] { return (c = (*s)->pop()).has_value(); }, 10s, 2ms);
    ASSERT_TRUE(c.has_value()) << "the backlog must keep producing";
    EXPECT_EQ(c->bytes.rfind("r 0 ", 0), 0u) << c->bytes.substr(0, 40);
  }
  ASSERT_EQ(wait_queued(2), 2u);
  // A record arrives on the live partition while the backlog's queue is full.
  write_segment(1, 5, 1);
  ASSERT_EQ(wait_queued(3), 3u) << "the live partition's follower must queue the new record";
  // Within one turn per partition (2 pops), the live record comes.
  auto a = (*s)->pop();
  auto b = (*s)->pop();
  ASSERT_TRUE(a && b);
  const std::string both = a->bytes + b->bytes;
  EXPECT_NE(both.find("r 1 5 p1-v5 @"), std::string::npos)
      << "the live partition's record waited behind the backlog: " << both.substr(0, 200);
  (*s)->close();
}

TEST_F(TopicStreamTest, QueuesStayBoundedWhileTheConsumerDoesNotTake) {
  for (int32_t p = 0; p < 3; ++p) write_segment(p, 0, 2000);
  TopicStreamOptions o;
  o.max_chunks = 2;
  o.chunk_records = 50;
  auto s = open({}, o);
  ASSERT_TRUE(s.ok());
  (*s)->start([] {});
  stream_test::wait_until([&] { return !(*s)->producing() && (*s)->queued() >= 6; }, 20s);
  EXPECT_FALSE((*s)->producing()) << "every partition pauses when its queue is full";
  EXPECT_EQ((*s)->queued(), 6u) << "max_chunks per partition";
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ((*s)->queued(), 6u) << "paused partitions queue nothing more";
  // Taking resumes them, and the stream completes exactly.
  Collector c(*s);
  ASSERT_TRUE(c.run());
  expect_exactly(c.record_lines(), {{0, 0}, {1, 0}, {2, 0}}, {{0, 2000}, {1, 2000}, {2, 2000}});
  EXPECT_EQ(c.lines().back(), "end @0:2000,1:2000,2:2000");
}

TEST_F(TopicStreamTest, FollowerHeartbeatsForTheStreamAndWakesOnANewRecord) {
  write_segment(0, 0, 3);
  write_segment(1, 0, 3);
  write_segment(2, 0, 3);
  TopicStreamRequest req;
  req.follow = true;
  req.start.position = StartPosition::latest();
  TopicStreamOptions o;
  o.heartbeat = Millis(50);
  auto s = open(req, o);
  ASSERT_TRUE(s.ok());
  Collector c(*s);
  c.start();
  ASSERT_TRUE(c.run("hb\nhb\nhb\n")) << "a waiting follower heartbeats: " << c.text;
  EXPECT_FALSE(c.last.has_value()) << "a follower does not end at the high watermark";
  // Three partitions wait, each with its own heartbeat timer; only the first
  // one's heartbeats are framed, the others' pieces frame nothing.
  EXPECT_GT(c.silent, 0) << "every partition's heartbeat was framed: " << c.text;
  write_segment(2, 3, 2);
  ASSERT_TRUE(c.run("r 2 4 ")) << "the follower must see records written after it opened: " << c.text;
  expect_exactly(c.record_lines(), {{2, 3}}, {{2, 2}});
  EXPECT_EQ(c.record_lines().back().positions, (std::map<int32_t, uint64_t>{{0, 3}, {1, 3}, {2, 5}}));
  (*s)->close();
  EXPECT_FALSE((*s)->pop().has_value());
}

// A follower at the head has no record to send: its first piece says where
// every partition stands, at once (not at the first heartbeat). A stream whose
// first piece has a record sends no such piece.
TEST_F(TopicStreamTest, AFollowerAtTheHeadSaysWhereEveryPartitionStandsAtOnce) {
  write_segment(0, 0, 3);
  write_segment(1, 0, 5);
  TopicStreamRequest req;
  req.follow = true;
  req.start.position = StartPosition::latest();
  TopicStreamOptions o;
  o.heartbeat = Millis(60000);
  auto s = open(req, o, /*opening=*/true);
  ASSERT_TRUE(s.ok());
  // The HTTP side pops only when told a piece is ready: start() tells it.
  auto ready = std::make_shared<std::atomic<int>>(0);
  (*s)->start([ready] { ++*ready; });
  EXPECT_GE(ready->load(), 1) << "start() must say the opening piece is ready";
  auto first = (*s)->pop();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->bytes, "opened @0:3,1:5\n");
  EXPECT_EQ(first->records, 0u);
  write_segment(1, 5, 1);
  std::string text;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (text.find("r 1 5 ") == std::string::npos && std::chrono::steady_clock::now() < give_up) {
    if (auto c = (*s)->pop()) {
      text += c->bytes;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  EXPECT_NE(text.find("r 1 5 "), std::string::npos) << "the follower must see records written after it opened: " << text;
  EXPECT_EQ(text.find("opened"), std::string::npos) << "said once: " << text;
  (*s)->close();

  TopicStreamRequest from_start;
  from_start.start.position = StartPosition::earliest();
  auto all = open(from_start, {}, /*opening=*/true);
  ASSERT_TRUE(all.ok());
  Collector d(*all);
  d.start();
  ASSERT_TRUE(d.run());
  EXPECT_EQ(d.text.find("opened"), std::string::npos) << d.text;
  expect_exactly(d.record_lines(), {{0, 0}, {1, 0}}, {{0, 3}, {1, 6}});
}

TEST_F(TopicStreamTest, CloseDropsEveryPartitionsQueueAndFreesTheStream) {
  for (int32_t p = 0; p < 3; ++p) write_segment(p, 0, 3000);
  write_segment(3, 0, 1);
  TopicStreamRequest req;
  req.follow = true;
  TopicStreamOptions o;
  o.chunk_records = 100;
  o.heartbeat = Millis(60000);
  std::weak_ptr<TopicStream> weak;
  {
    auto s = open(req, o);
    ASSERT_TRUE(s.ok());
    (*s)->start([] {});
    // Partition 3 reaches its end at once and waits on the notifier.
    stream_test::wait_until([&] { return notifier_->waiters() != 0; }, 10s);
    ASSERT_EQ(notifier_->waiters(), 1u);
    ASSERT_TRUE((*s)->pop().has_value());
    weak = *s;
    (*s)->close();
    EXPECT_EQ((*s)->queued(), 0u);
    EXPECT_FALSE((*s)->pop().has_value());
  }
  stream_test::wait_until([&] { return weak.expired(); }, 5s);
  EXPECT_TRUE(weak.expired()) << "a closed topic stream must be freed though a follower's wait is registered";
  EXPECT_EQ(notifier_->waiters(), 1u) << "the wait is still registered: it did not keep the stream";
}

TEST_F(TopicStreamTest, ACorruptPartitionEndsTheStreamWithAnErrorNamingItNeverAWrongRecord) {
  write_segment(0, 0, 300);
  write_segment(1, 0, 100);
  write_segment(1, 100, 100);
  faults_->add(testing::FaultRule::flip("get_range", 40).on_key("t/1/seg_00000000000000000100"));
  TopicStreamOptions o;
  o.chunk_records = 30;
  auto s = open({}, o);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  Collector c(*s);
  c.start();
  ASSERT_TRUE(c.run());
  ASSERT_TRUE(c.last.has_value());
  EXPECT_TRUE(c.last->failed);
  const std::string tail = c.lines().back();
  EXPECT_EQ(tail.rfind("error 1 ", 0), 0u) << "names the partition: " << tail;
  EXPECT_NE(tail.find("seg_00000000000000000100"), std::string::npos) << "names the object: " << tail;
  EXPECT_EQ(c.text.find("end @"), std::string::npos);
  // Records before the bad block are exact; none from it.
  uint64_t p1 = 0;
  std::map<int32_t, uint64_t> want{{0, 0}, {1, 0}};
  for (const Line& l : c.record_lines()) {
    EXPECT_EQ(l.offset, want[l.partition]);
    EXPECT_EQ(l.value, value_of(l.partition, l.offset));
    want[l.partition] = l.offset + 1;
    if (l.partition == 1) ++p1;
  }
  EXPECT_EQ(p1, 100u) << "partition 1's first segment whole, nothing of the corrupt one";
  EXPECT_NE(tail.find("@0:" + std::to_string(want[0]) + ",1:100"), std::string::npos)
      << "the error carries where each partition stands: " << tail;
  EXPECT_FALSE((*s)->pop().has_value()) << "nothing follows the error";
  EXPECT_GT(faults_->injected(), 0u);
}

}  // namespace
}  // namespace sh::read
