#include "api/long_poll_limiter.h"

namespace sh::api {

struct LongPollLimiter::Slot::Shared {
  explicit Shared(prometheus::Gauge& g) : gauge(g) {}
  prometheus::Gauge& gauge;
  std::mutex mu;
  size_t total = 0;                                  // guarded by mu
  std::unordered_map<std::string, size_t> by_client;  // guarded by mu; no zero entries
};

LongPollLimiter::LongPollLimiter(size_t max_total, size_t max_per_client, prometheus::Registry& registry)
    : max_total_(max_total),
      max_per_client_(max_per_client),
      shared_(std::make_shared<Slot::Shared>(prometheus::BuildGauge()
                                                 .Name("streamhouse_http_long_polls_waiting")
                                                 .Help("Long-poll requests waiting for data now")
                                                 .Register(registry)
                                                 .Add({}))) {}

std::shared_ptr<LongPollLimiter::Slot> LongPollLimiter::try_acquire(const std::string& client, Refusal* why) {
  *why = Refusal::kNone;
  {
    std::lock_guard<std::mutex> lock(shared_->mu);
    if (max_total_ > 0 && shared_->total >= max_total_) {
      *why = Refusal::kTotal;
      return nullptr;
    }
    auto it = shared_->by_client.find(client);
    const size_t mine = it == shared_->by_client.end() ? 0 : it->second;
    if (max_per_client_ > 0 && mine >= max_per_client_) {
      *why = Refusal::kClient;
      return nullptr;
    }
    ++shared_->total;
    ++shared_->by_client[client];
    shared_->gauge.Increment();
  }
  return std::shared_ptr<Slot>(new Slot(shared_, client));
}

size_t LongPollLimiter::waiting() const {
  std::lock_guard<std::mutex> lock(shared_->mu);
  return shared_->total;
}

bool LongPollLimiter::Slot::release() {
  if (released_.exchange(true)) return false;
  std::lock_guard<std::mutex> lock(shared_->mu);
  --shared_->total;
  auto it = shared_->by_client.find(client_);
  if (it != shared_->by_client.end() && --it->second == 0) shared_->by_client.erase(it);
  shared_->gauge.Decrement();
  return true;
}

}  // namespace sh::api
