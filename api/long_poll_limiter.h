// LongPollLimiter: how many long-polls may wait at once, in all and per client
// address, and the gauge of those waiting. A waiting long-poll holds a Slot;
// the slot is given back once — when the wait ends or the client hangs up —
// and the gauge drops at that moment.
//
//   streamhouse_http_long_polls_waiting   long-polls waiting now (gauge)
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <prometheus/gauge.h>
#include <prometheus/registry.h>

namespace sh::api {

class LongPollLimiter {
 public:
  enum class Refusal { kNone, kTotal, kClient };

  // 0 = no limit. The registry must outlive every Slot handed out.
  LongPollLimiter(size_t max_total, size_t max_per_client, prometheus::Registry& registry);

  class Slot {
   public:
    ~Slot() { release(); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    // Gives the slot back; true only for the first call.
    bool release();

   private:
    friend class LongPollLimiter;
    struct Shared;
    Slot(std::shared_ptr<Shared> shared, std::string client) : shared_(std::move(shared)), client_(std::move(client)) {}
    std::shared_ptr<Shared> shared_;
    std::string client_;
    std::atomic<bool> released_{false};
  };

  // A slot for a long-poll from `client`, or nullptr (and *why) if a limit is reached.
  std::shared_ptr<Slot> try_acquire(const std::string& client, Refusal* why);
  size_t waiting() const;
  size_t max_total() const { return max_total_; }
  size_t max_per_client() const { return max_per_client_; }

 private:
  const size_t max_total_;
  const size_t max_per_client_;
  std::shared_ptr<Slot::Shared> shared_;
};

}  // namespace sh::api
