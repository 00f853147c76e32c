// What the RecordStream and TopicStream tests share: a fixture over real
// segment objects in a temp directory (LocalObjectStore behind the
// fault-injecting decorator, ListingMetadataStore, LogReader, a real
// WatermarkNotifier and IoEngine), segments written with SegmentWriter, and a
// collector that takes a stream's chunks as they come, like the HTTP side does.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "core/exec/io_engine.h"
#include "core/format/names.h"
#include "core/format/segment.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/read/log_reader.h"
#include "core/read/watermark_notifier.h"
#include "core/storage/local_object_store.h"
#include "tests/support/fault_injecting_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh::read::stream_test {

// The lines of `text` (without their '\n').
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Calls `done` every `every` until it returns true (true) or `timeout` passes (false).
template <typename Pred>
bool wait_until(Pred done, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every = std::chrono::milliseconds(5)) {
  const auto give_up = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= give_up) return false;
    std::this_thread::sleep_for(every);
  }
}

class StreamFixture : public ::testing::Test {
 protected:
  explicit StreamFixture(const std::string& scratch_name) : scratch_(scratch_name) {}

  // The LogReader options of SetUp: a long index TTL, no tail refresh.
  virtual void adjust(LogReaderOptions& /*o*/) {}

  void SetUp() override {
    auto local = LocalObjectStore::open(scratch_.path().string(), true);
    ASSERT_TRUE(local.ok()) << local.error().to_string();
    faults_ = std::make_shared<testing::FaultInjectingObjectStore>(*local);
    metadata_ = std::make_shared<ListingMetadataStore>(faults_);
    LogReaderOptions o;
    o.index_ttl = Millis(60000);
    o.tail_refresh_interval = Millis(0);
    adjust(o);
    reader_ = std::make_shared<LogReader>(metadata_, faults_, o, registry_);
    WatermarkNotifierOptions no;
    no.poll_interval = Millis(20);
    notifier_ = std::make_shared<WatermarkNotifier>(reader_, no, registry_);
    exec::IoEngineOptions eo;
    eo.threads = 2;
    engine_ = std::make_shared<exec::IoEngine>(eo, registry_);
  }
  void TearDown() override {
    notifier_->shutdown();
    engine_->stop();
  }

  // One uncompressed segment of topic "t", partition `p`, with records
  // [base, base+n): timestamp 1000+offset, key "k<offset>", value value(offset).
  void put_segment(int32_t p, uint64_t base, int n, uint32_t block_bytes,
                   const std::function<std::string(uint64_t)>& value) {
    format::SegmentWriterOptions o;
    o.block_bytes = block_bytes;
    o.compression = format::Compression::kNone;
    format::SegmentWriter w(o);
    for (int i = 0; i < n; ++i) {
      Record r;
      r.offset = base + static_cast<uint64_t>(i);
      r.timestamp = 1000 + static_cast<int64_t>(r.offset);
      r.key = fmt::format("k{}", r.offset);
      r.value = value(r.offset);
      ASSERT_TRUE(w.add(r).ok());
    }
    auto bytes = w.finish();
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(faults_->put(format::segment_key("", "t", p, base), *bytes, {}).ok());
  }

  testing::ScratchDir scratch_;
  prometheus::Registry registry_;
  std::shared_ptr<testing::FaultInjectingObjectStore> faults_;
  std::shared_ptr<MetadataStore> metadata_;
  std::shared_ptr<LogReader> reader_;
  std::shared_ptr<WatermarkNotifier> notifier_;
  std::shared_ptr<exec::IoEngine> engine_;
};

// Takes the chunks of a RecordStream or TopicStream as they come (on_ready),
// like the HTTP side does.
template <typename Stream>
class Collector {
 public:
  using Chunk = typename decltype(std::declval<Stream&>().pop())::value_type;

  explicit Collector(std::shared_ptr<Stream> s) : stream_(std::move(s)) {}

  void start() {
    // The callback may still run once after the collector is gone (a producer
    // that queued a chunk just before the end): it holds the signal, not us.
    stream_->start([signal = signal_] {
      std::lock_guard<std::mutex> lock(signal->mu);
      ++signal->ready;
      signal->cv.notify_all();
    });
  }
  // Pops until `until` appears in the text or the last chunk arrives; false on timeout.
  bool run(const std::string& until = "", std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    const auto give_up = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      while (auto c = stream_->pop()) {
        text += c->bytes;
        records += c->records;
        ++chunks;
        if (c->records == 0 && c->bytes.empty()) ++silent;
        if (c->last) {
          last = std::move(*c);
          return true;
        }
        if (!until.empty() && text.find(until) != std::string::npos) return true;
      }
      // Woken by on_ready when start() was ours; else the queue is re-checked.
      std::unique_lock<std::mutex> lock(signal_->mu);
      signal_->cv.wait_for(lock, std::chrono::milliseconds(10),
                           [&] { return signal_->ready > seen_ || stream_->queued() > 0; });
      seen_ = signal_->ready;
      if (std::chrono::steady_clock::now() > give_up) return false;
    }
  }
  std::vector<std::string> lines() const { return lines_of(text); }

  std::string text;
  uint64_t records = 0;
  int chunks = 0;
  int silent = 0;  // chunks that framed nothing (heartbeats of partitions that do not speak)
  std::optional<Chunk> last;

 private:
  struct Signal {
    std::mutex mu;
    std::condition_variable cv;
    int ready = 0;
  };
  std::shared_ptr<Stream> stream_;
  std::shared_ptr<Signal> signal_ = std::make_shared<Signal>();
  int seen_ = 0;
};

}  // namespace sh::read::stream_test
