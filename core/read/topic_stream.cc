#include "core/read/topic_stream.h"

#include "core/read/for_each_parallel.h"

#include <algorithm>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "core/format/coding.h"

namespace sh::read {
namespace {

// A partition chunk's bytes, between its RecordStream and pop(): per record
// [fixed64 offset][fixed32 n][n bytes of TopicStreamEncoder::record_payload].
// Written and read only here.
constexpr size_t kEntryHeader = 12;

}  // namespace

// What a partition's RecordStream tells the merge besides its bytes: the error
// that ended it. Written under the RecordStream's lock before the error chunk
// is queued, read after pop() took it (the same lock orders them).
struct detail::TopicStreamTap {
  std::mutex mu;
  std::optional<Error> error;
};

namespace {

// The StreamEncoder of one partition's RecordStream: records in the entry
// format above, nothing for heartbeats and the end (the chunk flags say it),
// the error kept in the tap.
class PartitionEncoder final : public StreamEncoder {
 public:
  PartitionEncoder(int32_t partition, std::shared_ptr<TopicStreamEncoder> enc,
                   std::shared_ptr<detail::TopicStreamTap> tap)
      : partition_(partition), enc_(std::move(enc)), tap_(std::move(tap)) {}

  void records(const ReadResult& r, std::string* out) override {
    out->reserve(out->size() + r.bytes + r.records.size() * (kEntryHeader + 16));
    for (const RecordRef& ref : r.records) {
      coding::put_fixed64(out, ref.offset());
      const size_t len_at = out->size();
      coding::put_fixed32(out, 0);
      const size_t from = out->size();
      if (ref.encoded != nullptr) {
        out->append(ref.encoded_bytes());  // encoded once, kept with the block
      } else {
        enc_->record_payload(partition_, ref.block->record(ref.index, &scratch_), out);
      }
      const auto n = static_cast<uint32_t>(out->size() - from);
      for (int k = 0; k < 4; ++k) (*out)[len_at + k] = static_cast<char>(n >> (8 * k));
    }
  }
  void heartbeat(std::string* /*out*/) override {}
  void end(uint64_t /*next_offset*/, StreamEndReason /*reason*/, std::string* /*out*/) override {}
  void error(const Error& e, uint64_t /*next_offset*/, std::string* /*out*/) override {
    std::lock_guard<std::mutex> lock(tap_->mu);
    tap_->error = e;
  }

