// IoEngine: bounded concurrency, a full queue refuses, expired tasks are told so,
// stop() drains, and exceptions never escape.
#include "core/exec/io_engine.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "tests/support/concurrency.h"

namespace sh::exec {
namespace {

using namespace std::chrono_literals;

using sh::testing::eventually;
using sh::testing::Gate;
using sh::testing::OpenOnExit;

TEST(IoEngineTest, RunsAtMostThreadsTasksAtOnceAndRefusesWhenTheQueueIsFull) {
  prometheus::Registry registry;
  Gate gate;
  std::atomic<int> active{0}, peak{0}, done{0};
  IoEngine engine({/*threads=*/2, /*max_queued=*/3}, registry);
  OpenOnExit release(gate);
  auto task = [&](bool) {
    const int now = ++active;
    int p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    gate.wait();
    --active;
    ++done;
  };
  ASSERT_TRUE(engine.try_submit(task));
  ASSERT_TRUE(engine.try_submit(task));
  ASSERT_TRUE(eventually([&] { return engine.running() == 2; }));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(engine.try_submit(task)) << "queue slot " << i;
  EXPECT_EQ(engine.queued(), 3u);
  EXPECT_FALSE(engine.try_submit(task)) << "a fourth queued task must be refused";
  gate.open();
  ASSERT_TRUE(eventually([&] { return done.load() == 5; }));
  EXPECT_EQ(peak.load(), 2) << "never more tasks at once than threads";
  EXPECT_TRUE(engine.try_submit(task)) << "room again once the queue drained";
  ASSERT_TRUE(eventually([&] { return done.load() == 6; }));

  bool found = false;
  for (const auto& f : registry.Collect()) {
    if (f.name == "streamhouse_io_engine_rejected_total") {
      found = true;
      EXPECT_EQ(f.metric.at(0).counter.value, 1.0);
    }
  }
  EXPECT_TRUE(found) << "rejections are counted in metrics";
}

TEST(IoEngineTest, AContinuationIsQueuedPastAFullQueueButNotWhenStopping) {
  prometheus::Registry registry;
  Gate gate;
  std::atomic<int> done{0};
  IoEngine engine({/*threads=*/1, /*max_queued=*/1}, registry);
  OpenOnExit release(gate);
  auto task = [&](bool) {
    gate.wait();
    ++done;
  };
  ASSERT_TRUE(engine.try_submit(task));
  ASSERT_TRUE(eventually([&] { return engine.running() == 1; }));
  ASSERT_TRUE(engine.try_submit(task));
  EXPECT_FALSE(engine.try_submit(task)) << "the queue is full for new work";
  EXPECT_TRUE(engine.submit_continuation(task)) << "admitted work goes on";
  EXPECT_TRUE(engine.submit_continuation(task));
  EXPECT_EQ(engine.queued(), 3u);
  gate.open();
  ASSERT_TRUE(eventually([&] { return done.load() == 4; }));
  engine.stop();
  EXPECT_FALSE(engine.submit_continuation(task)) << "a stopping engine refuses everything";
}

TEST(IoEngineTest, ATaskWhoseDeadlinePassedInTheQueueIsToldSo) {
  prometheus::Registry registry;
  Gate gate;
  ManualClock clock;
  std::atomic<int> expired_seen{-1}, fresh_seen{-1};
  IoEngine engine({1, 10}, registry);
  OpenOnExit release(gate);
  ASSERT_TRUE(engine.try_submit([&](bool) { gate.wait(); }));
  ASSERT_TRUE(engine.try_submit([&](bool expired) { expired_seen = expired; },
                                Deadline::after(Millis(5), clock)));
  ASSERT_TRUE(engine.try_submit([&](bool expired) { fresh_seen = expired; },
                                Deadline::after(Millis(60000))));
  clock.advance(Millis(10));
  gate.open();
  ASSERT_TRUE(eventually([&] { return expired_seen.load() != -1 && fresh_seen.load() != -1; }));
  EXPECT_EQ(expired_seen.load(), 1);
  EXPECT_EQ(fresh_seen.load(), 0);
}

TEST(IoEngineTest, StopRunsWhatIsQueuedThenRefuses) {
  prometheus::Registry registry;
  std::atomic<int> done{0};
  IoEngine engine({1, 100}, registry);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(engine.try_submit([&](bool) {
      std::this_thread::sleep_for(1ms);
      ++done;
    }));
  }
  engine.stop();
  EXPECT_EQ(done.load(), 20) << "queued tasks still run: each answers a client";
  EXPECT_FALSE(engine.try_submit([](bool) {}));
  engine.stop();  // idempotent
}

TEST(IoEngineTest, AThrowingTaskIsCountedAndTheThreadGoesOn) {
  prometheus::Registry registry;
  IoEngine engine({1, 10}, registry);
  std::atomic<bool> after{false};
  ASSERT_TRUE(engine.try_submit([](bool) { throw std::runtime_error("boom"); }));
  ASSERT_TRUE(engine.try_submit([&](bool) { after = true; }));
  ASSERT_TRUE(eventually([&] { return after.load(); }));
}

TEST(IoEngineTest, ItsThreadsRunAtTheNicenessItWasGiven) {
  prometheus::Registry registry;
  const int base = ::getpriority(PRIO_PROCESS, 0);
  std::atomic<int> seen{-100}, plain{-100};
  {
    IoEngine nicer({/*threads=*/1, /*max_queued=*/4, "nicer", /*nice=*/3}, registry);
    IoEngine same({/*threads=*/1, /*max_queued=*/4, "same"}, registry);
    ASSERT_TRUE(nicer.try_submit([&](bool) { seen = ::getpriority(PRIO_PROCESS, 0); }));
    ASSERT_TRUE(same.try_submit([&](bool) { plain = ::getpriority(PRIO_PROCESS, 0); }));
  }  // stop() runs what was queued
  EXPECT_EQ(seen.load(), std::min(base + 3, 19));
  EXPECT_EQ(plain.load(), base);
  EXPECT_EQ(::getpriority(PRIO_PROCESS, 0), base) << "the caller's own niceness must not change";
}

}  // namespace
}  // namespace sh::exec
