#include "core/read/record_stream.h"

#include <algorithm>
#include <utility>

namespace sh::read {

std::string_view stream_end_reason_name(StreamEndReason r) {
  switch (r) {
    case StreamEndReason::kHighWatermark:
      return "high_watermark";
    case StreamEndReason::kEndOffset:
      return "end_offset";
  }
  return "high_watermark";
}

RecordStream::RecordStream(std::shared_ptr<LogReader> reader,
                           std::shared_ptr<WatermarkNotifier> notifier,
                           std::shared_ptr<exec::IoEngine> engine,
                           std::unique_ptr<StreamEncoder> encoder, RecordStreamOptions opts)
    : reader_(std::move(reader)),
      notifier_(std::move(notifier)),
      engine_(std::move(engine)),
      encoder_(std::move(encoder)),
      opts_(std::move(opts)) {}

RecordStream::~RecordStream() = default;

Result<std::shared_ptr<RecordStream>> RecordStream::open(std::shared_ptr<LogReader> reader,
                                                         std::shared_ptr<WatermarkNotifier> notifier,
                                                         std::shared_ptr<exec::IoEngine> engine,
                                                         std::unique_ptr<StreamEncoder> encoder,
                                                         RecordStreamOptions opts) {
  std::shared_ptr<RecordStream> s(new RecordStream(std::move(reader), std::move(notifier),
                                                   std::move(engine), std::move(encoder),
                                                   std::move(opts)));
  ReadRequest req;
  req.start = s->opts_.start;
  req.max_records = s->opts_.chunk_records;
  req.max_bytes = s->opts_.chunk_bytes;
  req.record_cost = s->opts_.record_cost;
  req.encoder = s->opts_.encoder;
  req.record_overhead = s->opts_.record_overhead;
  req.deadline = Deadline::after(s->opts_.read_timeout);
  auto first = s->reader_->read(s->opts_.topic, s->opts_.partition, req);
  if (!first.ok()) return first.error();
  if (first->records.empty() && first->stopped_by) return *first->stopped_by;
  s->start_offset_ = first->start_offset;
  s->hwm_at_open_ = first->high_watermark;
  s->next_offset_ = first->start_offset;
  const auto& end = s->opts_.end_offset;
  if (s->opts_.follow) {
    if (end) {
      s->stop_at_ = *end;
      s->stop_reason_ = StreamEndReason::kEndOffset;
    }
  } else if (end && *end <= s->hwm_at_open_) {
    s->stop_at_ = *end;
    s->stop_reason_ = StreamEndReason::kEndOffset;
  } else {
    s->stop_at_ = s->hwm_at_open_;
    s->stop_reason_ = StreamEndReason::kHighWatermark;
  }
  StreamChunk chunk = s->frame(*first);
  if (chunk.records == 0) {
    std::string head;
    s->encoder_->opened(s->start_offset_, &head);
    chunk.bytes.insert(0, head);
  }
  std::lock_guard<std::mutex> lock(s->mu_);
  s->done_ = chunk.last;
  if (!chunk.bytes.empty() || chunk.last) s->queue_.push_back(std::move(chunk));
  return s;
}

StreamChunk RecordStream::frame(ReadResult& r) {
  StreamChunk c;
  const uint64_t from = next_offset_;
  uint64_t next = std::max(r.next_offset, from);
  bool reached = false;
  if (stop_at_) {
    auto past = std::find_if(r.records.begin(), r.records.end(),
                             [&](const RecordRef& ref) { return ref.offset() >= *stop_at_; });
    r.records.erase(past, r.records.end());
    if (next >= *stop_at_ || from >= *stop_at_) {
      next = std::max(*stop_at_, from);
      reached = true;
    }
  }
  if (!r.records.empty()) encoder_->records(r, &c.bytes);
  c.records = r.records.size();
  // A read below the stop offset that made no progress cannot end a stream
  // that does not follow (the log shrank under it): end it where it stands.
  if (!reached && !opts_.follow && r.records.empty() && next == from) reached = true;
  next_offset_ = next;
  c.next_offset = next;
  if (reached) {
    encoder_->end(next, stop_reason_, &c.bytes);
    c.last = true;
    c.end_reason = stop_reason_;
  }
  return c;
}

void RecordStream::start(std::function<void()> on_ready) {
  bool run = false;
  bool ready = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) return;
    started_ = true;
    on_ready_ = std::move(on_ready);
    ready = !queue_.empty();
    if (closed_ || done_) {
      run = false;
    } else if (queue_.size() < opts_.max_chunks) {
      producing_ = true;
      run = true;
    } else {
      paused_ = true;
    }
  }
  if (ready) notify();
  if (run) produce();
}

std::optional<StreamChunk> RecordStream::pop() {
  bool resume = false;
  std::optional<StreamChunk> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.empty()) return std::nullopt;
    out.emplace(std::move(queue_.front()));
    queue_.pop_front();
    if (paused_ && !closed_ && !done_) {
      paused_ = false;
      producing_ = true;
      resume = true;
    }
  }
  if (resume) produce();
  return out;
}

void RecordStream::close() {
  std::deque<StreamChunk> dropped;
  std::function<void()> cb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    paused_ = false;
    dropped.swap(queue_);
    cb.swap(on_ready_);
  }
  // `dropped` and `cb` are destroyed here, outside the lock.
}

size_t RecordStream::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

