#include "bench/read/ratio_reporter.h"

#include <algorithm>
#include <cstdio>
#include <ostream>

namespace sh::bench {
namespace {

double to_seconds(double value, benchmark::TimeUnit unit) {
  switch (unit) {
    case benchmark::kNanosecond: return value * 1e-9;
    case benchmark::kMicrosecond: return value * 1e-6;
    case benchmark::kMillisecond: return value * 1e-3;
    case benchmark::kSecond: return value;
  }
  return value;
}

std::string format_time(double seconds) {
  char buf[32];
  if (seconds < 1e-6) {
    std::snprintf(buf, sizeof buf, "%.1f ns", seconds * 1e9);
  } else if (seconds < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.2f us", seconds * 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f ms", seconds * 1e3);
  }
  return buf;
}

}  // namespace

RatioReporter::RatioReporter(std::vector<BenchPair> pairs, OutputOptions opts)
    : benchmark::ConsoleReporter(opts), pairs_(std::move(pairs)) {}

void RatioReporter::ReportRuns(const std::vector<Run>& runs) {
  benchmark::ConsoleReporter::ReportRuns(runs);
  for (const Run& run : runs) {
    if (run.error_occurred) continue;
    const double real = to_seconds(run.GetAdjustedRealTime(), run.time_unit);
    const double cpu = to_seconds(run.GetAdjustedCPUTime(), run.time_unit);
    Timing& t = timings_[run.run_name.str()];
    if (run.run_type == Run::RT_Aggregate) {
      if (run.aggregate_name == "median") {
        t.median_real = real;
        t.median_cpu = cpu;
      }
      continue;
    }
    t.sum_real += real;
    t.sum_cpu += cpu;
    ++t.runs;
  }
}

double RatioReporter::seconds_per_iteration(const std::string& name, bool cpu) const {
  auto it = timings_.find(name);
  if (it == timings_.end()) return -1;
  const Timing& t = it->second;
  const double median = cpu ? t.median_cpu : t.median_real;
  if (median >= 0) return median;
  if (t.runs == 0) return -1;
  return (cpu ? t.sum_cpu : t.sum_real) / t.runs;
}

void RatioReporter::Finalize() {
  std::ostream& out = GetOutputStream();
  size_t width = 4;
  for (const BenchPair& p : pairs_) width = std::max(width, p.what.size());
  std::string head = "pair";
  head.resize(width + 2, ' ');
  out << "\nRatios: baseline time / optimized time (> 1 = optimized is faster)\n"
      << head << "  by real    by CPU   (CPU time per iteration: baseline vs optimized)\n";
  for (const BenchPair& p : pairs_) {
    const double base = seconds_per_iteration(p.baseline, false);
    const double opt = seconds_per_iteration(p.optimized, false);
    const double base_cpu = seconds_per_iteration(p.baseline, true);
    const double opt_cpu = seconds_per_iteration(p.optimized, true);
    std::string line = p.what;
    line.resize(width + 2, ' ');
    if (base <= 0 || opt <= 0 || base_cpu <= 0 || opt_cpu <= 0) {
      out << line << "n/a (" << (base <= 0 ? p.baseline : p.optimized) << " did not run)\n";
      continue;
    }
    char ratio[64];
    std::snprintf(ratio, sizeof ratio, "%8.2fx %8.2fx", base / opt, base_cpu / opt_cpu);
    out << line << ratio << "   (" << format_time(base_cpu) << " vs " << format_time(opt_cpu)
        << ")\n";
  }
  out.flush();
  benchmark::ConsoleReporter::Finalize();
}

}  // namespace sh::bench
