#include "core/metadata/listing_metadata_store.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <map>
#include <tuple>
#include <thread>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/format/names.h"
#include "core/format/segment.h"

namespace sh {

namespace {

constexpr uint64_t kMinFooterReadBytes = 64;
// Footers of a cold partition are fetched with up to this many reads in flight.
constexpr size_t kMaxParallelFooterReads = 8;

// "123" -> 123 for canonical decimal partition ids in [0, 2^31-1].
std::optional<int32_t> parse_partition(std::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v > std::numeric_limits<int32_t>::max()) return std::nullopt;
  return static_cast<int32_t>(v);
}

// All pages of a delimiter listing.
Status list_everything(ObjectStore& store, ListOptions opts, std::vector<ObjectInfo>* objects,
                       std::vector<std::string>* prefixes) {
  for (;;) {
    SH_ASSIGN_OR_RETURN(ListPage page, store.list(opts));
    for (auto& o : page.objects) objects->push_back(std::move(o));
    for (auto& p : page.common_prefixes) prefixes->push_back(std::move(p));
    if (page.next_continuation_token.empty()) return ok_status();
    opts.continuation_token = std::move(page.next_continuation_token);
  }
}

Status check_topic(std::string_view topic) {
  if (!format::valid_topic_name(topic)) {
    return invalid_argument(format::invalid_name_message("topic name", topic));
  }
  return ok_status();
}

Status check_partition(int32_t partition) {
  if (partition < 0) return invalid_argument("invalid partition " + std::to_string(partition));
  return ok_status();
}

Error topic_not_found(std::string_view topic) {
  return Error(Errc::kTopicNotFound, "topic '" + std::string(topic) + "' not found");
}

Error partition_not_found(std::string_view topic, int32_t partition) {
  return Error(Errc::kPartitionNotFound, "partition " + std::to_string(partition) +
                                             " of topic '" + std::string(topic) + "' not found");
}

}  // namespace

ListingMetadataStore::ListingMetadataStore(std::shared_ptr<ObjectStore> store,
                                           ListingOptions opts)
    : store_(std::move(store)), opts_(std::move(opts)) {
  if (!opts_.prefix.empty() && opts_.prefix.back() != '/') opts_.prefix.push_back('/');
  opts_.footer_read_bytes = std::max(opts_.footer_read_bytes, kMinFooterReadBytes);
  if (!opts_.clock) opts_.clock = system_clock();
}

std::string ListingMetadataStore::topic_prefix(std::string_view topic) const {
  return opts_.prefix + std::string(topic) + "/";
}

std::string ListingMetadataStore::partition_prefix(std::string_view topic,
                                                   int32_t partition) const {
  return topic_prefix(topic) + std::to_string(partition) + "/";
}

std::string ListingMetadataStore::group_key(std::string_view group) const {
  return opts_.prefix + std::string(kGroupsDir) + std::string(group) + ".json";
}

size_t ListingMetadataStore::cached_segments() const {
  std::lock_guard<std::mutex> lock(cache_mu_);
  return footer_cache_.size();
}

// ---------------------------------------------------------------- topics

