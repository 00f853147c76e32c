#include "core/read/segment_source.h"

#include <algorithm>
#include <iterator>

#include <fmt/format.h>

#include "core/format/coding.h"
#include "core/read/block_fetcher.h"

namespace sh::read {
namespace {

// Block cache key: bucket + key (the cache name), the object's ETag and the
// block's position, so a replaced object can never serve an old block — even
// after its footer entry was evicted and `invalidate` could not find its blocks.
// Charge of a compression_ entry besides its name: list node, map node, value.
constexpr size_t kCompressionEntryOverhead = 96;

// The cache name of an object (SegmentSource::cache_name), appended to `out`.
void append_cache_name(std::string* out, const std::string& key, const std::string& bucket) {
  if (bucket.empty()) {
    *out += key;
  } else {
    fmt::format_to(std::back_inserter(*out), "s3://{}/{}", bucket, key);
  }
}

// What follows the cache name in a block's key.
void append_block_suffix(std::string* out, const std::string& etag, uint64_t position) {
  fmt::format_to(std::back_inserter(*out), "#{}#{}", etag, position);
}

std::string block_key(const std::string& name, const std::string& etag, uint64_t position) {
  std::string k = name;
  append_block_suffix(&k, etag, position);
  return k;
}

// block_key(cache_name(key, bucket), etag, position), built in a buffer this
// thread keeps: a cache hit on the warm path allocates no key. Valid until the
// thread's next call.
const std::string& lookup_key(const std::string& key, const std::string& bucket,
                              const std::string& etag, uint64_t position) {
  thread_local std::string k;
  k.clear();
  append_cache_name(&k, key, bucket);
  append_block_suffix(&k, etag, position);
  return k;
}

// A key the store refuses came from metadata: the metadata is wrong (502), not
// the client's request (400).
Error refused_key(const std::string& name, Error e) {
  if (e.code() != Errc::kInvalidArgument) return e;
  return Error(Errc::kBadResponse,
               fmt::format("metadata names segment {}, which the store refuses: {}", name,
                           e.message()));
}

}  // namespace

SegmentSource::SegmentSource(std::shared_ptr<ObjectStore> store, SegmentSourceOptions opts,
                             prometheus::Registry& registry, BucketResolver resolver)
    : store_(std::move(store)),
      resolver_(std::move(resolver)),
      opts_(opts),
      meta_metrics_(registry, "segment_footer"),
      block_metrics_(registry, "block"),
      corruption_(registry),
      budget_(opts.decode_budget ? opts.decode_budget
                                 : std::make_shared<DecodeBudget>(opts.decode_budget_bytes)),
      block_cache_(opts.block_cache_bytes),
      compression_(opts.compression_cache_bytes, /*shard_bits=*/0) {
  SegmentMetaLoaderOptions lo;
  lo.cache_bytes = opts.meta_cache_bytes;
  lo.footer_read_bytes = opts.footer_read_bytes;
  lo.on_lookup = [this](bool hit) { (hit ? meta_metrics_.hits : meta_metrics_.misses).Increment(); };
  lo.on_usage = [this](size_t bytes, size_t entries) {
    meta_metrics_.bytes.Set(static_cast<double>(bytes));
    meta_metrics_.entries.Set(static_cast<double>(entries));
  };
  lo.on_corrupt = [this](std::string_view part, const Error& e) { corruption_.record(part, e); };
  meta_loader_ = std::make_shared<SegmentMetaLoader>(store_, std::move(lo));
}

Result<ObjectStore*> SegmentSource::store_for(const std::string& bucket) {
  if (bucket.empty() || !resolver_) return store_.get();
  SH_ASSIGN_OR_RETURN(std::shared_ptr<ObjectStore> s, resolver_(bucket));
  return s.get();  // the resolver keeps its stores alive
}

std::string SegmentSource::cache_name(const std::string& key, const std::string& bucket) {
  std::string name;
  append_cache_name(&name, key, bucket);
  return name;
}

void SegmentSource::update_gauges() {
  block_metrics_.bytes.Set(static_cast<double>(block_cache_.usage()));
  block_metrics_.entries.Set(static_cast<double>(block_cache_.entries()));
}

Result<std::shared_ptr<const format::SegmentMeta>> SegmentSource::meta(const std::string& key,
                                                                       Deadline deadline,
                                                                       const std::string& bucket) {
  const std::string name = cache_name(key, bucket);
  Result<MetaPtr> m = [&]() -> Result<MetaPtr> {
    if (bucket.empty() || !resolver_) return meta_loader_->load(*store_, name, key, deadline);
    if (auto hit = meta_loader_->cached(name)) return hit;  // no resolver call when warm
    SH_ASSIGN_OR_RETURN(ObjectStore * store, store_for(bucket));
    return meta_loader_->load(*store, name, key, deadline);
  }();
  if (!m.ok()) return refused_key(name, std::move(m).error());
  return m;
}

Result<std::shared_ptr<const format::SegmentMeta>> SegmentSource::meta(const SegmentInfo& segment,
                                                                       Deadline deadline) {
  SH_ASSIGN_OR_RETURN(MetaPtr m, meta(segment.key, deadline, segment.bucket));
  SH_RETURN_IF_ERROR(check_footer_against_row(*m, segment));
  return m;
}

Result<std::shared_ptr<const format::SegmentMeta>> SegmentSource::cached_meta(
    const SegmentInfo& segment) {
  MetaPtr m = meta_loader_->cached(cache_name(segment.key, segment.bucket));
  if (m == nullptr) return MetaPtr();
  SH_RETURN_IF_ERROR(check_footer_against_row(*m, segment));
  return m;
}

std::shared_ptr<const format::DecodedBlock> SegmentSource::cached_block(
    const std::string& key, const format::SegmentMeta& meta, size_t block_index,
    const std::string& bucket) {
  const std::string& bkey =
      lookup_key(key, bucket, meta.etag, meta.index[block_index].handle.position);
  auto charge = [](const format::DecodedBlock& b) { return b.memory_charge(); };
  bool recharged = false;
  auto hit = block_cache_.lookup_recharged(bkey, charge, &recharged);
  if (hit == nullptr) return nullptr;  // not a miss yet: the read goes on where I/O may run
  block_metrics_.hits.Increment();
  if (recharged) update_gauges();
  return hit;
}

Result<format::Compression> SegmentSource::compression_of(ObjectStore& store,
                                                          const std::string& name,
                                                          const std::string& key,
                                                          const format::SegmentMeta& meta,
                                                          Deadline deadline) {
  if (meta.header) return meta.header->compression;
  if (auto known = compression_.lookup(name)) return *known;
  ReadOptions ro;
  ro.deadline = deadline;
  if (!meta.etag.empty()) ro.if_match_etag = meta.etag;
  SH_ASSIGN_OR_RETURN(RangeRead head,
                      store.get_range(key, 0, format::SegmentHeader::kEncodedLength, ro));
  auto decoded = format::SegmentHeader::decode_from(head.data, key);
  if (!decoded.ok()) {
    if (decoded.error().code() == Errc::kCorrupt) corruption_.record("header", decoded.error());
    return std::move(decoded).error();
  }
  const format::SegmentHeader header = *decoded;
  if (header.base_offset != meta.footer.base_offset) {
    Error e(Errc::kCorrupt,
            fmt::format("{}: header at 8: base_offset {} disagrees with footer base_offset {}",
                        key, header.base_offset, meta.footer.base_offset));
    corruption_.record("header", e);
    return e;
  }
  compression_.insert(name, std::make_shared<const format::Compression>(header.compression),
                      name.size() + sizeof(format::Compression) + kCompressionEntryOverhead);
  return header.compression;
}

Result<std::shared_ptr<const format::DecodedBlock>> SegmentSource::block(
    const std::string& key, const format::SegmentMeta& meta, size_t block_index,
    Deadline deadline, const std::string& bucket) {
  const std::string name = cache_name(key, bucket);
  const std::string bkey = block_key(name, meta.etag, meta.index[block_index].handle.position);
  // A block grows by the encodings built from it (DecodedBlock::encoded): a
  // hit charges what it holds now.
  auto charge = [](const format::DecodedBlock& b) { return b.memory_charge(); };
  bool recharged = false;
  if (auto hit = block_cache_.lookup_recharged(bkey, charge, &recharged)) {
    block_metrics_.hits.Increment();
    if (recharged) update_gauges();
    return hit;
  }
  return block_flight_.run(bkey, [&]() -> Result<BlockPtr> {
    if (auto hit = block_cache_.lookup(bkey)) {
      block_metrics_.hits.Increment();
      return hit;
    }
    block_metrics_.misses.Increment();
    SH_ASSIGN_OR_RETURN(ObjectStore * store, store_for(bucket));
    auto loaded = load_block(*store, name, key, meta, block_index, deadline);
    if (!loaded.ok()) return refused_key(name, std::move(loaded).error());
    BlockPtr b = std::move(loaded).value();
    block_cache_.insert(bkey, b, b->memory_charge());
    update_gauges();
    return b;
  }, deadline);
}

Result<std::string> SegmentSource::fetch_block(ObjectStore& store, const std::string& name,
                                               const std::string& key,
                                               const format::SegmentMeta& meta,
                                               size_t block_index, Deadline deadline) {
  const format::IndexEntry& entry = meta.index[block_index];
  Result<std::string> stored = [&]() -> Result<std::string> {
    if (fetcher_) return fetcher_->fetch(store, name, key, meta, block_index, deadline);
    ReadOptions ro;
    ro.deadline = deadline;
    if (!meta.etag.empty()) ro.if_match_etag = meta.etag;
    SH_ASSIGN_OR_RETURN(RangeRead got,
                        store.get_range(key, entry.handle.position, entry.handle.size, ro));
    return std::move(got.data);
  }();
  if (stored.ok()) return stored;
  const Errc code = stored.error().code();
  // kOutOfRange: the range runs past the end of the object (kInvalidArgument
  // from a store that predates it).
  const bool past_end = code == Errc::kOutOfRange || code == Errc::kInvalidArgument;
  if (code == Errc::kPreconditionFailed || code == Errc::kNotFound || past_end) {
    invalidate_name(name);
  }
  if (past_end) {
    // The footer placed this block inside the object; the store says it is not
    // there: the object is shorter than its own index (replaced or damaged).
    Error e(Errc::kCorrupt, fmt::format("{}: block at {} is not inside the object: {}", name,
                                        entry.handle.position, stored.error().message()));
    corruption_.record("block", e);
    return e;
  }
  return std::move(stored).error();
}

Result<SegmentSource::BlockPtr> SegmentSource::load_block(ObjectStore& store,
                                                          const std::string& name,
                                                          const std::string& key,
                                                          const format::SegmentMeta& meta,
                                                          size_t block_index,
                                                          Deadline deadline) {
  SH_ASSIGN_OR_RETURN(std::string stored,
                      fetch_block(store, name, key, meta, block_index, deadline));
  const format::IndexEntry& entry = meta.index[block_index];
  std::optional<format::Compression> compression;
  if (meta.header) compression = meta.header->compression;
  if (auto known = compression_.lookup(name)) compression = *known;
  // The bytes this decode will hold: the stored block and its raw payload (the
  // raw length the block claims, capped by what decode_block accepts).
  uint64_t raw_len = 0;
  if (stored.size() >= format::kBlockHeaderBytes) {
    raw_len = std::min<uint64_t>(coding::decode_fixed32(stored.data() + 4),
                                 format::kMaxBlockBytes);
  }
  SH_ASSIGN_OR_RETURN(DecodeBudget::Units units,
                      budget_->acquire(stored.size() + raw_len, deadline));
  auto decoded = format::decode_block(stored, entry, compression, name);
  if (!decoded.ok() && !compression && decoded.error().code() == Errc::kInvalidArgument) {
    // Equal stored and raw lengths (about 1 block in 100 of incompressible
    // data under LZ4, every block of an uncompressed segment): decoded both
    // ways. The CRC held, so the true compression decodes; when only one
    // does, it is the segment's, and no round trip is spent on the header.
    // Only when both (or neither) decode does the header decide. The second
    // reading is held beside the first, so its bytes are charged too, only if
    // they are free now (waiting while holding units could deadlock).
    bool decided = false;
    auto second = budget_->acquire(raw_len, Deadline::after(Millis(0)));
    if (second.ok()) {
      auto as_lz4 = format::decode_block(stored, entry, format::Compression::kLz4, name);
      auto as_raw = format::decode_block(stored, entry, format::Compression::kNone, name);
      if (as_raw.ok() != as_lz4.ok()) {
        const auto c = as_raw.ok() ? format::Compression::kNone : format::Compression::kLz4;
        compression_.insert(name, std::make_shared<const format::Compression>(c),
                            name.size() + sizeof(format::Compression) + kCompressionEntryOverhead);
        decoded = as_raw.ok() ? std::move(as_raw) : std::move(as_lz4);
        decided = true;
      }
    }
    if (!decided) {
      SH_ASSIGN_OR_RETURN(format::Compression c, compression_of(store, name, key, meta, deadline));
      decoded = format::decode_block(stored, entry, c, name);
    }
  }
  if (!decoded.ok() && decoded.error().code() == Errc::kInvalidArgument) {
    // Whatever decoding could not use came from the object: corruption, not a bad request.
    decoded = Error(Errc::kCorrupt, decoded.error().message());
  }
  if (!decoded.ok() && decoded.error().code() == Errc::kCorrupt) {
    corruption_.record("block", decoded.error());
  }
  return decoded;
}

void SegmentSource::will_read(const std::string& key, const format::SegmentMeta& meta,
                              size_t first, size_t count, Deadline deadline,
                              const std::string& bucket) {
  if (!fetcher_ || count < 2 || first >= meta.index.size()) return;
  const std::string name = cache_name(key, bucket);
  const size_t end = std::min(first + count, meta.index.size());
  // Cached blocks at the start need nothing (a warm reader pays two lookups).
  for (size_t b = first; b < std::min(first + 2, end); ++b) {
    if (!block_cache_.lookup(block_key(name, meta.etag, meta.index[b].handle.position))) {
      auto store = store_for(bucket);
      if (store.ok()) fetcher_->expect(**store, name, key, meta, b, end - b, deadline);
      return;
    }
  }
}

void SegmentSource::prefetch_segment(const std::string& key, const std::string& bucket) {
  if (!fetcher_) return;
  const std::string name = cache_name(key, bucket);
  if (!fetcher_->wants_start(name)) return;
  std::shared_ptr<BlockFetcher> fetcher = fetcher_;
  // Everything that may touch a store (opening a bucket's store too) runs on
  // the prefetch engine: this is also called from HTTP workers (cache_only reads).
  (void)fetcher->submit([this, fetcher, key, bucket, name] {
    auto store = store_for(bucket);
    if (!store.ok()) return;
    auto m = meta(key, Deadline::after(Millis(30000)), bucket);
    if (m.ok()) fetcher->start_ahead(**store, name, key, **m);
  });
}

void SegmentSource::invalidate(const std::string& key, const std::string& bucket) {
  invalidate_name(cache_name(key, bucket));
}

void SegmentSource::invalidate_name(const std::string& name) {
  if (auto m = meta_loader_->cached(name)) {
    for (const auto& e : m->index) block_cache_.erase(block_key(name, m->etag, e.handle.position));
  }
  meta_loader_->invalidate(name);
  if (fetcher_) fetcher_->forget(name);
  compression_.erase(name);
  update_gauges();
}

}  // namespace sh::read
