// WatermarkNotifier under a slow metadata store: a refresh that hangs must not
// delay any waiter's timeout, nor the refreshes of other partitions.
#include <fmt/format.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "core/format/segment.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/read/log_reader.h"
#include "core/read/watermark_notifier.h"
#include "core/storage/forwarding_object_store.h"
#include "core/storage/local_object_store.h"
#include "tests/support/concurrency.h"
#include "tests/support/temp_dir.h"

namespace sh::read {
namespace {

using Wake = WatermarkNotifier::Wake;

// Listings under "slow/" wait for the gate (a metadata store that hangs).
class GatedListStore final : public ForwardingObjectStore {
 public:
  using ForwardingObjectStore::ForwardingObjectStore;
  Result<ListPage> list(const ListOptions& opts) override {
    if (opts.prefix.starts_with("slow/")) {
      ++blocked;
      gate.wait();
    }
    return ForwardingObjectStore::list(opts);
  }
  testing::Gate gate;
  std::atomic<int> blocked{0};
};

class NotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto local = LocalObjectStore::open(scratch_.path().string(), true);
    ASSERT_TRUE(local.ok()) << local.error().to_string();
    store_ = std::make_shared<GatedListStore>(*local);
    LogReaderOptions o;
    o.tail_refresh_interval = Millis(0);
    reader_ = std::make_shared<LogReader>(std::make_shared<ListingMetadataStore>(store_), store_, o,
                                          registry_);
  }
  void write_segment(const std::string& topic, uint64_t first, uint64_t count) {
    format::SegmentWriter w;
    for (uint64_t o = first; o < first + count; ++o) {
      Record r;
      r.offset = o;
      r.timestamp = static_cast<int64_t>(o);
      r.value = fmt::format("v{}", o);
      ASSERT_TRUE(w.add(r).ok());
    }
    auto bytes = w.finish();
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(store_->put(format::segment_key("", topic, 0, first), *bytes, {}).ok());
  }

  // Registers a waiter whose callback fulfils the returned future.
  std::future<Wake> wait(WatermarkNotifier& n, const std::string& topic, uint64_t offset,
                         Millis timeout) {
    auto p = std::make_shared<std::promise<Wake>>();
    auto f = p->get_future();
    n.wait(topic, 0, offset, std::chrono::steady_clock::now() + timeout,
           [p](Wake w) { p->set_value(w); });
    return f;
  }

  testing::ScratchDir scratch_{"sh-notifier-test"};
  std::shared_ptr<GatedListStore> store_;
  prometheus::Registry registry_;
  std::shared_ptr<LogReader> reader_;
};

TEST_F(NotifierTest, AHangingRefreshDelaysNoOtherWaiterAndNoOtherPartition) {
  write_segment("slow", 0, 10);
  write_segment("fast", 0, 10);
  WatermarkNotifierOptions no;
  no.poll_interval = Millis(20);
  no.refresh_threads = 2;
  WatermarkNotifier notifier(reader_, no, registry_);
  // Destroyed before the notifier: a failed assertion never leaves its refresh hanging.
  struct OpenOnExit {
    testing::Gate& gate;
    ~OpenOnExit() { gate.open(); }
  } open_on_exit{store_->gate};

  // The slow partition's refresh hangs in its listing.
  auto slow_long = wait(notifier, "slow", 10, Millis(60'000));
  ASSERT_TRUE(testing::eventually([&] { return store_->blocked.load() > 0; }))
      << "the slow partition's refresh never started";

  // Timeouts fire while it hangs: another partition's and the same partition's.
  auto fast_short = wait(notifier, "fast", 10, Millis(100));
  auto slow_short = wait(notifier, "slow", 10, Millis(100));
  ASSERT_EQ(fast_short.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "a waiter's timeout waited behind another partition's hanging refresh";
  EXPECT_EQ(fast_short.get(), Wake::kDeadline);
  ASSERT_EQ(slow_short.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "a waiter's timeout waited behind its own partition's hanging refresh";
  EXPECT_EQ(slow_short.get(), Wake::kDeadline);

  // Other partitions are still refreshed: new records wake their waiters.
  auto fast_data = wait(notifier, "fast", 10, Millis(60'000));
  write_segment("fast", 10, 5);
  ASSERT_EQ(fast_data.wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "another partition's refresh waited behind the hanging one";
  EXPECT_EQ(fast_data.get(), Wake::kData);
  EXPECT_EQ(store_->blocked.load(), 1)
      << "a partition whose refresh still runs is not refreshed again meanwhile";
  EXPECT_EQ(slow_long.wait_for(Millis(0)), std::future_status::timeout);

  // Once the store answers, the slow partition's waiter is served as usual.
  write_segment("slow", 10, 1);
  store_->gate.open();
  ASSERT_EQ(slow_long.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(slow_long.get(), Wake::kData);
  EXPECT_EQ(notifier.waiters(), 0u);
}

TEST_F(NotifierTest, ShutdownAnswersEveryWaiter) {
  write_segment("fast", 0, 10);
  WatermarkNotifier notifier(reader_, WatermarkNotifierOptions{}, registry_);
  std::vector<std::future<Wake>> waits;
  for (int i = 0; i < 20; ++i) waits.push_back(wait(notifier, "fast", 10, Millis(60'000)));
  notifier.shutdown();
  for (auto& f : waits) {
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    EXPECT_EQ(f.get(), Wake::kShutdown);
  }
  auto late = wait(notifier, "fast", 10, Millis(60'000));
  ASSERT_EQ(late.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(late.get(), Wake::kShutdown);
}

}  // namespace
}  // namespace sh::read
