// Replaces the global operator new so a test can see what a piece of code
// allocates: how many times, and the largest single request, while a probe is
// active. Include it in exactly one translation unit of a test binary (the
// replacement is a definition, not inline).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace sh::testing {

struct AllocationCounts {
  size_t allocations = 0;
  size_t largest = 0;
};

namespace allocation_probe_detail {
inline std::atomic<bool> active{false};
inline std::atomic<size_t> allocations{0};
inline std::atomic<size_t> largest{0};
}  // namespace allocation_probe_detail

// Runs `fn` with the probe active; what every thread allocated meanwhile.
template <typename Fn>
AllocationCounts count_allocations(Fn&& fn) {
  namespace d = allocation_probe_detail;
  d::allocations.store(0);
  d::largest.store(0);
  d::active.store(true);
  fn();
  d::active.store(false);
  return {d::allocations.load(), d::largest.load()};
}

}  // namespace sh::testing

// g++ 12 at -O2 sees the replaced operator new inlined as malloc and its
// delete as free and warns that they mismatch; they are the pair defined here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t n) {
  namespace d = sh::testing::allocation_probe_detail;
  if (d::active.load(std::memory_order_relaxed)) {
    d::allocations.fetch_add(1, std::memory_order_relaxed);
    size_t prev = d::largest.load(std::memory_order_relaxed);
    while (n > prev && !d::largest.compare_exchange_weak(prev, n, std::memory_order_relaxed)) {
    }
  }
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
