// Bounded state a client can create: waiting long-polls (in all and per
// client address) and the consumer groups the lag metrics track.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include <prometheus/registry.h>

#include "api/group_lag.h"
#include "api/long_poll_limiter.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/read/log_reader.h"
#include "core/storage/local_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh::api {
namespace {

double gauge(prometheus::Registry& r, const std::string& name) {
  for (const auto& f : r.Collect()) {
    if (f.name == name && !f.metric.empty()) return f.metric[0].gauge.value;
  }
  return -1;
}

TEST(LongPollLimiter, CapsTotalAndPerClientAndFreesOnRelease) {
  prometheus::Registry registry;
  LongPollLimiter limiter(3, 2, registry);
  LongPollLimiter::Refusal why;
  auto a1 = limiter.try_acquire("10.0.0.1", &why);
  auto a2 = limiter.try_acquire("10.0.0.1", &why);
  ASSERT_TRUE(a1 && a2);
  EXPECT_EQ(limiter.try_acquire("10.0.0.1", &why), nullptr) << "third from one client";
  EXPECT_EQ(why, LongPollLimiter::Refusal::kClient);
  auto b1 = limiter.try_acquire("10.0.0.2", &why);
  ASSERT_TRUE(b1);
  EXPECT_EQ(limiter.try_acquire("10.0.0.3", &why), nullptr) << "fourth in all";
  EXPECT_EQ(why, LongPollLimiter::Refusal::kTotal);
  EXPECT_EQ(limiter.waiting(), 3u);
  EXPECT_EQ(gauge(registry, "streamhouse_http_long_polls_waiting"), 3);

  EXPECT_TRUE(a1->release());
  EXPECT_FALSE(a1->release()) << "a slot is given back once";
  EXPECT_EQ(limiter.waiting(), 2u);
  EXPECT_EQ(gauge(registry, "streamhouse_http_long_polls_waiting"), 2);
  EXPECT_TRUE(limiter.try_acquire("10.0.0.1", &why)) << "the client's freed slot is usable (and dropped again)";
  b1.reset();  // destruction releases
  a2.reset();
  EXPECT_EQ(limiter.waiting(), 0u);
  EXPECT_EQ(gauge(registry, "streamhouse_http_long_polls_waiting"), 0);
}

TEST(LongPollLimiter, ZeroMeansNoLimit) {
  prometheus::Registry registry;
  LongPollLimiter limiter(0, 0, registry);
  LongPollLimiter::Refusal why;
  std::vector<std::shared_ptr<LongPollLimiter::Slot>> slots;
  for (int i = 0; i < 100; ++i) slots.push_back(limiter.try_acquire("c", &why));
  for (auto& s : slots) EXPECT_TRUE(s);
  EXPECT_EQ(limiter.waiting(), 100u);
}

struct Reader {
  testing::ScratchDir dir{"sh-lag"};
  prometheus::Registry registry;
  std::shared_ptr<read::LogReader> reader;
  Reader() {
    auto store = LocalObjectStore::open(dir.path().string(), true);
    EXPECT_TRUE(store.ok());
    std::shared_ptr<ObjectStore> s = std::move(*store);
    reader = std::make_shared<read::LogReader>(std::make_shared<ListingMetadataStore>(s), s,
                                               read::LogReaderOptions{}, registry);
  }
};

std::set<std::string> groups_in(const std::vector<prometheus::MetricFamily>& families) {
  std::set<std::string> out;
  for (const auto& f : families) {
    for (const auto& m : f.metric) {
      for (const auto& l : m.label) {
        if (l.name == "group") out.insert(l.value);
      }
    }
  }
  return out;
}

TEST(GroupLagTracker, KeepsAtMostMaxGroupsAndEvictsTheLeastRecentWithItsSeries) {
  Reader r;
  GroupLagTracker lag(r.reader.get(), 2);
  lag.record("a", "t", 0, 5);
  lag.record("a", "t", 1, 6);
  lag.record("b", "t", 0, 7);
  lag.record("a", "t", 0, 8);  // a is now the most recent
  EXPECT_EQ(lag.groups(), 2u);
  lag.record("c", "t", 0, 9);  // evicts b
  EXPECT_EQ(lag.groups(), 2u);
  EXPECT_EQ(lag.evictions(), 1u);
  EXPECT_TRUE(lag.tracks("a"));
  EXPECT_FALSE(lag.tracks("b"));
  EXPECT_TRUE(lag.tracks("c"));
  EXPECT_EQ(groups_in(lag.collect()), (std::set<std::string>{"a", "c"}))
      << "an evicted group's series must leave the scrape";
  size_t series = 0;
  for (const auto& f : lag.collect()) series += f.metric.size();
  EXPECT_EQ(series, 3u) << "a/t/0, a/t/1, c/t/0 committed offsets (no lag: partitions not indexed)";
}

TEST(GroupLagTracker, ZeroMeansNoLimit) {
  Reader r;
  GroupLagTracker lag(r.reader.get(), 0);
  for (int i = 0; i < 50; ++i) lag.record(fmt::format("g{}", i), "t", 0, 1);
  EXPECT_EQ(lag.groups(), 50u);
  EXPECT_EQ(lag.evictions(), 0u);
}

}  // namespace
}  // namespace sh::api
