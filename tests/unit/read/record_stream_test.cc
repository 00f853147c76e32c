// RecordStream over real segment objects in a temp directory (LocalObjectStore
// + ListingMetadataStore), a real IoEngine and WatermarkNotifier: the bounded
// queue, the end reasons, end_offset, a follower woken by a new segment, a
// corrupt block ending the stream with an error and never a wrong record.
#include "core/read/record_stream.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/concurrency.h"
#include "tests/support/fault_injecting_object_store.h"
#include "tests/unit/read/stream_test_util.h"

namespace sh::read {
namespace {

using namespace std::chrono_literals;

// Frames pieces as plain text lines: "r <offset> <value>", "hb", "end <next> <reason>",
// "error <message>", and with `opening` "opened <next>".
class TextEncoder final : public StreamEncoder {
 public:
  explicit TextEncoder(bool opening = false) : opening_(opening) {}
  void opened(uint64_t next, std::string* out) override {
    if (opening_) out->append(fmt::format("opened {}\n", next));
  }
  void records(const ReadResult& r, std::string* out) override {
    std::vector<HeaderView> scratch;
    for (const RecordRef& ref : r.records) {
      RecordView v = ref.block->record(ref.index, &scratch);
      out->append(fmt::format("r {} {}\n", v.offset, v.value ? std::string(*v.value) : "null"));
    }
  }
  void heartbeat(std::string* out) override { out->append("hb\n"); }
  void end(uint64_t next, StreamEndReason reason, std::string* out) override {
    out->append(fmt::format("end {} {}\n", next, stream_end_reason_name(reason)));
  }
  void error(const Error& e, uint64_t next, std::string* out) override {
    out->append(fmt::format("error {} at {}\n", e.to_string(), next));
  }

 private:
  const bool opening_;
};

std::string value_of(uint64_t offset) { return fmt::format("value-{}", offset); }

using Collector = stream_test::Collector<RecordStream>;

class RecordStreamTest : public stream_test::StreamFixture {
 protected:
  RecordStreamTest() : StreamFixture("sh-stream-test") {}

  // One segment of records [base, base+n), small blocks.
  void write_segment(uint64_t base, int n, uint32_t block_bytes = 512) {
    put_segment(0, base, n, block_bytes, value_of);
  }

  Result<std::shared_ptr<RecordStream>> open(RecordStreamOptions o, bool opening = false) {
    o.topic = "t";
    o.partition = 0;
    return RecordStream::open(reader_, notifier_, engine_, std::make_unique<TextEncoder>(opening),
                              std::move(o));
  }

