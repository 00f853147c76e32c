#include "core/storage/s3/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace sh::s3 {

RetryPolicy::RetryPolicy(RetryOptions opts, std::function<double()> uniform01)
    : opts_(opts), uniform01_(std::move(uniform01)), rng_(std::random_device{}()) {
  opts_.max_attempts = std::max(1, opts_.max_attempts);
  opts_.base_delay_ms = std::max<int64_t>(0, opts_.base_delay_ms);
  opts_.max_delay_ms = std::max<int64_t>(opts_.base_delay_ms, opts_.max_delay_ms);
}

int64_t RetryPolicy::backoff_ceiling_ms(int attempt) const {
  if (attempt < 1) attempt = 1;
  int64_t ceiling = opts_.base_delay_ms;
  for (int i = 1; i < attempt && ceiling < opts_.max_delay_ms; ++i) ceiling *= 2;
  return std::min(ceiling, opts_.max_delay_ms);
}

int64_t RetryPolicy::backoff_ms(int attempt) {
  const int64_t ceiling = backoff_ceiling_ms(attempt);
  double u;
  {
    std::lock_guard<std::mutex> lock(rng_mu_);
    u = uniform01_ ? uniform01_() : std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  }
  u = std::clamp(u, 0.0, 1.0);
  return static_cast<int64_t>(std::llround(u * static_cast<double>(ceiling)));
}

bool RetryPolicy::may_retry(int attempt, int64_t delay_ms, const Deadline& deadline) const {
  if (attempt >= opts_.max_attempts) return false;
  if (deadline.is_never()) return true;
  // Sleeping must leave some time for the next attempt itself.
  return deadline.remaining_ms() > delay_ms;
}

}  // namespace sh::s3
