// A small pool of PgConnections, opened lazily up to `size`.
//
// Reconnects use capped exponential backoff: after a failed connect no new
// connection is attempted until the backoff has passed; callers in that window
// get the last connect error at once (kUnavailable), so a dead server costs
// neither it nor us anything. A successful connect resets the backoff.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "core/clock.h"
#include "core/metadata/postgres/pg_connection.h"
#include "core/metadata/postgres/pg_metrics.h"
#include "core/result.h"

namespace sh::pg {

struct PoolOptions {
  ConnectParams connect;
  int size = 4;
  int64_t acquire_timeout_ms = 3000;
  int64_t backoff_initial_ms = 100;
  int64_t backoff_max_ms = 5000;
};

class ConnectionPool {
 public:
  // REQUIRES: options.size >= 1. `metrics` may be null; else it outlives the pool.
  ConnectionPool(PoolOptions options, PgMetrics* metrics);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // A connection handed to one caller; returned to the pool on destruction,
  // or closed if it is broken or was left inside a transaction.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    PgConnection& operator*() const { return *conn_; }
    PgConnection* operator->() const { return conn_.get(); }
    // True if the connection had been used before (it may have died idle).
    bool reused() const { return reused_; }

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<PgConnection> conn, bool reused)
        : pool_(pool), conn_(std::move(conn)), reused_(reused) {}
    ConnectionPool* pool_;
    std::unique_ptr<PgConnection> conn_;
    bool reused_;
  };

  // An idle connection, a new one, or one freed within acquire_timeout (or by
  // `deadline`, if sooner; a new connection's connect is bounded by it too).
  // kUnavailable if none (server unreachable, in backoff, or pool exhausted);
  // kTimeout if `deadline` passed first.
  Result<Lease> acquire(Deadline deadline = {});

  // Closes every idle connection (after one was found dead, its siblings from
  // the same server lifetime most likely are too).
  void drop_idle();

  int open_connections() const;
  const std::string& target() const { return options_.connect.settings.redacted; }

 private:
  void release(std::unique_ptr<PgConnection> conn);
  void update_gauge_locked();

  const PoolOptions options_;
  PgMetrics* const metrics_;

  mutable std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<PgConnection>> idle_;
  int open_ = 0;  // idle + leased + being opened
  SteadyTime next_connect_at_{};
  int64_t backoff_ms_;
  std::optional<Error> last_connect_error_;
};

}  // namespace sh::pg
