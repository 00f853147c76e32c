#include "core/cache/lru_cache.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace sh::cache {
namespace {

using StrCache = LruCache<std::string, std::string>;

std::shared_ptr<const std::string> val(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

TEST(LruCacheTest, LookupReturnsInsertedValueAndNullOnMiss) {
  StrCache c(1000, 0);
  EXPECT_EQ(c.lookup("a"), nullptr) << "empty cache must miss";
  c.insert("a", val("alpha"), 10);
  auto v = c.lookup("a");
  ASSERT_NE(v, nullptr) << "inserted key must hit";
  EXPECT_EQ(*v, "alpha");
  EXPECT_EQ(c.usage(), 10u);
  EXPECT_EQ(c.entries(), 1u);
  EXPECT_EQ(c.hits(), 1u);
  EXPECT_EQ(c.misses(), 1u);
}

TEST(LruCacheTest, EvictsLeastRecentlyUsedFirst) {
  StrCache c(30, 0);  // one shard of 30 bytes
  c.insert("a", val("A"), 10);
  c.insert("b", val("B"), 10);
  c.insert("c", val("C"), 10);
  ASSERT_NE(c.lookup("a"), nullptr);  // order now (MRU→LRU): a c b
  c.insert("d", val("D"), 10);        // must evict b
  EXPECT_EQ(c.lookup("b"), nullptr) << "b was least recently used and should be evicted";
  EXPECT_NE(c.lookup("a"), nullptr) << "a was touched by lookup and must survive";
  EXPECT_NE(c.lookup("c"), nullptr);
  EXPECT_NE(c.lookup("d"), nullptr);
  EXPECT_EQ(c.evictions(), 1u);
  EXPECT_EQ(c.usage(), 30u);
}

TEST(LruCacheTest, EvictsByChargeUntilWithinCapacity) {
  StrCache c(100, 0);
  for (int i = 0; i < 10; ++i) c.insert(fmt::format("k{}", i), val("v"), 10);
  EXPECT_EQ(c.usage(), 100u);
  // A 45-byte entry pushes out the 5 least recently used 10-byte entries (k0..k4).
  c.insert("big", val("B"), 45);
  EXPECT_LE(c.usage(), 100u) << "usage must stay within capacity";
  EXPECT_EQ(c.usage(), 95u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(c.lookup(fmt::format("k{}", i)), nullptr) << "k" << i << " should be evicted";
  }
  for (int i = 5; i < 10; ++i) {
    EXPECT_NE(c.lookup(fmt::format("k{}", i)), nullptr) << "k" << i << " should survive";
  }
  EXPECT_EQ(c.evictions(), 5u);
}

TEST(LruCacheTest, EntryLargerThanShardIsNotCachedAndDropsOldValue) {
  StrCache c(100, 0);
  c.insert("x", val("small"), 10);
  c.insert("x", val("huge"), 101);
  EXPECT_EQ(c.lookup("x"), nullptr) << "an oversized replacement must not leave the stale value";
  EXPECT_EQ(c.usage(), 0u);
  EXPECT_EQ(c.rejected(), 1u);
}

TEST(LruCacheTest, ReplaceUpdatesValueAndCharge) {
  StrCache c(100, 0);
  c.insert("x", val("one"), 10);
  c.insert("x", val("two"), 30);
  ASSERT_NE(c.lookup("x"), nullptr);
  EXPECT_EQ(*c.lookup("x"), "two");
  EXPECT_EQ(c.usage(), 30u) << "the old charge must be released on replace";
  EXPECT_EQ(c.entries(), 1u);
}

TEST(LruCacheTest, EraseAndClear) {
  StrCache c(100, 2);
  c.insert("a", val("A"), 5);
  c.insert("b", val("B"), 7);
  c.erase("a");
  EXPECT_EQ(c.lookup("a"), nullptr);
  EXPECT_EQ(c.usage(), 7u);
  c.erase("missing");  // no-op
  c.clear();
  EXPECT_EQ(c.entries(), 0u);
  EXPECT_EQ(c.usage(), 0u);
  EXPECT_EQ(c.lookup("b"), nullptr);
}

TEST(LruCacheTest, PinnedValueSurvivesEviction) {
  StrCache c(10, 0);
  c.insert("a", val("pinned value"), 10);
  std::shared_ptr<const std::string> pinned = c.lookup("a");
  ASSERT_NE(pinned, nullptr);
  std::weak_ptr<const std::string> weak = pinned;
  c.insert("b", val("B"), 10);  // evicts a
  EXPECT_EQ(c.lookup("a"), nullptr) << "a must be evicted from the cache";
  EXPECT_EQ(*pinned, "pinned value") << "a held value must stay valid after eviction";
  EXPECT_EQ(c.usage(), 10u) << "an evicted pinned value no longer counts";
  pinned.reset();
  EXPECT_TRUE(weak.expired()) << "the cache must not keep a reference after eviction";
}

TEST(LruCacheTest, ShardsSplitCapacityAndEvictIndependently) {
  LruCache<uint64_t, int> c(16 * 100, 4);
  EXPECT_EQ(c.num_shards(), 16u);
  // 16 shards of 100 bytes: with 10-byte entries at most 10 per shard fit.
  for (uint64_t k = 0; k < 1000; ++k) c.insert(k, std::make_shared<const int>(int(k)), 10);
  EXPECT_LE(c.usage(), c.capacity());
  EXPECT_LE(c.entries(), 160u);
  // Keys spread over shards: nearly all shards should be full (hash mixes integers).
  EXPECT_GE(c.entries(), 140u) << "keys should spread over the 16 shards";
  EXPECT_EQ(c.evictions(), 1000u - c.entries());
  // The most recently inserted keys survive in every shard.
  EXPECT_NE(c.lookup(999), nullptr);
  EXPECT_EQ(c.lookup(0), nullptr);
}

TEST(LruCacheTest, ConcurrentLookupInsertStress) {
  LruCache<int, std::string> c(64 * 1024, 3);
  std::atomic<uint64_t> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 20000; ++i) {
        int k = static_cast<int>(rng() % 2000);
        if (rng() % 3 == 0) {
          c.insert(k, std::make_shared<const std::string>(std::to_string(k)), 64 + k % 200);
        } else if (rng() % 50 == 0) {
          c.erase(k);
        } else if (auto v = c.lookup(k)) {
          if (*v != std::to_string(k)) bad.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0u) << "a lookup returned the value of another key";
  EXPECT_LE(c.usage(), c.capacity());
  EXPECT_GT(c.evictions(), 0u) << "the stress run should have overflowed the cache";
}

}  // namespace
}  // namespace sh::cache
