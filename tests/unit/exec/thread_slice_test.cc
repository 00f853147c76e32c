// exec::request_short_slice: the slice the kernel reports afterwards, and what
// must not change with it (nice value, policy).
#include "core/exec/thread_slice.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

namespace sh::exec {
namespace {

using std::chrono::microseconds;

// Runs `fn` on a fresh thread (a slice and a nice value are per thread), so
// that nothing here changes the test runner's own thread.
template <typename Fn>
void on_fresh_thread(Fn fn) {
  std::thread t(fn);
  t.join();
}

int own_nice() {
  return ::getpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)));
}

// Kernels before 6.12 report no slice for a SCHED_OTHER thread and take none.
bool kernel_reports_slices() {
  bool reports = false;
  on_fresh_thread([&] { reports = current_slice().has_value(); });
  return reports;
}

TEST(ThreadSlice, TheKernelReportsTheSliceAskedForAndTheNiceValueStays) {
  if (!kernel_reports_slices()) GTEST_SKIP() << "this kernel has no custom scheduler slices (Linux < 6.12)";
  on_fresh_thread([] {
    const int tid = static_cast<int>(::syscall(SYS_gettid));
    ASSERT_EQ(::setpriority(PRIO_PROCESS, static_cast<id_t>(tid), own_nice() + 3), 0);
    const int nice_before = own_nice();
    const std::optional<microseconds> default_slice = current_slice();
    ASSERT_TRUE(default_slice.has_value());
    ASSERT_NE(*default_slice, microseconds(250)) << "pick another slice for this test";

    EXPECT_TRUE(request_short_slice(microseconds(250)));
    EXPECT_EQ(current_slice(), microseconds(250));
    EXPECT_EQ(own_nice(), nice_before) << "the nice value must not be reset";
    EXPECT_EQ(::sched_getscheduler(0), SCHED_OTHER);

    // The kernel clamps to [100 us, 100 ms]; the answer says what it took.
    EXPECT_TRUE(request_short_slice(microseconds(10)));
    EXPECT_EQ(current_slice(), microseconds(100));
  });
  // Per thread: a new thread starts with the default again.
  on_fresh_thread([] { EXPECT_NE(current_slice(), microseconds(100)); });
}

TEST(ThreadSlice, ANonPositiveSliceIsRefusedAndChangesNothing) {
  on_fresh_thread([] {
    const std::optional<microseconds> before = current_slice();
    EXPECT_FALSE(request_short_slice(microseconds(0)));
    EXPECT_FALSE(request_short_slice(microseconds(-5)));
    EXPECT_EQ(current_slice(), before);
  });
}

}  // namespace
}  // namespace sh::exec