Result<std::vector<int32_t>> ListingMetadataStore::partitions_of(std::string_view topic,
                                                                 bool* exists) {
  ListOptions lo;
  lo.prefix = topic_prefix(topic);
  lo.delimiter = "/";
  std::vector<ObjectInfo> objects;
  std::vector<std::string> prefixes;
  SH_RETURN_IF_ERROR(list_everything(*store_, lo, &objects, &prefixes));
  *exists = !objects.empty() || !prefixes.empty();
  std::vector<int32_t> out;
  for (const std::string& p : prefixes) {
    std::string_view name(p);
    name.remove_prefix(lo.prefix.size());
    name.remove_suffix(1);  // the '/'
    if (auto id = parse_partition(name)) out.push_back(*id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::vector<TopicInfo>> ListingMetadataStore::list_topics() {
  ListOptions lo;
  lo.prefix = opts_.prefix;
  lo.delimiter = "/";
  std::vector<ObjectInfo> objects;
  std::vector<std::string> prefixes;
  SH_RETURN_IF_ERROR(list_everything(*store_, lo, &objects, &prefixes));
  std::vector<TopicInfo> out;
  for (const std::string& p : prefixes) {
    std::string_view name(p);
    name.remove_prefix(lo.prefix.size());
    name.remove_suffix(1);
    if (!format::valid_topic_name(name)) continue;
    bool exists = false;
    SH_ASSIGN_OR_RETURN(std::vector<int32_t> parts, partitions_of(name, &exists));
    TopicInfo t;
    t.name = std::string(name);
    t.partition_count = static_cast<int32_t>(parts.size());
    t.partitions = std::move(parts);
    out.push_back(std::move(t));
  }
  return out;
}

Result<TopicInfo> ListingMetadataStore::get_topic(std::string_view topic) {
  SH_RETURN_IF_ERROR(check_topic(topic));
  bool exists = false;
  SH_ASSIGN_OR_RETURN(std::vector<int32_t> parts, partitions_of(topic, &exists));
  if (!exists) return topic_not_found(topic);
  TopicInfo t;
  t.name = std::string(topic);
  t.partition_count = static_cast<int32_t>(parts.size());
  t.partitions = std::move(parts);
  return t;
}

// ---------------------------------------------------------------- segments

Result<SegmentInfo> ListingMetadataStore::read_footer(const ObjectInfo& obj,
                                                      uint64_t name_base_offset) {
  footer_reads_.fetch_add(1, std::memory_order_relaxed);
  std::shared_ptr<const format::SegmentMeta> shared;
  if (opts_.footer_loader) {
    SH_ASSIGN_OR_RETURN(shared, opts_.footer_loader(obj.key));
  } else {
    // No if_match: listing and GET ETags need not share a format across stores. A
    // replacement racing this read is cached under the listed ETag and re-read at
    // the next listing, which shows the new ETag.
    ReadOptions ro;
    SH_ASSIGN_OR_RETURN(RangeRead tail, store_->get_suffix(obj.key, opts_.footer_read_bytes, ro));
    SH_ASSIGN_OR_RETURN(format::TailParse parsed,
                        format::parse_tail(tail.data, tail.object_size, tail.etag, obj.key));
    if (!parsed.meta) {
      footer_reads_.fetch_add(1, std::memory_order_relaxed);
      const uint64_t need = parsed.need_suffix_bytes;
      SH_ASSIGN_OR_RETURN(tail, store_->get_suffix(obj.key, need, ro));
      SH_ASSIGN_OR_RETURN(parsed,
                          format::parse_tail(tail.data, tail.object_size, tail.etag, obj.key));
      if (!parsed.meta) {
        return corrupt(obj.key + ": footer and index not found in the last " +
                       std::to_string(tail.data.size()) + " bytes of a " +
                       std::to_string(tail.object_size) + "-byte object");
      }
    }
    shared = std::make_shared<const format::SegmentMeta>(std::move(*parsed.meta));
  }
  const format::SegmentMeta& meta = *shared;
  if (meta.footer.base_offset != name_base_offset) {
    return corrupt(obj.key + ": file name says base offset " + std::to_string(name_base_offset) +
                   " but the footer says " + std::to_string(meta.footer.base_offset));
  }
  SegmentInfo info;
  info.key = obj.key;
  info.base_offset = meta.footer.base_offset;
  info.last_offset = meta.footer.last_offset;
  for (const format::IndexEntry& e : meta.index) info.record_count += e.record_count;
  info.size_bytes = meta.object_size;
  info.max_timestamp = meta.footer.max_timestamp;
  return info;
}

Result<SegmentInfo> ListingMetadataStore::segment_info(const ObjectInfo& obj,
                                                       uint64_t name_base_offset) {
  // Etag identifies the object version; stores without etags fall back to the size.
  const std::string version = obj.etag.empty() ? "size:" + std::to_string(obj.size) : obj.etag;
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = footer_cache_.find(obj.key);
    if (it != footer_cache_.end() && it->second.etag == version) return it->second.info;
  }
  auto loaded = footer_flight_.run(obj.key + "\n" + version, [&]() -> Result<SegmentInfo> {
    {
      std::lock_guard<std::mutex> lock(cache_mu_);  // a racing load may have finished
      auto it = footer_cache_.find(obj.key);
      if (it != footer_cache_.end() && it->second.etag == version) return it->second.info;
    }
    SH_ASSIGN_OR_RETURN(SegmentInfo info, read_footer(obj, name_base_offset));
    std::lock_guard<std::mutex> lock(cache_mu_);
    footer_cache_[obj.key] = CachedSegment{version, info.size_bytes, info};
    return info;
  });
  return loaded;
}

Result<std::vector<SegmentInfo>> ListingMetadataStore::load_segments(
    std::string_view topic, int32_t partition, std::optional<uint64_t> after, bool* any_object) {
  const std::string pprefix = partition_prefix(topic, partition);
  const std::string start_after =
      after ? format::segment_key(opts_.prefix, topic, partition, *after) : std::string();
  SH_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, list_all(*store_, pprefix, start_after));
  *any_object = !objects.empty();

  struct Candidate {
    const ObjectInfo* obj;
    uint64_t base;
  };
  std::vector<Candidate> segs;
  for (const ObjectInfo& o : objects) {
    std::string_view rest(o.key);
    rest.remove_prefix(pprefix.size());
    if (rest.find('/') != std::string_view::npos) continue;  // deeper: not a segment
    if (auto base = format::parse_segment_file_name(rest)) segs.push_back({&o, *base});
  }
  // Keys sort by base offset (20 zero-padded digits), so segs is already ordered.

  std::vector<std::optional<Result<SegmentInfo>>> results(segs.size());
  std::vector<size_t> cold;
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (!after) {
      // A full listing: forget segments of this partition that are gone (retention),
      // so the cache holds only live segments.
      size_t next_seg = 0;
      for (auto it = footer_cache_.lower_bound(pprefix);
           it != footer_cache_.end() && it->first.starts_with(pprefix);) {
        while (next_seg < segs.size() && segs[next_seg].obj->key < it->first) ++next_seg;
        const bool live = next_seg < segs.size() && segs[next_seg].obj->key == it->first;
        it = live ? std::next(it) : footer_cache_.erase(it);
      }
    }
    for (size_t i = 0; i < segs.size(); ++i) {
      const ObjectInfo& o = *segs[i].obj;
      const std::string version = o.etag.empty() ? "size:" + std::to_string(o.size) : o.etag;
      auto it = footer_cache_.find(o.key);
      if (it != footer_cache_.end() && it->second.etag == version) {
        results[i].emplace(it->second.info);
      } else {
        cold.push_back(i);
      }
    }
  }
  if (cold.size() <= 1) {
    for (size_t i : cold) results[i].emplace(segment_info(*segs[i].obj, segs[i].base));
  } else {
    // A cold partition on S3: fetch footers with several reads in flight.
    std::atomic<size_t> next{0};
    auto worker = [&] {
      for (size_t n = next.fetch_add(1); n < cold.size(); n = next.fetch_add(1)) {
        const size_t i = cold[n];
        results[i].emplace(segment_info(*segs[i].obj, segs[i].base));
      }
    };
    const size_t threads = std::min(cold.size(), kMaxParallelFooterReads);
    std::vector<std::thread> pool;
    pool.reserve(threads - 1);
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& th : pool) th.join();
  }

  std::vector<SegmentInfo> out;
  out.reserve(segs.size());
  for (auto& r : results) {
    if (!r->ok()) return std::move(*r).error();
    out.push_back(std::move(**r));
  }
  return out;
}

