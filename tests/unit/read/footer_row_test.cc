// A segment's footer is checked against its metadata row on every read
// (PostgreSQL mode's defect: an object holding more, fewer or other records
// than its row was served as 200). The row here comes from a MetadataStore
// that reports one segment's end_offset 100 below what its object holds, as a
// stale or hand-edited PostgreSQL row would.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "core/format/segment.h"
#include "core/metadata/listing_metadata_store.h"
#include "core/read/log_reader.h"
#include "core/storage/local_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh::read {
namespace {

// Listing metadata with one lie: segment rows whose base is `base` claim
// `records_short` fewer records (and an end_offset that much lower).
class LyingMetadata final : public MetadataStore {
 public:
  LyingMetadata(std::shared_ptr<MetadataStore> inner, uint64_t base, uint64_t records_short)
      : inner_(std::move(inner)), base_(base), short_(records_short) {}
  Result<std::vector<TopicInfo>> list_topics(Deadline d) override { return inner_->list_topics(d); }
  Result<TopicInfo> get_topic(std::string_view t, Deadline d) override { return inner_->get_topic(t, d); }
  Result<PartitionInfo> get_partition(std::string_view t, int32_t p, Deadline d) override {
    SH_ASSIGN_OR_RETURN(PartitionInfo info, inner_->get_partition(t, p, d));
    info.high_watermark -= short_;
    return info;
  }
  Result<std::vector<SegmentInfo>> list_segments(std::string_view t, int32_t p,
                                                 std::optional<uint64_t> after, Deadline d) override {
    SH_ASSIGN_OR_RETURN(auto segs, inner_->list_segments(t, p, after, d));
    for (auto& s : segs) lie(s);
    return segs;
  }
  Result<PartitionSegments> load_partition(std::string_view t, int32_t p, Deadline d) override {
    SH_ASSIGN_OR_RETURN(PartitionSegments ps, inner_->load_partition(t, p, d));
    for (auto& s : ps.segments) {
      s.footer_known = true;  // as a PostgreSQL row always is
      lie(s);
    }
    ps.partition.high_watermark -= short_;
    return ps;
  }
  Status register_segment(std::string_view t, int32_t p, const SegmentInfo& s, Deadline d) override {
    return inner_->register_segment(t, p, s, d);
  }
  Result<std::vector<std::string>> list_groups(Deadline d) override { return inner_->list_groups(d); }
  Result<std::vector<CommittedOffset>> get_group_offsets(std::string_view g, Deadline d) override {
    return inner_->get_group_offsets(g, d);
  }
  Status commit_offsets(std::string_view g, const std::vector<OffsetCommit>& o, Deadline d) override {
    return inner_->commit_offsets(g, o, d);
  }
  Status ping(Deadline d) override { return inner_->ping(d); }
  std::string describe() const override { return "lying"; }

 private:
  void lie(SegmentInfo& s) const {
    if (s.base_offset != base_ || !s.footer_known) return;
    s.last_offset -= short_;
    s.record_count -= short_;
  }
  std::shared_ptr<MetadataStore> inner_;
  uint64_t base_, short_;
};

TEST(FooterRowCheck, AnObjectHoldingMoreThanItsRowIsA502NamingBothNeverRecordsPastTheRow) {
  sh::testing::ScratchDir scratch;
  auto local = LocalObjectStore::open(scratch.path().string(), true);
  ASSERT_TRUE(local.ok());
  std::shared_ptr<LocalObjectStore> store = *local;
  format::SegmentWriter w(format::SegmentWriterOptions{});
  for (uint64_t o = 0; o < 300; ++o) {
    Record r;
    r.offset = o;
    r.value = fmt::format("v{}", o);
    ASSERT_TRUE(w.add(r).ok());
  }
  auto bytes = w.finish();
  ASSERT_TRUE(bytes.ok());
  const std::string key = format::segment_key("", "t", 0, 0);
  ASSERT_TRUE(store->put(key, *bytes, {}).ok());

  prometheus::Registry registry;
  auto lying = std::make_shared<LyingMetadata>(std::make_shared<ListingMetadataStore>(store), 0, 100);
  LogReader reader(lying, store, LogReaderOptions{}, registry);
  ReadRequest req;
  req.start = StartPosition::at(150);
  req.max_records = 1000;
  auto r = reader.read("t", 0, req);
  ASSERT_FALSE(r.ok()) << "served " << r->records.size() << " records the row does not agree with";
  EXPECT_EQ(r.error().code(), Errc::kCorrupt);
  EXPECT_NE(r.error().message().find(key), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("0..199"), std::string::npos) << "names the row: " << r.error().message();
  EXPECT_NE(r.error().message().find("0..299"), std::string::npos) << "names the footer: " << r.error().message();

  // The honest row is served.
  prometheus::Registry registry2;
  LogReader honest(std::make_shared<ListingMetadataStore>(store), store, LogReaderOptions{}, registry2);
  auto ok = honest.read("t", 0, req);
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_EQ(ok->records.size(), 150u);
}

}  // namespace
}  // namespace sh::read
