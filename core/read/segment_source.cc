#include "core/read/segment_source.h"

#include <fmt/format.h>

namespace sh::read {
namespace {

// Block cache key: bucket + key (the cache name), the object's ETag and the
// block's position, so a replaced object can never serve an old block — even
// after its footer entry was evicted and `invalidate` could not find its blocks.
std::string block_key(const std::string& name, const std::string& etag, uint64_t position) {
  return fmt::format("{}#{}#{}", name, etag, position);
}

}  // namespace

SegmentSource::SegmentSource(std::shared_ptr<ObjectStore> store, SegmentSourceOptions opts,
                             prometheus::Registry& registry, BucketResolver resolver)
    : store_(std::move(store)),
      resolver_(std::move(resolver)),
      opts_(opts),
      meta_cache_(opts.meta_cache_bytes),
      block_cache_(opts.block_cache_bytes),
      meta_metrics_(registry, "segment_footer"),
      block_metrics_(registry, "block") {}

Result<ObjectStore*> SegmentSource::store_for(const std::string& bucket) {
  if (bucket.empty() || !resolver_) return store_.get();
  SH_ASSIGN_OR_RETURN(std::shared_ptr<ObjectStore> s, resolver_(bucket));
  return s.get();  // the resolver keeps its stores alive
}

std::string SegmentSource::cache_name(const std::string& key, const std::string& bucket) {
  return bucket.empty() ? key : "s3://" + bucket + "/" + key;
}

void SegmentSource::update_gauges() {
  meta_metrics_.bytes.Set(static_cast<double>(meta_cache_.usage()));
  meta_metrics_.entries.Set(static_cast<double>(meta_cache_.entries()));
  block_metrics_.bytes.Set(static_cast<double>(block_cache_.usage()));
  block_metrics_.entries.Set(static_cast<double>(block_cache_.entries()));
}

Result<std::shared_ptr<const format::SegmentMeta>> SegmentSource::meta(const std::string& key,
                                                                       Deadline deadline,
                                                                       const std::string& bucket) {
  const std::string name = cache_name(key, bucket);
  if (auto hit = meta_cache_.lookup(name)) {
    meta_metrics_.hits.Increment();
    return hit;
  }
  return meta_flight_.run(name, [&]() -> Result<MetaPtr> {
    // Another caller may have filled the cache while we queued.
    if (auto hit = meta_cache_.lookup(name)) {
      meta_metrics_.hits.Increment();
      return hit;
    }
    meta_metrics_.misses.Increment();
    SH_ASSIGN_OR_RETURN(ObjectStore * store, store_for(bucket));
    SH_ASSIGN_OR_RETURN(MetaPtr m, load_meta(*store, key, deadline));
    meta_cache_.insert(name, m, m->memory_charge());
    update_gauges();
    return m;
  }, deadline);
}

Result<SegmentSource::MetaPtr> SegmentSource::load_meta(ObjectStore& store, const std::string& key,
                                                        Deadline deadline) {
  ReadOptions ro;
  ro.deadline = deadline;
  SH_ASSIGN_OR_RETURN(RangeRead tail, store.get_suffix(key, opts_.footer_read_bytes, ro));
  SH_ASSIGN_OR_RETURN(format::TailParse parsed,
                      format::parse_tail(tail.data, tail.object_size, tail.etag, key));
  if (!parsed.meta) {
    // The index is larger than the first read: one more suffix read gets all of it.
    ro.if_match_etag = tail.etag.empty() ? std::nullopt : std::optional<std::string>(tail.etag);
    SH_ASSIGN_OR_RETURN(RangeRead more, store.get_suffix(key, parsed.need_suffix_bytes, ro));
    SH_ASSIGN_OR_RETURN(parsed, format::parse_tail(more.data, more.object_size, more.etag, key));
    if (!parsed.meta) {
      return Error(Errc::kCorrupt, key + ": footer asks for " +
                                       std::to_string(parsed.need_suffix_bytes) +
                                       " tail bytes after a read of that size");
    }
  }
  return std::make_shared<const format::SegmentMeta>(std::move(*parsed.meta));
}

Result<format::Compression> SegmentSource::compression_of(ObjectStore& store,
                                                          const std::string& name,
                                                          const std::string& key,
                                                          const format::SegmentMeta& meta,
                                                          Deadline deadline) {
  if (meta.header) return meta.header->compression;
  {
    std::lock_guard lock(compression_mu_);
    auto it = compression_.find(name);
    if (it != compression_.end()) return it->second;
  }
  ReadOptions ro;
  ro.deadline = deadline;
  if (!meta.etag.empty()) ro.if_match_etag = meta.etag;
  SH_ASSIGN_OR_RETURN(RangeRead head,
                      store.get_range(key, 0, format::SegmentHeader::kEncodedLength, ro));
  SH_ASSIGN_OR_RETURN(format::SegmentHeader header,
                      format::SegmentHeader::decode_from(head.data, key));
  if (header.base_offset != meta.footer.base_offset) {
    return Error(Errc::kCorrupt, key + ": header base_offset " +
                                     std::to_string(header.base_offset) +
                                     " disagrees with footer base_offset " +
                                     std::to_string(meta.footer.base_offset));
  }
  std::lock_guard lock(compression_mu_);
  compression_[name] = header.compression;
  return header.compression;
}

Result<std::shared_ptr<const format::DecodedBlock>> SegmentSource::block(
    const std::string& key, const format::SegmentMeta& meta, size_t block_index,
    Deadline deadline, const std::string& bucket) {
  const std::string name = cache_name(key, bucket);
  const std::string bkey = block_key(name, meta.etag, meta.index[block_index].handle.position);
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
    SH_ASSIGN_OR_RETURN(ObjectStore * store, store_for(bucket));
    SH_ASSIGN_OR_RETURN(BlockPtr b, load_block(*store, name, key, meta, block_index, deadline));
    block_cache_.insert(bkey, b, b->memory_charge());
    update_gauges();
    return b;
  }, deadline);
}

