#include "core/read/log_reader.h"

#include "core/metadata/segment_meta_loader.h"

#include <algorithm>

#include <fmt/format.h>

namespace sh::read {
namespace {

std::string index_key(std::string_view topic, int32_t partition) {
  std::string k(topic);
  k.push_back('/');
  k.append(std::to_string(partition));
  return k;
}

Error out_of_range(uint64_t offset, const IndexSnapshot& s) {
  return Error(Errc::kOffsetOutOfRange, fmt::format("offset {} is outside the log [{}, {}]", offset,
                                                   s.log_start_offset, s.high_watermark));
}

// How many blocks from `first` a read starting at `offset` may consume with
// `records` and `bytes` left: blocks until either budget is spent, counting
// records from the index and bytes by stored size (at least 1).
size_t blocks_wanted(const format::SegmentMeta& meta, size_t first, uint64_t offset,
                     uint64_t records, uint64_t bytes) {
  size_t n = 0;
  uint64_t got_records = 0, got_bytes = 0;
  for (size_t b = first; b < meta.index.size() && got_records < records && got_bytes < bytes; ++b) {
    const format::IndexEntry& e = meta.index[b];
    const uint64_t from = std::max(offset, e.first_offset);
    got_records += e.last_offset >= from ? e.last_offset - from + 1 : 0;
    got_bytes += e.handle.size;
    ++n;
  }
  return std::max<size_t>(n, 1);
}

}  // namespace

LogReader::LogReader(std::shared_ptr<MetadataStore> metadata, std::shared_ptr<ObjectStore> store,
                     LogReaderOptions opts, prometheus::Registry& registry,
                     std::shared_ptr<Clock> clock)
    : LogReader(std::move(metadata),
                std::make_shared<SegmentSource>(std::move(store), opts.source, registry), opts,
                registry, std::move(clock)) {}

LogReader::LogReader(std::shared_ptr<MetadataStore> metadata, std::shared_ptr<SegmentSource> source,
                     LogReaderOptions opts, prometheus::Registry& registry,
                     std::shared_ptr<Clock> clock)
    : metadata_(std::move(metadata)),
      opts_(opts),
      clock_(std::move(clock)),
      source_(std::move(source)),
      metrics_(registry) {}

std::shared_ptr<SegmentIndex> LogReader::index_of(std::string_view topic, int32_t partition) {
  std::string key = index_key(topic, partition);
  const SteadyTime now = clock_->now_steady();
  std::lock_guard lock(indexes_mu_);
  auto it = indexes_.find(key);
  if (it != indexes_.end()) {
    it->second->touch(now);
    return it->second;
  }
  if (indexes_.size() >= std::max<size_t>(opts_.max_indexed_partitions, 1)) {
    // Rare (only past the limit): drop the least recently used index.
    auto victim = std::min_element(indexes_.begin(), indexes_.end(), [](const auto& a, const auto& b) {
      return a.second->last_used_ms() < b.second->last_used_ms();
    });
    indexes_.erase(victim);
    metrics_.index_evictions.Increment();
  }
  auto idx = std::make_shared<SegmentIndex>(std::string(topic), partition);
  idx->touch(now);
  indexes_.emplace(std::move(key), idx);
  metrics_.indexed_partitions.Set(static_cast<double>(indexes_.size()));
  return idx;
}

Result<std::shared_ptr<SegmentIndex>> LogReader::known_index_of(std::string_view topic,
                                                                int32_t partition) {
  if (opts_.unknown_partition_ttl.count() > 0) {
    const std::string key = index_key(topic, partition);
    const SteadyTime now = clock_->now_steady();
    std::lock_guard lock(unknown_mu_);
    auto it = unknown_.find(key);
    if (it != unknown_.end()) {
      if (now < it->second.until) return it->second.error;
      unknown_.erase(it);
    }
  }
  return index_of(topic, partition);
}

void LogReader::remember_unknown(const std::string& key, const Error& e) {
  if (opts_.unknown_partition_ttl.count() <= 0 || opts_.max_unknown_partitions == 0) return;
  const SteadyTime now = clock_->now_steady();
  std::lock_guard lock(unknown_mu_);
  if (unknown_.size() >= opts_.max_unknown_partitions) {
    std::erase_if(unknown_, [&](const auto& kv) { return kv.second.until <= now; });
    // Still full of live entries (a scan of many names): start over rather than grow.
    if (unknown_.size() >= opts_.max_unknown_partitions) unknown_.clear();
  }
  unknown_.insert_or_assign(key, Unknown{e, now + opts_.unknown_partition_ttl});
}

Result<std::shared_ptr<const IndexSnapshot>> LogReader::current(SegmentIndex& idx,
                                                                bool want_tail,
                                                                Deadline deadline) {
  auto snap = idx.snapshot();
  const SteadyTime now = clock_->now_steady();
  const bool tail_stale = want_tail && (!snap || now - snap->refreshed_at >= opts_.tail_refresh_interval);
  const bool stale = !snap || now - snap->refreshed_at >= opts_.index_ttl || tail_stale;
  if (!stale) return snap;

  // A TTL refresh does not hold up readers of what is already indexed; a read at
  // the tail waits for the refresh, since it is looking for what it may bring.
  bool queried = false;
  auto refreshed = idx.refresh(*metadata_, *clock_, snap ? snap->refreshed_at + Millis(1) : now,
                               &queried, /*wait=*/tail_stale || !snap, deadline);
  if (queried) metrics_.index_refreshes.Increment();
  if (refreshed.ok()) return refreshed;
  metrics_.index_refresh_errors.Increment();
  const Errc code = refreshed.error().code();
  if (!snap) {
    if (code == Errc::kTopicNotFound || code == Errc::kPartitionNotFound) {
      const std::string key = index_key(idx.topic(), idx.partition());
      remember_unknown(key, refreshed.error());
      std::lock_guard lock(indexes_mu_);
      indexes_.erase(key);
      metrics_.indexed_partitions.Set(static_cast<double>(indexes_.size()));
    }
    return refreshed;
  }
  // Degraded: the metadata store is unreachable, serve what we know.
  return snap;
}

Result<std::shared_ptr<const IndexSnapshot>> LogReader::index(std::string_view topic,
                                                              int32_t partition,
                                                              Deadline deadline) {
  SH_ASSIGN_OR_RETURN(auto idx, known_index_of(topic, partition));
  return current(*idx, false, deadline);
}

Result<std::vector<SegmentInfo>> LogReader::describe_segments(std::string_view topic,
                                                             int32_t partition, Deadline deadline) {
  SH_ASSIGN_OR_RETURN(std::shared_ptr<const IndexSnapshot> snap, index(topic, partition, deadline));
  std::vector<SegmentInfo> out = snap->segments;
  for (SegmentInfo& s : out) {
    if (s.footer_known) continue;
    SH_ASSIGN_OR_RETURN(auto meta, source_->meta(s.key, deadline, s.bucket));
    SH_RETURN_IF_ERROR(fill_from_footer(*meta, &s));
  }
  return out;
}

Result<std::shared_ptr<const IndexSnapshot>> LogReader::refresh_now(std::string_view topic,
                                                                    int32_t partition,
                                                                    Deadline deadline) {
  SH_ASSIGN_OR_RETURN(auto idx, known_index_of(topic, partition));
  bool queried = false;
  auto r = idx->refresh(*metadata_, *clock_, clock_->now_steady(), &queried, /*wait=*/true,
                        deadline);
  if (queried) metrics_.index_refreshes.Increment();
  if (!r.ok()) {
    metrics_.index_refresh_errors.Increment();
    const Errc code = r.error().code();
    if ((code == Errc::kTopicNotFound || code == Errc::kPartitionNotFound) && !idx->snapshot()) {
      const std::string key = index_key(topic, partition);
      remember_unknown(key, r.error());
      std::lock_guard lock(indexes_mu_);
      indexes_.erase(key);
      metrics_.indexed_partitions.Set(static_cast<double>(indexes_.size()));
    }
  }
  return r;
}

std::shared_ptr<const IndexSnapshot> LogReader::cached_index(std::string_view topic,
                                                            int32_t partition) {
  std::lock_guard lock(indexes_mu_);
  auto it = indexes_.find(index_key(topic, partition));
  return it == indexes_.end() ? nullptr : it->second->snapshot();
}

Result<PartitionInfo> LogReader::partition_info(std::string_view topic, int32_t partition,
                                                Deadline deadline) {
  SH_ASSIGN_OR_RETURN(auto snap, index(topic, partition, deadline));
  PartitionInfo info;
  info.topic = std::string(topic);
  info.partition = partition;
  info.log_start_offset = snap->log_start_offset;
  info.high_watermark = snap->high_watermark;
  info.segment_count = snap->segments.size();
  info.size_bytes = snap->size_bytes;
  return info;
}

Result<std::shared_ptr<const format::SegmentMeta>> LogReader::segment_meta(const SegmentInfo& seg,
                                                                           Deadline deadline) {
  // The footer must agree with the metadata row (base, last offset, record
  // count), or the read is kCorrupt naming both: never records the row does not hold.
  return source_->meta(seg, deadline);
}

Result<std::shared_ptr<const format::SegmentMeta>> LogReader::cached_segment_meta(
    const SegmentInfo& seg) {
  SH_ASSIGN_OR_RETURN(auto meta, source_->cached_meta(seg));
  if (meta == nullptr) return Error(Errc::kWouldBlock, "footer not cached");
  return meta;
}

Result<std::shared_ptr<const format::DecodedBlock>> LogReader::cached_block(
    const SegmentInfo& seg, const format::SegmentMeta& meta, size_t b) {
  auto block = source_->cached_block(seg.key, meta, b, seg.bucket);
  if (block == nullptr) return Error(Errc::kWouldBlock, "block not cached");
  return block;
}

Result<uint64_t> LogReader::resolve_timestamp(const IndexSnapshot& snap, int64_t ts,
                                              Deadline deadline) {
  const std::vector<SegmentInfo>& segs = snap.segments;
  const size_t n = segs.size();
  auto known_max = [&](size_t i) -> std::optional<int64_t> {
    return segs[i].footer_known ? segs[i].max_timestamp : std::nullopt;
  };
  size_t first = 0;  // first segment that may hold a record with timestamp >= ts
  const bool all_known =
      std::all_of(segs.begin(), segs.end(), [](const SegmentInfo& s) {
        return s.footer_known && s.max_timestamp.has_value();
      });
  // Up to this many segments an exact scan costs no more footers than the
  // binary search would (n <= ceil(log2 n) + 2).
  constexpr size_t kExactScanSegments = 4;
  if (!all_known && n > kExactScanSegments) {
    // Binary search for the first segment whose max timestamp reaches ts; a
    // footer is read only for the segments probed (O(log n)). Exact when segment
    // max timestamps do not decrease along the log (log-append time, or
    // producers with ordered clocks); otherwise it finds *a* segment whose max
    // timestamp reaches ts, not necessarily the first.
    auto max_of = [&](size_t i) -> Result<int64_t> {
      if (auto m = known_max(i)) return *m;
      SH_ASSIGN_OR_RETURN(auto meta, segment_meta(segs[i], deadline));
      return meta->footer.max_timestamp;
    };
    SH_ASSIGN_OR_RETURN(int64_t last_max, max_of(n - 1));
    if (last_max < ts) return snap.high_watermark;  // no record that late yet
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
      const size_t mid = lo + (hi - lo) / 2;
      SH_ASSIGN_OR_RETURN(int64_t m, max_of(mid));
      if (m >= ts) {
        hi = mid;
      } else {
        lo = mid + 1;
      }
    }
    first = lo;
  }
  for (size_t s = first; s < n; ++s) {
    const SegmentInfo& seg = segs[s];
    if (auto m = known_max(s); m && *m < ts) continue;  // skip without any I/O
    SH_ASSIGN_OR_RETURN(auto meta, segment_meta(seg, deadline));
    if (meta->footer.max_timestamp < ts) continue;
    for (size_t b = meta->first_block_with_max_timestamp_at_least(ts); b < meta->index.size();
         ++b) {
      if (meta->index[b].max_timestamp < ts) continue;
      SH_ASSIGN_OR_RETURN(auto block, source_->block(seg.key, *meta, b, deadline, seg.bucket));
      uint32_t i = block->first_with_timestamp_at_least(ts);
      if (i < block->record_count()) return block->offset_at(i);
    }
  }
  return snap.high_watermark;  // no record that late yet: start at the end
}

