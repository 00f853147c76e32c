// WatermarkNotifier: wakes long-poll waiters when a partition's high watermark
// moves past the offset they wait at, or when their deadline passes.
//
// One watcher per partition that has waiters; it refreshes that partition's
// index at most once per poll interval, however many clients wait on it, and
// stops polling when nobody waits. Callbacks run on a small completion pool,
// never on the caller's thread and never under the notifier's lock.
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
  // shutdown(). Never calls back from inside wait().
  void wait(const std::string& topic, int32_t partition, uint64_t offset, SteadyTime deadline,
            Callback cb);

  // Calls every pending waiter with kShutdown and stops the threads.
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
  };

  void run();
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

  std::mutex done_mu_;
  std::condition_variable done_cv_;
  std::deque<std::pair<Callback, Wake>> done_;
  bool done_stopping_ = false;
  std::vector<std::thread> completion_;
};

}  // namespace sh::read
