#include "core/metadata/listing_metadata_store.h"

#include <algorithm>
#include <limits>
#include <map>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/format/names.h"
#include "core/format/segment.h"

namespace sh {

namespace {

constexpr Millis kPingTimeout{5000};

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

std::string_view unquoted(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag.remove_prefix(1);
    etag.remove_suffix(1);
  }
  return etag;
}

// Whether a cached footer was read from the object version the listing shows.
// Listing and GET ETags may differ in quoting across stores; without ETags the
// size decides.
bool same_version(const format::SegmentMeta& meta, const ObjectInfo& listed) {
  if (meta.object_size != listed.size) return false;
  if (meta.etag.empty() || listed.etag.empty()) return true;
  return unquoted(meta.etag) == unquoted(listed.etag);
}

}  // namespace

ListingMetadataStore::ListingMetadataStore(std::shared_ptr<ObjectStore> store,
                                           ListingOptions opts)
    : store_(std::move(store)), opts_(std::move(opts)) {
  if (!opts_.prefix.empty() && opts_.prefix.back() != '/') opts_.prefix.push_back('/');
  if (!opts_.clock) opts_.clock = system_clock();
  loader_ = opts_.meta_loader;
  if (!loader_) {
    SegmentMetaLoaderOptions lo;
    lo.footer_read_bytes = opts_.footer_read_bytes;
    loader_ = std::make_shared<SegmentMetaLoader>(store_, std::move(lo));
  }
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

// ---------------------------------------------------------------- topics

Result<std::vector<int32_t>> ListingMetadataStore::partitions_of(std::string_view topic,
                                                                 bool* exists,
                                                                 Deadline deadline) {
  ListOptions lo;
  lo.prefix = topic_prefix(topic);
  lo.delimiter = "/";
  lo.deadline = deadline;
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

Result<std::vector<TopicInfo>> ListingMetadataStore::list_topics(Deadline deadline) {
  ListOptions lo;
  lo.prefix = opts_.prefix;
  lo.delimiter = "/";
  lo.deadline = deadline;
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
    SH_ASSIGN_OR_RETURN(std::vector<int32_t> parts, partitions_of(name, &exists, deadline));
    TopicInfo t;
    t.name = std::string(name);
    t.partition_count = static_cast<int32_t>(parts.size());
    t.partitions = std::move(parts);
    out.push_back(std::move(t));
  }
  return out;
}

Result<TopicInfo> ListingMetadataStore::get_topic(std::string_view topic, Deadline deadline) {
  SH_RETURN_IF_ERROR(check_topic(topic));
  bool exists = false;
  SH_ASSIGN_OR_RETURN(std::vector<int32_t> parts, partitions_of(topic, &exists, deadline));
  if (!exists) return topic_not_found(topic);
  TopicInfo t;
  t.name = std::string(topic);
  t.partition_count = static_cast<int32_t>(parts.size());
  t.partitions = std::move(parts);
  return t;
}

// ---------------------------------------------------------------- segments

Status ListingMetadataStore::read_footer(const ObjectInfo& obj, SegmentInfo* info,
                                         Deadline deadline) {
  footer_reads_.fetch_add(1, std::memory_order_relaxed);
  auto loaded = loader_->load(obj.key, deadline);
  if (!loaded.ok()) {
    if (loaded.error().code() != Errc::kInvalidArgument) return std::move(loaded).error();
    // The store listed this key and now refuses it: the store contradicts itself.
    return Error(Errc::kBadResponse, fmt::format("reading the footer of listed segment {}: {}",
                                                 obj.key, loaded.error().message()));
  }
  const SegmentMetaLoader::MetaPtr& meta = *loaded;
  // A footer read now may be of a version newer than the listing: it is the
  // newer truth, and the next listing shows its ETag.
  return fill_from_footer(*meta, info);
}

Result<ListingMetadataStore::Listed> ListingMetadataStore::list_partition(
    std::string_view topic, int32_t partition, std::optional<uint64_t> after, Deadline deadline) {
  const std::string pprefix = partition_prefix(topic, partition);
  const std::string start_after =
      after ? format::segment_key(opts_.prefix, topic, partition, *after) : std::string();
  SH_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects,
                      list_all(*store_, pprefix, start_after, deadline));
  Listed out;
  out.any_object = !objects.empty();
  for (ObjectInfo& o : objects) {
    std::string_view rest(o.key);
    rest.remove_prefix(pprefix.size());
    if (rest.find('/') != std::string_view::npos) continue;  // deeper: not a segment
    auto base = format::parse_segment_file_name(rest);
    if (!base) continue;
    // Keys sort by base offset (20 zero-padded digits): the listing order is the log order.
    SegmentInfo info;
    info.key = o.key;
    info.base_offset = *base;
    info.size_bytes = o.size;
    info.footer_known = false;
    if (auto cached = loader_->cached(o.key)) {
      if (same_version(*cached, o)) {
        SH_RETURN_IF_ERROR(fill_from_footer(*cached, &info));
      } else {
        loader_->invalidate(o.key);  // replaced since its footer was read
      }
    }
    out.segments.push_back(std::move(info));
    out.objects.push_back(std::move(o));
  }
  if (!out.segments.empty() && !out.segments.back().footer_known) {
    // The high watermark needs the last segment's footer, and only that one.
    SH_RETURN_IF_ERROR(read_footer(out.objects.back(), &out.segments.back(), deadline));
  }
  return out;
}