 private:
  const int32_t partition_;
  const std::shared_ptr<TopicStreamEncoder> enc_;
  const std::shared_ptr<detail::TopicStreamTap> tap_;
  std::vector<HeaderView> scratch_;
};

}  // namespace

TopicStream::TopicStream(std::shared_ptr<TopicStreamEncoder> encoder,
                         std::vector<TopicStreamPartition> parts, std::vector<Source> sources,
                         uint64_t chunk_bytes)
    : encoder_(std::move(encoder)),
      parts_(std::move(parts)),
      chunk_bytes_(chunk_bytes),
      sources_(std::move(sources)) {
  positions_.reserve(parts_.size());
  for (const TopicStreamPartition& p : parts_) positions_.push_back({p.partition, p.start_offset});
}

TopicStream::~TopicStream() { close(); }

Result<std::shared_ptr<TopicStream>> TopicStream::open(std::shared_ptr<LogReader> reader,
                                                       std::shared_ptr<WatermarkNotifier> notifier,
                                                       std::shared_ptr<exec::IoEngine> engine,
                                                       MetadataStore& metadata,
                                                       std::shared_ptr<TopicStreamEncoder> encoder,
                                                       const std::string& topic, TopicStreamRequest req,
                                                       TopicStreamOptions opts) {
  SH_RETURN_IF_ERROR(check_start_request(req.start));
  SH_ASSIGN_OR_RETURN(TopicInfo info, metadata.get_topic(topic, Deadline::after(opts.metadata_timeout)));
  std::vector<int32_t> all = info.partitions;
  std::sort(all.begin(), all.end());
  std::vector<int32_t> selected = req.partitions.empty() ? all : req.partitions;
  std::sort(selected.begin(), selected.end());
  selected.erase(std::unique(selected.begin(), selected.end()), selected.end());
  if (selected.empty()) {
    return Error(Errc::kPartitionNotFound, fmt::format("topic {} has no partitions", topic));
  }
  for (int32_t p : selected) {
    if (!std::binary_search(all.begin(), all.end(), p)) {
      return Error(Errc::kPartitionNotFound, fmt::format("topic {} has no partition {}", topic, p));
    }
  }
  for (const auto& [p, start] : req.resume) {
    if (!std::binary_search(selected.begin(), selected.end(), p)) {
      return invalid_argument(fmt::format(
          "a resume position names partition {}, which this stream of topic {} does not read", p, topic));
    }
  }

  const size_t n = selected.size();
  const uint64_t per_chunk = opts.max_queued_bytes / (n * std::max<size_t>(opts.max_chunks, 1));
  const uint64_t chunk_bytes = std::clamp(per_chunk, opts.min_chunk_bytes, opts.max_chunk_bytes);
  const uint64_t extra_cost = opts.record_overhead + opts.record_cost_per_partition * n;
  std::vector<TopicStreamPartition> parts(n);
  std::vector<Source> sources(n);
  std::vector<std::optional<Error>> errors(n);
  for_each_parallel(n, opts.open_parallelism, [&](size_t i) {
    const int32_t p = selected[i];
    RecordStreamOptions so;
    so.topic = topic;
    so.partition = p;
    so.follow = req.follow;
    so.max_chunks = opts.max_chunks;
    so.chunk_bytes = chunk_bytes;
    so.chunk_records = opts.chunk_records;
    so.encoder = encoder->payload_encoder(p);
    so.record_cost = opts.record_cost;  // when there is no payload encoder
    so.record_overhead = extra_cost;
    so.heartbeat = opts.heartbeat;
    so.read_timeout = opts.read_timeout;
    std::optional<uint64_t> committed;
    if (auto it = req.resume.find(p); it != req.resume.end()) {
      so.start = it->second;
    } else {
      auto resolved = resolve_start(req.start, topic, p, metadata, *reader);
      if (!resolved.ok()) {
        errors[i] = std::move(resolved).error().prefix(fmt::format("partition {}", p));
        return;
      }
      so.start = resolved->start;
      committed = resolved->committed;
    }
    auto tap = std::make_shared<detail::TopicStreamTap>();
    auto stream = RecordStream::open(reader, notifier, engine,
                                     std::make_unique<PartitionEncoder>(p, encoder, tap), std::move(so));
    if (!stream.ok()) {
      errors[i] = std::move(stream).error().prefix(fmt::format("partition {}", p));
      return;
    }
    parts[i] = {p, (*stream)->start_offset(), (*stream)->high_watermark_at_open(), committed};
    sources[i] = Source{std::move(*stream), std::move(tap), false};
  });
  for (size_t i = 0; i < n; ++i) {
    if (!errors[i]) continue;
    for (Source& s : sources) {
      if (s.stream) s.stream->close();
    }
    return *errors[i];
  }
  return std::shared_ptr<TopicStream>(
      new TopicStream(std::move(encoder), std::move(parts), std::move(sources), chunk_bytes));
}

void TopicStream::start(std::function<void()> on_ready) {
  {
    std::lock_guard<std::mutex> lock(cb_mu_);
    if (started_ || closed_.load()) return;
    started_ = true;
    on_ready_ = std::move(on_ready);
  }
  std::weak_ptr<TopicStream> weak = weak_from_this();
  // sources_ (the vector and each stream pointer) never changes after open.
  for (const Source& s : sources_) {
    s.stream->start([weak] {
      if (auto self = weak.lock()) self->notify();
    });
  }
  // The first piece is ready now even when no partition has data: it says
  // where the stream stands (TopicStreamEncoder::opened).
  notify();
}

void TopicStream::notify() {
  std::function<void()> cb;
  {
    std::lock_guard<std::mutex> lock(cb_mu_);
    if (closed_.load()) return;
    cb = on_ready_;
  }
  if (cb) cb();
}

std::optional<TopicStreamChunk> TopicStream::pop() {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_ || closed_.load()) return std::nullopt;
  const bool first = !opened_;
  opened_ = true;
  std::optional<TopicStreamChunk> out;
  const size_t n = sources_.size();
  for (size_t k = 0; k < n && !out; ++k) {
    const size_t i = (next_turn_ + k) % n;
    if (sources_[i].done) continue;
    std::optional<StreamChunk> c = sources_[i].stream->pop();
    if (!c) continue;
    next_turn_ = (i + 1) % n;
    out = frame_locked(i, *c);
  }
  // A first piece without a record (every record's framing says where each
  // partition stands; nothing else does) starts with the positions.
  if (first && (!out || out->records == 0)) {
    std::string head;
    encoder_->opened(positions_, &head);
    if (!head.empty()) {
      if (!out) out.emplace();
      out->bytes.insert(0, head);
    }
  }
  return out;
}

