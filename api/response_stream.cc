#include "api/response_stream.h"

#include <algorithm>
#include <cstring>
#include <exception>

#include <spdlog/spdlog.h>

namespace sh::api {

namespace detail {

namespace {
// Small writes (heartbeats, end lines) join the last part up to this size.
constexpr size_t kJoinBytes = 4096;
}  // namespace

void StreamState::append_locked(std::string_view bytes, bool finish) {
  if (!bytes.empty()) {
    if (!parts.empty() && parts.back().size() + bytes.size() <= kJoinBytes) {
      parts.back().append(bytes);
    } else {
      parts.emplace_back(bytes);
    }
    queued += bytes.size();
  }
  finished = finish;
}

size_t StreamState::take_locked(char* out, size_t max, std::function<void()>* drain_out) {
  const size_t before = queued;
  size_t n = 0;
  while (n < max && !parts.empty()) {
    const std::string& part = parts.front();
    const size_t k = std::min(part.size() - head, max - n);
    std::memcpy(out + n, part.data() + head, k);
    n += k;
    head += k;
    if (head == part.size()) {
      parts.pop_front();
      head = 0;
    }
  }
  queued -= n;
  if (before > low_watermark && queued <= low_watermark) *drain_out = drain;
  return n;
}

std::function<void()> StreamState::close_locked() {
  closed = true;
  conn.reset();
  parts.clear();
  head = 0;
  queued = 0;
  return drain;
}

void StreamState::run_drain(const std::function<void()>& fn) noexcept {
  if (!fn) return;
  try {
    fn();
  } catch (const std::exception& e) {
    spdlog::error("http: stream drain callback threw: {}", e.what());
  } catch (...) {
    spdlog::error("http: stream drain callback threw");
  }
}

}  // namespace detail

using detail::StreamConnection;
using detail::StreamState;

ResponseStream::ResponseStream() : state_(std::make_unique<StreamState>()) {}
ResponseStream::~ResponseStream() = default;

namespace {

// Appends `bytes` (and/or marks the stream finished); once the response is
// queued the connection does it under its locks, resuming itself if it waits
// for bytes. False if the stream no longer accepts data.
bool stream_push(StreamState& ss, std::string_view bytes, bool finish) {
  std::shared_ptr<StreamConnection> conn;
  {
    std::lock_guard<std::mutex> slock(ss.mu);
    if (!ss.accepting_locked()) return false;
    if (ss.conn == nullptr) {  // not queued yet: the reader will find the bytes
      ss.append_locked(bytes, finish);
      return true;
    }
    conn = ss.conn;
  }
  return conn->feed(ss, bytes, finish);
}

}  // namespace

bool ResponseStream::write(std::string_view bytes) {
  if (bytes.empty()) return open();
  return stream_push(*state_, bytes, /*finish=*/false);
}

void ResponseStream::finish() { (void)stream_push(*state_, {}, /*finish=*/true); }

size_t ResponseStream::buffered() const {
  std::lock_guard<std::mutex> slock(state_->mu);
  return state_->queued_locked();
}

bool ResponseStream::open() const {
  std::shared_ptr<StreamConnection> conn;
  {
    std::lock_guard<std::mutex> slock(state_->mu);
    if (!state_->accepting_locked() || state_->peer_gone) return false;
    conn = state_->conn;
  }
  if (conn == nullptr || !conn->peer_gone_while_waiting()) return true;
  std::lock_guard<std::mutex> slock(state_->mu);
  state_->peer_gone = true;
  return false;
}

void ResponseStream::on_drain(size_t low_watermark, std::function<void()> fn) {
  std::lock_guard<std::mutex> slock(state_->mu);
  state_->low_watermark = low_watermark;
  state_->drain = std::move(fn);
}

}  // namespace sh::api
