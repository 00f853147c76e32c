// Helpers for concurrency tests: a gate threads wait on until the test opens it,
// and a bounded wait for a condition.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace sh::testing {

// Threads wait() until the test calls open(). Destroying the gate opens it and
// waits for every thread inside wait() to leave: a test that returns early (a
// failed ASSERT) or right after open() must not free the mutex a woken waiter
// is still re-acquiring (a waiter on freed memory hung TSan CI for 900 s).
class Gate {
 public:
  Gate() = default;
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;
  ~Gate() {
    std::unique_lock<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
    cv_.wait(l, [&] { return waiters_ == 0; });
  }
  void open() {
    std::lock_guard<std::mutex> l(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> l(mu_);
    ++waiters_;
    cv_.wait(l, [&] { return open_; });
    if (--waiters_ == 0) cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiters_ = 0;
};

// Opens a gate when it goes out of scope. Declared after the engine whose tasks
// wait on the gate (and after the locals those tasks touch), it runs first on an
// early return: the tasks are let go while what they use still exists, and the
// engine's stop, which runs what is queued, does not wait on a closed gate.
class OpenOnExit {
 public:
  explicit OpenOnExit(Gate& gate) : gate_(gate) {}
  OpenOnExit(const OpenOnExit&) = delete;
  OpenOnExit& operator=(const OpenOnExit&) = delete;
  ~OpenOnExit() { gate_.open(); }

 private:
  Gate& gate_;
};

// Polls `pred` every millisecond until it holds (true) or `limit` passes (false).
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace sh::testing
