// Time as a seam: code that signs requests, expires cache entries or waits on
// deadlines takes a Clock so tests can pin or advance it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

namespace sh {

using SteadyTime = std::chrono::steady_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall clock, milliseconds since the Unix epoch.
  virtual int64_t now_unix_ms() const = 0;
  // Monotonic clock for deadlines and TTLs.
  virtual SteadyTime now_steady() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_unix_ms() const override {
    return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  SteadyTime now_steady() const override { return std::chrono::steady_clock::now(); }
};

// Shared instance for production wiring.
std::shared_ptr<Clock> system_clock();

// A clock tests move by hand.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t unix_ms = 0) : unix_ms_(unix_ms) {}
  int64_t now_unix_ms() const override { return unix_ms_; }
  SteadyTime now_steady() const override { return SteadyTime(Millis(steady_ms_)); }
  void advance(Millis d) {
    unix_ms_ += d.count();
    steady_ms_ += d.count();
  }
  void set_unix_ms(int64_t ms) { unix_ms_ = ms; }

 private:
  int64_t unix_ms_;
  int64_t steady_ms_ = 1'000'000;
};

// An absolute point after which an operation gives up. Default: no deadline.
// Built from a Clock (the system steady clock unless one is given), so tests
// drive expiry with a ManualClock. REQUIRES: a given clock outlives the deadline.
struct Deadline {
  SteadyTime at = SteadyTime::max();
  const Clock* clock = nullptr;  // nullptr = std::chrono::steady_clock

  static Deadline after(Millis d) { return {std::chrono::steady_clock::now() + d, nullptr}; }
  static Deadline after(Millis d, const Clock& clock) { return {clock.now_steady() + d, &clock}; }
  // `d` after `start` (e.g. when a request arrived), on the system steady clock.
  static Deadline after(SteadyTime start, Millis d) { return {start + d, nullptr}; }
  static Deadline never() { return {}; }

  SteadyTime now() const { return clock ? clock->now_steady() : std::chrono::steady_clock::now(); }
  bool is_never() const { return at == SteadyTime::max(); }
  bool expired() const { return !is_never() && now() >= at; }
  // Time left (zero if expired; a large value if never).
  Millis remaining() const {
    if (is_never()) return Millis(INT64_MAX / 2);
    const auto left = std::chrono::ceil<Millis>(at - now());
    return left.count() > 0 ? left : Millis(0);
  }
  int64_t remaining_ms() const { return remaining().count(); }
  // The earlier of the two (keeps that one's clock).
  static Deadline earliest(const Deadline& a, const Deadline& b) { return a.at <= b.at ? a : b; }
};

}  // namespace sh
