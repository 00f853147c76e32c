#include "api/process_metrics.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <memory>

#include "core/fs/file.h"

#ifndef SH_VERSION
#define SH_VERSION "unknown"
#endif
#ifndef SH_BUILD_TYPE
#define SH_BUILD_TYPE "unknown"
#endif

namespace sh::api {
namespace {

// Enough for /proc/self/stat (one line, < 1 KiB) and /proc/stat (a line per CPU).
constexpr size_t kMaxProcFileBytes = 1 << 20;

// Reads a procfs file (size 0 in stat(), so read until EOF) up to kMaxProcFileBytes.
std::optional<std::string> read_proc_file(const std::string& path) {
  fs::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  std::string out;
  char buf[4096];
  while (out.size() < kMaxProcFileBytes) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
  return std::nullopt;  // larger than any procfs file we read: not what we expect
}

template <typename T>
bool parse_number(std::string_view s, T* out) {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Entries of <proc>/self/fd, the directory's own descriptor not counted.
std::optional<int64_t> count_open_fds(const std::string& proc_dir) {
  const std::string path = proc_dir + "/self/fd";
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(path.c_str()), ::closedir);
  if (!dir) return std::nullopt;
  const int own = ::dirfd(dir.get());
  int64_t n = 0;
  while (const dirent* e = ::readdir(dir.get())) {
    std::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    int fd = -1;
    if (parse_number(name, &fd) && fd == own) continue;
    ++n;
  }
  return n;
}

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  const size_t close = text.rfind(')');
  if (close == std::string_view::npos) return std::nullopt;
  // Fields 3.. follow ") ", separated by single spaces; the line ends with '\n'.
  std::string_view rest = text.substr(close + 1);
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state)
  size_t i = 0;
  while (i < rest.size() && fields.size() < 22) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\n')) ++i;
    const size_t start = i;
    while (i < rest.size() && rest[i] != ' ' && rest[i] != '\n') ++i;
    if (i > start) fields.push_back(rest.substr(start, i - start));
  }
  if (fields.size() < 22) return std::nullopt;  // truncated: rss is field 24
  auto at = [&](int field) { return fields[static_cast<size_t>(field - 3)]; };
  ProcStat s;
  if (!parse_number(at(14), &s.utime_ticks) || !parse_number(at(15), &s.stime_ticks) ||
      !parse_number(at(20), &s.num_threads) || !parse_number(at(22), &s.starttime_ticks) ||
      !parse_number(at(23), &s.vsize_bytes) || !parse_number(at(24), &s.rss_pages)) {
    return std::nullopt;
  }
  return s;
}

std::optional<uint64_t> parse_boot_time(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.substr(0, 6) == "btime ") {
      uint64_t v = 0;
      if (parse_number(line.substr(6), &v)) return v;
      return std::nullopt;
    }
    pos = end + 1;
  }
  return std::nullopt;
}

BuildInfo this_build() {
#if defined(__clang__)
  std::string compiler = "clang " __clang_version__;
#elif defined(__GNUC__)
  std::string compiler = "gcc " __VERSION__;
#else
  std::string compiler = "unknown";
#endif
  return BuildInfo{SH_VERSION, std::move(compiler), SH_BUILD_TYPE};
}

std::vector<prometheus::MetricFamily> collect_process_metrics(const BuildInfo& build,
                                                              const std::string& proc_dir) {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;

  if (auto text = read_proc_file(proc_dir + "/self/stat")) {
    if (auto st = parse_proc_stat(*text)) {
      const long ticks = ::sysconf(_SC_CLK_TCK);
      const long page = ::sysconf(_SC_PAGESIZE);
      if (ticks > 0) {
        out.push_back(family("process_cpu_seconds_total",
                             "Total user and system CPU time spent in seconds.",
                             MetricType::Counter,
                             static_cast<double>(st->utime_ticks + st->stime_ticks) /
                                 static_cast<double>(ticks)));
      }
      if (page > 0) {
        out.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.",
                             MetricType::Gauge,
                             static_cast<double>(st->rss_pages) * static_cast<double>(page)));
      }
      out.push_back(family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                           MetricType::Gauge, static_cast<double>(st->vsize_bytes)));
      out.push_back(family("process_threads", "Number of OS threads in the process.",
                           MetricType::Gauge, static_cast<double>(st->num_threads)));
      auto boot = read_proc_file(proc_dir + "/stat");
      auto btime = boot ? parse_boot_time(*boot) : std::nullopt;
      if (btime && ticks > 0) {
        out.push_back(family("process_start_time_seconds",
                             "Start time of the process since unix epoch in seconds.",
                             MetricType::Gauge,
                             static_cast<double>(*btime) + static_cast<double>(st->starttime_ticks) /
                                                               static_cast<double>(ticks)));
      }
    }
  }
  if (auto fds = count_open_fds(proc_dir)) {
    out.push_back(family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
                         static_cast<double>(*fds)));
  }
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    const double max = lim.rlim_cur == RLIM_INFINITY ? static_cast<double>(UINT64_MAX)
                                                     : static_cast<double>(lim.rlim_cur);
    out.push_back(family("process_max_fds", "Maximum number of open file descriptors.",
                         MetricType::Gauge, max));
  }

  prometheus::MetricFamily info = family("streamhouse_build_info",
                                         "Build of this binary; the value is always 1.",
                                         MetricType::Gauge, 1);
  info.metric[0].label = {{"build_type", build.build_type},
                          {"compiler", build.compiler},
                          {"version", build.version}};
  out.push_back(std::move(info));
  return out;
}

std::vector<prometheus::MetricFamily> ProcessMetricsRegistry::Collect() const {
  auto families = prometheus::Registry::Collect();
  for (auto& f : collect_process_metrics(build_)) families.push_back(std::move(f));
  return families;
}

}  // namespace sh::api