Result<std::vector<SegmentInfo>> ListingMetadataStore::list_segments(
    std::string_view topic, int32_t partition, std::optional<uint64_t> after_base_offset) {
  SH_RETURN_IF_ERROR(check_topic(topic));
  SH_RETURN_IF_ERROR(check_partition(partition));
  bool any_object = false;
  SH_ASSIGN_OR_RETURN(std::vector<SegmentInfo> segs,
                      load_segments(topic, partition, after_base_offset, &any_object));
  if (!any_object && !after_base_offset) {
    bool topic_exists = false;
    SH_RETURN_IF_ERROR(partitions_of(topic, &topic_exists));
    if (!topic_exists) return topic_not_found(topic);
    return partition_not_found(topic, partition);
  }
  return segs;
}

Result<PartitionInfo> ListingMetadataStore::get_partition(std::string_view topic,
                                                          int32_t partition) {
  SH_ASSIGN_OR_RETURN(std::vector<SegmentInfo> segs,
                      list_segments(topic, partition, std::nullopt));
  PartitionInfo p;
  p.topic = std::string(topic);
  p.partition = partition;
  p.segment_count = segs.size();
  for (const SegmentInfo& s : segs) p.size_bytes += s.size_bytes;
  if (!segs.empty()) {
    p.log_start_offset = segs.front().base_offset;
    p.high_watermark = segs.back().last_offset + 1;
  }
  return p;
}

