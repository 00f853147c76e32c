// CachingCredentials under concurrency (label `concurrency`: also runs under
// ThreadSanitizer): one refresher fetches outside the lock while others are
// served the still-valid credentials at once, and waiters without usable
// credentials give up at their own deadline.
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/storage/s3/credentials.h"
#include "tests/support/concurrency.h"

namespace sh::s3 {
namespace {

using sh::testing::eventually;
using sh::testing::Gate;

constexpr int64_t kNow = 1'700'000'000'000;
constexpr int64_t kHour = 60 * 60 * 1000;

// Answers "AK<n>" valid for an hour; the fetch blocks on `gate` once `block` is set.
class BlockingProvider final : public CredentialsProvider {
 public:
  explicit BlockingProvider(std::shared_ptr<ManualClock> clock) : clock_(std::move(clock)) {}
  Result<Credentials> fetch(Deadline) override {
    const int n = calls.fetch_add(1) + 1;
    if (block.load()) {
      in_fetch.fetch_add(1);
      gate.wait();
    }
    Credentials c;
    c.access_key_id = "AK" + std::to_string(n);
    c.secret_access_key = "secret";
    c.session_token = "token" + std::to_string(n);
    c.expiration_unix_ms = clock_->now_unix_ms() + kHour;
    c.provider = "blocking";
    return c;
  }
  std::string_view name() const override { return "blocking"; }

  std::atomic<int> calls{0};
  std::atomic<int> in_fetch{0};
  std::atomic<bool> block{false};
  Gate gate;

 private:
  std::shared_ptr<ManualClock> clock_;
};

TEST(CachingCredentialsConcurrency, StillValidCredentialsServeWhileOneRefresherFetches) {
  auto clock = std::make_shared<ManualClock>(kNow);
  auto provider = std::make_unique<BlockingProvider>(clock);
  BlockingProvider* p = provider.get();
  CachingCredentials cache(std::move(provider), clock);
  ASSERT_EQ(cache.get({}).value().access_key_id, "AK1");

  clock->advance(Millis(kHour - 4 * 60 * 1000));  // 4 min left: inside the refresh window
  p->block = true;
  auto refresher = std::async(std::launch::async, [&] { return cache.get(Deadline::never()); });
  ASSERT_TRUE(eventually([&] { return p->in_fetch.load() == 1; })) << "the refresh never started";

  // While the refresher is blocked in the provider, other callers get the old,
  // still-valid credentials without waiting — and without a second fetch.
  std::vector<std::future<Result<Credentials>>> others;
  for (int i = 0; i < 8; ++i) {
    others.push_back(std::async(std::launch::async,
                                [&] { return cache.get(Deadline::after(Millis(30000))); }));
  }
  bool all_returned = true;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (auto& f : others) {
    if (f.wait_until(until) != std::future_status::ready) all_returned = false;
  }
  const int calls_while_blocked = p->calls.load();
  p->gate.open();  // let everything finish whatever happened
  ASSERT_TRUE(all_returned) << "callers with still-valid credentials waited behind the refresh";
  for (auto& f : others) {
    auto c = f.get();
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    EXPECT_EQ(c->access_key_id, "AK1") << "the still-valid credentials are served meanwhile";
  }
  EXPECT_EQ(calls_while_blocked, 2) << "exactly one refresher fetches";
  auto refreshed = refresher.get();
  ASSERT_TRUE(refreshed.ok()) << refreshed.error().to_string();
  EXPECT_EQ(refreshed->access_key_id, "AK2");
  EXPECT_EQ(cache.get({}).value().access_key_id, "AK2") << "the refresh result is kept";
  EXPECT_EQ(p->calls.load(), 2);
}

TEST(CachingCredentialsConcurrency, WithoutUsableCredentialsWaitersGiveUpAtTheirOwnDeadline) {
  auto clock = std::make_shared<ManualClock>(kNow);
  auto provider = std::make_unique<BlockingProvider>(clock);
  BlockingProvider* p = provider.get();
  CachingCredentials cache(std::move(provider), clock);
  p->block = true;  // nothing cached yet: the first caller fetches and blocks
  auto refresher = std::async(std::launch::async, [&] { return cache.get(Deadline::never()); });
  ASSERT_TRUE(eventually([&] { return p->in_fetch.load() == 1; })) << "the fetch never started";

  // The waiter has 50 ms; the refresh stays blocked far longer.
  auto waiter = std::async(std::launch::async,
                           [&] { return cache.get(Deadline::after(Millis(50))); });
  const bool waiter_returned = waiter.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  const int calls_while_blocked = p->calls.load();
  p->gate.open();
  ASSERT_TRUE(waiter_returned) << "a waiter without usable credentials waited past its deadline";
  auto w = waiter.get();
  ASSERT_FALSE(w.ok()) << "no credentials existed before the deadline";
  EXPECT_EQ(w.error().code(), Errc::kTimeout) << w.error().to_string();
  EXPECT_EQ(calls_while_blocked, 1) << "the waiter must not start a second fetch";
  auto r = refresher.get();
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->access_key_id, "AK1");
  // Once the fetch is done, later callers are served from the cache.
  EXPECT_EQ(cache.get(Deadline::after(Millis(50))).value().access_key_id, "AK1");
  EXPECT_EQ(p->calls.load(), 1);
}

TEST(CachingCredentialsConcurrency, RejectedCredentialsAreDroppedOnceNotOncePerCaller) {
  auto clock = std::make_shared<ManualClock>(kNow);
  auto provider = std::make_unique<BlockingProvider>(clock);
  BlockingProvider* p = provider.get();
  CachingCredentials cache(std::move(provider), clock);
  const Credentials old = cache.get({}).value();
  cache.invalidate(old);  // the first ExpiredToken answer
  EXPECT_EQ(cache.get({}).value().access_key_id, "AK2");
  cache.invalidate(old);  // a late answer to a request signed with the old ones
  EXPECT_EQ(cache.get({}).value().access_key_id, "AK2") << "the new credentials must be kept";
  EXPECT_EQ(p->calls.load(), 2);
}

}  // namespace
}  // namespace sh::s3