  // Every "r <offset> <value>" line is the record the log holds at that offset,
  // offsets strictly increase from `first`, and there are `count` of them.
  static void expect_records(const Collector& c, uint64_t first, uint64_t count) {
    uint64_t want = first;
    uint64_t seen = 0;
    for (const std::string& l : c.lines()) {
      if (l.rfind("r ", 0) != 0) continue;
      EXPECT_EQ(l, fmt::format("r {} {}", want, value_of(want))) << "record " << seen;
      ++want;
      ++seen;
    }
    EXPECT_EQ(seen, count);
    EXPECT_EQ(c.records, count) << "chunk record counts";
  }
};

TEST_F(RecordStreamTest, ReadsToTheHighWatermarkOfTheStartThenEnds) {
  write_segment(0, 300);
  write_segment(300, 200);
  RecordStreamOptions o;
  o.start = StartPosition::earliest();
  o.chunk_records = 64;
  auto s = open(o);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ((*s)->high_watermark_at_open(), 500u);
  Collector c(*s);
  c.start();
  ASSERT_TRUE(c.run());
  expect_records(c, 0, 500);
  ASSERT_TRUE(c.last.has_value());
  EXPECT_FALSE(c.last->failed);
  EXPECT_EQ(c.lines().back(), "end 500 high_watermark");
  EXPECT_GT(c.chunks, 500 / 64) << "the stream comes in chunks of at most chunk_records";
  EXPECT_FALSE((*s)->producing());
}

// A stream whose first chunk holds no record says where it stands before
// anything else (SSE: the id a reconnect resumes after); one whose first chunk
// has records does not (their own framing says it).
TEST_F(RecordStreamTest, OnlyAStreamWhoseFirstChunkHasNoRecordSaysWhereItStandsFirst) {
  write_segment(0, 100);
  RecordStreamOptions o;
  o.start = StartPosition::latest();
  auto head = open(o, /*opening=*/true);
  ASSERT_TRUE(head.ok()) << head.error().to_string();
  Collector at_head(*head);
  at_head.start();
  ASSERT_TRUE(at_head.run());
  EXPECT_EQ(at_head.lines(), (std::vector<std::string>{"opened 100", "end 100 high_watermark"}));

  o.start = StartPosition::at(40);
  auto mid = open(o, /*opening=*/true);
  ASSERT_TRUE(mid.ok()) << mid.error().to_string();
  Collector from_40(*mid);
  from_40.start();
  ASSERT_TRUE(from_40.run());
  ASSERT_FALSE(from_40.lines().empty());
  EXPECT_EQ(from_40.lines().front(), fmt::format("r 40 {}", value_of(40)));
  for (const std::string& l : from_40.lines()) EXPECT_EQ(l.rfind("opened", 0), std::string::npos) << l;
  expect_records(from_40, 40, 60);
}

// What memory holds is produced on the thread that takes the chunks (an HTTP
// worker in the server), not on the engine: with every engine thread held, a
// warm stream still reaches its end, record-exact.
TEST_F(RecordStreamTest, AWarmStreamIsProducedOnTheConsumersThreadWhileTheEngineIsHeld) {
  write_segment(0, 300);
  ReadRequest warm;
  warm.start = StartPosition::earliest();
  warm.max_records = 1000;
  warm.max_bytes = uint64_t{1} << 30;
  auto all = reader_->read("t", 0, warm);
  ASSERT_TRUE(all.ok()) << all.error().to_string();
  ASSERT_EQ(all->records.size(), 300u) << "the read that warms the cache";

  RecordStreamOptions o;
  o.start = StartPosition::earliest();
  o.chunk_records = 64;
  o.produce_inline = true;
  auto s = open(o);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  sh::testing::Gate gate;
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(engine_->try_submit([&](bool) { gate.wait(); }));
  ASSERT_TRUE(stream_test::wait_until([&] { return engine_->running() == 2; }, 5s));

  (*s)->start([] {});
  std::string text;
  bool last = false;
  size_t chunks = 0;
  while (!last && chunks < 100) {
    auto c = (*s)->pop();
    if (!c) break;
    text += c->bytes;
    last = c->last;
    ++chunks;
  }
  gate.open();
  ASSERT_TRUE(last) << "the stream stalled after " << chunks << " chunks with the engine held:\n" << text;
  const auto lines = stream_test::lines_of(text);
  ASSERT_EQ(lines.size(), 301u);
  for (uint64_t off = 0; off < 300; ++off) EXPECT_EQ(lines[off], fmt::format("r {} {}", off, value_of(off)));
  EXPECT_EQ(lines.back(), "end 300 high_watermark");
  EXPECT_GT(chunks, 300u / 64) << "in chunks of at most chunk_records";
}

TEST_F(RecordStreamTest, EndOffsetIsExclusiveAndAboveTheWatermarkTheWatermarkWins) {
  write_segment(0, 300);
  RecordStreamOptions o;
  o.start = StartPosition::at(10);
  o.end_offset = 123;
  o.chunk_records = 50;
  auto s = open(o);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  Collector c(*s);
  c.start();
  ASSERT_TRUE(c.run());
  expect_records(c, 10, 113);
  EXPECT_EQ(c.lines().back(), "end 123 end_offset");

  o.end_offset = 1000;
  auto s2 = open(o);
  ASSERT_TRUE(s2.ok());
  Collector c2(*s2);
  c2.start();
  ASSERT_TRUE(c2.run());
  expect_records(c2, 10, 290);
  EXPECT_EQ(c2.lines().back(), "end 300 high_watermark");

  // A start at (or past) end_offset ends at once, with nothing.
  o.start = StartPosition::at(200);
  o.end_offset = 200;
  auto s3 = open(o);
  ASSERT_TRUE(s3.ok());
  Collector c3(*s3);
  c3.start();
  ASSERT_TRUE(c3.run());
  expect_records(c3, 200, 0);
  EXPECT_EQ(c3.lines().back(), "end 200 end_offset");
}

TEST_F(RecordStreamTest, BadStartIsAnErrorOfOpenNotOfTheStream) {
  write_segment(0, 10);
  RecordStreamOptions o;
  o.start = StartPosition::at(11);
  auto s = open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Errc::kOffsetOutOfRange);
}

TEST_F(RecordStreamTest, QueueStaysBoundedWhileTheConsumerDoesNotTake) {
  write_segment(0, 5000);
  RecordStreamOptions o;
  o.start = StartPosition::earliest();
  o.max_chunks = 3;
  o.chunk_records = 100;
  auto s = open(o);
  ASSERT_TRUE(s.ok());
  std::atomic<int> ready{0};
  (*s)->start([&] { ready.fetch_add(1); });
  // Without pop() the producer fills the queue and pauses.
  stream_test::wait_until([&] { return !(*s)->producing() && (*s)->queued() >= 3; }, 20s);
  EXPECT_FALSE((*s)->producing()) << "the producer must pause when the queue is full";
  EXPECT_EQ((*s)->queued(), 3u);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ((*s)->queued(), 3u) << "a paused producer queues nothing more";
  EXPECT_LE(ready.load(), 3);

  // Taking resumes it, and the stream completes exactly.
  Collector c(*s);
  ASSERT_TRUE(c.run());
  expect_records(c, 0, 5000);
  EXPECT_EQ(c.lines().back(), "end 5000 high_watermark");
}

TEST_F(RecordStreamTest, FollowerWaitsWithHeartbeatsAndWakesOnANewSegment) {
  write_segment(0, 20);
  RecordStreamOptions o;
  o.start = StartPosition::at(15);
  o.follow = true;
  o.heartbeat = Millis(50);
  auto s = open(o);
  ASSERT_TRUE(s.ok());
  Collector c(*s);
  c.start();
  ASSERT_TRUE(c.run("hb\n")) << "a waiting follower sends heartbeats; got: " << c.text;
  expect_records(c, 15, 5);
  EXPECT_FALSE(c.last.has_value()) << "a follower does not end at the high watermark";
  EXPECT_TRUE((*s)->producing()) << "it waits on the notifier";

  write_segment(20, 7);
  ASSERT_TRUE(c.run("r 26 ")) << "the follower must see records written after it caught up: " << c.text;
  expect_records(c, 15, 12);

  (*s)->close();
  EXPECT_EQ((*s)->queued(), 0u);
  EXPECT_FALSE((*s)->pop().has_value());
}

TEST_F(RecordStreamTest, FollowerStopsAtEndOffset) {
  write_segment(0, 5);
  RecordStreamOptions o;
  o.start = StartPosition::at(0);
  o.follow = true;
  o.end_offset = 8;
  o.heartbeat = Millis(1000);
  auto s = open(o);
  ASSERT_TRUE(s.ok());
  Collector c(*s);
  c.start();
  ASSERT_TRUE(c.run("r 4 "));
  write_segment(5, 10);
  ASSERT_TRUE(c.run());
  expect_records(c, 0, 8);
  EXPECT_EQ(c.lines().back(), "end 8 end_offset");
}

TEST_F(RecordStreamTest, CorruptBlockEndsWithAnErrorNamingTheObjectNeverAWrongRecord) {
  write_segment(0, 100);
  write_segment(100, 100);
  // Every range read of the second segment comes back with one byte flipped.
  faults_->add(testing::FaultRule::flip("get_range", 40).on_key("seg_00000000000000000100"));
  RecordStreamOptions o;
  o.start = StartPosition::earliest();
  o.chunk_records = 30;
  auto s = open(o);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  Collector c(*s);
  c.start();
  ASSERT_TRUE(c.run());
  ASSERT_TRUE(c.last.has_value());
  EXPECT_TRUE(c.last->failed);
  const std::string tail = c.lines().back();
  EXPECT_EQ(tail.rfind("error ", 0), 0u) << tail;
  EXPECT_NE(tail.find("seg_00000000000000000100"), std::string::npos) << "names the object: " << tail;
  // Records before the bad block are exact; none from it or after it.
  uint64_t want = 0;
  for (const std::string& l : c.lines()) {
    if (l.rfind("r ", 0) != 0) continue;
    EXPECT_EQ(l, fmt::format("r {} {}", want, value_of(want)));
    ++want;
  }
  EXPECT_GE(want, 100u) << "the first segment is streamed whole";
  EXPECT_LT(want, 200u) << "the corrupt segment's records are not";
  EXPECT_GT(faults_->injected(), 0u);
}

TEST_F(RecordStreamTest, CloseDropsTheQueueAndStopsProducing) {
  write_segment(0, 3000);
  RecordStreamOptions o;
  o.start = StartPosition::earliest();
  o.chunk_records = 100;
  auto s = open(o);
  ASSERT_TRUE(s.ok());
  std::atomic<int> after_close{0};
  std::atomic<bool> closed{false};
  (*s)->start([&] {
    if (closed.load()) after_close.fetch_add(1);
  });
  (*s)->close();
  closed.store(true);
  stream_test::wait_until([&] { return !(*s)->producing(); }, 10s);
  EXPECT_FALSE((*s)->producing());
  EXPECT_EQ((*s)->queued(), 0u);
  EXPECT_FALSE((*s)->pop().has_value());
  EXPECT_EQ(after_close.load(), 0);
}

TEST_F(RecordStreamTest, ClosedFollowerIsFreedWhileTheNotifierStillHoldsItsWait) {
  write_segment(0, 5);
  RecordStreamOptions o;
  o.start = StartPosition::at(5);
  o.follow = true;
  o.heartbeat = Millis(60000);
  std::weak_ptr<RecordStream> weak;
  {
    auto s = open(o);
    ASSERT_TRUE(s.ok());
    (*s)->start([] {});
    stream_test::wait_until([&] { return notifier_->waiters() != 0; }, 10s);
    ASSERT_EQ(notifier_->waiters(), 1u);
    weak = *s;
    (*s)->close();
  }
  // A producer task may still hold the stream for a moment after close(); the
  // notifier's wait (60 s heartbeat) must not: freed long before it ends.
  stream_test::wait_until([&] { return weak.expired(); }, 5s);
  EXPECT_TRUE(weak.expired()) << "the notifier's wait must not keep a closed stream alive";
  EXPECT_EQ(notifier_->waiters(), 1u) << "the wait is still registered: it did not free the stream";
}

}  // namespace
}  // namespace sh::read
