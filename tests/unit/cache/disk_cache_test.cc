#include "core/cache/disk_cache.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "tests/support/temp_dir.h"

namespace sh::cache {
namespace {

namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

constexpr size_t kValueBytes = 100;
// Keys in these tests are three characters ("k00"), so every entry file has this size.
constexpr uint64_t kFile = DiskCache::kHeaderBytes + 3 + kValueBytes;

std::string key_of(int i) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "k%02d", i);
  return buf;
}
std::string value_of(const std::string& key, size_t n = kValueBytes) {
  std::string v;
  v.reserve(n);
  for (size_t i = 0; i < n; ++i) v.push_back(static_cast<char>(key[i % key.size()] + i * 7));
  return v;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}
void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}
void flip_byte(const std::string& path, uint64_t at) {
  std::string bytes = read_file(path);
  ASSERT_LT(at, bytes.size());
  bytes[at] = static_cast<char>(bytes[at] ^ 0x5a);
  write_file(path, bytes);  // in place: same inode, as a bad disk would do it
}
size_t open_fd_count() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : stdfs::directory_iterator("/proc/self/fd")) ++n;
  return n;
}
// Bytes of entry files actually in the directory (tmp/ and LOCK excluded).
uint64_t entry_bytes_on_disk(const stdfs::path& dir, size_t* files = nullptr) {
  uint64_t total = 0;
  size_t n = 0;
  for (const auto& e : stdfs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".blk") {
      total += e.file_size();
      ++n;
    }
  }
  if (files != nullptr) *files = n;
  return total;
}

class DiskCacheTest : public ::testing::Test {
 protected:
  DiskCacheOptions options(uint64_t capacity = 10 * kFile) const {
    DiskCacheOptions o;
    o.dir = (scratch_.path() / "cache").string();
    o.capacity_bytes = capacity;
    o.trim_low_watermark = 0.8;
    o.min_trim_interval = 1000ms;
    o.max_open_files = 8;
    return o;
  }
  std::unique_ptr<DiskCache> open_cache(const DiskCacheOptions& o) {
    auto r = DiskCache::open(o, metrics_, clock_);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  std::unique_ptr<DiskCache> open_cache() { return open_cache(options()); }

  static std::optional<std::string> get(DiskCache& c, const std::string& key) {
    auto r = c.get(key);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    return r.ok() ? *r : std::nullopt;
  }
  static void put(DiskCache& c, const std::string& key, const std::string& value) {
    Status s = c.put(key, value);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
  }

  testing::ScratchDir scratch_{"disk-cache"};
  prometheus::Registry registry_;
  DiskCacheMetrics metrics_{registry_};
  std::shared_ptr<ManualClock> clock_ = std::make_shared<ManualClock>(1'700'000'000'000);
};

TEST_F(DiskCacheTest, CreatesMissingDirectoryAndRoundTrips) {
  DiskCacheOptions o = options();
  o.dir = (scratch_.path() / "a" / "b" / "cache").string();
  auto cache = open_cache(o);
  ASSERT_NE(cache, nullptr);
  EXPECT_TRUE(stdfs::is_directory(o.dir));

  EXPECT_EQ(get(*cache, "k00"), std::nullopt) << "empty cache must miss";
  put(*cache, "k00", value_of("k00"));
  EXPECT_EQ(get(*cache, "k00"), value_of("k00"));
  EXPECT_TRUE(stdfs::exists(cache->file_path("k00")));

  // Replacing keeps one entry with the new bytes.
  put(*cache, "k00", "short");
  EXPECT_EQ(get(*cache, "k00"), "short");
  DiskCacheStats s = cache->stats();
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.bytes, DiskCache::kHeaderBytes + 3 + 5);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.reserved_bytes, 0u);

  // The caller-buffer overload.
  std::string buf = "stale";
  auto hit = cache->get("nope", &buf);
  ASSERT_TRUE(hit.ok());
  EXPECT_FALSE(*hit);
  EXPECT_TRUE(buf.empty());
  hit = cache->get("k00", &buf);
  ASSERT_TRUE(hit.ok());
  EXPECT_TRUE(*hit);
  EXPECT_EQ(buf, "short");

  cache->erase("k00");
  EXPECT_FALSE(cache->contains("k00"));
  EXPECT_FALSE(stdfs::exists(cache->file_path("k00")));
  EXPECT_EQ(cache->stats().bytes, 0u);
}

