// Segment lookup in a partition's index, side by side in one run:
//   IndexSnapshot::segment_for_offset (binary search) vs a linear scan of the
//   same segment list, over 100 and 10,000 segments, random offsets.
// Before timing, both must give the same answer for every query.
#include <benchmark/benchmark.h>

#include <map>
#include <random>
#include <string>

#include "core/format/segment.h"
#include "core/read/segment_index.h"

namespace sh::bench {
namespace {

// Segments of 1,000 offsets each; every 16th is followed by a 100-offset gap
// (compaction / retention holes), so some queries land between segments.
read::IndexSnapshot make_snapshot(size_t segments) {
  read::IndexSnapshot snap;
  uint64_t base = 0;
  for (size_t i = 0; i < segments; ++i) {
    SegmentInfo s;
    s.key = format::segment_key("", "orders", 0, base);
    s.base_offset = base;
    s.last_offset = base + 999;
    s.record_count = 1000;
    s.size_bytes = 1u << 20;
    snap.segments.push_back(std::move(s));
    base += 1000 + (i % 16 == 15 ? 100 : 0);
  }
  snap.high_watermark = snap.segments.back().last_offset + 1;
  return snap;
}

size_t linear_segment_for_offset(const read::IndexSnapshot& snap, uint64_t offset) {
  size_t i = 0;
  while (i < snap.segments.size() && snap.segments[i].last_offset < offset) ++i;
  return i;
}

struct IndexFixture {
  read::IndexSnapshot snap;
  std::vector<uint64_t> queries;
  bool agree = true;
};

const IndexFixture& index_fixture(size_t segments) {
  static std::map<size_t, IndexFixture> cache;
  auto it = cache.find(segments);
  if (it != cache.end()) return it->second;
  IndexFixture f;
  f.snap = make_snapshot(segments);
  std::mt19937_64 rng(5);
  f.queries.resize(4096);
  for (uint64_t& q : f.queries) q = rng() % f.snap.high_watermark;
  for (uint64_t q : f.queries) {
    if (f.snap.segment_for_offset(q) != linear_segment_for_offset(f.snap, q)) f.agree = false;
  }
  return cache.emplace(segments, std::move(f)).first->second;
}

void BM_SegmentForOffsetBinary(benchmark::State& state) {
  const IndexFixture& f = index_fixture(static_cast<size_t>(state.range(0)));
  if (!f.agree) {
    state.SkipWithError("segment_for_offset disagrees with the linear scan");
    return;
  }
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(f.snap.segment_for_offset(f.queries[i++ & 4095]));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SegmentForOffsetBinary)->Arg(100)->Arg(10000);

void BM_SegmentForOffsetLinearBaseline(benchmark::State& state) {
  const IndexFixture& f = index_fixture(static_cast<size_t>(state.range(0)));
  if (!f.agree) {
    state.SkipWithError("segment_for_offset disagrees with the linear scan");
    return;
  }
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(linear_segment_for_offset(f.snap, f.queries[i++ & 4095]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SegmentForOffsetLinearBaseline)->Arg(100)->Arg(10000);

}  // namespace
}  // namespace sh::bench
