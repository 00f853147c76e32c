// The read path under storage faults a real server cannot be made to produce on
// demand: LogReader over real segment objects (LocalObjectStore +
// ListingMetadataStore) with a FaultInjectingObjectStore in between. Each test
// asserts what a client would notice: an error naming the object (never a wrong
// record), the HTTP status the error maps to, the time a request takes, and
// recovery once the fault is gone.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <map>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "api/errors.h"
#include "core/format/segment.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/read/log_reader.h"
#include "core/read/read_metrics.h"
#include "core/storage/local_object_store.h"
#include "core/storage/metered_object_store.h"
#include "tests/support/fault_injecting_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh::read {
namespace {

using testing::FaultInjectingObjectStore;
using testing::FaultRule;

using SteadyClock = std::chrono::steady_clock;

class ReadFaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto local = LocalObjectStore::open(scratch_.path().string(), true);
    ASSERT_TRUE(local.ok()) << local.error().to_string();
    faults_ = std::make_shared<FaultInjectingObjectStore>(*local);
    metadata_ = std::make_shared<ListingMetadataStore>(faults_);
  }

  // Writes one segment (through the store, which has no rules yet) and returns its key.
  std::string write_segment(const std::string& topic, uint64_t first, uint64_t count,
                            format::Compression compression = format::Compression::kLz4,
                            uint32_t block_bytes = 256, int32_t partition = 0) {
    format::SegmentWriterOptions o;
    o.block_bytes = block_bytes;
    o.compression = compression;
    format::SegmentWriter w(o);
    for (uint64_t off = first; off < first + count; ++off) {
      Record r;
      r.offset = off;
      r.timestamp = 1'000'000 + static_cast<int64_t>(off);
      r.key = fmt::format("k{}", off % 5);
      r.value = fmt::format("value-{}{}{}", off, value_tag_, std::string(off % 23, 'v'));
      if (off % 4 == 0) r.headers.push_back({"h", fmt::format("x{}", off)});
      EXPECT_TRUE(w.add(r).ok());
      model_[topic][off] = r;
    }
    auto bytes = w.finish();
    EXPECT_TRUE(bytes.ok());
    const std::string key = format::segment_key("", topic, partition, first);
    EXPECT_TRUE(faults_->put(key, *bytes, {}).ok());
    return key;
  }

  std::unique_ptr<LogReader> reader(LogReaderOptions o = {}) {
    o.tail_refresh_interval = Millis(0);
    return std::make_unique<LogReader>(metadata_, faults_, o, registry_);
  }

  static ReadRequest at(uint64_t offset, uint32_t max_records = 1000,
                        Deadline deadline = Deadline::never()) {
    ReadRequest req;
    req.start = StartPosition::at(offset);
    req.max_records = max_records;
    req.deadline = deadline;
    return req;
  }

  // "" when `got` holds exactly the model's records from its start offset on,
  // else what differs.
  std::string check_records(const std::string& topic, const ReadResult& got) {
    const auto& model = model_[topic];
    auto it = model.lower_bound(got.start_offset);
    std::vector<HeaderView> scratch;
    for (const RecordRef& ref : got.records) {
      if (it == model.end()) return "a record past the end of the log";
      Record rec = ref.block->record(ref.index, &scratch).to_record();
      if (!(rec == it->second)) return fmt::format("wrong record at offset {}", it->first);
      ++it;
    }
    return "";
  }

  // Sum of the samples of counter `name` whose labels include all of `labels`
  // (0 when none is registered yet).
  double metric(const std::string& name,
                const std::map<std::string, std::string>& labels = {}) {
    double total = 0;
    for (const auto& family : registry_.Collect()) {
      if (family.name != name) continue;
      for (const auto& m : family.metric) {
        bool match = true;
        for (const auto& [k, v] : labels) {
          match = match && std::any_of(m.label.begin(), m.label.end(), [&](const auto& l) {
                    return l.name == k && l.value == v;
                  });
        }
        if (match) total += m.counter.value;
      }
    }
    return total;
  }

  // The reader over faults_ seen through a MeteredObjectStore, as the service
  // wires it: streamhouse_object_store_requests_total counts each injected fault.
  std::unique_ptr<LogReader> metered_reader(LogReaderOptions o = {}) {
    auto metered = std::make_shared<MeteredObjectStore>(
        faults_, std::make_shared<ObjectStoreMetrics>(registry_));
    o.tail_refresh_interval = Millis(0);
    return std::make_unique<LogReader>(metadata_, metered, o, registry_);
  }

  testing::ScratchDir scratch_{"sh-read-faults-test"};
  std::string value_tag_;  // part of every value write_segment writes (to replace an object)
  std::shared_ptr<FaultInjectingObjectStore> faults_;
  std::shared_ptr<MetadataStore> metadata_;
  prometheus::Registry registry_;
  std::map<std::string, std::map<uint64_t, Record>> model_;
};

