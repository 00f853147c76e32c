// ResponseStream: the body of a streamed HTTP response, fed from any thread.
// The connection side (suspending and resuming while the stream is idle) is
// the server's (http_server.cc); this file owns the queued bytes, finish,
// backpressure and the drain callback.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace sh::api {

namespace detail {
struct StreamState;
}

// The body of a streamed response (NDJSON, SSE), fed from any thread; sent with
// chunked transfer encoding. The server pulls queued bytes when the socket can
// take them; while nothing is queued the connection is suspended, so a quiet
// stream holds no worker thread. Create with std::make_shared<ResponseStream>(),
// put it in HttpResponse::stream and respond(); writing may start before or
// after respond().
class ResponseStream {
 public:
  ResponseStream();
  ~ResponseStream();
  ResponseStream(const ResponseStream&) = delete;
  ResponseStream& operator=(const ResponseStream&) = delete;

  // Queues bytes for the client. Returns false (queuing nothing) once the
  // stream is finished, the client is known gone or the server is stopping.
  bool write(std::string_view bytes);
  // Ends the body after the queued bytes are sent. Idempotent.
  void finish();
  // Bytes queued and not yet handed to the socket; apply backpressure on this.
  size_t buffered() const;
  // False once finished, the client went away (best effort while idle) or the
  // server stopped.
  bool open() const;
  // `fn` runs on a server thread (no server lock held; keep it short, do not
  // block) each time buffered() falls from above `low_watermark` to at or
  // below it, and once more when the stream closes (open() is then false).
  // A replaced callback may still run once, concurrently: capture by value /
  // shared_ptr, not references to a frame that may be gone.
  void on_drain(size_t low_watermark, std::function<void()> fn);

 private:
  friend struct detail::StreamState;
  std::unique_ptr<detail::StreamState> state_;
};

// ------------------------------------------------------------------------
// Internal: shared between ResponseStream and the server. Not for handlers.
namespace detail {

// The connection a queued stream feeds, implemented by the server. Its locks
// come before StreamState::mu in the lock order.
class StreamConnection {
 public:
  virtual ~StreamConnection() = default;
  // Under the connection's locks, then ss.mu: appends `bytes` (and/or marks
  // the stream finished) if ss still accepts data, and resumes the connection
  // if it waits for bytes. False (nothing appended) if ss no longer accepts.
  virtual bool feed(StreamState& ss, std::string_view bytes, bool finish) = 0;
  // True if the connection is suspended waiting for bytes and its peer has
  // hung up (the server does not watch suspended sockets).
  virtual bool peer_gone_while_waiting() = 0;
};

// Shared by a ResponseStream and, once its response is queued, the connection.
// Fields are guarded by mu; methods named *_locked require it held.
struct StreamState {
  mutable std::mutex mu;
  // Queued bytes: parts[0][head..), then the other parts. A part is freed as
  // soon as it is sent, so a stream holds about what is queued, not the
  // largest backlog it ever had.
  std::deque<std::string> parts;
  size_t head = 0;
  size_t queued = 0;
  bool finished = false;   // finish() called
  bool closed = false;     // request completed (sent, client gone, or server stopped)
  bool cancelled = false;  // server stopping: end the body with an error
  bool peer_gone = false;  // open() saw the peer hang up while idle
  size_t low_watermark = 0;
  std::function<void()> drain;
  std::shared_ptr<StreamConnection> conn;  // set when the response is queued; reset on completion

  static StreamState& of(ResponseStream& s) { return *s.state_; }

  size_t queued_locked() const { return queued; }
  // finish() not called and the stream neither closed nor cancelled.
  bool accepting_locked() const { return !finished && !closed && !cancelled; }
  // REQUIRES: accepting_locked().
  void append_locked(std::string_view bytes, bool finish);
  // Moves up to `max` queued bytes to `out` and returns how many. If that
  // takes buffered() from above the low watermark to at or below it, the
  // drain callback to run (after unlocking) is returned in `*drain`.
  size_t take_locked(char* out, size_t max, std::function<void()>* drain);
  // The request completed: drops the queued bytes and the connection; returns
  // the drain callback to run (after unlocking), which then sees open() false.
  std::function<void()> close_locked();

  // Runs a drain callback with no lock held; an exception is logged, not thrown.
  static void run_drain(const std::function<void()>& fn) noexcept;
};

}  // namespace detail
}  // namespace sh::api
