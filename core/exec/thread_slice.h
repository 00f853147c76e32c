// Scheduler hints for a thread that must answer at once when it wakes.
#pragma once

#include <chrono>
#include <optional>

namespace sh::exec {

// Asks the kernel to run the calling thread with time slices of `slice`
// (Linux >= 6.12, EEVDF: sched_attr.sched_runtime of a SCHED_OTHER thread; the
// kernel clamps it to [100 us, 100 ms]). A thread that wakes with a shorter
// slice than the running thread preempts it at once, instead of waiting for
// that thread's slice to end at a scheduler tick (4 ms at HZ=250). It is for a
// thread that is rarely busy but must answer quickly behind busy ones (the
// admin listener's probes); its CPU share is unchanged, and so is its nice
// value and policy. Best effort, and needs no privilege: returns false, having
// changed nothing that matters, where the kernel does not take it (older
// kernels ignore the field, non-Linux has no such call).
bool request_short_slice(std::chrono::microseconds slice);

// The calling thread's slice as the kernel reports it (since Linux 6.12 the
// default one too, e.g. 1.4 ms); nullopt where it reports none.
std::optional<std::chrono::microseconds> current_slice();

}  // namespace sh::exec