bool is_corrupt_or_bad_response(Errc c) { return c == Errc::kCorrupt || c == Errc::kBadResponse; }

// ---------------------------------------------------------------- 1. flipped bytes

TEST_F(ReadFaultsTest, FlippedByteInAnyBlockReadIsCorruptNamingTheObjectAndNotCached) {
  for (auto compression : {format::Compression::kLz4, format::Compression::kNone}) {
    const std::string topic =
        compression == format::Compression::kLz4 ? "flip-lz4" : "flip-none";
    const std::string key = write_segment(topic, 100, 40, compression);
    auto r = reader();
    ASSERT_TRUE(r->index(topic, 0).ok());
    auto meta = r->source().meta(key, {});  // warm footer: only block reads meet the faults
    ASSERT_TRUE(meta.ok()) << meta.error().to_string();
    ASSERT_GE((*meta)->index.size(), 4u) << "the test wants several blocks";

    for (size_t b = 0; b < (*meta)->index.size(); ++b) {
      const format::IndexEntry& entry = (*meta)->index[b];
      for (size_t i = 0; i < entry.handle.size; ++i) {
        SCOPED_TRACE(fmt::format("{} block {} byte {}", topic, b, i));
        r->source().invalidate(key);  // cold block (the footer comes back unharmed)
        const uint64_t before = faults_->injected();
        faults_->add(FaultRule::flip("get_range", i).on_key(key).once());
        auto got = r->read(topic, 0, at(entry.first_offset, 1));
        ASSERT_EQ(faults_->injected(), before + 1) << "the flip was not injected";
        ASSERT_FALSE(got.ok()) << "a flipped byte produced " << got->records.size() << " record(s)";
        ASSERT_EQ(got.error().code(), Errc::kCorrupt) << got.error().to_string();
        ASSERT_NE(got.error().message().find(key), std::string::npos)
            << "the error must name the object: " << got.error().message();
        // The fault is gone: the same read is served right (the bad block was not cached).
        got = r->read(topic, 0, at(entry.first_offset, 1));
        ASSERT_TRUE(got.ok()) << "after the fault cleared: " << got.error().to_string();
        ASSERT_EQ(got->records.size(), 1u);
        ASSERT_EQ(check_records(topic, *got), "");
      }
    }
  }
}

TEST_F(ReadFaultsTest, FlippedByteInTheFooterSuffixReadIsCorruptNamingTheObject) {
  const std::string key = write_segment("tail", 0, 40);
  auto r = reader();
  auto snap = r->index("tail", 0);  // the listing store reads (and keeps) its own summary
  ASSERT_TRUE(snap.ok());
  auto clean = r->source().meta(key, {});
  ASSERT_TRUE(clean.ok());
  const uint64_t size = (*clean)->object_size;
  ASSERT_LT(size, SegmentSourceOptions{}.footer_read_bytes) << "one suffix read covers the object";
  const uint64_t index_position = (*clean)->footer.index_position;

  int corrupt = 0;
  for (uint64_t pos = 0; pos < size; ++pos) {
    SCOPED_TRACE(fmt::format("object byte {} of {}", pos, size));
    r->source().invalidate(key);  // the footer is read again, through the fault
    faults_->add(FaultRule::flip("get_suffix", size - 1 - pos, /*from_end=*/true).on_key(key).once());
    const uint64_t before = faults_->injected();
    auto got = r->read("tail", 0, at(0));
    ASSERT_EQ(faults_->injected(), before + 1) << "the flip was not injected";
    const bool checked = pos < format::SegmentHeader::kEncodedLength || pos >= index_position;
    if (checked) {
      // Header, index and footer bytes are all covered by a CRC or a check.
      ASSERT_FALSE(got.ok()) << "a flipped header/index/footer byte produced records";
      ASSERT_EQ(got.error().code(), Errc::kCorrupt) << got.error().to_string();
      ASSERT_NE(got.error().message().find(key), std::string::npos) << got.error().message();
      ++corrupt;
      got = r->read("tail", 0, at(0));
      ASSERT_TRUE(got.ok()) << "the corrupt footer was cached: " << got.error().to_string();
    }
    // Block bytes that arrive with the suffix are not the ones decoded (blocks are
    // read by range), so the read may succeed — but only with the right records.
    if (got.ok()) {
      ASSERT_EQ(got->records.size(), 40u);
      ASSERT_EQ(check_records("tail", *got), "");
    }
  }
  EXPECT_EQ(corrupt, static_cast<int>(format::SegmentHeader::kEncodedLength + size - index_position));
}

