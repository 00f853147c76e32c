#include "core/exec/io_engine.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <exception>

namespace sh::exec {

IoEngineMetrics::IoEngineMetrics(prometheus::Registry& registry, const std::string& engine)
    : tasks(prometheus::BuildCounter()
                .Name("streamhouse_io_engine_tasks_total")
                .Help("Storage/metadata tasks run by the I/O engine")
                .Register(registry)
                .Add({{"engine", engine}})),
      rejected(prometheus::BuildCounter()
                   .Name("streamhouse_io_engine_rejected_total")
                   .Help("Tasks refused because the I/O engine queue was full (answered 503)")
                   .Register(registry)
                   .Add({{"engine", engine}})),
      expired(prometheus::BuildCounter()
                  .Name("streamhouse_io_engine_expired_total")
                  .Help("Tasks whose deadline passed while they waited in the queue")
                  .Register(registry)
                  .Add({{"engine", engine}})),
      failed(prometheus::BuildCounter()
                 .Name("streamhouse_io_engine_task_exceptions_total")
                 .Help("Tasks that ended with an exception")
                 .Register(registry)
                 .Add({{"engine", engine}})),
      queued(prometheus::BuildGauge()
                 .Name("streamhouse_io_engine_queued")
                 .Help("Tasks waiting for an I/O engine thread")
                 .Register(registry)
                 .Add({{"engine", engine}})),
      running(prometheus::BuildGauge()
                  .Name("streamhouse_io_engine_running")
                  .Help("Tasks running on I/O engine threads")
                  .Register(registry)
                  .Add({{"engine", engine}})),
      queue_wait(prometheus::BuildHistogram()
                     .Name("streamhouse_io_engine_queue_wait_seconds")
                     .Help("Time tasks waited in the I/O engine queue")
                     .Register(registry)
                     .Add({{"engine", engine}}, prometheus::Histogram::BucketBoundaries{0.0001, 0.001, 0.005, 0.01,
                                                                       0.05, 0.1, 0.5, 1, 5})) {}

IoEngine::IoEngine(IoEngineOptions options, prometheus::Registry& registry)
    : options_(options), metrics_(registry, options_.name) {
  const unsigned n = options_.threads == 0 ? 1 : options_.threads;
  threads_.reserve(n);
  for (unsigned i = 0; i < n; ++i) threads_.emplace_back([this] { run_thread(); });
}

IoEngine::~IoEngine() { stop(); }

bool IoEngine::try_submit(Task task, Deadline deadline) {
  return submit(std::move(task), deadline, /*bounded=*/true);
}

bool IoEngine::submit_continuation(Task task, Deadline deadline) {
  return submit(std::move(task), deadline, /*bounded=*/false);
}

bool IoEngine::submit(Task task, Deadline deadline, bool bounded) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || (bounded && queue_.size() >= options_.max_queued)) {
      metrics_.rejected.Increment();
      return false;
    }
    queue_.push_back(Item{std::move(task), deadline, std::chrono::steady_clock::now()});
    metrics_.queued.Set(static_cast<double>(queue_.size()));
  }
  cv_.notify_one();
  return true;
}

void IoEngine::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  std::lock_guard lock(mu_);
  threads_.clear();
}

size_t IoEngine::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

size_t IoEngine::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

void IoEngine::run_thread() {
  if (options_.nice != 0) {
    // Best effort: without the right to raise priority, only lowering works.
    const int tid = static_cast<int>(::syscall(SYS_gettid));
    (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), ::getpriority(PRIO_PROCESS, 0) + options_.nice);
  }
  for (;;) {
    Item item;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      item = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
      metrics_.queued.Set(static_cast<double>(queue_.size()));
      metrics_.running.Set(static_cast<double>(running_));
    }
    metrics_.queue_wait.Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - item.queued_at).count());
    const bool expired = item.deadline.expired();
    if (expired) metrics_.expired.Increment();
    metrics_.tasks.Increment();
    try {
      item.task(expired);
    } catch (...) {
      metrics_.failed.Increment();
    }
    item = Item{};  // release captures before counting the task as done
    std::lock_guard lock(mu_);
    --running_;
    metrics_.running.Set(static_cast<double>(running_));
  }
}

}  // namespace sh::exec