bool RecordStream::producing() const {
  std::lock_guard<std::mutex> lock(mu_);
  return producing_;
}

void RecordStream::schedule() {
  std::weak_ptr<RecordStream> weak = weak_from_this();
  // A continuation: an open stream's next read is never refused for room (a
  // burst of followers re-reading the tail together must not end them), only
  // when the server stops.
  const bool queued = engine_->submit_continuation([weak](bool /*expired*/) {
    if (auto self = weak.lock()) self->step();
  });
  if (!queued) {
    push_error(Error(Errc::kUnavailable,
                     "the I/O engine refused the stream's next read (stopping); reconnect to resume",
                     true));
  }
}

void RecordStream::step() {
  if (step_once(/*cache_only=*/false) == Step::kMore) produce();
}

void RecordStream::produce() {
  if (!opts_.produce_inline) return schedule();
  // Bounded: a consumer that keeps making room must not keep this thread (an
  // HTTP worker) here; the engine takes over after a few chunks.
  for (size_t i = 0; i <= opts_.max_chunks; ++i) {
    const Step s = step_once(/*cache_only=*/true);
    if (s == Step::kStopped) return;
    if (s == Step::kWouldBlock) break;
  }
  schedule();
}

RecordStream::Step RecordStream::step_once(bool cache_only) {
  uint64_t from = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) {
      producing_ = false;
      return Step::kStopped;
    }
    from = next_offset_;
  }
  ReadRequest req;
  req.start = StartPosition::at(from);
  req.max_records = opts_.chunk_records;
  req.max_bytes = opts_.chunk_bytes;
  req.record_cost = opts_.record_cost;
  req.encoder = opts_.encoder;
  req.record_overhead = opts_.record_overhead;
  req.deadline = Deadline::after(opts_.read_timeout);
  req.cache_only = cache_only;
  auto r = reader_->read(opts_.topic, opts_.partition, req);
  if (!r.ok()) {
    if (r.error().code() == Errc::kWouldBlock) return Step::kWouldBlock;
    push_error(r.error());
    return Step::kStopped;
  }
  // A read cut short by a failed block: its records (before the block) are
  // whole; the block's error ends the stream once they are framed.
  // (A cache-only read that meets what memory lacks fails whole, above.)
  if (r->records.empty() && r->stopped_by) {
    push_error(*r->stopped_by);
    return Step::kStopped;
  }
  // At the end of the log: only a read that may do I/O refreshes the tail
  // (LogReader), so a cache-only one leaves it to the engine.
  // (At the stop offset there is nothing to refresh: the end piece is framed.)
  if (cache_only && r->records.empty() && r->next_offset <= from && !(stop_at_ && from >= *stop_at_)) {
    return Step::kWouldBlock;
  }
  StreamChunk chunk = frame(*r);
  if (chunk.records == 0 && !chunk.last) {
    // Following at the end of the log.
    wait_for_data();
    return Step::kStopped;
  }
  return push(std::move(chunk)) ? Step::kMore : Step::kStopped;
}

bool RecordStream::push(StreamChunk chunk) {
  bool run = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) {
      producing_ = false;
      return false;
    }
    const bool last = chunk.last;
    queue_.push_back(std::move(chunk));
    if (last) {
      done_ = true;
      producing_ = false;
    } else if (queue_.size() < opts_.max_chunks) {
      run = true;
    } else {
      paused_ = true;
      producing_ = false;
    }
  }
  notify();
  return run;
}

void RecordStream::push_error(const Error& e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    producing_ = false;
    paused_ = false;
    if (closed_ || done_) return;
    StreamChunk c;
    encoder_->error(e, next_offset_, &c.bytes);
    c.next_offset = next_offset_;
    c.last = true;
    c.failed = true;
    queue_.push_back(std::move(c));
    done_ = true;
  }
  notify();
}

void RecordStream::wait_for_data() {
  uint64_t at = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) {
      producing_ = false;
      return;
    }
    at = next_offset_;
  }
  std::weak_ptr<RecordStream> weak = weak_from_this();
  notifier_->wait(opts_.topic, opts_.partition, at, std::chrono::steady_clock::now() + opts_.heartbeat,
                  [weak](WatermarkNotifier::Wake why) {
                    if (auto self = weak.lock()) self->on_wake(why);
                  });
}

void RecordStream::on_wake(WatermarkNotifier::Wake why) {
  switch (why) {
    case WatermarkNotifier::Wake::kData:
      return schedule();
    case WatermarkNotifier::Wake::kShutdown:
      return push_error(Error(Errc::kUnavailable, "server shutting down; reconnect to resume", true));
    case WatermarkNotifier::Wake::kDeadline:
      break;
  }
  bool beat = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) {
      producing_ = false;
      return;
    }
    // A consumer that has not taken the queued chunks needs no heartbeat.
    if (queue_.size() < opts_.max_chunks) {
      StreamChunk c;
      encoder_->heartbeat(&c.bytes);
      c.next_offset = next_offset_;
      queue_.push_back(std::move(c));
      beat = true;
    }
  }
  if (beat) notify();
  // Look again with a read rather than only re-waiting: a read at the end of
  // the log refreshes the partition's tail (LogReader), so a follower whose
  // heartbeat is shorter than the notifier's poll interval still sees data.
  schedule();
}

void RecordStream::notify() {
  std::function<void()> cb;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return;
    cb = on_ready_;
  }
  if (cb) cb();
}

}  // namespace sh::read
