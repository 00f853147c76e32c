// IoEngine: the bounded executor that runs storage and metadata work off the
// HTTP worker threads (docs/architecture.md: "core read engine").
//
// A fixed pool of threads takes tasks from one bounded FIFO queue. try_submit()
// never blocks: when `max_queued` tasks already wait, it refuses (the API
// answers 503 with Retry-After), so overload is visible instead of piling up.
// A task carries the deadline of the request it serves; a task whose deadline
// has passed before a thread picks it up runs with `expired = true` so it can
// answer (504) without touching storage.
//
// Thread-safe. stop() runs what is queued, then joins (idempotent; the
// destructor calls it). Tasks should not throw; one that does is caught and
// counted (streamhouse_io_engine_task_exceptions_total), never propagated.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "core/clock.h"

namespace sh::exec {

struct IoEngineOptions {
  unsigned threads = 16;     // concurrent storage/metadata operations
  size_t max_queued = 1024;  // tasks waiting for a thread; more are refused
  std::string name = "requests";  // the `engine` label of its metrics
  // Scheduling niceness of its threads, relative to the process (Linux: per
  // thread). Storage work (decode, encode, I/O) at a higher niceness than the
  // HTTP workers lets a worker that answers from memory (/healthz, warm reads,
  // pumping streams) run first when the cores are saturated. 0 = unchanged.
  int nice = 0;
};

// streamhouse_io_engine_{tasks,rejected,expired,task_exceptions}_total, _queued,
// _running, _queue_wait_seconds; labelled {engine=<name>}.
struct IoEngineMetrics {
  IoEngineMetrics(prometheus::Registry& registry, const std::string& engine);
  prometheus::Counter& tasks;
  prometheus::Counter& rejected;
  prometheus::Counter& expired;
  prometheus::Counter& failed;  // tasks that threw
  prometheus::Gauge& queued;
  prometheus::Gauge& running;
  prometheus::Histogram& queue_wait;
};

class IoEngine {
 public:
  // `expired`: the deadline passed while the task waited in the queue.
  using Task = std::function<void(bool expired)>;

  // REQUIRES: registry outlives the engine; options.threads >= 1.
  IoEngine(IoEngineOptions options, prometheus::Registry& registry);
  ~IoEngine();
  IoEngine(const IoEngine&) = delete;
  IoEngine& operator=(const IoEngine&) = delete;

  // Queues `task`. False (task dropped, not run) when the queue is full or the
  // engine is stopping.
  [[nodiscard]] bool try_submit(Task task, Deadline deadline = {});
  // Queues the next step of work already admitted (a stream's next read: each
  // stream has at most one queued, so these are bounded by the open streams),
  // past max_queued if need be. False only when the engine is stopping.
  [[nodiscard]] bool submit_continuation(Task task, Deadline deadline = {});

  // Runs the queued tasks, then joins the threads. Later try_submit() calls fail.
  void stop();

  size_t queued() const;
  size_t running() const;
  const IoEngineOptions& options() const { return options_; }

 private:
  struct Item {
    Task task;
    Deadline deadline;
    SteadyTime queued_at;
  };
  bool submit(Task task, Deadline deadline, bool bounded);
  void run_thread();

  const IoEngineOptions options_;
  IoEngineMetrics metrics_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace sh::exec
