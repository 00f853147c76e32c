// exec::HeapTrimmer: it trims at its pace, stops at once, counts what it did;
// exec::trim_heap gives freed memory inside the heap back to the kernel.
#include "core/exec/heap_trimmer.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace sh::exec {
namespace {

using namespace std::chrono_literals;

double metric_value(prometheus::Registry& registry, const std::string& name) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name || family.metric.empty()) continue;
    const auto& m = family.metric.front();
    if (family.type == prometheus::MetricType::Histogram) return static_cast<double>(m.histogram.sample_count);
    return m.counter.value;
  }
  return -1;
}

// Waits (up to 10 s) until `calls` reaches `n`.
bool wait_for_calls(const std::atomic<int>& calls, int n) {
  for (int i = 0; i < 1000 && calls.load() < n; ++i) std::this_thread::sleep_for(10ms);
  return calls.load() >= n;
}

TEST(HeapTrimmer, TrimsAtItsIntervalAndCountsEachTrim) {
  prometheus::Registry registry;
  std::atomic<int> calls{0};
  HeapTrimmer trimmer({5ms, [&] { return calls.fetch_add(1) % 2 == 0; }}, registry);
  EXPECT_TRUE(trimmer.running());
  ASSERT_TRUE(wait_for_calls(calls, 4));
  trimmer.stop();
  EXPECT_FALSE(trimmer.running());
  const int n = calls.load();
  EXPECT_EQ(metric_value(registry, "streamhouse_heap_trims_total"), n);
  EXPECT_EQ(metric_value(registry, "streamhouse_heap_trim_seconds"), n);
  // Every other call said it released something: calls 0, 2, 4, ...
  EXPECT_EQ(metric_value(registry, "streamhouse_heap_trims_released_total"), (n + 1) / 2);
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(calls.load(), n) << "a stopped trimmer trimmed again";
}

TEST(HeapTrimmer, StopDoesNotWaitForTheIntervalAndNothingRunsBeforeIt) {
  prometheus::Registry registry;
  std::atomic<int> calls{0};
  HeapTrimmer trimmer({1h, [&] { return ++calls > 0; }}, registry);
  ASSERT_TRUE(trimmer.running());
  trimmer.stop();  // would block for an hour (the test's timeout) if it waited for the pause
  trimmer.stop();  // idempotent
  EXPECT_FALSE(trimmer.running());
  EXPECT_EQ(calls.load(), 0);
  EXPECT_EQ(metric_value(registry, "streamhouse_heap_trims_total"), 0);
}

TEST(HeapTrimmer, ZeroIntervalStartsNoThread) {
  prometheus::Registry registry;
  std::atomic<int> calls{0};
  HeapTrimmer trimmer({0ms, [&] { return ++calls > 0; }}, registry);
  EXPECT_FALSE(trimmer.running());
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(calls.load(), 0);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SH_OWN_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SH_OWN_ALLOCATOR 1
#endif
#endif

[[maybe_unused]] size_t rss_bytes() {  // unused where the test below skips
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<size_t>(resident) * static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

// The case the trimmer is for: memory freed between live blocks. free() keeps
// it resident (only the top of a heap shrinks); trim_heap() gives it back.
TEST(TrimHeap, GivesBackFreedMemoryBetweenLiveBlocks) {
#if defined(SH_OWN_ALLOCATOR) || !defined(__GLIBC__)
  GTEST_SKIP() << "needs glibc's malloc (a sanitizer brings its own allocator)";
#else
  constexpr size_t kBlock = 32 << 10;  // below glibc's mmap threshold: from the heap
  constexpr int kBlocks = 4000;        // 125 MiB, half of it freed
  std::vector<std::unique_ptr<char[]>> blocks;
  blocks.reserve(kBlocks);
  for (int i = 0; i < kBlocks; ++i) {
    blocks.emplace_back(new char[kBlock]);
    std::memset(blocks.back().get(), 0x5a, kBlock);  // resident
  }
  for (int i = 0; i < kBlocks; i += 2) blocks[i].reset();  // holes between live blocks
  const size_t before = rss_bytes();
  ASSERT_GT(before, size_t{0});
  trim_heap();
  const size_t after = rss_bytes();
  // 2,000 holes of 32 KiB: each gives back its whole pages (~28 KiB).
  EXPECT_GT(before, after + (size_t{25} << 20)) << "RSS before " << before << ", after " << after;
  for (int i = 1; i < kBlocks; i += 2) EXPECT_EQ(blocks[i][kBlock - 1], 0x5a);  // live blocks are intact
#endif
}

}  // namespace
}  // namespace sh::exec
