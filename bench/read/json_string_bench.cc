// JsonWriter::string (8 bytes at a time while nothing needs escaping) vs the
// byte-at-a-time escape loop it replaced, on 200-byte text without escapes and
// on text with a '"' every 7 bytes (the worst case for the wide scan).
#include <benchmark/benchmark.h>

#include <string>

#include "api/json_writer.h"

namespace {

std::string text(bool quotes) {
  std::string s;
  for (int i = 0; i < 200; ++i) s.push_back(quotes && i % 7 == 0 ? '"' : static_cast<char>('a' + i % 26));
  return s;
}

// The previous implementation, kept here as the baseline.
void byte_loop_string(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run_start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '"': out->append("\\\"", 2); break;
      case '\\': out->append("\\\\", 2); break;
      case '\n': out->append("\\n", 2); break;
      default: {
        char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 15]};
        out->append(esc, 6);
      }
    }
  }
  out->append(s.data() + run_start, s.size() - run_start);
  out->push_back('"');
}

void BM_JsonString(benchmark::State& state) {
  const std::string s = text(state.range(0) != 0);
  std::string out;
  for (auto _ : state) {
    out.clear();
    sh::api::JsonWriter(&out).string(s);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * s.size()));
}
BENCHMARK(BM_JsonString)->Arg(0)->Arg(1);

void BM_JsonStringByteLoopBaseline(benchmark::State& state) {
  const std::string s = text(state.range(0) != 0);
  std::string out;
  for (auto _ : state) {
    out.clear();
    byte_loop_string(&out, s);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * s.size()));
}
BENCHMARK(BM_JsonStringByteLoopBaseline)->Arg(0)->Arg(1);

}  // namespace