TEST_F(ReadFaultsTest, FlippedByteInTheSecondSuffixReadOfALargeIndexIsCorrupt) {
  const std::string key = write_segment("bigindex", 0, 60, format::Compression::kLz4, 128);
  LogReaderOptions o;
  o.source.footer_read_bytes = 64;  // footer only: the index needs a second suffix read
  auto r = reader(o);
  ASSERT_TRUE(r->index("bigindex", 0).ok());
  auto clean = r->source().meta(key, {});
  ASSERT_TRUE(clean.ok());
  const uint64_t tail_bytes = (*clean)->footer.index_length + format::Footer::kEncodedLength;
  ASSERT_GT(tail_bytes, 64u) << "the index must not fit the first read";

  for (uint64_t i = 0; i < tail_bytes; ++i) {
    SCOPED_TRACE(fmt::format("byte {} from the end of the second suffix read", i));
    r->source().invalidate(key);
    faults_->add(FaultRule::flip("get_suffix", i, /*from_end=*/true).on_key(key).after(1).once());
    const uint64_t before = faults_->injected();
    auto got = r->read("bigindex", 0, at(5, 1));
    ASSERT_EQ(faults_->injected(), before + 1) << "the flip was not injected";
    ASSERT_FALSE(got.ok()) << "a flipped index/footer byte produced records";
    ASSERT_EQ(got.error().code(), Errc::kCorrupt) << got.error().to_string();
    ASSERT_NE(got.error().message().find(key), std::string::npos) << got.error().message();
  }
  r->source().invalidate(key);
  auto got = r->read("bigindex", 0, at(5, 1));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(check_records("bigindex", *got), "");
}

// ---------------------------------------------------------------- 2. short and mislabelled answers

TEST_F(ReadFaultsTest, TruncatedBlockReadsAreErrorsNeverRecords) {
  const std::string key = write_segment("short", 0, 60);
  auto r = reader();
  ASSERT_TRUE(r->index("short", 0).ok());
  auto meta = r->source().meta(key, {});
  ASSERT_TRUE(meta.ok());
  const double corrupt_before = metric(std::string(kCorruptReadsMetric), {{"object_kind", "block"}});
  int corrupt = 0;
  for (size_t b : {size_t{0}, (*meta)->index.size() - 1}) {
    const format::IndexEntry& entry = (*meta)->index[b];
    for (uint64_t keep = 0; keep < entry.handle.size; ++keep) {
      SCOPED_TRACE(fmt::format("block {} cut to {} of {} bytes", b, keep, entry.handle.size));
      faults_->add(FaultRule::truncate("get_range", keep).on_key(key).once());
      auto got = r->read("short", 0, at(entry.first_offset));
      ASSERT_FALSE(got.ok()) << "a short block produced " << got->records.size() << " record(s)";
      ASSERT_TRUE(is_corrupt_or_bad_response(got.error().code())) << got.error().to_string();
      ASSERT_NE(got.error().message().find(key), std::string::npos) << got.error().message();
      if (got.error().code() == Errc::kCorrupt) ++corrupt;
    }
  }
  EXPECT_GT(corrupt, 0);
  EXPECT_EQ(metric(std::string(kCorruptReadsMetric), {{"object_kind", "block"}}),
            corrupt_before + corrupt)
      << "every short block that failed its checks is counted as a corrupt block read";
  auto got = r->read("short", 0, at(0));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(got->records.size(), 60u);
  EXPECT_EQ(check_records("short", *got), "");
}

