#include "api/readiness_prober.h"

#include <spdlog/spdlog.h>

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
  // Each check within its own timeout: a hung metadata store must not delay
  // the store check (nor the next state) by its own longer default.
  auto meta = metadata_->ping(Deadline::after(timeout_));
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
  // /readyz sends only ok/unavailable; the detail (which may name hosts) is
  // logged here: a stable warn line on each change, the text at debug level.
  log_change("metadata store", state_.probed, state_.metadata_ok, s.metadata_ok, meta.ok() ? nullptr : &meta.error());
  log_change("object store", state_.probed, state_.store_ok, s.store_ok, listed.ok() ? nullptr : &listed.error());
  state_ = std::move(s);
}

void ReadinessProber::log_change(const char* what, bool was_probed, bool was_ok, bool ok, const Error* error) {
  try {
    if (!ok && (!was_probed || was_ok)) {
      spdlog::warn("readiness: {} unavailable ({})", what, error != nullptr ? errc_name(error->code()) : "");
    } else if (ok && was_probed && !was_ok) {
      spdlog::info("readiness: {} available again", what);
    }
    if (!ok && error != nullptr) spdlog::debug("readiness: {} probe failed: {}", what, error->message());
  } catch (...) {
  }
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
