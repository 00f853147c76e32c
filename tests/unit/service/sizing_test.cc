// How serve divides its flags: block memory between the decoded cache and the
// read-ahead buffer, and the HTTP worker count.
#include "service/sizing.h"

#include <sched.h>

#include <gtest/gtest.h>

namespace sh::service {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

TEST(SplitBlockMemory, ReadAheadTakesAQuarterAtMost64MiBAndTheSumIsTheFlag) {
  const BlockMemory small = split_block_memory(64 * kMiB, 16 * kMiB);
  EXPECT_EQ(small.readahead_buffer_bytes, 16 * kMiB);
  EXPECT_EQ(small.decoded_cache_bytes, 48 * kMiB);

  const BlockMemory large = split_block_memory(1024 * kMiB, 16 * kMiB);
  EXPECT_EQ(large.readahead_buffer_bytes, 64 * kMiB) << "capped at 64 MiB";
  EXPECT_EQ(large.decoded_cache_bytes + large.readahead_buffer_bytes, 1024 * kMiB);

  const BlockMemory none = split_block_memory(0, 16 * kMiB);
  EXPECT_EQ(none.readahead_buffer_bytes, 0u);
  EXPECT_EQ(none.decoded_cache_bytes, 0u);
}

TEST(SplitBlockMemory, WithoutReadAheadTheCacheTakesItAll) {
  const BlockMemory m = split_block_memory(256 * kMiB, 0);
  EXPECT_EQ(m.readahead_buffer_bytes, 0u);
  EXPECT_EQ(m.decoded_cache_bytes, 256 * kMiB);
}

TEST(HttpWorkerThreads, AFlagWinsElseOnePerCoreOfTheAffinityMask) {
  EXPECT_EQ(http_worker_threads(7), 7u);
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(::sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_EQ(http_worker_threads(0), static_cast<unsigned>(CPU_COUNT(&set)));

  // Pinned to one core (as the benchmarks run the server), one worker.
  cpu_set_t one;
  CPU_ZERO(&one);
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) {
      CPU_SET(c, &one);
      break;
    }
  }
  ASSERT_EQ(::sched_setaffinity(0, sizeof(one), &one), 0);
  const unsigned pinned = http_worker_threads(0);
  ASSERT_EQ(::sched_setaffinity(0, sizeof(set), &set), 0);
  EXPECT_EQ(pinned, 1u);
}

}  // namespace
}  // namespace sh::service
