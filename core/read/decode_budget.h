// DecodeBudget: a byte semaphore bounding the memory of block decodes in flight
// (STYLE.md 19: units per resource, waiters with their own expiry).
//
// A decode takes the bytes it will hold (stored + raw block) before allocating,
// and gives them back when its Units die. A request larger than the whole
// budget is charged the whole budget (it runs alone rather than never). When
// the budget is spent, acquire() waits until enough bytes come back or the
// caller's deadline passes; then it fails with kResourceExhausted (retryable).
//
// Thread-safe. Header-only.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <utility>

#include <fmt/format.h>

#include "core/clock.h"
#include "core/result.h"

namespace sh::read {

class DecodeBudget {
 public:
  // Bytes held by one acquire(); returned to the budget on destruction.
  class Units {
   public:
    Units() = default;
    Units(Units&& o) noexcept : budget_(std::exchange(o.budget_, nullptr)), bytes_(o.bytes_) {}
    Units& operator=(Units&& o) noexcept {
      if (this != &o) {
        release();
        budget_ = std::exchange(o.budget_, nullptr);
        bytes_ = o.bytes_;
      }
      return *this;
    }
    Units(const Units&) = delete;
    Units& operator=(const Units&) = delete;
    ~Units() { release(); }
    uint64_t bytes() const { return budget_ ? bytes_ : 0; }

   private:
    friend class DecodeBudget;
    Units(DecodeBudget* b, uint64_t bytes) : budget_(b), bytes_(bytes) {}
    void release() {
      if (budget_ != nullptr) std::exchange(budget_, nullptr)->give_back(bytes_);
    }
    DecodeBudget* budget_ = nullptr;
    uint64_t bytes_ = 0;
  };

  // REQUIRES: capacity_bytes > 0.
  explicit DecodeBudget(uint64_t capacity_bytes) : capacity_(std::max<uint64_t>(capacity_bytes, 1)) {}
  DecodeBudget(const DecodeBudget&) = delete;
  DecodeBudget& operator=(const DecodeBudget&) = delete;

  // `bytes` (at most the capacity) of the budget, waiting until `deadline` for them.
  // REQUIRES: the budget outlives the returned Units.
  Result<Units> acquire(uint64_t bytes, Deadline deadline) {
    const uint64_t want = std::min(bytes, capacity_);
    std::unique_lock<std::mutex> lock(mu_);
    while (in_use_ + want > capacity_) {
      if (deadline.expired()) {
        return Error(Errc::kResourceExhausted,
                     fmt::format("block decode budget exhausted: {} of {} bytes in use, {} more "
                                 "needed, none freed before the deadline",
                                 in_use_, capacity_, want),
                     /*retryable=*/true);
      }
      ++waiting_;
      // Bounded waits: the deadline may run on a test clock the condition variable cannot see.
      cv_.wait_for(lock, std::min<Millis>(deadline.remaining(), Millis(10)));
      --waiting_;
    }
    in_use_ += want;
    return Units(this, want);
  }

  uint64_t capacity() const { return capacity_; }
  uint64_t in_use() const {
    std::lock_guard<std::mutex> lock(mu_);
    return in_use_;
  }
  // Callers waiting in acquire() right now (tests).
  int waiting() const {
    std::lock_guard<std::mutex> lock(mu_);
    return waiting_;
  }

 private:
  void give_back(uint64_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_use_ -= bytes;
    }
    cv_.notify_all();
  }

  const uint64_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t in_use_ = 0;  // guarded by mu_
  int waiting_ = 0;      // guarded by mu_
};

}  // namespace sh::read
