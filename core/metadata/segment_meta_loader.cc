#include "core/metadata/segment_meta_loader.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

namespace sh {

Status fill_from_footer(const format::SegmentMeta& meta, SegmentInfo* info) {
  if (meta.footer.base_offset != info->base_offset) {
    return corrupt(fmt::format("{}: file name says base offset {} but the footer says {}",
                               info->key, info->base_offset, meta.footer.base_offset));
  }
  info->last_offset = meta.footer.last_offset;
  info->record_count = 0;
  for (const format::IndexEntry& e : meta.index) info->record_count += e.record_count;
  info->max_timestamp = meta.footer.max_timestamp;
  info->footer_known = true;
  return ok_status();
}

Status check_footer_against_row(const format::SegmentMeta& meta, const SegmentInfo& info) {
  uint64_t records = 0;
  for (const format::IndexEntry& e : meta.index) records += e.record_count;
  const bool base_differs = meta.footer.base_offset != info.base_offset;
  const bool rest_differs = info.footer_known && (meta.footer.last_offset != info.last_offset ||
                                                  records != info.record_count);
  if (!base_differs && !rest_differs) return ok_status();
  const std::string row =
      info.footer_known
          ? fmt::format("offsets {}..{}, {} records", info.base_offset, info.last_offset,
                        info.record_count)
          : fmt::format("base offset {}", info.base_offset);
  return corrupt(fmt::format(
      "{}: segment object disagrees with its metadata ({}): its footer holds offsets {}..{}, "
      "{} records",
      info.key, row, meta.footer.base_offset, meta.footer.last_offset, records));
}

SegmentMetaLoader::SegmentMetaLoader(std::shared_ptr<ObjectStore> store,
                                     SegmentMetaLoaderOptions opts)
    : store_(std::move(store)), opts_(std::move(opts)), cache_(opts_.cache_bytes) {
  opts_.footer_read_bytes = std::max(opts_.footer_read_bytes, kMinFooterReadBytes);
}

SegmentMetaLoader::MetaPtr SegmentMetaLoader::cached(const std::string& name) const {
  return cache_.lookup(name);
}

void SegmentMetaLoader::invalidate(const std::string& name) {
  cache_.erase(name);
  report_usage();
}

void SegmentMetaLoader::report_usage() {
  if (opts_.on_usage) opts_.on_usage(cache_.usage(), cache_.entries());
}

Result<SegmentMetaLoader::MetaPtr> SegmentMetaLoader::load(const std::string& key,
                                                           Deadline deadline) {
  return load(*store_, key, key, deadline);
}

Result<SegmentMetaLoader::MetaPtr> SegmentMetaLoader::load(ObjectStore& store,
                                                           const std::string& name,
                                                           const std::string& key,
                                                           Deadline deadline) {
  if (auto hit = cache_.lookup(name)) {
    if (opts_.on_lookup) opts_.on_lookup(true);
    return hit;
  }
  return flight_.run(name, [&]() -> Result<MetaPtr> {
    // Another caller may have filled the cache while we queued.
    if (auto hit = cache_.lookup(name)) {
      if (opts_.on_lookup) opts_.on_lookup(true);
      return hit;
    }
    if (opts_.on_lookup) opts_.on_lookup(false);
    auto read = read_meta(store, key, deadline);
    if (!read.ok()) {
      if (read.error().code() == Errc::kCorrupt && opts_.on_corrupt) {
        opts_.on_corrupt(format::corrupt_part(read.error().message(), key), read.error());
      }
      return std::move(read).error();
    }
    MetaPtr m = std::move(read).value();
    cache_.insert(name, m, m->memory_charge());
    report_usage();
    return m;
  }, deadline);
}

Result<SegmentMetaLoader::MetaPtr> SegmentMetaLoader::read_meta(ObjectStore& store,
                                                                const std::string& key,
                                                                Deadline deadline) {
  ReadOptions ro;
  ro.deadline = deadline;
  suffix_reads_.fetch_add(1, std::memory_order_relaxed);
  SH_ASSIGN_OR_RETURN(RangeRead tail, store.get_suffix(key, opts_.footer_read_bytes, ro));
  SH_ASSIGN_OR_RETURN(format::TailParse parsed,
                      format::parse_tail(tail.data, tail.object_size, tail.etag, key));
  if (!parsed.meta) {
    // The index is larger than the first read: one more suffix read gets all of
    // it, of the same object version as the footer that asked for it.
    if (!tail.etag.empty()) ro.if_match_etag = tail.etag;
    suffix_reads_.fetch_add(1, std::memory_order_relaxed);
    SH_ASSIGN_OR_RETURN(RangeRead more, store.get_suffix(key, parsed.need_suffix_bytes, ro));
    SH_ASSIGN_OR_RETURN(parsed, format::parse_tail(more.data, more.object_size, more.etag, key));
    if (!parsed.meta) {
      return corrupt(fmt::format("{}: footer and index not found in the last {} bytes of a "
                                 "{}-byte object",
                                 key, more.data.size(), more.object_size));
    }
  }
  return std::make_shared<const format::SegmentMeta>(std::move(*parsed.meta));
}

}  // namespace sh
