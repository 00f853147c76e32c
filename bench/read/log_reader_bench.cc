// LogReader::read of 100 records at a random offset, side by side in one run:
//   warm:  every block already in the block cache (the steady state of a hot partition)
//   cold:  a reader whose block cache holds nothing, so every read fetches the
//          touched blocks from the object store (pread from the page cache of a
//          LocalObjectStore temp dir), checks CRCs, LZ4-decompresses and parses them;
//          footers and the segment index stay cached in both.
//   cold+footer: a third reader (no block cache either) after source().invalidate()
//          of every segment, so the footer+index suffix read is paid as well.
// Plus read+encode (warm): the CPU cost of a records request without HTTP.
//
// Data: one partition, 10 segments x 5,000 records (~200-byte JSON values),
// 64 KiB LZ4 blocks (as scripts/make-demo-data.sh writes them), written with
// format::SegmentWriter and found through ListingMetadataStore.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include <prometheus/registry.h>

#include "api/records_json.h"
#include "bench/read/bench_data.h"
#include "core/format/segment.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/read/log_reader.h"
#include "core/storage/local_object_store.h"

namespace sh::bench {
namespace {

constexpr int kSegments = 10;
constexpr int kRecordsPerSegment = 5000;
constexpr uint64_t kTotalRecords = uint64_t{kSegments} * kRecordsPerSegment;
constexpr uint32_t kReadRecords = 100;

struct ReaderFixture {
  std::filesystem::path dir;
  std::shared_ptr<LocalObjectStore> store;
  std::vector<std::string> keys;
  prometheus::Registry warm_registry;
  prometheus::Registry cold_registry;
  prometheus::Registry cold_footer_registry;
  std::unique_ptr<read::LogReader> warm;
  std::unique_ptr<read::LogReader> cold;
  std::unique_ptr<read::LogReader> cold_footer;
  std::vector<uint64_t> offsets;  // random read positions
  std::string error;

  ReaderFixture() {
    char tmpl[] = "/tmp/sh-read-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      error = "mkdtemp failed";
      return;
    }
    dir = tmpl;
    auto opened = LocalObjectStore::open(dir.string(), false);
    if (!opened.ok()) {
      error = opened.error().message();
      return;
    }
    store = *opened;
    std::mt19937_64 rng(11);
    for (int s = 0; s < kSegments; ++s) {
      format::SegmentWriter w({.block_bytes = 64u << 10, .compression = format::Compression::kLz4});
      for (int i = 0; i < kRecordsPerSegment; ++i) {
        const uint64_t offset = uint64_t(s) * kRecordsPerSegment + i;
        if (auto st = w.add(make_order_record(offset, 1767225600000 + int64_t(offset) * 250, rng));
            !st.ok()) {
          error = st.error().message();
          return;
        }
      }
      const uint64_t base = w.base_offset();
      auto bytes = w.finish();
      if (!bytes.ok()) {
        error = bytes.error().message();
        return;
      }
      keys.push_back(format::segment_key("", "orders", 0, base));
      if (auto st = store->put(keys.back(), *bytes); !st.ok()) {
        error = st.error().message();
        return;
      }
    }
    auto metadata = std::make_shared<ListingMetadataStore>(store);
    read::LogReaderOptions warm_opts;
    warm_opts.index_ttl = Millis(3600000);  // no metadata listing inside the timed loop
    read::LogReaderOptions cold_opts = warm_opts;
    // 16 bytes over 16 shards: every shard's capacity is 1 byte, so no block is ever kept.
    cold_opts.source.block_cache_bytes = 16;
    warm = std::make_unique<read::LogReader>(metadata, store, warm_opts, warm_registry);
    cold = std::make_unique<read::LogReader>(metadata, store, cold_opts, cold_registry);
    cold_footer =
        std::make_unique<read::LogReader>(metadata, store, cold_opts, cold_footer_registry);

