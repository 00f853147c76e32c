// Backoff bounds, attempt budget and deadline of the retry policy.
#include "core/storage/s3/retry_policy.h"

#include <gtest/gtest.h>

namespace sh::s3 {
namespace {

TEST(RetryPolicy, CeilingDoublesUpToTheCap) {
  RetryPolicy p({6, 50, 1000});
  EXPECT_EQ(p.backoff_ceiling_ms(1), 50);
  EXPECT_EQ(p.backoff_ceiling_ms(2), 100);
  EXPECT_EQ(p.backoff_ceiling_ms(3), 200);
  EXPECT_EQ(p.backoff_ceiling_ms(5), 800);
  EXPECT_EQ(p.backoff_ceiling_ms(6), 1000);
  EXPECT_EQ(p.backoff_ceiling_ms(60), 1000) << "no overflow for large attempt numbers";
}

TEST(RetryPolicy, FullJitterSpansZeroToCeiling) {
  double u = 0;
  RetryPolicy fixed({5, 100, 2000}, [&] { return u; });
  u = 0.0;
  EXPECT_EQ(fixed.backoff_ms(3), 0);
  u = 0.5;
  EXPECT_EQ(fixed.backoff_ms(3), 200);
  u = 0.999999;
  EXPECT_EQ(fixed.backoff_ms(3), 400);

  RetryPolicy random({5, 100, 2000});
  int64_t lo = INT64_MAX, hi = 0;
  for (int i = 0; i < 2000; ++i) {
    int64_t d = random.backoff_ms(4);
    ASSERT_GE(d, 0);
    ASSERT_LE(d, 800);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_LT(lo, 100) << "full jitter reaches near zero";
  EXPECT_GT(hi, 700) << "full jitter reaches near the ceiling";
}

TEST(RetryPolicy, StopsAtMaxAttemptsAndAtTheDeadline) {
  RetryPolicy p({3, 10, 100});
  EXPECT_TRUE(p.may_retry(1, 10, Deadline::never()));
  EXPECT_TRUE(p.may_retry(2, 10, Deadline::never()));
  EXPECT_FALSE(p.may_retry(3, 10, Deadline::never())) << "3 attempts is the budget";
  EXPECT_FALSE(p.may_retry(1, 500, Deadline::after(Millis(200))))
      << "a backoff longer than the time left must not start";
  EXPECT_TRUE(p.may_retry(1, 50, Deadline::after(Millis(5000))));
  EXPECT_FALSE(p.may_retry(1, 0, Deadline{std::chrono::steady_clock::now() - Millis(1)}));
}

}  // namespace
}  // namespace sh::s3
