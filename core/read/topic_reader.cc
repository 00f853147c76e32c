#include "core/read/topic_reader.h"

#include "core/read/for_each_parallel.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include <fmt/format.h>

namespace sh::read {
namespace {

// `total` split into n shares that differ by at most one; the larger ones go to
// n consecutive partitions starting at `first` (mod n).
std::vector<uint32_t> split(uint64_t total, size_t n, size_t first) {
  std::vector<uint32_t> out(n, static_cast<uint32_t>(total / n));
  for (size_t k = 0; k < total % n; ++k) ++out[(first + k) % n];
  return out;
}

// Appends the records of `more` (read from where `into` stopped) to `into`.
void append(ReadResult& into, ReadResult&& more) {
  into.pinned.insert(into.pinned.end(), std::make_move_iterator(more.pinned.begin()),
                     std::make_move_iterator(more.pinned.end()));
  into.records.insert(into.records.end(), more.records.begin(), more.records.end());
  into.next_offset = more.next_offset;
  into.high_watermark = std::max(into.high_watermark, more.high_watermark);
  into.log_start_offset = more.log_start_offset;
  into.bytes += more.bytes;
  into.stopped_by = std::move(more.stopped_by);
}

}  // namespace

TopicReader::TopicReader(MetadataStore& metadata, LogReader& reader, TopicReaderOptions opts,
                         std::shared_ptr<Clock> clock)
    : metadata_(metadata), reader_(reader), opts_(opts), clock_(std::move(clock)) {}

Result<std::vector<int32_t>> TopicReader::partitions_of(const std::string& topic,
                                                        Deadline deadline) {
  const SteadyTime now = clock_->now_steady();
  {
    std::lock_guard lock(mu_);
    auto it = topics_.find(topic);
    if (it != topics_.end() && now - it->second.at < opts_.partitions_ttl) return it->second.partitions;
  }
  SH_ASSIGN_OR_RETURN(TopicInfo info, metadata_.get_topic(topic, deadline));
  std::vector<int32_t> parts = info.partitions;
  std::sort(parts.begin(), parts.end());
  std::lock_guard lock(mu_);
  if (topics_.size() >= opts_.max_cached_topics && topics_.count(topic) == 0) topics_.clear();
  topics_[topic] = Cached{parts, now};
  return parts;
}

Result<std::vector<int32_t>> TopicReader::select(const std::string& topic,
                                                 const TopicReadRequest& req) {
  SH_ASSIGN_OR_RETURN(std::vector<int32_t> all, partitions_of(topic, req.deadline));
  if (req.partitions.empty()) {
    if (all.empty()) return Error(Errc::kPartitionNotFound, fmt::format("topic {} has no partitions", topic));
    return all;
  }
  std::vector<int32_t> chosen = req.partitions;
  std::sort(chosen.begin(), chosen.end());
  chosen.erase(std::unique(chosen.begin(), chosen.end()), chosen.end());
  for (int32_t p : chosen) {
    if (!std::binary_search(all.begin(), all.end(), p)) {
      return Error(Errc::kPartitionNotFound,
                   fmt::format("topic {} has no partition {}", topic, p));
    }
  }
  return chosen;
}

Result<TopicReadResult> TopicReader::read(const std::string& topic, const TopicReadRequest& req) {
  SH_RETURN_IF_ERROR(check_start_request(req.start));
  SH_ASSIGN_OR_RETURN(std::vector<int32_t> parts, select(topic, req));
  const size_t n = parts.size();
  TopicReadResult out;
  out.partitions.resize(n);
  const uint32_t max_records = std::max<uint32_t>(req.max_records, 1);
  ReadRequest base;
  base.record_cost = req.record_cost;
  base.deadline = req.deadline;
  base.max_response_bytes = std::max<uint64_t>(req.max_response_bytes / n, 1);

  // Round 1: an equal share for every partition, each from where it starts. The
  // remainder of R/P goes to partitions in turn, rotating from poll to poll.
  const size_t turn = rotation_++ % n;
  std::vector<uint32_t> share = split(max_records, n, turn);
  base.max_bytes = std::max<uint64_t>(req.max_bytes / n, 1);
  for_each_parallel(n, opts_.parallelism, [&](size_t i) {
    PartitionRead& pr = out.partitions[i];
    pr.partition = parts[i];
    ReadRequest r = base;
    // A partition whose share is 0 (fewer records asked than partitions) is
    // read for its position only.
    r.max_records = std::max<uint32_t>(share[i], 1);
    if (req.encoder) r.encoder = req.encoder(pr.partition);
    if (auto it = req.offsets.find(pr.partition); it != req.offsets.end()) {
      r.start = StartPosition::at(it->second);
    } else {
      auto resolved = resolve_start(req.start, topic, pr.partition, metadata_, reader_);
      if (!resolved.ok()) {
        pr.error = std::move(resolved).error();
        return;
      }
      r.start = resolved->start;
      pr.committed = resolved->committed;
    }
    auto got = reader_.read(topic, pr.partition, r);
    if (!got.ok()) {
      pr.error = std::move(got).error();
      return;
    }
    pr.result = std::move(*got);
    if (share[i] == 0) {
      pr.result.records.clear();
      pr.result.pinned.clear();
      pr.result.bytes = 0;
      pr.result.next_offset = pr.result.start_offset;
      pr.result.stopped_by.reset();
    }
  });

  // Round 2: what the quiet partitions left, for those that filled their share.
  uint64_t records = 0, bytes = 0;
  std::vector<size_t> full;
  for (size_t i = 0; i < n; ++i) {
    const PartitionRead& pr = out.partitions[i];
    if (pr.error) continue;
    records += pr.result.records.size();
    bytes += pr.result.bytes;
    const bool filled = share[i] > 0 && (pr.result.records.size() >= share[i] ||
                                         pr.result.bytes >= base.max_bytes);
    if (filled && !pr.result.stopped_by && pr.result.next_offset < pr.result.high_watermark) {
      full.push_back(i);
    }
  }
  if (!full.empty() && records < max_records && bytes < req.max_bytes) {
    ReadRequest more = base;
    const std::vector<uint32_t> more_share = split(max_records - records, full.size(), turn);
    more.max_bytes = std::max<uint64_t>((req.max_bytes - bytes) / full.size(), 1);
    for_each_parallel(full.size(), opts_.parallelism, [&](size_t k) {
      if (more_share[k] == 0) return;
      PartitionRead& pr = out.partitions[full[k]];
      ReadRequest r = more;
      r.max_records = more_share[k];
      if (req.encoder) r.encoder = req.encoder(pr.partition);
      r.start = StartPosition::at(pr.result.next_offset);
      auto got = reader_.read(topic, pr.partition, r);
      if (!got.ok()) {
        // What round 1 read stands; the next poll from next_offset meets the error.
        pr.result.stopped_by = std::move(got).error();
        return;
      }
      append(pr.result, std::move(*got));
    });
  }

  const PartitionRead* first_error = nullptr;
  size_t failed = 0;
  for (const PartitionRead& pr : out.partitions) {
    if (pr.error) {
      ++failed;
      if (!first_error) first_error = &pr;
      continue;
    }
    out.records += pr.result.records.size();
    out.bytes += pr.result.bytes;
  }
  if (failed == n && first_error) return *first_error->error;
  return out;
}

}  // namespace sh::read
