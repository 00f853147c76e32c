// Process metrics under the standard Prometheus names (the ones client_golang and
// client_python export), read from /proc when /metrics is scraped, and
// `streamhouse_build_info`.
//
//   process_cpu_seconds_total        counter  user + system CPU time
//   process_resident_memory_bytes    gauge    resident set size
//   process_virtual_memory_bytes     gauge    virtual memory size
//   process_open_fds                 gauge    entries of /proc/self/fd
//   process_max_fds                  gauge    RLIMIT_NOFILE soft limit
//   process_start_time_seconds       gauge    start time, seconds since the Unix epoch
//   process_threads                  gauge    threads of the process
//   streamhouse_build_info{version,compiler,build_type} 1
//
// A metric whose /proc source cannot be read (not Linux, a sandbox) is left out of
// the scrape rather than reported as 0.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

namespace sh::api {

// Fields of /proc/<pid>/stat this module uses (proc(5)), in the kernel's units.
struct ProcStat {
  uint64_t utime_ticks = 0;      // field 14
  uint64_t stime_ticks = 0;      // field 15
  int64_t num_threads = 0;       // field 20
  uint64_t starttime_ticks = 0;  // field 22, clock ticks after boot
  uint64_t vsize_bytes = 0;      // field 23
  int64_t rss_pages = 0;         // field 24
};

// Parses the text of /proc/<pid>/stat. The command name (field 2) is inside
// parentheses and may itself hold spaces and ')', so fields are counted from the
// last ')'. nullopt when the text is truncated or a field is not a number.
std::optional<ProcStat> parse_proc_stat(std::string_view text);

// The `btime` line of /proc/stat (boot time, seconds since the epoch).
std::optional<uint64_t> parse_boot_time(std::string_view proc_stat_text);

struct BuildInfo {
  std::string version;
  std::string compiler;
  std::string build_type;
};
// What this binary was built from (the CMake project version, compiler, build type).
BuildInfo this_build();

// The process and build-info families as they are now (reads /proc/self/...).
// proc_dir is "/proc" except in tests.
std::vector<prometheus::MetricFamily> collect_process_metrics(const BuildInfo& build,
                                                              const std::string& proc_dir = "/proc");

// A Registry whose Collect() also reports the process metrics: collected at each
// scrape, so nothing needs a timer thread. Use it where the service's one registry
// is created; everything else keeps taking a prometheus::Registry.
class ProcessMetricsRegistry : public prometheus::Registry {
 public:
  explicit ProcessMetricsRegistry(BuildInfo build = this_build()) : build_(std::move(build)) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  BuildInfo build_;
};

}  // namespace sh::api
