#include "core/cache/single_flight.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/concurrency.h"

namespace sh::cache {
namespace {

using namespace std::chrono_literals;
using Value = std::shared_ptr<const std::string>;

using sh::testing::eventually;
using sh::testing::Gate;

TEST(SingleFlightTest, ConcurrentCallersShareOneLoad) {
  SingleFlight<std::string, Value> sf;
  std::atomic<int> loads{0};
  Gate gate;
  constexpr int kThreads = 64;
  std::vector<Value> got(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      auto r = sf.run("block-1", [&]() -> Result<Value> {
        loads.fetch_add(1);
        gate.wait();
        return std::make_shared<const std::string>("payload");
      });
      if (r.ok()) got[i] = *r;
    });
  }
  // Every other caller must have joined the leader's load before it may finish.
  const bool all_joined = eventually([&] { return sf.joined() == kThreads - 1; });
  EXPECT_EQ(sf.in_flight(), 1u);
  gate.open();  // before any ASSERT: the threads must be joinable
  for (auto& t : threads) t.join();
  ASSERT_TRUE(all_joined) << "callers did not join the in-flight load; joined=" << sf.joined();
  EXPECT_EQ(loads.load(), 1) << "the load must run once for concurrent callers of one key";
  for (int i = 0; i < kThreads; ++i) {
    ASSERT_NE(got[i], nullptr) << "caller " << i << " got no value";
    EXPECT_EQ(got[i].get(), got[0].get()) << "caller " << i << " must share the same value";
  }
  EXPECT_EQ(sf.in_flight(), 0u) << "the key must be forgotten after completion";
}

TEST(SingleFlightTest, ErrorsAreSharedAndKeyIsForgotten) {
  SingleFlight<int, Value> sf;
  std::atomic<int> loads{0};
  Gate gate;
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto r = sf.run(7, [&]() -> Result<Value> {
        loads.fetch_add(1);
        gate.wait();
        return unavailable("backend down");
      });
      if (!r.ok() && r.error().code() == Errc::kUnavailable &&
          r.error().message() == "backend down") {
        errors.fetch_add(1);
      }
    });
  }
  const bool all_joined = eventually([&] { return sf.joined() == 7; });
  gate.open();
  for (auto& t : threads) t.join();
  ASSERT_TRUE(all_joined) << "joined=" << sf.joined();
  EXPECT_EQ(errors.load(), 8) << "every caller must receive the shared error";
  EXPECT_EQ(loads.load(), 1);

  // A later call loads again.
  auto again = sf.run(7, [&]() -> Result<Value> {
    loads.fetch_add(1);
    return std::make_shared<const std::string>("fresh");
  });
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(**again, "fresh");
  EXPECT_EQ(loads.load(), 2) << "a call after completion must load again";
}

TEST(SingleFlightTest, ExceptionReachesEveryWaiterAsInternal) {
  SingleFlight<int, Value> sf;
  std::atomic<int> loads{0};
  Gate gate;
  std::atomic<int> internal{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto r = sf.run(1, [&]() -> Result<Value> {
        loads.fetch_add(1);
        gate.wait();
        throw std::runtime_error("boom");
      });
      if (!r.ok() && r.error().code() == Errc::kInternal &&
          r.error().message().find("boom") != std::string::npos) {
        internal.fetch_add(1);
      }
    });
  }
  const bool all_joined = eventually([&] { return sf.joined() == 3; });
  gate.open();
  for (auto& t : threads) t.join();  // hangs if a waiter were stranded by the exception
  ASSERT_TRUE(all_joined) << "joined=" << sf.joined();
  EXPECT_EQ(internal.load(), 4);
  EXPECT_EQ(sf.in_flight(), 0u);
}

TEST(SingleFlightTest, DifferentKeysRunInParallel) {
  SingleFlight<int, int> sf;
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  Gate gate;
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      auto r = sf.run(k, [&, k]() -> Result<int> {
        int now = running.fetch_add(1) + 1;
        int prev = max_running.load();
        while (now > prev && !max_running.compare_exchange_weak(prev, now)) {
        }
        gate.wait();
        running.fetch_sub(1);
        return k * 10;
      });
      EXPECT_TRUE(r.ok());
      if (r.ok()) {
        EXPECT_EQ(*r, k * 10) << "key " << k << " got another key's value";
      }
    });
  }
  // All four loads must be inside load() at the same time; a serialized
  // implementation never gets there (the gate is still closed).
  bool all_parallel = eventually([&] { return running.load() == 4; });
  gate.open();
  for (auto& t : threads) t.join();
  EXPECT_TRUE(all_parallel) << "loads of different keys must run concurrently";
  EXPECT_EQ(max_running.load(), 4);
}

TEST(SingleFlightTest, AWaiterGivesUpAtItsOwnDeadlineWhileTheLoadGoesOn) {
  SingleFlight<std::string, Value> sf;
  Gate gate;
  std::atomic<int> loads{0};
  Result<Value> leader_result = Error(Errc::kInternal, "not run");
  std::thread leader([&] {
    leader_result = sf.run("k", [&]() -> Result<Value> {
      loads.fetch_add(1);
      gate.wait();
      return std::make_shared<const std::string>("late");
    });
  });
  ASSERT_TRUE(eventually([&] { return sf.in_flight() == 1u; }));

  // A deadline already passed on a manual clock: the waiter returns at once.
  ManualClock clock;
  const Deadline expired = Deadline::after(Millis(10), clock);
  clock.advance(Millis(20));
  auto start = std::chrono::steady_clock::now();
  auto r = sf.run("k", [&]() -> Result<Value> { return Error(Errc::kInternal, "must not run"); },
                  expired);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kTimeout);
  // A real 50 ms deadline: the waiter waits about that long, not for the load.
  r = sf.run("k", [&]() -> Result<Value> { return Error(Errc::kInternal, "must not run"); },
             Deadline::after(Millis(50)));
  const auto waited = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kTimeout);
  EXPECT_GE(waited, 50ms);
  EXPECT_LT(waited, 3s) << "the waiter must not wait for the load to finish";

  gate.open();
  leader.join();
  ASSERT_TRUE(leader_result.ok()) << "the load itself goes on for the caller running it";
  EXPECT_EQ(**leader_result, "late");
  EXPECT_EQ(loads.load(), 1);
}

}  // namespace
}  // namespace sh::cache