Status ListingMetadataStore::register_segment(std::string_view topic, int32_t partition,
                                              const SegmentInfo& segment) {
  SH_RETURN_IF_ERROR(check_topic(topic));
  SH_RETURN_IF_ERROR(check_partition(partition));
  const std::string want_key =
      format::segment_key(opts_.prefix, topic, partition, segment.base_offset);
  if (segment.key != want_key) {
    return invalid_argument("segment key '" + segment.key + "' is not the canonical key '" +
                            want_key + "'");
  }
  if (segment.last_offset < segment.base_offset) {
    return invalid_argument(segment.key + ": last offset " + std::to_string(segment.last_offset) +
                            " is below base offset " + std::to_string(segment.base_offset));
  }
  auto head = store_->head(segment.key);
  if (!head.ok()) {
    if (head.error().code() == Errc::kNotFound) {
      return invalid_argument(segment.key + ": the segment object must be written before it is "
                              "registered");
    }
    return std::move(head).error();
  }
  SH_ASSIGN_OR_RETURN(SegmentInfo actual, segment_info(*head, segment.base_offset));
  auto mismatch = [&](std::string_view field, uint64_t given, uint64_t real) {
    return invalid_argument(segment.key + ": registered " + std::string(field) + " " +
                            std::to_string(given) + " differs from the object's " +
                            std::to_string(real));
  };
  if (actual.last_offset != segment.last_offset) {
    return mismatch("last_offset", segment.last_offset, actual.last_offset);
  }
  if (segment.size_bytes != 0 && actual.size_bytes != segment.size_bytes) {
    return mismatch("size_bytes", segment.size_bytes, actual.size_bytes);
  }
  if (segment.record_count != 0 && actual.record_count != segment.record_count) {
    return mismatch("record_count", segment.record_count, actual.record_count);
  }
  return ok_status();
}

// ---------------------------------------------------------------- groups

Result<std::vector<CommittedOffset>> ListingMetadataStore::read_group(std::string_view group,
                                                                      bool* exists) {
  const std::string key = group_key(group);
  auto got = store_->get(key);
  if (!got.ok()) {
    if (got.error().code() == Errc::kNotFound) {
      *exists = false;
      return std::vector<CommittedOffset>{};
    }
    return std::move(got).error();
  }
  *exists = true;
  auto bad = [&](std::string_view why) { return corrupt(key + ": " + std::string(why)); };
  nlohmann::json doc = nlohmann::json::parse(got->data, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return bad("not a JSON object");
  auto offsets = doc.find("offsets");
  if (offsets == doc.end() || !offsets->is_array()) return bad("missing \"offsets\" array");
  std::vector<CommittedOffset> out;
  for (const nlohmann::json& e : *offsets) {
    if (!e.is_object()) return bad("an offset entry is not an object");
    auto topic = e.find("topic");
    auto partition = e.find("partition");
    auto offset = e.find("offset");
    if (topic == e.end() || !topic->is_string() ||
        !format::valid_topic_name(topic->get_ref<const std::string&>())) {
      return bad("an offset entry has no valid \"topic\"");
    }
    if (partition == e.end() || !partition->is_number_integer() || partition->get<int64_t>() < 0 ||
        partition->get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      return bad("an offset entry has no valid \"partition\"");
    }
    if (offset == e.end() || !offset->is_number_unsigned()) {
      return bad("an offset entry has no valid \"offset\"");
    }
    CommittedOffset c;
    c.topic = topic->get<std::string>();
    c.partition = static_cast<int32_t>(partition->get<int64_t>());
    c.offset = offset->get<uint64_t>();
    auto metadata = e.find("metadata");
    if (metadata != e.end()) {
      if (!metadata->is_string()) return bad("\"metadata\" is not a string");
      c.metadata = metadata->get<std::string>();
    }
    auto at = e.find("committed_at_ms");
    if (at != e.end()) {
      if (!at->is_number_integer()) return bad("\"committed_at_ms\" is not an integer");
      c.committed_at_ms = at->get<int64_t>();
    }
    out.push_back(std::move(c));
  }
  std::sort(out.begin(), out.end(), [](const CommittedOffset& a, const CommittedOffset& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  });
  return out;
}

Result<std::vector<std::string>> ListingMetadataStore::list_groups() {
  const std::string dir = opts_.prefix + std::string(kGroupsDir);
  SH_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, list_all(*store_, dir));
  std::vector<std::string> out;
  constexpr std::string_view kSuffix = ".json";
  for (const ObjectInfo& o : objects) {
    std::string_view name(o.key);
    name.remove_prefix(dir.size());
    if (!name.ends_with(kSuffix)) continue;
    name.remove_suffix(kSuffix.size());
    if (valid_group_id(name)) out.emplace_back(name);
  }
  return out;  // listing order is byte order
}