TEST_F(DiskCacheTest, BadDirectoryIsAClearError) {
  const std::string file = (scratch_.path() / "plain-file").string();
  write_file(file, "x");
  DiskCacheOptions o = options();
  o.dir = file;
  auto r = DiskCache::open(o, metrics_, clock_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
  EXPECT_NE(r.error().message().find("not a directory"), std::string::npos) << r.error().message();

  o.dir = file + "/below";
  r = DiskCache::open(o, metrics_, clock_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kInvalidArgument) << r.error().to_string();

  o = options();
  o.trim_low_watermark = 1.5;
  r = DiskCache::open(o, metrics_, clock_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
}

TEST_F(DiskCacheTest, SecondCacheOnALockedDirectoryIsRefused) {
  auto first = open_cache();
  ASSERT_NE(first, nullptr);
  auto r = DiskCache::open(options(), metrics_, clock_);
  ASSERT_FALSE(r.ok()) << "two DiskCaches must not share a directory";
  EXPECT_EQ(r.error().code(), Errc::kUnavailable);
  EXPECT_NE(r.error().message().find("in use"), std::string::npos) << r.error().message();
  first.reset();
  EXPECT_NE(open_cache(), nullptr) << "the lock is released with the cache";
}

TEST_F(DiskCacheTest, EvictsLeastRecentlyUsedByBytes) {
  auto cache = open_cache();  // capacity: exactly 10 entries; low watermark 8
  for (int i = 0; i < 10; ++i) {
    put(*cache, key_of(i), value_of(key_of(i)));
    clock_->advance(1ms);
  }
  EXPECT_EQ(cache->stats().bytes, 10 * kFile);
  EXPECT_EQ(cache->stats().evictions, 0u) << "a cache filled exactly to capacity evicts nothing";

  ASSERT_EQ(get(*cache, "k00"), value_of("k00"));  // k00 becomes the most recent
  put(*cache, "k10", value_of("k10"));             // over capacity: one trim

  // Trimmed to 8 entries including the new one: the three oldest (k01..k03) went, k00 stayed.
  DiskCacheStats s = cache->stats();
  EXPECT_EQ(s.trims, 1u);
  EXPECT_EQ(s.evictions, 3u);
  EXPECT_EQ(s.entries, 8u);
  EXPECT_EQ(s.bytes, 8 * kFile);
  EXPECT_TRUE(cache->contains("k00")) << "get() must refresh recency";
  for (int i = 1; i <= 3; ++i) {
    EXPECT_FALSE(cache->contains(key_of(i))) << key_of(i) << " was least recently used";
    EXPECT_FALSE(stdfs::exists(cache->file_path(key_of(i))));
  }
  for (int i = 4; i <= 10; ++i) EXPECT_EQ(get(*cache, key_of(i)), value_of(key_of(i)));
  EXPECT_EQ(entry_bytes_on_disk(options().dir), s.bytes) << "index and directory disagree";
  EXPECT_EQ(metrics_.evictions.Value(), 3.0);
  EXPECT_EQ(metrics_.bytes.Value(), static_cast<double>(8 * kFile));
  EXPECT_EQ(metrics_.entries.Value(), 8.0);
}

TEST_F(DiskCacheTest, FullCacheTrimsAtMostOncePerIntervalAndSkipsPuts) {
  auto cache = open_cache();  // min_trim_interval 1 s; the clock does not move
  for (int i = 0; i < 60; ++i) put(*cache, key_of(i), value_of(key_of(i)));

  // 10 fill it, the 11th trims to 7 + itself, 12th and 13th fit, the rest are skipped.
  DiskCacheStats s = cache->stats();
  EXPECT_EQ(s.trims, 1u) << "trims are rate-limited";
  EXPECT_EQ(s.evictions, 3u) << "a full cache must not evict on every put";
  EXPECT_EQ(s.skipped_puts, 60u - 13u);
  EXPECT_EQ(s.entries, 10u);
  EXPECT_LE(s.bytes, options().capacity_bytes);
  EXPECT_EQ(metrics_.skipped_puts.Value(), static_cast<double>(60 - 13));
  for (int i = 3; i < 13; ++i) EXPECT_EQ(get(*cache, key_of(i)), value_of(key_of(i)));

  clock_->advance(1000ms);
  put(*cache, "k60", value_of("k60"));
  s = cache->stats();
  EXPECT_EQ(s.trims, 2u) << "after the interval a trim may run again";
  EXPECT_TRUE(cache->contains("k60"));
}

TEST_F(DiskCacheTest, WorkingSetLargerThanCacheDoesNotThrash) {
  auto cache = open_cache();  // holds 10; working set 30
  int puts = 0;
  int hits = 0;
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 30; ++i) {
      const std::string k = key_of(i);
      if (get(*cache, k).has_value()) {
        ++hits;
      } else {
        put(*cache, k, value_of(k));
        ++puts;
      }
      clock_->advance(10ms);  // 300 operations over 3 s: at most 4 trims
    }
  }
  const DiskCacheStats s = cache->stats();
  EXPECT_LE(s.trims, 4u);
  EXPECT_LE(s.evictions, 3 * s.trims) << "each trim evicts one batch";
  EXPECT_LT(s.evictions * 10, static_cast<uint64_t>(puts))
      << "evictions " << s.evictions << " vs puts " << puts << ": the cache is thrashing";
  EXPECT_GT(hits, 60) << "the entries that stay must keep hitting (at most 10 per round)";
}