TEST_F(ReadFaultsTest, TruncatedFooterSuffixReadsAreErrorsNeverRecords) {
  const std::string key = write_segment("shorttail", 0, 30);
  auto r = reader();
  ASSERT_TRUE(r->index("shorttail", 0).ok());
  auto clean = r->source().meta(key, {});
  ASSERT_TRUE(clean.ok());
  const uint64_t size = (*clean)->object_size;
  const double corrupt_before = metric(std::string(kCorruptReadsMetric));
  int corrupt = 0;
  for (uint64_t keep = 0; keep < size; ++keep) {
    SCOPED_TRACE(fmt::format("suffix read cut to {} of {} bytes", keep, size));
    faults_->clear();
    // Every suffix read is cut (also a second one the reader may ask for).
    faults_->add(FaultRule::truncate("get_suffix", keep).on_key(key));
    r->source().invalidate(key);
    auto got = r->read("shorttail", 0, at(0));
    ASSERT_FALSE(got.ok()) << "a short footer read produced " << got->records.size() << " record(s)";
    ASSERT_TRUE(is_corrupt_or_bad_response(got.error().code())) << got.error().to_string();
    ASSERT_NE(got.error().message().find(key), std::string::npos) << got.error().message();
    if (got.error().code() == Errc::kCorrupt) ++corrupt;
  }
  EXPECT_GT(corrupt, 0);
  EXPECT_EQ(metric(std::string(kCorruptReadsMetric)), corrupt_before + corrupt)
      << "every short footer/index read that failed its checks is counted (footer or index kind)";
  faults_->clear();
  r->source().invalidate(key);
  auto got = r->read("shorttail", 0, at(0));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(check_records("shorttail", *got), "");
}

TEST_F(ReadFaultsTest, WrongObjectSizeInTheFooterReadIsAnErrorNeverRecords) {
  const std::string key = write_segment("liar", 0, 30);
  auto r = reader();
  ASSERT_TRUE(r->index("liar", 0).ok());
  auto clean = r->source().meta(key, {});
  ASSERT_TRUE(clean.ok());
  const uint64_t size = (*clean)->object_size;
  // Larger and smaller than the truth, around the header+footer minimum, huge.
  const std::vector<uint64_t> lies = {0,        1,        47,       79,       80,
                                      size / 2, size - 1, size + 1, size + 48, 2 * size,
                                      uint64_t{1} << 40, UINT64_MAX};
  std::vector<std::string> wrong_code;
  for (uint64_t lie : lies) {
    SCOPED_TRACE(fmt::format("object_size reported as {} (truly {})", lie, size));
    faults_->clear();
    faults_->add(FaultRule::wrong_length("get_suffix", lie).on_key(key));
    r->source().invalidate(key);
    auto got = r->read("liar", 0, at(0));
    ASSERT_FALSE(got.ok()) << "a mislabelled footer read produced " << got->records.size()
                           << " record(s)";
    EXPECT_NE(got.error().message().find(key), std::string::npos) << got.error().message();
    if (!is_corrupt_or_bad_response(got.error().code())) {
      const api::ApiError api = api::to_api_error(got.error());
      wrong_code.push_back(fmt::format("object_size {} -> {} -> HTTP {} error_code {}", lie,
                                       got.error().to_string(), api.status(), api.error_code));
    }
  }
  std::string all;
  for (const auto& w : wrong_code) all.append("\n  ").append(w);
  EXPECT_TRUE(wrong_code.empty())
      << "a store answer that contradicts itself (more bytes than the object size it reports) "
         "must be kCorrupt/kBadResponse (HTTP 502), not a client error:"
      << all;
}

