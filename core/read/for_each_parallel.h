// for_each_parallel: runs fn(0) .. fn(n - 1) on up to `threads` threads, the
// caller's included (the topic-wide poll and stream open their partitions so).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace sh::read {

template <typename Fn>
void for_each_parallel(size_t n, unsigned threads, Fn&& fn) {
  if (n == 0) return;
  const size_t workers = std::min<size_t>(std::max(threads, 1u), n);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::jthread> pool;
  pool.reserve(workers - 1);
  for (size_t w = 1; w < workers; ++w) pool.emplace_back(work);
  work();
}

}  // namespace sh::read