TopicStreamChunk TopicStream::frame_locked(size_t i, StreamChunk& c) {
  TopicStreamChunk out;
  const int32_t partition = positions_[i].partition;
  const std::string& b = c.bytes;
  size_t at = 0;
  while (b.size() - at >= kEntryHeader) {
    const uint64_t offset = coding::decode_fixed64(b.data() + at);
    const uint32_t len = coding::decode_fixed32(b.data() + at + 8);
    at += kEntryHeader;
    if (len > b.size() - at) break;  // cannot happen: PartitionEncoder wrote it
    positions_[i].next_offset = offset + 1;
    encoder_->record(partition, offset, std::string_view(b.data() + at, len), positions_, &out.bytes);
    at += len;
    ++out.records;
  }
  positions_[i].next_offset = std::max(positions_[i].next_offset, c.next_offset);

  if (c.failed) {
    std::optional<Error> e;
    {
      std::lock_guard<std::mutex> tap_lock(sources_[i].tap->mu);
      e = sources_[i].tap->error;
    }
    encoder_->error(partition, e.value_or(Error(Errc::kInternal, "the partition's stream failed")),
                    positions_, &out.bytes);
    out.last = true;
    out.failed = true;
    finished_ = true;
    // The other partitions stop here; their queued chunks are dropped.
    for (Source& s : sources_) s.stream->close();
    return out;
  }
  if (c.last) {
    sources_[i].done = true;
    const bool all_done =
        std::all_of(sources_.begin(), sources_.end(), [](const Source& s) { return s.done; });
    if (all_done) {
      encoder_->end(positions_, &out.bytes);
      out.last = true;
      finished_ = true;
    }
    return out;
  }
  if (c.records == 0) {
    // A heartbeat: every waiting partition sends one; only the first partition
    // still open speaks for the stream, so it beats once per interval.
    size_t leader = 0;
    while (leader < sources_.size() && sources_[leader].done) ++leader;
    if (leader == i) encoder_->heartbeat(&out.bytes);
  }
  return out;
}

void TopicStream::close() {
  closed_.store(true);
  std::function<void()> cb;
  {
    std::lock_guard<std::mutex> lock(cb_mu_);
    cb.swap(on_ready_);
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (Source& s : sources_) {
    if (s.stream) s.stream->close();
  }
  // `cb` is destroyed after the locks are released (declared before them).
}

std::vector<TopicStreamPosition> TopicStream::positions() const {
  std::lock_guard<std::mutex> lock(mu_);
  return positions_;
}

size_t TopicStream::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const Source& s : sources_) n += s.stream->queued();
  return n;
}

bool TopicStream::producing() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::any_of(sources_.begin(), sources_.end(),
                     [](const Source& s) { return s.stream->producing(); });
}

}  // namespace sh::read