TEST_F(ReadFaultsTest, WrongObjectSizeOnBlockReadsNeverChangesRecords) {
  const std::string key = write_segment("liar2", 0, 60);
  auto r = reader();
  ASSERT_TRUE(r->index("liar2", 0).ok());
  ASSERT_TRUE(r->source().meta(key, {}).ok());
  for (uint64_t lie : {uint64_t{0}, uint64_t{1}, uint64_t{100}, UINT64_MAX}) {
    faults_->add(FaultRule::wrong_length("get_range", lie).on_key(key));
    auto got = r->read("liar2", 0, at(0));
    // Blocks are checked against the index, not the reported size: either an
    // error or exactly the right records.
    if (got.ok()) {
      EXPECT_EQ(got->records.size(), 60u) << "object_size " << lie;
      EXPECT_EQ(check_records("liar2", *got), "") << "object_size " << lie;
    } else {
      EXPECT_TRUE(is_corrupt_or_bad_response(got.error().code())) << got.error().to_string();
    }
    faults_->clear();
    r->source().invalidate(key);
  }
}

// ---------------------------------------------------------------- 3. store errors → HTTP

TEST_F(ReadFaultsTest, StoreErrorsReachTheClientAsTheContractStatuses) {
  const std::string key = write_segment("err", 0, 20);
  auto r = reader();
  ASSERT_TRUE(r->index("err", 0).ok());
  struct Case {
    Errc injected;
    int status;
    int error_code;
  };
  const Case cases[] = {
      {Errc::kUnavailable, 503, api::kStorageUnavailable},
      {Errc::kPermissionDenied, 503, api::kStorageDenied},
      {Errc::kTimeout, 504, api::kUpstreamTimeout},
      {Errc::kNotFound, 502, api::kBadUpstreamResponse},  // a segment the metadata lists is gone
  };
  for (const char* op : {"get_range", "get_suffix"}) {
    for (const Case& c : cases) {
      SCOPED_TRACE(fmt::format("{} fails with {}", op, errc_name(c.injected)));
      r->source().invalidate(key);  // cold footer and block
      // A missing segment makes the reader reload the index and try once more, so
      // that fault must persist to reach the client; the others fire once.
      FaultRule rule = FaultRule::error(op, c.injected, "injected store failure").on_key(key);
      if (c.injected != Errc::kNotFound) rule.once();
      faults_->add(rule);
      auto got = r->read("err", 0, at(0));
      faults_->clear();
      ASSERT_FALSE(got.ok()) << "the read succeeded through a failing store";
      EXPECT_EQ(got.error().code(), c.injected) << got.error().to_string();
      const api::ApiError api = api::to_api_error(got.error());
      EXPECT_EQ(api.status(), c.status) << api.message;
      EXPECT_EQ(api.error_code, c.error_code) << api.message;
      const auto resp = api::error_response(api);
      EXPECT_EQ(resp.status, c.status);
      const bool retry_after = std::any_of(resp.headers.begin(), resp.headers.end(),
                                           [](const auto& h) { return h.first == "Retry-After"; });
      EXPECT_EQ(retry_after, c.status == 503) << "Retry-After goes with 503 only";
      EXPECT_NE(resp.body.find(fmt::format("\"error_code\":{}", c.error_code)), std::string::npos)
          << resp.body;
      // The fault was transient: the next read is served.
      got = r->read("err", 0, at(0));
      ASSERT_TRUE(got.ok()) << "after the fault: " << got.error().to_string();
      EXPECT_EQ(got->records.size(), 20u);
      EXPECT_EQ(check_records("err", *got), "");
    }
  }
}

// ---------------------------------------------------------------- 4. slow store

