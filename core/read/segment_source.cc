#include "core/read/segment_source.h"

namespace sh::read {
namespace {

std::string block_key(const std::string& key, uint64_t position) {
  std::string k;
  k.reserve(key.size() + 21);
  k.append(key).push_back('#');
  k.append(std::to_string(position));
  return k;
}

}  // namespace

CacheMetrics::CacheMetrics(prometheus::Registry& registry, const std::string& cache)
    : hits(prometheus::BuildCounter()
               .Name("streamhouse_cache_hits_total")
               .Help("Cache lookups answered from memory")
               .Register(registry)
               .Add({{"cache", cache}})),
      misses(prometheus::BuildCounter()
                 .Name("streamhouse_cache_misses_total")
                 .Help("Cache lookups that had to fetch from the object store")
                 .Register(registry)
                 .Add({{"cache", cache}})),
      bytes(prometheus::BuildGauge()
                .Name("streamhouse_cache_bytes")
                .Help("Bytes held by the cache")
                .Register(registry)
                .Add({{"cache", cache}})),
      entries(prometheus::BuildGauge()
                  .Name("streamhouse_cache_entries")
                  .Help("Entries held by the cache")
                  .Register(registry)
                  .Add({{"cache", cache}})) {}

SegmentSource::SegmentSource(std::shared_ptr<ObjectStore> store, SegmentSourceOptions opts,
                             prometheus::Registry& registry)
    : store_(std::move(store)),
      opts_(opts),
      meta_cache_(opts.meta_cache_bytes),
      block_cache_(opts.block_cache_bytes),
      meta_metrics_(registry, "segment_footer"),
      block_metrics_(registry, "block") {}

void SegmentSource::update_gauges() {
  meta_metrics_.bytes.Set(static_cast<double>(meta_cache_.usage()));
  meta_metrics_.entries.Set(static_cast<double>(meta_cache_.entries()));
  block_metrics_.bytes.Set(static_cast<double>(block_cache_.usage()));
  block_metrics_.entries.Set(static_cast<double>(block_cache_.entries()));
}

Result<std::shared_ptr<const format::SegmentMeta>> SegmentSource::meta(const std::string& key,
                                                                       Deadline deadline) {
  if (auto hit = meta_cache_.lookup(key)) {
    meta_metrics_.hits.Increment();
    return hit;
  }
  return meta_flight_.run(key, [&]() -> Result<MetaPtr> {
    // Another caller may have filled the cache while we queued.
    if (auto hit = meta_cache_.lookup(key)) {
      meta_metrics_.hits.Increment();
      return hit;
    }
    meta_metrics_.misses.Increment();
    SH_ASSIGN_OR_RETURN(MetaPtr m, load_meta(key, deadline));
    meta_cache_.insert(key, m, m->memory_charge());
    update_gauges();
    return m;
  });
}

Result<SegmentSource::MetaPtr> SegmentSource::load_meta(const std::string& key,
                                                        Deadline deadline) {
  ReadOptions ro;
  ro.deadline = deadline;
  SH_ASSIGN_OR_RETURN(RangeRead tail, store_->get_suffix(key, opts_.footer_read_bytes, ro));
  SH_ASSIGN_OR_RETURN(format::TailParse parsed,
                      format::parse_tail(tail.data, tail.object_size, tail.etag, key));
  if (!parsed.meta) {
    // The index is larger than the first read: one more suffix read gets all of it.
    ro.if_match_etag = tail.etag.empty() ? std::nullopt : std::optional<std::string>(tail.etag);
    SH_ASSIGN_OR_RETURN(RangeRead more, store_->get_suffix(key, parsed.need_suffix_bytes, ro));
    SH_ASSIGN_OR_RETURN(parsed, format::parse_tail(more.data, more.object_size, more.etag, key));
    if (!parsed.meta) {
      return Error(Errc::kCorrupt, key + ": footer asks for " +
                                       std::to_string(parsed.need_suffix_bytes) +
                                       " tail bytes after a read of that size");
    }
  }
  return std::make_shared<const format::SegmentMeta>(std::move(*parsed.meta));
}

Result<format::Compression> SegmentSource::compression_of(const std::string& key,
                                                          const format::SegmentMeta& meta,
                                                          Deadline deadline) {
  if (meta.header) return meta.header->compression;
  {
    std::lock_guard lock(compression_mu_);
    auto it = compression_.find(key);
    if (it != compression_.end()) return it->second;
  }
  ReadOptions ro;
  ro.deadline = deadline;
  if (!meta.etag.empty()) ro.if_match_etag = meta.etag;
  SH_ASSIGN_OR_RETURN(RangeRead head,
                      store_->get_range(key, 0, format::SegmentHeader::kEncodedLength, ro));
  SH_ASSIGN_OR_RETURN(format::SegmentHeader header,
                      format::SegmentHeader::decode_from(head.data, key));
  if (header.base_offset != meta.footer.base_offset) {
    return Error(Errc::kCorrupt, key + ": header base_offset " +
                                     std::to_string(header.base_offset) +
                                     " disagrees with footer base_offset " +
                                     std::to_string(meta.footer.base_offset));
  }
  std::lock_guard lock(compression_mu_);
  compression_[key] = header.compression;
  return header.compression;
}

Result<std::shared_ptr<const format::DecodedBlock>> SegmentSource::block(
    const std::string& key, const format::SegmentMeta& meta, size_t block_index,
    Deadline deadline) {
  const std::string bkey = block_key(key, meta.index[block_index].handle.position);
  if (auto hit = block_cache_.lookup(bkey)) {
    block_metrics_.hits.Increment();
    return hit;
  }
  return block_flight_.run(bkey, [&]() -> Result<BlockPtr> {
    if (auto hit = block_cache_.lookup(bkey)) {
      block_metrics_.hits.Increment();
      return hit;
    }
    block_metrics_.misses.Increment();
    SH_ASSIGN_OR_RETURN(BlockPtr b, load_block(key, meta, block_index, deadline));
    block_cache_.insert(bkey, b, b->memory_charge());
    update_gauges();
    return b;
  });
}

Result<SegmentSource::BlockPtr> SegmentSource::load_block(const std::string& key,
                                                          const format::SegmentMeta& meta,
                                                          size_t block_index,
                                                          Deadline deadline) {
  const format::IndexEntry& entry = meta.index[block_index];
  ReadOptions ro;
  ro.deadline = deadline;
  if (!meta.etag.empty()) ro.if_match_etag = meta.etag;
  auto stored = store_->get_range(key, entry.handle.position, entry.handle.size, ro);
  if (!stored.ok()) {
    if (stored.error().code() == Errc::kPreconditionFailed ||
        stored.error().code() == Errc::kNotFound) {
      invalidate(key);
    }
    return std::move(stored).error();
  }
  std::optional<format::Compression> compression;
  if (meta.header) compression = meta.header->compression;
  {
    std::lock_guard lock(compression_mu_);
    auto it = compression_.find(key);
    if (it != compression_.end()) compression = it->second;
  }
  auto decoded = format::decode_block(stored->data, entry, compression, key);
  if (!decoded.ok() && !compression && decoded.error().code() == Errc::kInvalidArgument) {
    // Equal stored and raw lengths: only the header can say whether it is LZ4.
    SH_ASSIGN_OR_RETURN(format::Compression c, compression_of(key, meta, deadline));
    decoded = format::decode_block(stored->data, entry, c, key);
  }
  return decoded;
}

void SegmentSource::invalidate(const std::string& key) {
  if (auto m = meta_cache_.lookup(key)) {
    for (const auto& e : m->index) block_cache_.erase(block_key(key, e.handle.position));
  }
  meta_cache_.erase(key);
  {
    std::lock_guard lock(compression_mu_);
    compression_.erase(key);
  }
  update_gauges();
}

}  // namespace sh::read
