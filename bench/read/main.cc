// read_bench: records JSON encoding, LogReader reads and segment lookup, each
// with its baseline in the same run; ends with the baseline/optimized ratios.
//
//   read_bench [--benchmark_filter=...] [--benchmark_repetitions=N] [--benchmark_out=f.json]
#include <benchmark/benchmark.h>
#include <unistd.h>

#include "bench/read/ratio_reporter.h"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::vector<sh::bench::BenchPair> pairs = {
      {"encode 1000 records, format=string: DOM / direct", "BM_EncodeRecordsDomBaseline/string",
       "BM_EncodeRecords/string"},
      {"encode 1000 records, format=json:   DOM / direct", "BM_EncodeRecordsDomBaseline/json",
       "BM_EncodeRecords/json"},
      {"encode 1000 records, format=base64: DOM / direct", "BM_EncodeRecordsDomBaseline/base64",
       "BM_EncodeRecords/base64"},
      {"direct encoder, format=json cost / format=string cost", "BM_EncodeRecords/json",
       "BM_EncodeRecords/string"},
      {"read 100 records: cold blocks / warm", "BM_LogReaderRead100ColdBlocks",
       "BM_LogReaderRead100Warm"},
      {"read 100 records: cold footer+blocks / warm", "BM_LogReaderRead100ColdFooterAndBlocks",
       "BM_LogReaderRead100Warm"},
      {"read+encode 100 / read 100 (warm)", "BM_ReadAndEncode100Warm", "BM_LogReaderRead100Warm"},
      {"JSON string, 200 B without escapes: byte loop / 8-byte scan",
       "BM_JsonStringByteLoopBaseline/0", "BM_JsonString/0"},
      {"JSON string, 200 B, '\"' every 7 B: byte loop / 8-byte scan",
       "BM_JsonStringByteLoopBaseline/1", "BM_JsonString/1"},
      {"segment lookup, 100 segments: linear / binary", "BM_SegmentForOffsetLinearBaseline/100",
       "BM_SegmentForOffsetBinary/100"},
      {"segment lookup, 10000 segments: linear / binary",
       "BM_SegmentForOffsetLinearBaseline/10000", "BM_SegmentForOffsetBinary/10000"},
  };
  auto opts = benchmark::ConsoleReporter::OO_Tabular;
  if (isatty(STDOUT_FILENO)) {
    opts = static_cast<benchmark::ConsoleReporter::OutputOptions>(
        opts | benchmark::ConsoleReporter::OO_Color);
  }
  sh::bench::RatioReporter reporter(std::move(pairs), opts);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