TEST_F(DiskCacheTest, TooLargeEntryIsSkippedAndLongKeyRejected) {
  auto cache = open_cache();
  put(*cache, "big", std::string(options().capacity_bytes, 'x'));
  EXPECT_EQ(cache->stats().skipped_puts, 1u);
  EXPECT_FALSE(cache->contains("big"));

  Status s = cache->put(std::string(DiskCache::kMaxKeyBytes + 1, 'k'), "v");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), Errc::kInvalidArgument);
  EXPECT_EQ(get(*cache, std::string(DiskCache::kMaxKeyBytes + 1, 'k')), std::nullopt);
}

TEST_F(DiskCacheTest, RestartKeepsTheWarmSetAndItsOrder) {
  const DiskCacheOptions o = options();
  {
    auto cache = open_cache(o);
    for (int i = 0; i < 10; ++i) {
      put(*cache, key_of(i), value_of(key_of(i)));
      clock_->advance(1s);
    }
    ASSERT_EQ(get(*cache, "k00"), value_of("k00"));  // most recent before the restart
    clock_->advance(1s);
  }
  EXPECT_EQ(metrics_.entries.Value(), 0.0) << "a closed cache takes its entries off the gauge";

  // Leftovers a crash could leave: a temp file, a half-written entry, and a file not ours.
  write_file(o.dir + "/tmp/0123.7.tmp", "partial");
  const std::string half = o.dir + "/ab/ab" + std::string(30, '0') + ".blk";
  stdfs::create_directories(o.dir + "/ab");
  write_file(half, "SHDC-not-a-header");
  write_file(o.dir + "/ab/notes.txt", "operator notes");

  auto cache = open_cache(o);
  ASSERT_NE(cache, nullptr);
  DiskCacheStats s = cache->stats();
  EXPECT_EQ(s.entries, 10u);
  EXPECT_EQ(s.bytes, 10 * kFile);
  EXPECT_EQ(s.corruptions, 1u) << "the unparsable entry file is counted";
  EXPECT_FALSE(stdfs::exists(o.dir + "/tmp/0123.7.tmp")) << "temp files are removed";
  EXPECT_FALSE(stdfs::exists(half)) << "entry files that do not parse are removed";
  EXPECT_TRUE(stdfs::exists(o.dir + "/ab/notes.txt")) << "files that are not ours stay";

  // LRU order survived: the next trim evicts k01..k03, not k00.
  put(*cache, "k10", value_of("k10"));
  EXPECT_TRUE(cache->contains("k00"));
  for (int i = 1; i <= 3; ++i) EXPECT_FALSE(cache->contains(key_of(i))) << key_of(i);
  for (int i : {0, 4, 5, 6, 7, 8, 9, 10}) {
    EXPECT_EQ(get(*cache, key_of(i)), value_of(key_of(i))) << key_of(i);
  }
}

