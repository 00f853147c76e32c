// Gives the allocator's free memory back to the kernel at a steady pace.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace sh::exec {

// Returns free pages of every malloc arena to the kernel (glibc's
// malloc_trim(0): the top of each heap, and the whole pages inside free chunks
// in the middle of it, which free() alone never gives back). True if it
// released any; false where there is no such call (another libc).
bool trim_heap();

struct HeapTrimmerOptions {
  // Pause between two trims; zero or less starts no thread.
  std::chrono::milliseconds interval{1000};
  // What one trim does (tests count calls); empty = trim_heap().
  std::function<bool()> trim;
};

struct HeapTrimmerMetrics {
  explicit HeapTrimmerMetrics(prometheus::Registry& registry);
  prometheus::Counter& trims;
  prometheus::Counter& released;
  prometheus::Histogram& seconds;
};

// A thread that trims the heap every `interval`. Why: blocks of the caches are
// allocated and freed by many threads, and the freed memory between the live
// blocks stays resident, so RSS creeps above what the caches hold (measured in
// bench/RESULTS.md, followers: 1,000 followers + 100 streams with a 128 MiB
// budget peaked at 126.6-129.9 MiB without, 118.3-123.4 MiB with a trim every
// second, once a single 1-s sample at 134.1; one trim took 0.9 ms at the
// median, 2.7 ms at most).
// It runs at the default priority: it holds each arena's lock while it walks
// it, and a trimmer preempted there would stall the threads that allocate.
class HeapTrimmer {
 public:
  HeapTrimmer(HeapTrimmerOptions options, prometheus::Registry& registry);
  ~HeapTrimmer();
  HeapTrimmer(const HeapTrimmer&) = delete;
  HeapTrimmer& operator=(const HeapTrimmer&) = delete;

  // Ends the thread (at once, not after the current pause); idempotent.
  void stop();
  bool running() const { return thread_.joinable(); }

 private:
  void run();

  HeapTrimmerOptions options_;
  HeapTrimmerMetrics metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sh::exec
