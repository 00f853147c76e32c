#include "core/exec/thread_slice.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__linux__)
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace sh::exec {

#if defined(__linux__) && defined(SYS_sched_setattr) && defined(SYS_sched_getattr)
namespace {

// struct sched_attr of <linux/sched/types.h> (SCHED_ATTR_SIZE_VER1), declared
// here: glibc 2.36 has neither the type nor a wrapper.
struct SchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
  uint32_t sched_util_min;
  uint32_t sched_util_max;
};
static_assert(sizeof(SchedAttr) == 56, "SCHED_ATTR_SIZE_VER1");

bool get_attr(SchedAttr* attr) {
  std::memset(attr, 0, sizeof *attr);
  return ::syscall(SYS_sched_getattr, 0, attr, static_cast<unsigned>(sizeof *attr), 0u) == 0;
}

}  // namespace

bool request_short_slice(std::chrono::microseconds slice) {
  if (slice.count() <= 0) return false;
  SchedAttr attr;
  if (!get_attr(&attr)) return false;
  if (attr.sched_policy != SCHED_OTHER && attr.sched_policy != SCHED_BATCH) return false;
  // Policy and nice as they are (read back above); only the slice changes.
  attr.size = sizeof attr;
  attr.sched_flags = 0;
  attr.sched_runtime = static_cast<uint64_t>(slice.count()) * 1000u;
  if (::syscall(SYS_sched_setattr, 0, &attr, 0u) != 0) return false;
  // Kernels without custom slices take the call and ignore the field: only a
  // read-back of the (clamped) slice says it took effect.
  const auto want = std::clamp(slice, std::chrono::microseconds(100), std::chrono::microseconds(100'000));
  return current_slice() == want;
}

std::optional<std::chrono::microseconds> current_slice() {
  SchedAttr attr;
  if (!get_attr(&attr) || attr.sched_runtime == 0) return std::nullopt;
  return std::chrono::microseconds(attr.sched_runtime / 1000u);
}

#else

bool request_short_slice(std::chrono::microseconds) { return false; }
std::optional<std::chrono::microseconds> current_slice() { return std::nullopt; }

#endif

}  // namespace sh::exec
