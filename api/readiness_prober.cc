#include "api/readiness_prober.h"

namespace sh::api {

ReadinessProber::ReadinessProber(std::shared_ptr<MetadataStore> metadata,
                                 std::shared_ptr<ObjectStore> store, Millis interval,
                                 Millis timeout)
    : metadata_(std::move(metadata)), store_(std::move(store)), interval_(interval), timeout_(timeout) {}

ReadinessProber::~ReadinessProber() { stop(); }

void ReadinessProber::start() {
  {
    std::lock_guard lock(mu_);
    if (thread_.joinable() || stopping_) return;
  }
  probe_once();
  std::lock_guard lock(mu_);
  thread_ = std::thread([this] { run(); });
}

void ReadinessProber::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ReadinessProber::probe_soon() {
  {
    std::lock_guard lock(mu_);
    soon_ = true;
  }
  cv_.notify_all();
}

ReadinessState ReadinessProber::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

void ReadinessProber::probe_once() {
  ReadinessState s;
  auto meta = metadata_->ping();
  s.metadata_ok = meta.ok();
  if (!meta.ok()) s.metadata_error = meta.error().message();
  ListOptions lo;
  lo.max_keys = 1;
  lo.deadline = Deadline::after(timeout_);
  auto listed = store_->list(lo);
  s.store_ok = listed.ok();
  if (!listed.ok()) s.store_error = listed.error().message();
  s.probed = true;
  s.probed_at = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  state_ = std::move(s);
}

void ReadinessProber::run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, interval_, [&] { return stopping_ || soon_; });
    if (stopping_) break;
    soon_ = false;
    lock.unlock();
    probe_once();
    lock.lock();
  }
}

}  // namespace sh::api