TEST_F(ReadFaultsTest, StoreSlowerThanTheDeadlineTimesOutAtTheDeadline) {
  const std::string key = write_segment("slow", 0, 20);
  auto r = reader();
  ASSERT_TRUE(r->index("slow", 0).ok());
  for (const char* op : {"get_suffix", "get_range"}) {
    SCOPED_TRACE(op);
    if (std::string(op) == "get_range") {
      ASSERT_TRUE(r->source().meta(key, {}).ok());  // warm footer: the block read is the slow one
    }
    faults_->add(FaultRule::delay(op, 10'000).on_key(key));
    const auto start = SteadyClock::now();
    auto got = r->read("slow", 0, at(0, 1000, Deadline::after(Millis(100))));
    const auto took = std::chrono::duration_cast<Millis>(SteadyClock::now() - start);
    ASSERT_FALSE(got.ok()) << "a read through a 10 s stall answered records";
    EXPECT_EQ(got.error().code(), Errc::kTimeout) << got.error().to_string();
    EXPECT_EQ(api::to_api_error(got.error()).status(), 504);
    EXPECT_GE(took, Millis(90)) << "gave up before the deadline";
    EXPECT_LT(took, Millis(900)) << "took " << took.count() << " ms: the request deadline was not "
                                    "passed down to the store";
    faults_->clear();
  }
  // A store slower than usual but within the deadline only slows the read.
  r->source().invalidate(key);
  faults_->add(FaultRule::delay("", 20).on_key(key));
  auto got = r->read("slow", 0, at(0, 1000, Deadline::after(Millis(2000))));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(check_records("slow", *got), "");
}

// ---------------------------------------------------------------- 5. single-flight

TEST_F(ReadFaultsTest, ConcurrentMissesOfAFailingBlockShareOneFetchAndOneError) {
  const std::string key = write_segment("sf", 0, 50, format::Compression::kLz4, 1 << 20);
  auto r = reader();
  ASSERT_TRUE(r->index("sf", 0).ok());
  ASSERT_TRUE(r->source().meta(key, {}).ok());  // only the block read races

  auto race = [&](int n) {
    std::vector<Result<ReadResult>> results(n, Error(Errc::kInternal, "not run"));
    std::latch start(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i) {
      threads.emplace_back([&, i] {
        start.arrive_and_wait();
        results[i] = r->read("sf", 0, at(7, 5));
      });
    }
    for (auto& t : threads) t.join();
    return results;
  };

  // The one fetch is slow (so all 8 readers pile up) and then fails.
  faults_->add(FaultRule::delay("get_range", 200).on_key(key).once());
  faults_->add(FaultRule::error("get_range", Errc::kUnavailable, "store down").on_key(key).once());
  uint64_t fetches = faults_->calls("get_range");
  auto results = race(8);
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_FALSE(results[i].ok()) << "reader " << i << " got records from a failed fetch";
    EXPECT_EQ(results[i].error().code(), Errc::kUnavailable)
        << "reader " << i << ": " << results[i].error().to_string();
  }
  EXPECT_EQ(faults_->calls("get_range") - fetches, 1u)
      << "8 concurrent misses of one block must cost one fetch, also when it fails";

  // The store recovered: again 8 readers, one (slow) fetch serves them all.
  faults_->clear();
  faults_->add(FaultRule::delay("get_range", 200).on_key(key).once());
  fetches = faults_->calls("get_range");
  results = race(8);
  for (size_t i = 0; i < results.size(); ++i) {
    ASSERT_TRUE(results[i].ok()) << "reader " << i << ": " << results[i].error().to_string();
    EXPECT_EQ(results[i]->records.size(), 5u);
    EXPECT_EQ(check_records("sf", *results[i]), "") << "reader " << i;
  }
  EXPECT_EQ(faults_->calls("get_range") - fetches, 1u) << "one fetch after the fault cleared";
  fetches = faults_->calls("get_range");
  ASSERT_TRUE(r->read("sf", 0, at(7, 5)).ok());
  EXPECT_EQ(faults_->calls("get_range"), fetches) << "the recovered block is cached";
}

// ---------------------------------------------------------------- 6. metadata refresh failure

double counter_value(prometheus::Registry& registry, const std::string& name) {
  for (const auto& family : registry.Collect()) {
    if (family.name == name && !family.metric.empty()) return family.metric[0].counter.value;
  }
  return -1;
}

TEST_F(ReadFaultsTest, ListingFailureAfterTheFirstLoadServesWhatIsIndexed) {
  write_segment("deg", 0, 10);
  auto clock = std::make_shared<ManualClock>(1'700'000'000'000);
  LogReaderOptions o;
  o.index_ttl = Millis(1000);
  o.tail_refresh_interval = Millis(0);
  LogReader r(metadata_, faults_, o, registry_, clock);
  auto got = r.read("deg", 0, at(0));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(got->high_watermark, 10u);

  // From now on listing fails; a new segment arrives that only a listing would reveal.
  faults_->add(FaultRule::error("list", Errc::kUnavailable, "listing down"));
  write_segment("deg", 10, 10);
  clock->advance(Millis(5000));  // the index TTL has passed
  const uint64_t lists_before = faults_->calls("list");
  const double errors_before =
      counter_value(registry_, "streamhouse_segment_index_refresh_errors_total");

  got = r.read("deg", 0, at(3));
  ASSERT_TRUE(got.ok()) << "an indexed segment must stay readable while listing fails: "
                        << got.error().to_string();
  EXPECT_EQ(got->records.size(), 7u);
  EXPECT_EQ(check_records("deg", *got), "");
  EXPECT_EQ(got->high_watermark, 10u) << "the old watermark";

  got = r.read("deg", 0, at(10));  // at the (old) end: a tail refresh that fails
  ASSERT_TRUE(got.ok()) << "a read at the high watermark must answer while listing fails: "
                        << got.error().to_string();
  EXPECT_TRUE(got->records.empty());
  EXPECT_EQ(got->high_watermark, 10u);
  EXPECT_EQ(got->next_offset, 10u);

  got = r.read("deg", 0, at(15));  // past the known end
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), Errc::kOffsetOutOfRange) << got.error().to_string();
  auto info = r.partition_info("deg", 0);  // what the 416 body carries
  ASSERT_TRUE(info.ok()) << info.error().to_string();
  EXPECT_EQ(info->high_watermark, 10u);

  EXPECT_GT(faults_->calls("list"), lists_before) << "the reader did try to refresh";
  EXPECT_GT(counter_value(registry_, "streamhouse_segment_index_refresh_errors_total"),
            errors_before)
      << "failed refreshes are visible to the operator";

  // A partition never indexed cannot be served: a 503, not a crash or a 404.
  write_segment("fresh", 0, 5);
  got = r.read("fresh", 0, at(0));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code(), Errc::kUnavailable) << got.error().to_string();
  EXPECT_EQ(api::to_api_error(got.error()).status(), 503);

  // Listing recovers: the new segment and the new partition appear.
  faults_->clear();
  clock->advance(Millis(5000));
  got = r.read("deg", 0, at(10));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(got->records.size(), 10u);
  EXPECT_EQ(got->high_watermark, 20u);
  EXPECT_EQ(check_records("deg", *got), "");
  got = r.read("fresh", 0, at(0));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(got->records.size(), 5u);
}