Result<ReadResult> LogReader::read(std::string_view topic, int32_t partition,
                                   const ReadRequest& req) {
  SH_ASSIGN_OR_RETURN(auto idx, known_index_of(topic, partition));
  if (req.cache_only) {
    const Error would_block(Errc::kWouldBlock, "the read needs storage or metadata");
    auto snap = idx->snapshot();
    if (!snap || clock_->now_steady() - snap->refreshed_at >= opts_.index_ttl) return would_block;
    const bool below_end = (req.start.kind == StartPosition::Kind::kOffset &&
                            req.start.offset < snap->high_watermark) ||
                           (req.start.kind == StartPosition::Kind::kEarliest &&
                            snap->log_start_offset < snap->high_watermark);
    if (!below_end) return would_block;
    return read_snapshot(*snap, req);  // kWouldBlock from the first thing not in memory
  }
  const bool explicit_offset = req.start.kind == StartPosition::Kind::kOffset;
  SH_ASSIGN_OR_RETURN(auto snap, current(*idx, false, req.deadline));
  // A read at or past the end may be looking for segments we have not seen yet.
  if ((explicit_offset && req.start.offset >= snap->high_watermark) ||
      req.start.kind == StartPosition::Kind::kLatest) {
    SH_ASSIGN_OR_RETURN(snap, current(*idx, true, req.deadline));
  }
  auto result = read_snapshot(*snap, req);
  if (!result.ok() && result.error().code() == Errc::kNotFound) {
    // A segment the index names is gone. If retention moved the log start past it,
    // answer from the reloaded index (416 below the new start). A segment missing
    // from the middle of the log stays an error: never skip records silently.
    bool queried = false;
    auto reloaded = idx->reload_after_missing_segment(
        *metadata_, *clock_, opts_.missing_segment_reload_interval, req.deadline, &queried);
    if (queried) metrics_.index_refreshes.Increment();
    if (!reloaded.ok()) {
      metrics_.index_refresh_errors.Increment();
      return result;
    }
    if ((*reloaded)->log_start_offset > snap->log_start_offset) {
      result = read_snapshot(**reloaded, req);
    }
  }
  return result;
}

