#include "core/read/block_fetcher.h"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

namespace sh::read {
namespace {

// A prefetch GET is background work: it gets its own generous deadline.
constexpr Millis kPrefetchTimeout{30000};
constexpr Millis kSweepInterval{1000};

}  // namespace

ReadAheadMetrics::ReadAheadMetrics(prometheus::Registry& registry)
    : gets(prometheus::BuildCounter()
               .Name("streamhouse_readahead_gets_total")
               .Help("Coalesced ranged GETs issued by read-ahead")
               .Register(registry)
               .Add({})),
      prefetched_bytes(prometheus::BuildCounter()
                           .Name("streamhouse_readahead_prefetched_bytes_total")
                           .Help("Stored block bytes fetched ahead of demand")
                           .Register(registry)
                           .Add({})),
      hits(prometheus::BuildCounter()
               .Name("streamhouse_readahead_hits_total")
               .Help("Block fetches answered by read-ahead (buffered or in flight)")
               .Register(registry)
               .Add({})),
      wasted_bytes(prometheus::BuildCounter()
                       .Name("streamhouse_readahead_wasted_bytes_total")
                       .Help("Prefetched bytes dropped before anyone asked for them")
                       .Register(registry)
                       .Add({})),
      collapses(prometheus::BuildCounter()
                    .Name("streamhouse_readahead_collapses_total")
                    .Help("Read-ahead windows reset by a non-sequential read")
                    .Register(registry)
                    .Add({})),
      inflight_bytes(prometheus::BuildGauge()
                         .Name("streamhouse_readahead_inflight_bytes")
                         .Help("Read-ahead bytes buffered or in flight")
                         .Register(registry)
                         .Add({})) {}

BlockFetcher::BlockFetcher(BlockFetcherOptions options, cache::DiskCache* disk,
                           exec::IoEngine* prefetch, prometheus::Registry& registry)
    : options_(options), disk_(disk), prefetch_(prefetch), metrics_(registry) {}

BlockFetcher::~BlockFetcher() = default;

std::string BlockFetcher::pattern_id(const std::string& name, const std::string& etag) {
  return fmt::format("{}#{}", name, etag);
}

std::string BlockFetcher::block_id(const std::string& name, const std::string& etag,
                                   uint64_t position) {
  return fmt::format("{}#{}#{}", name, etag, position);
}

std::string BlockFetcher::disk_key(const std::string& name, const std::string& etag, const Span& s) {
  return fmt::format("{}\x1f{}\x1f{}\x1f{}", name, etag, s.position, s.size);
}

Result<std::string> BlockFetcher::fetch(ObjectStore& store, const std::string& name,
                                        const std::string& key, const format::SegmentMeta& meta,
                                        size_t block_index, Deadline deadline) {
  const format::IndexEntry& entry = meta.index[block_index];
  const std::string bid = block_id(name, meta.etag, entry.handle.position);
  std::optional<std::string> got;
  std::shared_future<void> in_flight;
  std::vector<Run> runs;
  std::vector<std::shared_ptr<std::promise<void>>> promises;
  {
    std::lock_guard lock(mu_);
    const SteadyTime now = std::chrono::steady_clock::now();
    if (now - last_sweep_ >= kSweepInterval) sweep_idle_locked(now);
    if (auto it = buffer_.find(bid); it != buffer_.end()) {
      got = std::move(it->second.bytes);
      buffer_.erase(it);
      inflight_ -= entry.handle.size;
      metrics_.hits.Increment();
    } else if (auto pit = pending_.find(bid); pit != pending_.end()) {
      in_flight = pit->second;
      metrics_.hits.Increment();
    }
    if (prefetch_ != nullptr && options_.readahead_max_bytes > 0) {
      Pattern& p = pattern_locked(store, name, key, meta, block_index, now);
      runs = plan_locked(p, block_index);
      if (p.window > 0 && p.last_demand + 2 >= p.blocks.size()) carry_locked(p, now);
      promises = register_locked(p, runs);
    }
    metrics_.inflight_bytes.Set(static_cast<double>(inflight_));
  }
  launch(runs, promises);
  if (got) return std::move(*got);
  if (in_flight.valid() && in_flight.wait_for(deadline.remaining()) == std::future_status::ready) {
    std::lock_guard lock(mu_);
    if (auto it = buffer_.find(bid); it != buffer_.end()) {
      std::string bytes = std::move(it->second.bytes);
      buffer_.erase(it);
      inflight_ -= entry.handle.size;
      metrics_.inflight_bytes.Set(static_cast<double>(inflight_));
      return bytes;
    }
  }
  if (deadline.expired()) {
    return Error(Errc::kTimeout, fmt::format("reading {}: deadline passed", name), true);
  }
  const Span span{entry.handle.position, entry.handle.size};
  return read_through(store, key, meta.etag, disk_key(name, meta.etag, span), span.position, span.size,
                      deadline);
}

BlockFetcher::Pattern& BlockFetcher::pattern_locked(ObjectStore& store, const std::string& name,
                                                    const std::string& key,
                                                    const format::SegmentMeta& meta,
                                                    size_t first_block, SteadyTime now) {
  const std::string id = pattern_id(name, meta.etag);
  auto [it, created] = patterns_.try_emplace(id);
  Pattern& p = it->second;
  if (created) {
    p.name = name;
    p.key = key;
    p.etag = meta.etag;
    p.store = &store;
    p.blocks.reserve(meta.index.size());
    for (const auto& e : meta.index) p.blocks.push_back({e.handle.position, e.handle.size});
    pattern_lru_.push_front(id);
    p.lru = pattern_lru_.begin();
    // The pattern belongs to the partition (the key's directory), not to one
    // segment: a reader that finished the previous segment and starts this
    // one at its first block keeps its window.
    const std::string dir = name.substr(0, name.rfind('/') + 1);
    if (auto c = carry_.find(dir); c != carry_.end() && first_block == 0 && c->second.from != name &&
                                   now - c->second.at < options_.idle_timeout) {
      p.window = c->second.window;
      p.carried = true;
    }
    while (patterns_.size() > options_.max_patterns && !pattern_lru_.empty()) {
      if (pattern_lru_.back() == id) break;
      drop_pattern_locked(pattern_lru_.back(), true);
    }
  } else {
    pattern_lru_.splice(pattern_lru_.begin(), pattern_lru_, p.lru);
  }
  p.last_used = now;
  return p;
}

void BlockFetcher::collapse_locked(Pattern& p) {
  metrics_.collapses.Increment();
  ++p.generation;
  const std::string id = pattern_id(p.name, p.etag);
  for (auto it = buffer_.begin(); it != buffer_.end();) {
    if (it->second.pattern == id) {
      metrics_.wasted_bytes.Increment(static_cast<double>(it->second.bytes.size()));
      inflight_ -= it->second.bytes.size();
      it = buffer_.erase(it);
    } else {
      ++it;
    }
  }
}

void BlockFetcher::carry_locked(const Pattern& p, SteadyTime now) {
  const std::string dir = p.name.substr(0, p.name.rfind('/') + 1);
  Carry& c = carry_[dir];
  if (c.from != p.name) c.started.clear();
  c.window = p.window;
  c.at = now;
  c.from = p.name;
  if (carry_.size() > options_.max_patterns) {
    for (auto it = carry_.begin(); it != carry_.end(); ++it) {
      if (it->first != dir) {
        carry_.erase(it);
        break;
      }
    }
  }
}

void BlockFetcher::expect(ObjectStore& store, const std::string& name, const std::string& key,
                          const format::SegmentMeta& meta, size_t first, size_t count,
                          Deadline deadline) {
  if (prefetch_ == nullptr || options_.readahead_max_bytes == 0 || first >= meta.index.size()) {
    return;
  }
  Run run;
  std::vector<std::shared_ptr<std::promise<void>>> promises;
  {
    std::lock_guard lock(mu_);
    const SteadyTime now = std::chrono::steady_clock::now();
    Pattern& p = pattern_locked(store, name, key, meta, first, now);
    const bool sequential = p.carried || (p.last_demand != SIZE_MAX && first >= p.last_demand &&
                                          first <= p.ahead_end);
    size_t from = first;
    if (sequential) {
      from = std::max(first, p.ahead_end);  // read-ahead covers the blocks before
    } else {
      if (p.last_demand != SIZE_MAX) collapse_locked(p);
      p.window = 0;
      p.last_demand = SIZE_MAX;
      p.ahead_end = first;
      p.expected = first;
    }
    const size_t end = std::min(first + count, p.blocks.size());
    // Skip what is buffered or in flight (another reader's demand run).
    while (from < end && (buffer_.count(block_id(name, p.etag, p.blocks[from].position)) > 0 ||
                          pending_.count(block_id(name, p.etag, p.blocks[from].position)) > 0)) {
      ++from;
    }
    if (from >= end) return;
    run = Run{pattern_id(name, p.etag), p.generation, from, 0, 0};
    while (from + run.count < end) {
      const uint64_t sz = p.blocks[from + run.count].size;
      if (run.count > 0 && run.bytes + sz > options_.max_get_bytes) break;
      run.bytes += sz;
      ++run.count;
    }
    if (inflight_ + run.bytes > options_.max_inflight_bytes) return;
    p.ahead_end = std::max(p.ahead_end, from + run.count);
    inflight_ += run.bytes;
    run.deadline = deadline;
    std::vector<Run> runs{run};
    promises = register_locked(p, runs);
    run = std::move(runs.front());
    metrics_.inflight_bytes.Set(static_cast<double>(inflight_));
  }
  run_prefetch(run, promises.front());
}

std::vector<BlockFetcher::Run> BlockFetcher::plan_locked(Pattern& p, size_t b) {
  std::vector<Run> runs;
  if (b >= p.blocks.size() || b == p.last_demand) return runs;
  const bool carried = std::exchange(p.carried, false);
  const bool sequential =
      carried || (p.last_demand != SIZE_MAX && b > p.last_demand && b <= p.ahead_end);
  if (carried) {
    // The window came from the previous segment (runs may already be planned).
    p.ahead_end = std::max(p.ahead_end, b + 1);
  } else if (sequential) {
    // One block ahead at first, then double while the pattern holds.
    p.window = std::min(std::max(p.window * 2, p.blocks[b].size), options_.readahead_max_bytes);
  } else {
    // A random jump: what was planned for the old position is not wanted
    // (unless expect() prepared this very block, and collapsed already).
    if (p.last_demand != SIZE_MAX && b != p.expected) collapse_locked(p);
    p.window = 0;
    if (b != p.expected) p.ahead_end = b + 1;
  }
  p.expected = SIZE_MAX;
  p.last_demand = b;
  p.ahead_end = std::max(p.ahead_end, b + 1);
  uint64_t ahead = 0;
  for (size_t i = b + 1; i < p.ahead_end; ++i) ahead += p.blocks[i].size;
  // Refill only once half the window has been consumed, then to the whole
  // window: GETs stay large (coalesced) instead of one block per consumed block.
  if (ahead > 0 && ahead >= p.window / 2) return runs;
  return fill_locked(p, ahead);
}

std::vector<BlockFetcher::Run> BlockFetcher::fill_locked(Pattern& p, uint64_t ahead) {
  std::vector<Run> runs;
  const std::string id = pattern_id(p.name, p.etag);
  while (ahead < p.window && p.ahead_end < p.blocks.size()) {
    Run r{id, p.generation, p.ahead_end, 0, 0};
    // Runs of about a quarter of the window (at most max_get_bytes): several
    // GETs in flight, so one connection's bandwidth is not the ceiling. A run is
    // never larger than what is already ahead of it: near the reader the runs
    // are small and land first (one block, one, two, four ...), farther ones
    // are large.
    const uint64_t run_cap =
        std::min({std::max(p.window / 4, p.blocks[p.ahead_end].size), options_.max_get_bytes,
                  std::max(ahead, p.blocks[p.ahead_end].size)});
    while (p.ahead_end + r.count < p.blocks.size() && ahead + r.bytes < p.window) {
      const uint64_t sz = p.blocks[p.ahead_end + r.count].size;
      if (r.count > 0 && r.bytes + sz > run_cap) break;
      r.bytes += sz;
      ++r.count;
    }
    if (r.count == 0 || inflight_ + r.bytes > options_.max_inflight_bytes) break;
    p.ahead_end += r.count;
    inflight_ += r.bytes;
    ahead += r.bytes;
    runs.push_back(r);
  }
  if (p.window > 0 && p.ahead_end >= p.blocks.size()) {
    carry_locked(p, std::chrono::steady_clock::now());
  }
  return runs;
}

void BlockFetcher::run_prefetch(const Run& run, std::shared_ptr<std::promise<void>> done) {
  ObjectStore* store = nullptr;
  std::string key, etag, name;
  std::vector<Span> spans;
  {
    std::lock_guard lock(mu_);
    auto it = patterns_.find(run.pattern);
    const bool current = it != patterns_.end() && it->second.generation == run.generation;
    if (!current) {
      // Cancelled while queued (collapse, idle, forget) or refused by a full engine.
      for (const auto& id : run.block_ids) pending_.erase(id);
      if (it != patterns_.end() && it->second.ahead_end > run.first) it->second.ahead_end = run.first;
      inflight_ -= run.bytes;
      metrics_.inflight_bytes.Set(static_cast<double>(inflight_));
      done->set_value();
      return;
    }
    const Pattern& p = it->second;
    store = p.store;
    key = p.key;
    etag = p.etag;
    name = p.name;
    spans.assign(p.blocks.begin() + static_cast<ptrdiff_t>(run.first),
                 p.blocks.begin() + static_cast<ptrdiff_t>(run.first + run.count));
  }
  ReadOptions ro;
  ro.deadline = !run.deadline.is_never() ? run.deadline : Deadline::after(kPrefetchTimeout);
  if (!etag.empty()) ro.if_match_etag = etag;
  const uint64_t first = spans.front().position;
  const uint64_t length = spans.back().position + spans.back().size - first;
  Result<RangeRead> read = from_disk(name, etag, spans);
  const bool on_disk = read.ok();
  if (!on_disk) {
    metrics_.gets.Increment();
    read = store->get_range(key, first, length, ro);
  }
  std::vector<std::pair<std::string, std::string>> to_disk;
  {
    std::lock_guard lock(mu_);
    auto it = patterns_.find(run.pattern);
    const bool current = it != patterns_.end() && it->second.generation == run.generation;
    for (const auto& id : run.block_ids) pending_.erase(id);
    if (read.ok() && current && read->data.size() == length) {
      for (const Span& s : spans) {
        std::string bytes = read->data.substr(s.position - first, s.size);
        if (disk_ != nullptr && !on_disk) to_disk.emplace_back(disk_key(name, etag, s), bytes);
        buffer_[block_id(name, etag, s.position)] = Buffered{std::move(bytes), run.pattern};
      }
      metrics_.prefetched_bytes.Increment(static_cast<double>(length));
    } else {
      inflight_ -= run.bytes;
      if (read.ok()) metrics_.wasted_bytes.Increment(static_cast<double>(length));
      // A failed run may be planned again by the next demand fetch.
      if (current && it->second.ahead_end > run.first) it->second.ahead_end = run.first;
    }
    metrics_.inflight_bytes.Set(static_cast<double>(inflight_));
  }
  done->set_value();
  for (const auto& [dkey, bytes] : to_disk) (void)disk_->put(dkey, bytes);  // failures are counted there
}

Result<RangeRead> BlockFetcher::from_disk(const std::string& name, const std::string& etag,
                                          const std::vector<Span>& spans) {
  if (disk_ == nullptr) return Error(Errc::kNotFound, "no disk cache");
  RangeRead out;
  std::string bytes;
  for (const Span& s : spans) {
    if (s.position != spans.front().position + out.data.size()) {
      return Error(Errc::kNotFound, "blocks not contiguous");
    }
    auto hit = disk_->get(disk_key(name, etag, s), &bytes);
    if (!hit.ok() || !*hit || bytes.size() != s.size) return Error(Errc::kNotFound, "not on disk");
    out.data += bytes;  // spans are consecutive blocks: no gaps
  }
  out.etag = etag;
  return out;
}

Result<std::string> BlockFetcher::read_through(ObjectStore& store, const std::string& key,
                                               const std::string& etag, const std::string& dkey,
                                               uint64_t position, uint64_t size, Deadline deadline) {
  if (disk_ != nullptr) {
    std::string bytes;
    auto hit = disk_->get(dkey, &bytes);
    if (hit.ok() && *hit && bytes.size() == size) return bytes;
  }
  ReadOptions ro;
  ro.deadline = deadline;
  if (!etag.empty()) ro.if_match_etag = etag;
  SH_ASSIGN_OR_RETURN(RangeRead read, store.get_range(key, position, size, ro));
  if (disk_ != nullptr) (void)disk_->put(dkey, read.data);  // failures are counted there
  return std::move(read.data);
}

void BlockFetcher::drop_pattern_locked(const std::string& id, bool count_waste) {
  auto it = patterns_.find(id);
  if (it == patterns_.end()) return;
  for (auto b = buffer_.begin(); b != buffer_.end();) {
    if (b->second.pattern == id) {
      if (count_waste) metrics_.wasted_bytes.Increment(static_cast<double>(b->second.bytes.size()));
      inflight_ -= b->second.bytes.size();
      b = buffer_.erase(b);
    } else {
      ++b;
    }
  }
  // Runs still queued or in flight see the pattern gone and release their bytes.
  pattern_lru_.erase(it->second.lru);
  patterns_.erase(it);
  metrics_.inflight_bytes.Set(static_cast<double>(inflight_));
}

void BlockFetcher::sweep_idle_locked(SteadyTime now) {
  last_sweep_ = now;
  while (!pattern_lru_.empty()) {
    auto it = patterns_.find(pattern_lru_.back());
    if (it == patterns_.end() || now - it->second.last_used < options_.idle_timeout) break;
    drop_pattern_locked(pattern_lru_.back(), true);
  }
}

bool BlockFetcher::wants_start(const std::string& name) {
  if (prefetch_ == nullptr || options_.readahead_max_bytes == 0) return false;
  std::lock_guard lock(mu_);
  const std::string dir = name.substr(0, name.rfind('/') + 1);
  auto c = carry_.find(dir);
  if (c == carry_.end() || c->second.from == name || c->second.started == name ||
      std::chrono::steady_clock::now() - c->second.at >= options_.idle_timeout) {
    return false;
  }
  c->second.started = name;
  return true;
}

bool BlockFetcher::submit(std::function<void()> task) {
  if (prefetch_ == nullptr) return false;
  return prefetch_->try_submit([task = std::move(task)](bool) { task(); });
}

void BlockFetcher::start_ahead(ObjectStore& store, const std::string& name, const std::string& key,
                               const format::SegmentMeta& meta) {
  std::vector<Run> runs;
  std::vector<std::shared_ptr<std::promise<void>>> promises;
  {
    std::lock_guard lock(mu_);
    const std::string dir = name.substr(0, name.rfind('/') + 1);
    auto c = carry_.find(dir);
    if (c == carry_.end() || meta.index.empty()) return;
    const std::string id = pattern_id(name, meta.etag);
    auto [it, created] = patterns_.try_emplace(id);
    if (!created) return;  // the reader got there first
    Pattern& p = it->second;
    p.name = name;
    p.key = key;
    p.etag = meta.etag;
    p.store = &store;
    for (const auto& e : meta.index) p.blocks.push_back({e.handle.position, e.handle.size});
    pattern_lru_.push_front(id);
    p.lru = pattern_lru_.begin();
    p.last_used = std::chrono::steady_clock::now();
    p.window = c->second.window;
    p.carried = true;  // the reader's first fetch here continues the pattern
    p.ahead_end = 0;
    runs = fill_locked(p, 0);
    promises = register_locked(p, runs);
    metrics_.inflight_bytes.Set(static_cast<double>(inflight_));
  }
  launch(runs, promises);
}

std::vector<std::shared_ptr<std::promise<void>>> BlockFetcher::register_locked(const Pattern& p,
                                                                             std::vector<Run>& runs) {
  std::vector<std::shared_ptr<std::promise<void>>> promises;
  for (Run& r : runs) {
    auto promise = std::make_shared<std::promise<void>>();
    std::shared_future<void> f = promise->get_future().share();
    for (size_t i = r.first; i < r.first + r.count; ++i) {
      r.block_ids.push_back(block_id(p.name, p.etag, p.blocks[i].position));
      pending_[r.block_ids.back()] = f;
    }
    promises.push_back(std::move(promise));
  }
  return promises;
}

void BlockFetcher::launch(const std::vector<Run>& runs,
                          const std::vector<std::shared_ptr<std::promise<void>>>& promises) {
  // Each run is its own task, so runs are fetched in parallel.
  for (size_t i = 0; i < runs.size(); ++i) {
    auto promise = promises[i];
    const Run& run = runs[i];
    if (!prefetch_->try_submit([this, run, promise](bool) { run_prefetch(run, promise); })) {
      Run cancelled = run;
      cancelled.generation = UINT64_MAX;  // never current: released without a GET
      run_prefetch(cancelled, promise);
    }
  }
}

void BlockFetcher::forget(const std::string& name) {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  for (const auto& [id, p] : patterns_) {
    if (p.name == name) ids.push_back(id);
  }
  for (const auto& id : ids) drop_pattern_locked(id, true);
}

uint64_t BlockFetcher::inflight_bytes() const {
  std::lock_guard lock(mu_);
  return inflight_;
}

uint64_t BlockFetcher::window_bytes(const std::string& name, const std::string& etag) const {
  std::lock_guard lock(mu_);
  auto it = patterns_.find(pattern_id(name, etag));
  return it == patterns_.end() ? 0 : it->second.window;
}

}  // namespace sh::read