// ---------------------------------------------------------------- 7. the object changes under the reader

TEST_F(ReadFaultsTest, ObjectReplacedBetweenTwoReadsIs502ThenTheNewObjectIsServed) {
  const std::string key = write_segment("swap", 0, 40);
  auto r = metered_reader();
  auto first = r->read("swap", 0, at(0, 1));  // footer and block 0 are now cached
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  ASSERT_EQ(check_records("swap", *first), "");
  auto meta = r->source().meta(key, {});
  ASSERT_TRUE(meta.ok());
  ASSERT_GE((*meta)->index.size(), 3u) << "the test wants a block that is not cached yet";
  const uint64_t cold_offset = (*meta)->index.back().first_offset;

  // Another writer replaces the object: same offsets (so the listing still fits),
  // other values, a new ETag. The reader still holds the old footer.
  value_tag_ = "-second-version";
  ASSERT_EQ(write_segment("swap", 0, 40), key);
  const double changed_before = metric("streamhouse_object_store_requests_total",
                                       {{"operation", "get_range"}, {"outcome", "precondition_failed"}});

  auto got = r->read("swap", 0, at(cold_offset, 1));
  ASSERT_FALSE(got.ok()) << "a block of the new object was decoded with the old footer ("
                         << got->records.size() << " record(s))";
  EXPECT_EQ(got.error().code(), Errc::kPreconditionFailed) << got.error().to_string();
  EXPECT_NE(got.error().message().find(key), std::string::npos) << got.error().message();
  const api::ApiError api = api::to_api_error(got.error());
  EXPECT_EQ(api.status(), 502);
  EXPECT_EQ(api.error_code, api::kBadUpstreamResponse);
  EXPECT_EQ(api.message.rfind("segment object changed while reading: ", 0), 0u) << api.message;
  EXPECT_NE(api.message.find(key), std::string::npos) << api.message;
  EXPECT_EQ(metric("streamhouse_object_store_requests_total",
                   {{"operation", "get_range"}, {"outcome", "precondition_failed"}}),
            changed_before + 1)
      << "the changed object is counted once";

  // The old footer and blocks were dropped: the next reads see the new object,
  // also at offset 0, whose old block was cached.
  got = r->read("swap", 0, at(cold_offset, 1));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(check_records("swap", *got), "");
  got = r->read("swap", 0, at(0));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(got->records.size(), 40u);
  EXPECT_EQ(check_records("swap", *got), "") << "a block of the old object was served after the change";
}

