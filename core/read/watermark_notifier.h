// WatermarkNotifier: wakes long-poll waiters when a partition's high watermark
// moves past the offset they wait at, or when their deadline passes.
//
// One watch per partition that has waiters; it refreshes that partition's
// index at most once per poll interval, however many clients wait on it, and
// stops polling when nobody waits. Callbacks run on a small completion pool,
// never on the caller's thread and never under the notifier's lock.
//
// Threads: a timer thread expires waiters at their deadlines and schedules
// refreshes; it never refreshes itself, so a slow metadata store delays no
// waiter's timeout. Refreshes run on `refresh_threads` threads (at most one in
// flight per partition; a partition whose refresh is still running is not
// queued again), each bounded by `refresh_timeout`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "core/read/log_reader.h"

namespace sh::read {

struct WatermarkNotifierOptions {
  Millis poll_interval{500};
  unsigned completion_threads = 2;
  unsigned refresh_threads = 4;  // partitions refreshed at the same time
  Millis refresh_timeout{5000};  // deadline of one refresh's metadata calls
};

class WatermarkNotifier {
 public:
  // Why a waiter was called back.
  enum class Wake { kData, kDeadline, kShutdown };
  using Callback = std::function<void(Wake)>;

  WatermarkNotifier(std::shared_ptr<LogReader> reader, WatermarkNotifierOptions opts,
                    prometheus::Registry& registry);
  ~WatermarkNotifier();  // shutdown()

  // Calls `cb` once: kData when the high watermark of (topic, partition) is
  // greater than `offset`, kDeadline when `deadline` passes first, kShutdown on
  // shutdown(). Never calls back from inside wait(), except after shutdown():
  // then at once, with kShutdown, on the caller's thread.
  void wait(const std::string& topic, int32_t partition, uint64_t offset, SteadyTime deadline,
            Callback cb);

  // Calls every pending waiter with kShutdown and stops the threads (waits for
  // refreshes in flight, each bounded by refresh_timeout).
  void shutdown();

  size_t waiters() const;

 private:
  struct Waiter {
    uint64_t offset;
    SteadyTime deadline;
    Callback cb;
  };
  struct Watch {
    std::string topic;
    int32_t partition;
    std::vector<Waiter> waiters;
    SteadyTime next_poll{};
    bool refreshing = false;  // queued or running on a refresh thread
  };

  void run();
  void refresh_loop();
  void post(Callback cb, Wake why);
  void completion_loop();

  std::shared_ptr<LogReader> reader_;
  WatermarkNotifierOptions opts_;
  prometheus::Gauge& waiters_gauge_;
  prometheus::Counter& polls_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Watch> watches_;  // "topic/partition"
  size_t waiter_count_ = 0;
  bool stopping_ = false;
  std::thread poller_;
  std::condition_variable refresh_cv_;     // with mu_
  std::deque<std::string> refresh_queue_;  // keys of watches to refresh
  std::vector<std::thread> refreshers_;

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::deque<std::pair<Callback, Wake>> done_;
  bool done_stopping_ = false;
  std::vector<std::thread> completion_;
};

}  // namespace sh::read
