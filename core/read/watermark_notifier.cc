#include "core/read/watermark_notifier.h"

#include <algorithm>
#include <optional>

namespace sh::read {

WatermarkNotifier::WatermarkNotifier(std::shared_ptr<LogReader> reader,
                                     WatermarkNotifierOptions opts,
                                     prometheus::Registry& registry)
    : reader_(std::move(reader)),
      opts_(opts),
      waiters_gauge_(prometheus::BuildGauge()
                         .Name("streamhouse_long_poll_waiters")
                         .Help("Long-poll requests waiting for new records")
                         .Register(registry)
                         .Add({})),
      polls_(prometheus::BuildCounter()
                 .Name("streamhouse_long_poll_watermark_polls_total")
                 .Help("Index refreshes made on behalf of waiting long-polls")
                 .Register(registry)
                 .Add({})) {
  poller_ = std::thread([this] { run(); });
  for (unsigned i = 0; i < std::max(1u, opts_.refresh_threads); ++i) {
    refreshers_.emplace_back([this] { refresh_loop(); });
  }
  for (unsigned i = 0; i < std::max(1u, opts_.completion_threads); ++i) {
    completion_.emplace_back([this] { completion_loop(); });
  }
}

WatermarkNotifier::~WatermarkNotifier() { shutdown(); }

size_t WatermarkNotifier::waiters() const {
  std::lock_guard lock(mu_);
  return waiter_count_;
}

void WatermarkNotifier::wait(const std::string& topic, int32_t partition, uint64_t offset,
                             SteadyTime deadline, Callback cb) {
  std::unique_lock lock(mu_);
  if (stopping_) {
    lock.unlock();
    // The completion threads are gone (or going): answer here, under no lock.
    try {
      cb(Wake::kShutdown);
    } catch (...) {
      // A callback must answer its client itself; nothing more to do here.
    }
    return;
  }
  std::string key = topic + "/" + std::to_string(partition);
  auto [it, inserted] = watches_.try_emplace(key);
  if (inserted) {
    it->second.topic = topic;
    it->second.partition = partition;
    it->second.next_poll = std::chrono::steady_clock::now() + opts_.poll_interval;
  }
  it->second.waiters.push_back({offset, deadline, std::move(cb)});
  ++waiter_count_;
  waiters_gauge_.Set(static_cast<double>(waiter_count_));
  cv_.notify_one();
}

void WatermarkNotifier::post(Callback cb, Wake why) {
  std::lock_guard lock(done_mu_);
  done_.emplace_back(std::move(cb), why);
  done_cv_.notify_one();
}

void WatermarkNotifier::completion_loop() {
  for (;;) {
    std::pair<Callback, Wake> item;
    {
      std::unique_lock lock(done_mu_);
      done_cv_.wait(lock, [&] { return done_stopping_ || !done_.empty(); });
      if (done_.empty()) return;  // stopping and drained
      item = std::move(done_.front());
      done_.pop_front();
    }
    try {
      item.first(item.second);
    } catch (...) {
      // A callback must answer its client itself; nothing more to do here.
    }
  }
}

void WatermarkNotifier::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    const SteadyTime now = std::chrono::steady_clock::now();
    SteadyTime next_event = SteadyTime::max();
    bool queued = false;
    for (auto& [key, w] : watches_) {
      auto& ws = w.waiters;
      for (auto it = ws.begin(); it != ws.end();) {
        if (it->deadline <= now) {
          post(std::move(it->cb), Wake::kDeadline);
          it = ws.erase(it);
          --waiter_count_;
        } else {
          next_event = std::min(next_event, it->deadline);
          ++it;
        }
      }
      if (ws.empty() || w.refreshing) continue;  // a running refresh reports back itself
      if (w.next_poll <= now) {
        w.refreshing = true;
        refresh_queue_.push_back(key);
        queued = true;
        w.next_poll = now + opts_.poll_interval;
      }
      next_event = std::min(next_event, w.next_poll);
    }
    std::erase_if(watches_, [](const auto& kv) {
      return kv.second.waiters.empty() && !kv.second.refreshing;
    });
    waiters_gauge_.Set(static_cast<double>(waiter_count_));
    if (queued) refresh_cv_.notify_all();

    if (next_event == SteadyTime::max()) {
      cv_.wait(lock);
    } else {
      cv_.wait_until(lock, next_event);
    }
  }
}

void WatermarkNotifier::refresh_loop() {
  std::unique_lock lock(mu_);
  for (;;) {
    refresh_cv_.wait(lock, [&] { return stopping_ || !refresh_queue_.empty(); });
    if (stopping_) return;
    const std::string key = std::move(refresh_queue_.front());
    refresh_queue_.pop_front();
    auto wit = watches_.find(key);
    if (wit == watches_.end()) continue;
    const std::string topic = wit->second.topic;
    const int32_t partition = wit->second.partition;
    lock.unlock();
    polls_.Increment();
    std::optional<uint64_t> hwm;
    try {
      auto snap = reader_->refresh_now(topic, partition, Deadline::after(opts_.refresh_timeout));
      if (snap.ok()) hwm = (*snap)->high_watermark;
    } catch (...) {
      // A failed refresh is retried at the next poll; waiters still expire on time.
    }
    lock.lock();
    wit = watches_.find(key);
    if (wit == watches_.end()) continue;  // shut down meanwhile
    Watch& w = wit->second;
    w.refreshing = false;
    if (hwm) {
      auto& ws = w.waiters;
      for (auto it = ws.begin(); it != ws.end();) {
        if (*hwm > it->offset) {
          post(std::move(it->cb), Wake::kData);
          it = ws.erase(it);
          --waiter_count_;
        } else {
          ++it;
        }
      }
      waiters_gauge_.Set(static_cast<double>(waiter_count_));
    }
    if (w.waiters.empty()) watches_.erase(wit);
    cv_.notify_one();  // the timer recomputes its next event
  }
}

void WatermarkNotifier::shutdown() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    for (auto& [key, w] : watches_) {
      for (auto& waiter : w.waiters) post(std::move(waiter.cb), Wake::kShutdown);
    }
    watches_.clear();
    waiter_count_ = 0;
    waiters_gauge_.Set(0);
    refresh_queue_.clear();
    cv_.notify_all();
    refresh_cv_.notify_all();
  }
  if (poller_.joinable()) poller_.join();
  for (auto& t : refreshers_) {
    if (t.joinable()) t.join();
  }
  {
    std::lock_guard lock(done_mu_);
    done_stopping_ = true;
    done_cv_.notify_all();
  }
  for (auto& t : completion_) {
    if (t.joinable()) t.join();
  }
}

}  // namespace sh::read
