// Capped exponential backoff with full jitter
// (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/),
// bounded by an attempt budget and the operation's deadline.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <random>

#include "core/clock.h"

namespace sh::s3 {

struct RetryOptions {
  int max_attempts = 5;        // total tries, first one included (>= 1)
  int64_t base_delay_ms = 50;  // ceiling of the first backoff
  int64_t max_delay_ms = 2000; // cap of every backoff
};

class RetryPolicy {
 public:
  // `uniform01` returns values in [0, 1); tests pass a fixed sequence.
  explicit RetryPolicy(RetryOptions opts, std::function<double()> uniform01 = {});

  // Ceiling of the backoff before attempt number `attempt` + 1, where `attempt`
  // (1-based) just failed: min(max_delay, base_delay * 2^(attempt-1)).
  int64_t backoff_ceiling_ms(int attempt) const;
  // A random delay in [0, backoff_ceiling_ms(attempt)] (full jitter).
  int64_t backoff_ms(int attempt);

  // Whether another attempt may start after `attempt` failed with a retryable
  // error, given that sleeping `delay_ms` must still leave time before `deadline`.
  bool may_retry(int attempt, int64_t delay_ms, const Deadline& deadline) const;

  int max_attempts() const { return opts_.max_attempts; }

 private:
  RetryOptions opts_;
  std::mutex rng_mu_;
  std::function<double()> uniform01_;  // guarded by rng_mu_
  std::mt19937_64 rng_;                // guarded by rng_mu_
};

}  // namespace sh::s3