Result<ReadResult> LogReader::read_snapshot(const IndexSnapshot& snapshot, const ReadRequest& req) {
  const IndexSnapshot* snap = &snapshot;
  uint64_t offset = 0;
  switch (req.start.kind) {
    case StartPosition::Kind::kEarliest: offset = snap->log_start_offset; break;
    case StartPosition::Kind::kLatest: offset = snap->high_watermark; break;
    case StartPosition::Kind::kOffset: offset = req.start.offset; break;
    case StartPosition::Kind::kTimestamp: {
      SH_ASSIGN_OR_RETURN(offset, resolve_timestamp(*snap, req.start.timestamp, req.deadline));
      break;
    }
  }
  if (offset < snap->log_start_offset || offset > snap->high_watermark) {
    return out_of_range(offset, *snap);
  }

  ReadResult out;
  out.start_offset = offset;
  out.high_watermark = snap->high_watermark;
  out.log_start_offset = snap->log_start_offset;
  const uint32_t max_records = std::max<uint32_t>(req.max_records, 1);

  const uint64_t hard_cap = std::max<uint64_t>(req.max_response_bytes, 1);
  const uint64_t budget = std::min(req.max_bytes, hard_cap);
  out.records.reserve(std::min<uint32_t>(max_records, 4096));
  std::vector<HeaderView> scratch;
  bool done = false;
  // A failure after records were gathered ends the result before it: what was
  // read is returned, and the next read (from next_offset) meets the error.
  auto stop_or_fail = [&](Error e) -> std::optional<Error> {
    // Not in memory (cache_only): the whole read goes where I/O may run.
    if (out.records.empty() || e.code() == Errc::kWouldBlock) return e;
    out.stopped_by = std::move(e);
    done = true;
    return std::nullopt;
  };
  for (size_t s = snap->segment_for_offset(offset); s < snap->segments.size() && !done; ++s) {
    const SegmentInfo& seg = snap->segments[s];
    // A segment whose footer the index lacks is read here, only when a read reaches it.
    auto meta_or = req.cache_only ? cached_segment_meta(seg) : segment_meta(seg, req.deadline);
    if (!meta_or.ok()) {
      if (auto e = stop_or_fail(std::move(meta_or).error())) return std::move(*e);
      break;
    }
    const auto meta = std::move(*meta_or);
    const size_t first_block = meta->block_for_offset(offset);
    // The blocks this request will want from this segment, read in one go when
    // they are not cached (stored sizes bound raw ones from below: an estimate
    // that errs towards reading ahead).
    if (!req.cache_only) source_->will_read(seg.key, *meta, first_block,
                       blocks_wanted(*meta, first_block, offset,
                                     max_records - std::min<uint64_t>(out.records.size(), max_records),
                                     req.max_bytes - std::min(out.bytes, req.max_bytes)),
                       req.deadline, seg.bucket);
    for (size_t b = first_block; b < meta->index.size() && !done; ++b) {
      auto block_or = req.cache_only ? cached_block(seg, *meta, b)
                                     : source_->block(seg.key, *meta, b, req.deadline, seg.bucket);
      if (!block_or.ok()) {
        if (auto e = stop_or_fail(std::move(block_or).error())) return std::move(*e);
        break;
      }
      auto block = std::move(*block_or);
      if (s + 1 < snap->segments.size()) {
        // Once read-ahead covers this segment's end: the next one's footer and
        // first blocks (the fetcher says yes once per segment).
        source_->prefetch_segment(snap->segments[s + 1].key, snap->segments[s + 1].bucket);
      }
      bool used = false;
      // With an encoder, the block's records in its encoding (built once per
      // block): a record costs its encoded size, looked up.
      const format::EncodedRecords* encoded =
          req.encoder ? &block->encoded(*req.encoder) : nullptr;
      for (uint32_t i = block->lower_bound(offset); i < block->record_count(); ++i) {
        const uint64_t cost = (encoded           ? encoded->size(i)
                               : req.record_cost ? req.record_cost(block->record(i, &scratch))
                                                 : block->record_size(i)) +
                              req.record_overhead;
        if (out.records.empty() && cost > hard_cap) {
          return Error(Errc::kInvalidArgument,
                       fmt::format("the record at offset {} ({}) takes {} bytes in this response "
                                   "format, more than a response may hold ({} bytes); read on "
                                   "from offset {}",
                                   block->offset_at(i), seg.key, cost, hard_cap,
                                   block->offset_at(i) + 1));
        }
        if (!out.records.empty() && out.bytes + cost > budget) {
          done = true;
          break;
        }
        out.records.push_back({block.get(), i, encoded});
        out.bytes += cost;
        offset = block->offset_at(i) + 1;
        used = true;
        if (out.records.size() >= max_records) {
          done = true;
          break;
        }
      }
      if (used) out.pinned.push_back(std::move(block));
    }
  }
  out.next_offset = out.records.empty() ? std::max(offset, out.start_offset)
                                        : out.records.back().offset() + 1;
  if (out.records.empty() && out.next_offset < snap->high_watermark) {
    // Only gaps between `offset` and the end: the consumer may move to the end.
    out.next_offset = snap->high_watermark;
  }
  metrics_.records_read.Increment(static_cast<double>(out.records.size()));
  return out;
}

void append_encoded(std::span<const RecordRef> refs, std::string* out) {
  size_t i = 0;
  while (i < refs.size()) {
    // A run: the following records of the same block, with no record between.
    const RecordRef& first = refs[i];
    size_t j = i + 1;
    while (j < refs.size() && refs[j].encoded == first.encoded &&
           refs[j].index == first.index + (j - i)) {
      ++j;
    }
    out->append(first.encoded->range(first.index, first.index + static_cast<uint32_t>(j - i)));
    i = j;
  }
}

}  // namespace sh::read