TEST_F(DiskCacheTest, RestartWithSmallerCapacityTrimsOldestFirst) {
  {
    auto cache = open_cache();
    for (int i = 0; i < 10; ++i) {
      put(*cache, key_of(i), value_of(key_of(i)));
      clock_->advance(1s);
    }
  }
  auto cache = open_cache(options(5 * kFile));  // low watermark: 4 entries
  ASSERT_NE(cache, nullptr);
  const DiskCacheStats s = cache->stats();
  EXPECT_EQ(s.entries, 4u);
  EXPECT_EQ(s.evictions, 6u);
  for (int i = 0; i < 6; ++i) EXPECT_FALSE(cache->contains(key_of(i))) << key_of(i);
  for (int i = 6; i < 10; ++i) EXPECT_EQ(get(*cache, key_of(i)), value_of(key_of(i)));
  EXPECT_EQ(entry_bytes_on_disk(options().dir), s.bytes);
}

TEST_F(DiskCacheTest, RestartGetsEveryKeyBack) {
  const DiskCacheOptions o = options(1 << 20);
  std::vector<std::string> keys;
  for (int i = 0; i < 50; ++i) keys.push_back("bucket/topic/0/" + std::to_string(i) + ".seg@etag#0+4096");
  {
    auto cache = open_cache(o);
    for (const auto& k : keys) put(*cache, k, value_of(k, 1000 + keys.size()));
  }
  auto cache = open_cache(o);
  ASSERT_NE(cache, nullptr);
  for (const auto& k : keys) EXPECT_EQ(get(*cache, k), value_of(k, 1000 + keys.size())) << k;
  EXPECT_EQ(cache->stats().hits, keys.size());
  EXPECT_EQ(cache->stats().corruptions, 0u);
}

class DiskCacheCorruptionTest : public DiskCacheTest {
 protected:
  // Puts k00, damages its file with `damage`, and checks the damage is a counted miss that
  // removes the entry while k01 is unaffected. With `warm`, k00 was read first (descriptor
  // cached).
  template <class Damage>
  void expect_detected(Damage damage, bool warm) {
    auto cache = open_cache();
    const double corruptions_before = metrics_.corruptions.Value();
    put(*cache, "k00", value_of("k00"));
    put(*cache, "k01", value_of("k01"));
    if (warm) {
      ASSERT_EQ(get(*cache, "k00"), value_of("k00"));
    }
    const std::string path = cache->file_path("k00");
    damage(path);

    EXPECT_EQ(get(*cache, "k00"), std::nullopt) << "damaged file must be a miss";
    DiskCacheStats s = cache->stats();
    EXPECT_EQ(s.corruptions, 1u);
    EXPECT_FALSE(cache->contains("k00")) << "the bad entry is dropped";
    EXPECT_FALSE(stdfs::exists(path)) << "and its file removed";
    EXPECT_EQ(s.bytes, kFile);
    EXPECT_EQ(metrics_.corruptions.Value(), corruptions_before + 1);
    EXPECT_EQ(get(*cache, "k01"), value_of("k01"));

    // The caller refetches and stores again.
    put(*cache, "k00", value_of("k00"));
    EXPECT_EQ(get(*cache, "k00"), value_of("k00"));
  }
};