Result<SegmentSource::BlockPtr> SegmentSource::load_block(ObjectStore& store,
                                                          const std::string& name,
                                                          const std::string& key,
                                                          const format::SegmentMeta& meta,
                                                          size_t block_index,
                                                          Deadline deadline) {
  const format::IndexEntry& entry = meta.index[block_index];
  ReadOptions ro;
  ro.deadline = deadline;
  if (!meta.etag.empty()) ro.if_match_etag = meta.etag;
  auto stored = store.get_range(key, entry.handle.position, entry.handle.size, ro);
  if (!stored.ok()) {
    const Errc code = stored.error().code();
    if (code == Errc::kPreconditionFailed || code == Errc::kNotFound ||
        code == Errc::kInvalidArgument) {
      invalidate_name(name);
    }
    if (code == Errc::kInvalidArgument) {
      // The footer placed this block inside the object; the store says it is not
      // there: the object is shorter than its own index (replaced or damaged).
      return Error(Errc::kCorrupt, name + ": block at " + std::to_string(entry.handle.position) +
                                       " is not inside the object: " +
                                       stored.error().message());
    }
    return std::move(stored).error();
  }
  std::optional<format::Compression> compression;
  if (meta.header) compression = meta.header->compression;
  {
    std::lock_guard lock(compression_mu_);
    auto it = compression_.find(name);
    if (it != compression_.end()) compression = it->second;
  }
  auto decoded = format::decode_block(stored->data, entry, compression, name);
  if (!decoded.ok() && !compression && decoded.error().code() == Errc::kInvalidArgument) {
    // Equal stored and raw lengths: only the header can say whether it is LZ4.
    SH_ASSIGN_OR_RETURN(format::Compression c, compression_of(store, name, key, meta, deadline));
    decoded = format::decode_block(stored->data, entry, c, name);
  }
  return decoded;
}

void SegmentSource::invalidate(const std::string& key, const std::string& bucket) {
  invalidate_name(cache_name(key, bucket));
}

void SegmentSource::invalidate_name(const std::string& name) {
  if (auto m = meta_cache_.lookup(name)) {
    for (const auto& e : m->index) block_cache_.erase(block_key(name, m->etag, e.handle.position));
  }
  meta_cache_.erase(name);
  {
    std::lock_guard lock(compression_mu_);
    compression_.erase(name);
  }
  update_gauges();
}

}  // namespace sh::read
