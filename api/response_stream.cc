#include "api/response_stream.h"

#include <algorithm>
#include <cstring>
#include <exception>

#include <spdlog/spdlog.h>

namespace sh::api {

namespace detail {

void StreamState::append_locked(std::string_view bytes, bool finish) {
  buf.append(bytes);
  finished = finish;
}

size_t StreamState::take_locked(char* out, size_t max, std::function<void()>* drain_out) {
  size_t before = queued_locked();
  size_t n = std::min(before, max);
  std::memcpy(out, buf.data() + head, n);
  head += n;
  if (head == buf.size()) {
    buf.clear();
    head = 0;
  } else if (head > (size_t{64} << 10) && head > buf.size() / 2) {
    buf.erase(0, head);
    head = 0;
  }
  if (before > low_watermark && queued_locked() <= low_watermark) *drain_out = drain;
  return n;
}

std::function<void()> StreamState::close_locked() {
  closed = true;
  conn.reset();
  buf.clear();
  head = 0;
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