    offsets.resize(1024);
    for (uint64_t& o : offsets) o = rng() % (kTotalRecords - kReadRecords);
    // Warm the warm reader: every block once; load index and footers of both.
    for (uint64_t o = 0; o < kTotalRecords;) {
      auto r = warm->read("orders", 0, request(o, 10000));
      if (!r.ok()) {
        error = r.error().message();
        return;
      }
      o = r->next_offset;
    }
    for (read::LogReader* r : {cold.get(), cold_footer.get()}) {
      if (auto res = r->read("orders", 0, request(0, 1)); !res.ok()) error = res.error().message();
    }
  }

  ~ReaderFixture() {
    warm.reset();
    cold.reset();
    cold_footer.reset();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }

  static read::ReadRequest request(uint64_t offset, uint32_t max_records) {
    read::ReadRequest req;
    req.start = read::StartPosition::at(offset);
    req.max_records = max_records;
    req.max_bytes = 16u << 20;
    return req;
  }
};

// streamhouse_cache_misses_total{cache="block"} of a reader's registry.
double block_cache_misses(prometheus::Registry& registry) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != "streamhouse_cache_misses_total") continue;
    for (const prometheus::ClientMetric& m : family.metric) {
      for (const prometheus::ClientMetric::Label& l : m.label) {
        if (l.name == "cache" && l.value == "block") return m.counter.value;
      }
    }
  }
  return 0;
}

ReaderFixture& reader_fixture() {
  static ReaderFixture f;
  return f;
}

enum class Mode { kWarm, kColdBlocks, kColdFooterAndBlocks };

void run_read(benchmark::State& state, Mode mode, bool encode) {
  ReaderFixture& f = reader_fixture();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  read::LogReader& reader = mode == Mode::kWarm                ? *f.warm
                            : mode == Mode::kColdBlocks        ? *f.cold
                                                               : *f.cold_footer;
  prometheus::Registry& registry = mode == Mode::kWarm          ? f.warm_registry
                                   : mode == Mode::kColdBlocks ? f.cold_registry
                                                               : f.cold_footer_registry;
  const double misses_before = block_cache_misses(registry);
  size_t i = 0;
  int64_t records = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    if (mode == Mode::kColdFooterAndBlocks) {
      for (const std::string& k : f.keys) reader.source().invalidate(k);
    }
    auto r = reader.read("orders", 0, ReaderFixture::request(f.offsets[i++ & 1023], kReadRecords));
    if (!r.ok() || r->records.size() != kReadRecords) {
      state.SkipWithError(r.ok() ? "short read" : r.error().message().c_str());
      break;
    }
    records += static_cast<int64_t>(r->records.size());
    bytes += static_cast<int64_t>(r->bytes);
    if (encode) {
      std::string body = api::encode_records_response("orders", 0, *r, api::RecordFormat::kString);
      benchmark::DoNotOptimize(body.data());
    }
    benchmark::DoNotOptimize(r->records.data());
  }
  state.SetItemsProcessed(records);
  // Blocks fetched from the object store per read: 0 when warm, >= 1 when cold.
  state.counters["block_fetches"] = benchmark::Counter(
      block_cache_misses(registry) - misses_before, benchmark::Counter::kAvgIterations);
  // Encoded record bytes per read (no bytes/s: a warm read references them, copies nothing).
  if (records > 0) state.counters["record_bytes"] = static_cast<double>(bytes) * kReadRecords / records;
}

void BM_LogReaderRead100Warm(benchmark::State& state) { run_read(state, Mode::kWarm, false); }
void BM_LogReaderRead100ColdBlocks(benchmark::State& state) {
  run_read(state, Mode::kColdBlocks, false);
}
void BM_LogReaderRead100ColdFooterAndBlocks(benchmark::State& state) {
  run_read(state, Mode::kColdFooterAndBlocks, false);
}
void BM_ReadAndEncode100Warm(benchmark::State& state) { run_read(state, Mode::kWarm, true); }

BENCHMARK(BM_LogReaderRead100Warm);
BENCHMARK(BM_LogReaderRead100ColdBlocks);
BENCHMARK(BM_LogReaderRead100ColdFooterAndBlocks);
BENCHMARK(BM_ReadAndEncode100Warm);

}  // namespace
}  // namespace sh::bench
