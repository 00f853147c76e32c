#include "core/exec/heap_trimmer.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <pthread.h>

namespace sh::exec {

bool trim_heap() {
#if defined(__GLIBC__)
  return malloc_trim(0) == 1;
#else
  return false;
#endif
}

HeapTrimmerMetrics::HeapTrimmerMetrics(prometheus::Registry& registry)
    : trims(prometheus::BuildCounter()
                .Name("streamhouse_heap_trims_total")
                .Help("Times the allocator's free memory was given back to the kernel (--heap-trim-interval-ms)")
                .Register(registry)
                .Add({})),
      released(prometheus::BuildCounter()
                   .Name("streamhouse_heap_trims_released_total")
                   .Help("Heap trims that gave back at least one page")
                   .Register(registry)
                   .Add({})),
      seconds(prometheus::BuildHistogram()
                  .Name("streamhouse_heap_trim_seconds")
                  .Help("Time one heap trim took (allocations in the arena it walks wait that long at most)")
                  .Register(registry)
                  .Add({}, prometheus::Histogram::BucketBoundaries{0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01,
                                                                   0.05})) {}

HeapTrimmer::HeapTrimmer(HeapTrimmerOptions options, prometheus::Registry& registry)
    : options_(std::move(options)), metrics_(registry) {
  if (!options_.trim) options_.trim = trim_heap;
  if (options_.interval.count() > 0) thread_ = std::thread([this] { run(); });
}

HeapTrimmer::~HeapTrimmer() { stop(); }

void HeapTrimmer::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void HeapTrimmer::run() {
  pthread_setname_np(pthread_self(), "heap-trim");
  std::unique_lock lock(mu_);
  for (;;) {
    if (cv_.wait_for(lock, options_.interval, [this] { return stopping_; })) return;
    lock.unlock();
    const auto t0 = std::chrono::steady_clock::now();
    const bool released = options_.trim();
    metrics_.seconds.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    metrics_.trims.Increment();
    if (released) metrics_.released.Increment();
    lock.lock();
  }
}

}  // namespace sh::exec