TEST_F(DiskCacheCorruptionTest, FlippedDataByteIsDetected) {
  for (bool warm : {false, true}) {
    SCOPED_TRACE(warm ? "descriptor cached" : "cold");
    expect_detected([](const std::string& p) { flip_byte(p, kFile - 1); }, warm);
    stdfs::remove_all(options().dir);
  }
}

TEST_F(DiskCacheCorruptionTest, FlippedHeaderBytesAreDetected) {
  // Every header and key byte: magic, version, lengths, CRCs, key.
  for (uint64_t at = 0; at < DiskCache::kHeaderBytes + 3; ++at) {
    SCOPED_TRACE(fmt::format("byte {}", at));
    expect_detected([at](const std::string& p) { flip_byte(p, at); }, false);
    stdfs::remove_all(options().dir);
  }
}

TEST_F(DiskCacheCorruptionTest, TruncatedFileIsDetected) {
  for (bool warm : {false, true}) {
    SCOPED_TRACE(warm ? "descriptor cached" : "cold");
    expect_detected([](const std::string& p) { ASSERT_EQ(::truncate(p.c_str(), 40), 0); }, warm);
    stdfs::remove_all(options().dir);
  }
}

TEST_F(DiskCacheCorruptionTest, DeletedFileIsDetected) {
  for (bool warm : {false, true}) {
    SCOPED_TRACE(warm ? "descriptor cached" : "cold");
    expect_detected([](const std::string& p) { ASSERT_TRUE(stdfs::remove(p)); }, warm);
    stdfs::remove_all(options().dir);
  }
}

