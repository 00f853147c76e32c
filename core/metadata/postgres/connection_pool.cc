#include "core/metadata/postgres/connection_pool.h"

#include <fmt/format.h>

#include <spdlog/spdlog.h>

#include <algorithm>

namespace sh::pg {

ConnectionPool::ConnectionPool(PoolOptions options, PgMetrics* metrics)
    : options_(std::move(options)),
      metrics_(metrics),
      backoff_ms_(std::max<int64_t>(options_.backoff_initial_ms, 1)) {}

ConnectionPool::~ConnectionPool() {
  std::lock_guard lk(mu_);
  idle_.clear();
  open_ = 0;
  update_gauge_locked();
}

ConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), conn_(std::move(other.conn_)), reused_(other.reused_) {
  other.pool_ = nullptr;
}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr && conn_) pool_->release(std::move(conn_));
}

void ConnectionPool::update_gauge_locked() {
  if (metrics_ != nullptr) metrics_->pool_connections->Set(open_);
}

int ConnectionPool::open_connections() const {
  std::lock_guard lk(mu_);
  return open_;
}

void ConnectionPool::release(std::unique_ptr<PgConnection> conn) {
  bool keep = conn->idle_in_no_transaction();
  std::unique_ptr<PgConnection> doomed;
  {
    std::lock_guard lk(mu_);
    if (keep) {
      idle_.push_back(std::move(conn));
    } else {
      doomed = std::move(conn);
      --open_;
      update_gauge_locked();
    }
  }
  freed_.notify_one();
  // `doomed` closes outside the lock.
}

void ConnectionPool::drop_idle() {
  std::vector<std::unique_ptr<PgConnection>> doomed;
  {
    std::lock_guard lk(mu_);
    doomed.swap(idle_);
    open_ -= static_cast<int>(doomed.size());
    update_gauge_locked();
  }
  if (!doomed.empty()) freed_.notify_all();
}

Result<ConnectionPool::Lease> ConnectionPool::acquire(Deadline caller) {
  if (caller.expired()) {
    return Error(Errc::kTimeout, fmt::format("deadline passed before a PostgreSQL connection to {} "
                                             "was requested", target()), true);
  }
  // The caller's deadline may run on an injected clock: convert what is left of
  // it to the steady clock the pool waits on.
  const auto pool_deadline = std::chrono::steady_clock::now() + Millis(options_.acquire_timeout_ms);
  const auto caller_deadline =
      caller.is_never() ? pool_deadline : std::chrono::steady_clock::now() + caller.remaining();
  const bool caller_first = caller_deadline < pool_deadline;
  const auto deadline = caller_first ? caller_deadline : pool_deadline;
  std::unique_lock lk(mu_);
  for (;;) {
    if (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      return Lease(this, std::move(conn), /*reused=*/true);
    }
    if (open_ < options_.size) {
      auto now = std::chrono::steady_clock::now();
      if (last_connect_error_ && now < next_connect_at_) {
        auto wait = std::chrono::duration_cast<Millis>(next_connect_at_ - now).count();
        Error e = *last_connect_error_;
        return Error(Errc::kUnavailable,
                     e.message() + " (next reconnect attempt in " + std::to_string(wait) + " ms)",
                     true);
      }
      ++open_;
      update_gauge_locked();
      lk.unlock();
      auto conn = PgConnection::connect(options_.connect, Deadline{deadline});
      lk.lock();
      if (!conn.ok()) {
        --open_;
        update_gauge_locked();
        if (metrics_ != nullptr) metrics_->connects_failed->Increment();
        next_connect_at_ = std::chrono::steady_clock::now() + Millis(backoff_ms_);
        backoff_ms_ = std::min<int64_t>(backoff_ms_ * 2, std::max<int64_t>(options_.backoff_max_ms, 1));
        last_connect_error_ = conn.error();
        spdlog::warn("{}", conn.error().message());
        lk.unlock();
        freed_.notify_one();
        return std::move(conn).error();
      }
      if (metrics_ != nullptr) metrics_->connects_ok->Increment();
      if (last_connect_error_) spdlog::info("reconnected to PostgreSQL");
      last_connect_error_.reset();
      backoff_ms_ = std::max<int64_t>(options_.backoff_initial_ms, 1);
      return Lease(this, std::move(conn).value(), /*reused=*/false);
    }
    if (freed_.wait_until(lk, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.size) {
      if (caller_first) {
        return Error(Errc::kTimeout,
                     fmt::format("deadline passed while all {} PostgreSQL connections to {} "
                                 "were busy", options_.size, target()),
                     true);
      }
      return Error(Errc::kUnavailable,
                   "all " + std::to_string(options_.size) + " PostgreSQL connections to " +
                       target() + " stayed busy for " +
                       std::to_string(options_.acquire_timeout_ms) + " ms",
                   true);
    }
  }
}

}  // namespace sh::pg