Result<std::vector<CommittedOffset>> ListingMetadataStore::get_group_offsets(
    std::string_view group) {
  if (!valid_group_id(group)) {
    return invalid_argument("invalid consumer group id '" + std::string(group.substr(0, 300)) +
                            "'");
  }
  bool exists = false;
  SH_ASSIGN_OR_RETURN(std::vector<CommittedOffset> offsets, read_group(group, &exists));
  if (!exists) {
    return Error(Errc::kGroupNotFound, "consumer group '" + std::string(group) + "' not found");
  }
  return offsets;
}

Status ListingMetadataStore::commit_offsets(std::string_view group,
                                            const std::vector<OffsetCommit>& offsets) {
  if (!valid_group_id(group)) {
    return invalid_argument("invalid consumer group id '" + std::string(group.substr(0, 300)) +
                            "'");
  }
  if (offsets.empty()) return invalid_argument("commit for group '" + std::string(group) +
                                               "' has no offsets");
  for (const OffsetCommit& c : offsets) {
    SH_RETURN_IF_ERROR(check_topic(c.topic));
    SH_RETURN_IF_ERROR(check_partition(c.partition));
    if (c.offset > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return invalid_argument("offset " + std::to_string(c.offset) + " is out of range");
    }
    if (c.metadata.size() > kMaxCommitMetadataBytes) {
      return invalid_argument("commit metadata for " + c.topic + "/" +
                              std::to_string(c.partition) + " is longer than " +
                              std::to_string(kMaxCommitMetadataBytes) + " bytes");
    }
  }
  const int64_t now = opts_.clock->now_unix_ms();

  std::lock_guard<std::mutex> lock(groups_mu_);
  bool exists = false;
  SH_ASSIGN_OR_RETURN(std::vector<CommittedOffset> current, read_group(group, &exists));
  std::map<std::pair<std::string, int32_t>, CommittedOffset> merged;
  for (auto& c : current) merged[{c.topic, c.partition}] = std::move(c);
  for (const OffsetCommit& c : offsets) {
    CommittedOffset& dst = merged[{c.topic, c.partition}];
    dst.topic = c.topic;
    dst.partition = c.partition;
    dst.offset = c.offset;
    dst.metadata = c.metadata;
    dst.committed_at_ms = now;
  }
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& [k, c] : merged) {
    arr.push_back({{"topic", c.topic},
                   {"partition", c.partition},
                   {"offset", c.offset},
                   {"metadata", c.metadata},
                   {"committed_at_ms", c.committed_at_ms}});
  }
  nlohmann::json doc = {{"offsets", std::move(arr)}};
  // Invalid UTF-8 in metadata is replaced rather than failing the dump.
  const std::string body = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return store_->put(group_key(group), body);
}

// ---------------------------------------------------------------- health

Status ListingMetadataStore::ping() {
  ListOptions lo;
  lo.prefix = opts_.prefix;
  lo.max_keys = 1;
  lo.deadline = Deadline::after(Millis(5000));
  auto page = store_->list(lo);
  if (!page.ok()) return std::move(page).error().prefix("metadata listing");
  return ok_status();
}

std::string ListingMetadataStore::describe() const { return "listing:" + store_->describe(); }

}  // namespace sh
