// RatioReporter: Google Benchmark's console output, then one table of
// "baseline time / optimized time" for each declared pair of benchmarks that
// ran in the same process (a ratio > 1 means the optimized path is faster by
// that factor), by real time and by CPU time. All benchmarks here are
// single-threaded and never block, so on a shared machine the CPU-time ratio
// is the steadier of the two.
//
// Per benchmark name the median aggregate is used when repetitions were asked
// for, else the mean of its iteration runs. A pair with a side that did not run
// (filtered out, or skipped with an error) prints "n/a".
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <string>
#include <vector>

namespace sh::bench {

struct BenchPair {
  std::string what;       // printed label
  std::string baseline;   // full benchmark name, e.g. "BM_EncodeRecordsDomBaseline/string"
  std::string optimized;  // full benchmark name
};

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter(std::vector<BenchPair> pairs, OutputOptions opts);

  void ReportRuns(const std::vector<Run>& runs) override;
  void Finalize() override;

  // Seconds of real (or CPU) time per iteration of `name`, or a negative value if unknown.
  double seconds_per_iteration(const std::string& name, bool cpu) const;

 private:
  struct Timing {
    double sum_real = 0;
    double sum_cpu = 0;
    int runs = 0;
    double median_real = -1;
    double median_cpu = -1;
  };

  std::vector<BenchPair> pairs_;
  std::map<std::string, Timing> timings_;
};

}  // namespace sh::bench
