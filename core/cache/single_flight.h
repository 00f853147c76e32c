// SingleFlight: collapses concurrent loads of the same key into one.
//
// The first caller of run(key, load) executes `load`; callers arriving with the
// same key while it runs block and receive a copy of the same Result (so V should
// be cheap to copy, typically a std::shared_ptr). Once the load completes the key
// is forgotten: a later run() loads again (pair it with a cache for reuse).
// Calls with different keys run in parallel. A waiter gives up at its own
// deadline (kTimeout) while the load goes on for the others.
//
// An exception escaping `load` is caught and delivered to every caller as
// Errc::kInternal; no waiter is left hanging.
//
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/clock.h"
#include "core/result.h"

namespace sh::cache {

template <class K, class V, class Hash = std::hash<K>>
class SingleFlight {
 public:
  SingleFlight() = default;
  SingleFlight(const SingleFlight&) = delete;
  SingleFlight& operator=(const SingleFlight&) = delete;

  // REQUIRES: `load` does not call run() with the same key on this object
  // (it would wait for itself). `deadline` bounds only the wait for a load
  // already in flight; the caller that runs `load` passes its deadline to it.
  Result<V> run(const K& key, const std::function<Result<V>()>& load, Deadline deadline = {}) {
    std::promise<Result<V>> promise;
    {
      std::unique_lock<std::mutex> lock(mu_);
      auto it = calls_.find(key);
      if (it != calls_.end()) {
        std::shared_future<Result<V>> pending = it->second;
        ++joined_;
        lock.unlock();
        if (!deadline.is_never() &&
            pending.wait_for(deadline.remaining()) != std::future_status::ready) {
          return Error(Errc::kTimeout, "deadline passed while waiting for a load in flight", true);
        }
        return pending.get();  // copy of the leader's result
      }
      calls_.emplace(key, promise.get_future().share());
    }

    Result<V> result = invoke(load);
    {
      // Forget the key before publishing: callers arriving from now on load anew.
      std::lock_guard<std::mutex> lock(mu_);
      calls_.erase(key);
    }
    promise.set_value(result);
    return result;
  }

  // Keys whose load is running now.
  size_t in_flight() const {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_.size();
  }

  // Calls so far that joined a load already in flight instead of running their own.
  uint64_t joined() const {
    std::lock_guard<std::mutex> lock(mu_);
    return joined_;
  }

 private:
  static Result<V> invoke(const std::function<Result<V>()>& load) {
    try {
      return load();
    } catch (const std::exception& e) {
      return Error(Errc::kInternal, std::string("single-flight load threw: ") + e.what());
    } catch (...) {
      return Error(Errc::kInternal, "single-flight load threw a non-standard exception");
    }
  }

  mutable std::mutex mu_;
  std::unordered_map<K, std::shared_future<Result<V>>, Hash> calls_;
  uint64_t joined_ = 0;
};

}  // namespace sh::cache