TEST_F(DiskCacheTest, FileHoldingAnotherKeyIsAMissNotCorruption) {
  auto cache = open_cache();
  put(*cache, "k00", value_of("k00"));
  put(*cache, "k01", value_of("k01"));
  // What a hash collision looks like on disk: k00's file holds k01's entry.
  write_file(cache->file_path("k00"), read_file(cache->file_path("k01")));

  EXPECT_EQ(get(*cache, "k00"), std::nullopt) << "a stored key that differs must be a miss";
  DiskCacheStats s = cache->stats();
  EXPECT_EQ(s.collisions, 1u);
  EXPECT_EQ(s.corruptions, 0u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(get(*cache, "k01"), value_of("k01"));
}

TEST_F(DiskCacheTest, OpenDescriptorsStayWithinMaxOpenFiles) {
  DiskCacheOptions o = options(1 << 20);
  o.max_open_files = 4;
  auto cache = open_cache(o);
  const size_t baseline = open_fd_count();
  for (int i = 0; i < 40; ++i) put(*cache, key_of(i), value_of(key_of(i)));
  for (int pass = 0; pass < 2; ++pass) {
    for (int i = 0; i < 40; ++i) {
      ASSERT_EQ(get(*cache, key_of(i)), value_of(key_of(i)));
      ASSERT_LE(cache->stats().open_files, 4u);
      ASSERT_LE(open_fd_count(), baseline + 4) << "descriptors leak past max_open_files";
    }
  }
  EXPECT_EQ(cache->stats().open_files, 4u);

  cache.reset();
  o.max_open_files = 0;
  cache = open_cache(o);
  const size_t baseline0 = open_fd_count();
  for (int i = 0; i < 40; ++i) ASSERT_EQ(get(*cache, key_of(i)), value_of(key_of(i)));
  EXPECT_EQ(cache->stats().open_files, 0u);
  EXPECT_EQ(open_fd_count(), baseline0);
}

TEST_F(DiskCacheTest, ConcurrentGetPutEraseStayConsistent) {
  DiskCacheOptions o = options();
  o.capacity_bytes = 24 * 1100;  // about 20 of the 64 keys fit: trims run all the time
  o.min_trim_interval = 0ms;
  o.max_open_files = 6;
  auto r = DiskCache::open(o, metrics_, system_clock());
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  std::unique_ptr<DiskCache> cache = std::move(r).value();

  constexpr int kThreads = 8;
  constexpr int kOps = 1000;
  std::atomic<int> wrong{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t) * 7919u + 1);
      std::string buf;
      for (int i = 0; i < kOps; ++i) {
        const std::string k = key_of(static_cast<int>(rng() % 64));
        // Each key has two versions of different lengths; a hit returns one of them whole.
        const std::string v1 = value_of(k, 1000);
        const std::string v2 = value_of(k + "!", 700);
        const unsigned op = rng() % 10;
        if (op < 6) {
          auto hit = cache->get(k, &buf);
          if (!hit.ok()) {
            ++errors;
          } else if (*hit && buf != v1 && buf != v2) {
            ++wrong;
          }
        } else if (op < 9) {
          if (!cache->put(k, (rng() & 1) ? v1 : v2).ok()) ++errors;
        } else {
          cache->erase(k);
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  EXPECT_EQ(wrong.load(), 0) << "a hit returned bytes that were never stored for that key";
  EXPECT_EQ(errors.load(), 0);
  const DiskCacheStats s = cache->stats();
  EXPECT_EQ(s.corruptions, 0u) << "races (replace, evict, erase) must not look like corruption";
  EXPECT_EQ(s.reserved_bytes, 0u);
  EXPECT_LE(s.bytes, o.capacity_bytes);
  EXPECT_LE(s.open_files, o.max_open_files);
  EXPECT_GT(s.hits, 0u);
  size_t files = 0;
  EXPECT_EQ(entry_bytes_on_disk(o.dir, &files), s.bytes) << "index and directory disagree";
  EXPECT_EQ(files, s.entries);
  EXPECT_TRUE(stdfs::is_empty(o.dir + "/tmp")) << "no temp file left behind";
  EXPECT_EQ(metrics_.bytes.Value(), static_cast<double>(s.bytes));
  EXPECT_EQ(metrics_.entries.Value(), static_cast<double>(s.entries));

  // Every entry left is intact.
  for (int i = 0; i < 64; ++i) {
    const std::string k = key_of(i);
    auto v = get(*cache, k);
    if (v) {
      EXPECT_TRUE(*v == value_of(k, 1000) || *v == value_of(k + "!", 700)) << k;
    }
  }
  EXPECT_EQ(cache->stats().corruptions, 0u);
}

TEST_F(DiskCacheTest, MetricsUsePrometheusNames) {
  auto cache = open_cache();
  put(*cache, "k00", value_of("k00"));
  ASSERT_TRUE(get(*cache, "k00").has_value());
  ASSERT_FALSE(get(*cache, "k01").has_value());
  std::vector<std::string> names;
  for (const auto& family : registry_.Collect()) names.push_back(family.name);
  for (const char* want :
       {"streamhouse_disk_cache_hits_total", "streamhouse_disk_cache_misses_total",
        "streamhouse_disk_cache_read_bytes_total", "streamhouse_disk_cache_written_bytes_total",
        "streamhouse_disk_cache_evictions_total", "streamhouse_disk_cache_corruptions_total",
        "streamhouse_disk_cache_skipped_puts_total", "streamhouse_disk_cache_bytes",
        "streamhouse_disk_cache_entries"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  EXPECT_EQ(metrics_.hits.Value(), 1.0);
  EXPECT_EQ(metrics_.misses.Value(), 1.0);
  EXPECT_EQ(metrics_.read_bytes.Value(), static_cast<double>(kValueBytes));
  EXPECT_EQ(metrics_.written_bytes.Value(), static_cast<double>(kValueBytes));
  EXPECT_EQ(metrics_.entries.Value(), 1.0);
}

}  // namespace
}  // namespace sh::cache
