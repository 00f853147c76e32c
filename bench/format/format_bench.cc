// Segment format hot paths, side by side in one run:
//   CRC32C hardware vs portable, block decode+parse of a 1 MiB block (LZ4 and
//   uncompressed), DecodedBlock::lower_bound vs a linear scan of the offsets.
#include <fmt/format.h>
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "core/format/crc32c.h"
#include "core/format/segment.h"

namespace sh::format {
namespace {

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

void BM_Crc32cHardware(benchmark::State& state) {
  if (!crc32c::hardware_accelerated()) {
    state.SkipWithError("CPU lacks SSE4.2");
    return;
  }
  const std::string data = random_bytes(static_cast<size_t>(state.range(0)), 1);
  for (auto _ : state) benchmark::DoNotOptimize(crc32c::value(data));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Crc32cHardware)->Arg(4 << 10)->Arg(1 << 20);

void BM_Crc32cPortable(benchmark::State& state) {
  const std::string data = random_bytes(static_cast<size_t>(state.range(0)), 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(crc32c::extend_portable(0, data.data(), data.size()));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Crc32cPortable)->Arg(4 << 10)->Arg(1 << 20);

// One segment whose first block holds ~1 MiB of raw payload: JSON-like values
// (compressible), some keys and headers, offset gaps.
struct OneMiBBlock {
  std::string object;
  IndexEntry entry;
  Compression compression;
};

OneMiBBlock make_block(Compression c) {
  std::mt19937_64 rng(7);
  SegmentWriter w({.block_bytes = 1u << 20, .compression = c});
  uint64_t offset = 1000;
  int64_t ts = 1700000000000;
  while (w.record_count() == 0 || w.estimated_size() < (1u << 20) + 4096) {
    Record r;
    r.offset = offset;
    r.timestamp = ts;
    r.key = fmt::format("user-{}", rng() % 10000);
    r.value = R"({"id":)" + std::to_string(offset) + R"(,"amount":)" + std::to_string(rng() % 100000) +
              R"(,"currency":"EUR","note":")" + random_bytes(16 + rng() % 32, rng()).substr(0, 8) + "\"}";
    if (rng() % 4 == 0) r.headers.push_back({"trace-id", std::to_string(rng())});
    if (!w.add(r).ok()) std::abort();
    offset += 1 + (rng() % 10 == 0 ? 3 : 0);
    ts += static_cast<int64_t>(rng() % 20) - 5;
  }
  auto obj = w.finish();
  if (!obj.ok()) std::abort();
  auto contents = read_segment(*obj, "bench");
  if (!contents.ok()) std::abort();
  return {std::move(*obj), contents->meta.index.at(0), c};
}

void decode_bench(benchmark::State& state, Compression c) {
  static const OneMiBBlock none = make_block(Compression::kNone);
  static const OneMiBBlock lz4 = make_block(Compression::kLz4);
  const OneMiBBlock& b = c == Compression::kLz4 ? lz4 : none;
  const std::string_view stored =
      std::string_view(b.object).substr(b.entry.handle.position, b.entry.handle.size);
  for (auto _ : state) {
    auto block = decode_block(stored, b.entry, b.compression, "bench");
    if (!block.ok()) {
      state.SkipWithError(block.error().message().c_str());
      return;
    }
    benchmark::DoNotOptimize(block->get());
  }
  state.counters["records"] = b.entry.record_count;
  state.counters["stored_bytes"] = b.entry.handle.size;
  state.SetBytesProcessed(state.iterations() * (1 << 20));  // ~raw bytes per block
}
void BM_DecodeBlock1MiBLz4(benchmark::State& state) { decode_bench(state, Compression::kLz4); }
void BM_DecodeBlock1MiBNone(benchmark::State& state) { decode_bench(state, Compression::kNone); }
BENCHMARK(BM_DecodeBlock1MiBLz4);
BENCHMARK(BM_DecodeBlock1MiBNone);

std::shared_ptr<const DecodedBlock> decoded_block() {
  static const OneMiBBlock b = make_block(Compression::kNone);
  auto block = decode_block(
      std::string_view(b.object).substr(b.entry.handle.position, b.entry.handle.size), b.entry,
      b.compression, "bench");
  if (!block.ok()) std::abort();
  return *block;
}

std::vector<uint64_t> queries(const DecodedBlock& block) {
  std::mt19937_64 rng(3);
  std::vector<uint64_t> q(1024);
  const uint64_t span = block.last_offset() - block.first_offset() + 1;
  for (uint64_t& x : q) x = block.first_offset() + rng() % span;
  return q;
}

void BM_LowerBoundBinary(benchmark::State& state) {
  const auto block = decoded_block();
  const auto q = queries(*block);
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(block->lower_bound(q[i++ & 1023]));
  state.counters["records"] = block->record_count();
}
BENCHMARK(BM_LowerBoundBinary);

void BM_LowerBoundLinearBaseline(benchmark::State& state) {
  const auto block = decoded_block();
  const auto q = queries(*block);
  size_t i = 0;
  for (auto _ : state) {
    const uint64_t target = q[i++ & 1023];
    uint32_t j = 0;
    while (j < block->record_count() && block->offset_at(j) < target) ++j;
    benchmark::DoNotOptimize(j);
  }
  state.counters["records"] = block->record_count();
}
BENCHMARK(BM_LowerBoundLinearBaseline);

}  // namespace
}  // namespace sh::format

BENCHMARK_MAIN();