Error ListingMetadataStore::missing(std::string_view topic, int32_t partition,
                                    Deadline deadline) {
  bool topic_exists = false;
  auto parts = partitions_of(topic, &topic_exists, deadline);
  if (!parts.ok()) return std::move(parts).error();
  if (!topic_exists) return topic_not_found(topic);
  return partition_not_found(topic, partition);
}

Result<std::vector<SegmentInfo>> ListingMetadataStore::list_segments(
    std::string_view topic, int32_t partition, std::optional<uint64_t> after_base_offset,
    Deadline deadline) {
  SH_RETURN_IF_ERROR(check_topic(topic));
  SH_RETURN_IF_ERROR(check_partition(partition));
  SH_ASSIGN_OR_RETURN(Listed listed, list_partition(topic, partition, after_base_offset, deadline));
  if (!listed.any_object && !after_base_offset) return missing(topic, partition, deadline);
  return std::move(listed.segments);
}

Result<PartitionSegments> ListingMetadataStore::load_partition(std::string_view topic,
                                                               int32_t partition,
                                                               Deadline deadline) {
  SH_RETURN_IF_ERROR(check_topic(topic));
  SH_RETURN_IF_ERROR(check_partition(partition));
  SH_ASSIGN_OR_RETURN(Listed listed, list_partition(topic, partition, std::nullopt, deadline));
  if (!listed.any_object) return missing(topic, partition, deadline);
  PartitionSegments out;
  PartitionInfo& p = out.partition;
  p.topic = std::string(topic);
  p.partition = partition;
  p.segment_count = listed.segments.size();
  for (const SegmentInfo& s : listed.segments) p.size_bytes += s.size_bytes;
  if (!listed.segments.empty()) {
    p.log_start_offset = listed.segments.front().base_offset;
    p.high_watermark = listed.segments.back().last_offset + 1;
  }
  out.segments = std::move(listed.segments);
  return out;
}

Result<PartitionInfo> ListingMetadataStore::get_partition(std::string_view topic,
                                                          int32_t partition, Deadline deadline) {
  SH_ASSIGN_OR_RETURN(PartitionSegments loaded, load_partition(topic, partition, deadline));
  return std::move(loaded.partition);
}

Status ListingMetadataStore::register_segment(std::string_view topic, int32_t partition,
                                              const SegmentInfo& segment, Deadline deadline) {
  SH_RETURN_IF_ERROR(check_topic(topic));
  SH_RETURN_IF_ERROR(check_partition(partition));
  const std::string want_key =
      format::segment_key(opts_.prefix, topic, partition, segment.base_offset);
  if (segment.key != want_key) {
    return invalid_argument(fmt::format("segment key '{}' is not the canonical key '{}'",
                                        segment.key, want_key));
  }
  if (segment.last_offset < segment.base_offset) {
    return invalid_argument(fmt::format("{}: last offset {} is below base offset {}", segment.key,
                                        segment.last_offset, segment.base_offset));
  }
  ReadOptions ro;
  ro.deadline = deadline;
  auto head = store_->head(segment.key, ro);
  if (!head.ok()) {
    if (head.error().code() == Errc::kNotFound) {
      return invalid_argument(fmt::format(
          "{}: the segment object must be written before it is registered", segment.key));
    }
    return std::move(head).error();
  }
  if (auto cached = loader_->cached(head->key); cached && !same_version(*cached, *head)) {
    loader_->invalidate(head->key);
  }
  SegmentInfo actual;
  actual.key = head->key;
  actual.base_offset = segment.base_offset;
  actual.size_bytes = head->size;
  SH_RETURN_IF_ERROR(read_footer(*head, &actual, deadline));
  auto mismatch = [&](std::string_view field, uint64_t given, uint64_t real) {
    return invalid_argument(fmt::format("{}: registered {} {} differs from the object's {}",
                                        segment.key, field, given, real));
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
                                                                      bool* exists,
                                                                      Deadline deadline) {
  const std::string key = group_key(group);
  ReadOptions ro;
  ro.deadline = deadline;
  auto got = store_->get(key, ro);
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

Result<std::vector<std::string>> ListingMetadataStore::list_groups(Deadline deadline) {
  const std::string dir = opts_.prefix + std::string(kGroupsDir);
  SH_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, list_all(*store_, dir, {}, deadline));
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
    std::string_view group, Deadline deadline) {
  if (!valid_group_id(group)) {
    return invalid_argument("invalid consumer group id '" + std::string(group.substr(0, 300)) +
                            "'");
  }
  bool exists = false;
  SH_ASSIGN_OR_RETURN(std::vector<CommittedOffset> offsets, read_group(group, &exists, deadline));
  if (!exists) {
    return Error(Errc::kGroupNotFound, "consumer group '" + std::string(group) + "' not found");
  }
  return offsets;
}

Status ListingMetadataStore::commit_offsets(std::string_view group,
                                            const std::vector<OffsetCommit>& offsets,
                                            Deadline deadline) {
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
  SH_ASSIGN_OR_RETURN(std::vector<CommittedOffset> current, read_group(group, &exists, deadline));
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
  return store_->put(group_key(group), body, deadline);
}

// ---------------------------------------------------------------- health

Status ListingMetadataStore::ping(Deadline deadline) {
  ListOptions lo;
  lo.prefix = opts_.prefix;
  lo.max_keys = 1;
  lo.deadline = Deadline::earliest(deadline, Deadline::after(kPingTimeout));
  auto page = store_->list(lo);
  if (!page.ok()) return std::move(page).error().prefix("metadata listing");
  return ok_status();
}

std::string ListingMetadataStore::describe() const { return "listing:" + store_->describe(); }

}  // namespace sh