TEST_F(ReadFaultsTest, BlockRangePastTheObjectEndIsCorruptCountedAndDropsTheFooter) {
  const std::string key = write_segment("pastend", 0, 40);
  auto r = metered_reader();
  ASSERT_TRUE(r->index("pastend", 0).ok());
  auto meta = r->source().meta(key, {});
  ASSERT_TRUE(meta.ok());
  ASSERT_GE((*meta)->index.size(), 3u);
  const format::IndexEntry entry = (*meta)->index[2];
  // What S3ObjectStore answers when the 206 says the object ends before the range does.
  faults_->add(FaultRule::error("get_range", Errc::kOutOfRange,
                                "range runs past the end of the object (size 100)")
                   .on_key(key)
                   .once());
  const double corrupt_before = metric(std::string(kCorruptReadsMetric), {{"object_kind", "block"}});
  const double footer_misses_before =
      metric("streamhouse_cache_misses_total", {{"cache", "segment_footer"}});

  auto got = r->read("pastend", 0, at(entry.first_offset, 1));
  ASSERT_FALSE(got.ok()) << "records from a block the object does not hold";
  EXPECT_EQ(got.error().code(), Errc::kCorrupt) << got.error().to_string();
  EXPECT_NE(got.error().message().find(
                fmt::format("{}: block at {} is not inside the object", key, entry.handle.position)),
            std::string::npos)
      << got.error().message();
  const api::ApiError api = api::to_api_error(got.error());
  EXPECT_EQ(api.status(), 502);
  EXPECT_EQ(api.error_code, api::kCorruptSegment);
  EXPECT_EQ(api.message.rfind("corrupt segment: ", 0), 0u) << api.message;
  EXPECT_EQ(metric(std::string(kCorruptReadsMetric), {{"object_kind", "block"}}), corrupt_before + 1);
  EXPECT_EQ(metric("streamhouse_object_store_requests_total",
                   {{"operation", "get_range"}, {"outcome", "out_of_range"}}),
            1);

  // The footer that named the block was dropped: the next read loads it again
  // (one footer-cache miss) and is served.
  got = r->read("pastend", 0, at(entry.first_offset, 1));
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_EQ(check_records("pastend", *got), "");
  EXPECT_EQ(metric("streamhouse_cache_misses_total", {{"cache", "segment_footer"}}),
            footer_misses_before + 1)
      << "the footer must be read again after its block was not inside the object";
}

// ---------------------------------------------------------------- 8. every store fault is counted

TEST_F(ReadFaultsTest, EveryStoreFaultIsCountedByOperationAndOutcome) {
  const std::string key = write_segment("count", 0, 20);
  auto r = metered_reader();
  ASSERT_TRUE(r->index("count", 0).ok());
  for (Errc code : {Errc::kUnavailable, Errc::kTimeout, Errc::kPermissionDenied,
                    Errc::kPreconditionFailed, Errc::kBadResponse}) {
    for (const char* op : {"get_suffix", "get_range"}) {
      SCOPED_TRACE(fmt::format("{} fails with {}", op, errc_name(code)));
      r->source().invalidate(key);
      if (std::string(op) == "get_range") {
        ASSERT_TRUE(r->source().meta(key, {}).ok());  // warm footer: the block read fails
      }
      const std::map<std::string, std::string> labels = {
          {"operation", op}, {"outcome", std::string(errc_name(code))}};
      const double before = metric("streamhouse_object_store_requests_total", labels);
      faults_->add(FaultRule::error(op, code).on_key(key).once());
      auto got = r->read("count", 0, at(0));
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.error().code(), code) << got.error().to_string();
      EXPECT_EQ(metric("streamhouse_object_store_requests_total", labels), before + 1);
      got = r->read("count", 0, at(0));
      ASSERT_TRUE(got.ok()) << got.error().to_string();
    }
  }
  EXPECT_GT(metric("streamhouse_object_store_requests_total", {{"outcome", "ok"}}), 0);
}

}  // namespace
}  // namespace sh::read
