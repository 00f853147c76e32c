// libmicrohttpd wrapper. See http_server.h for the contract.
//
// Concurrency design
// ------------------
// Every request owns a detail::ConnectionState, shared (shared_ptr) by the MHD
// side (a heap-held shared_ptr in *con_cls), by the Responder and, while the
// connection is suspended, by the server's registry of suspended requests.
//
// ConnectionState::phase moves under ConnectionState::mu:
//   kReceiving --(upload complete, handler called)--> kHandling
//   kHandling  --(handler returned, answered)--------> kQueued
//   kHandling  --(handler returned, not answered)----> kSuspended (MHD_suspend_connection)
//   kSuspended --(respond() / stop() sweep)----------> kResumed   (MHD_resume_connection)
//   kResumed   --(access handler called again)-------> kQueued
//   any        --(MHD completion callback)-----------> kClosed
// respond() during kHandling only stores the response; the access handler
// queues it when the handler returns. Exactly one party resumes a suspended
// connection: whoever moves it out of kSuspended while holding mu.
//
// ServerShared::life_mu (shared_mutex) orders suspend/resume against stop():
// respond() and the post-handler decision hold it shared; stop() takes it
// exclusively to set `stopping` and resume (with 503) everything suspended.
// After that no connection is ever suspended again (handlers that return
// unanswered get 503), so MHD_stop_daemon never sees a suspended connection.
// Lock order: life_mu -> ConnectionState::mu -> registry_mu. No user code
// runs under any of these locks.
#include "api/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <spdlog/spdlog.h>

namespace sh::api {

namespace {

constexpr const char* kBodyTooLarge = R"({"error_code":41300,"message":"request body too large"})";
constexpr const char* kRequestDropped =
    R"({"error_code":50000,"message":"internal error: request dropped"})";
constexpr const char* kHandlerFailed =
    R"({"error_code":50000,"message":"internal error: request handler failed"})";
constexpr const char* kShuttingDown = R"({"error_code":50301,"message":"server shutting down"})";
// Past max_body_bytes we read and discard the rest of a body (to answer 413
// cleanly) but only up to this much more; then the connection is dropped.
constexpr size_t kMaxDiscardBytes = size_t{1} << 20;
// After stop() answered the suspended requests with 503, how long it waits for
// those answers to be written before stopping the daemon.
constexpr std::chrono::milliseconds kShutdownGrace{1000};

HttpResponse json_response(int status, const char* body) {
  HttpResponse r;
  r.status = status;
  r.body = body;
  return r;
}

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

}  // namespace

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return &v;
  }
  return nullptr;
}

namespace detail {

struct ServerShared {
  std::shared_mutex life_mu;
  bool stopping = false;  // guarded by life_mu

  std::mutex registry_mu;
  std::unordered_map<ConnectionState*, std::shared_ptr<ConnectionState>> suspended;

  std::atomic<int64_t> in_flight{0};
  std::atomic<int> idle_waiters{0};
  std::mutex idle_mu;
  std::condition_variable idle_cv;

  void request_finished() {
    in_flight.fetch_sub(1);
    if (idle_waiters.load() > 0) {
      std::lock_guard<std::mutex> lock(idle_mu);
      idle_cv.notify_all();
    }
  }

  // True if in_flight reached 0 before `deadline`.
  bool wait_idle(std::chrono::steady_clock::time_point deadline) {
    idle_waiters.fetch_add(1);
    std::unique_lock<std::mutex> lock(idle_mu);
    bool idle = idle_cv.wait_until(lock, deadline, [&] { return in_flight.load() == 0; });
    lock.unlock();
    idle_waiters.fetch_sub(1);
    return idle;
  }
};

// Shared by a ResponseStream and, once its response is queued, the connection.
struct StreamState {
  mutable std::mutex mu;
  std::string buf;  // queued bytes are buf[head..)
  size_t head = 0;
  bool finished = false;   // finish() called
  bool closed = false;     // request completed (sent, client gone, or server stopped)
  bool cancelled = false;  // server stopping: end the body with an error
  bool peer_gone = false;  // open() saw the peer hang up while idle
  size_t low_watermark = 0;
  std::function<void()> drain;
  std::shared_ptr<ConnectionState> conn;  // set when the response is queued; reset on completion

  size_t queued() const { return buf.size() - head; }
  static StreamState& of(ResponseStream& s) { return *s.state_; }
};

struct ConnectionState {
  // kStreaming: a streamed response is queued; kStreamSuspended: it waits for bytes.
  enum class Phase { kReceiving, kHandling, kSuspended, kResumed, kQueued, kStreaming, kStreamSuspended, kClosed };

  ConnectionState(std::shared_ptr<ServerShared> s, MHD_Connection* c) : server(std::move(s)), conn(c) {}

  const std::shared_ptr<ServerShared> server;

  std::mutex mu;
  MHD_Connection* conn;  // guarded by mu; null once closed
  int fd = -1;           // the connection's socket, for pending() while suspended
  Phase phase = Phase::kReceiving;
  bool answered = false;        // respond() was called (or the server answered)
  bool auto_dropped = false;    // the answer is the "request dropped" 500
  bool peer_gone = false;       // pending() saw the peer hang up
  std::optional<HttpResponse> response;
  std::shared_ptr<ResponseStream> stream;  // the queued streamed body, if any

  // Touched only by the MHD thread that runs this connection.
  HttpRequest request;
  size_t body_received = 0;
  bool body_too_large = false;
  bool dispatched = false;
};

}  // namespace detail

using detail::ConnectionState;
using detail::ServerShared;
using detail::StreamState;
using Phase = ConnectionState::Phase;

// ---------------------------------------------------------------- Responder

Responder::Responder(std::shared_ptr<detail::ConnectionState> state) : state_(std::move(state)) {}

namespace {

// Stores `response` as the answer of `st` unless it is already answered or
// closed; resumes the connection if it is suspended. Returns false if ignored.
bool deliver(ConnectionState& st, HttpResponse&& response, bool auto_drop) {
  std::shared_lock<std::shared_mutex> life(st.server->life_mu);
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.answered || st.phase == Phase::kClosed) return false;
  st.answered = true;
  st.auto_dropped = auto_drop;
  st.response = std::move(response);
  if (st.phase == Phase::kSuspended) {
    st.phase = Phase::kResumed;
    MHD_resume_connection(st.conn);
  }
  // kHandling: the access handler queues it once the handler returns.
  return true;
}

}  // namespace

Responder::~Responder() {
  if (!state_) return;
  try {
    deliver(*state_, json_response(500, kRequestDropped), /*auto_drop=*/true);
  } catch (...) {
    // Only allocation can throw here; the client then gets the 503/close of shutdown.
  }
}

void Responder::respond(HttpResponse response) {
  if (!state_) return;
  auto state = std::move(state_);
  deliver(*state, std::move(response), /*auto_drop=*/false);
}

bool Responder::pending() const {
  if (!state_) return false;
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->answered || state_->phase == Phase::kClosed || state_->peer_gone) return false;
  if (state_->phase == Phase::kSuspended && state_->fd >= 0) {
    // MHD does not watch suspended sockets; look for the peer's FIN ourselves.
    // The socket stays open while suspended (we hold mu, so nobody resumes it).
    pollfd p{state_->fd, POLLRDHUP, 0};
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
      state_->peer_gone = true;
      return false;
    }
  }
  return true;
}

// ----------------------------------------------------------- ResponseStream

ResponseStream::ResponseStream() : state_(std::make_unique<StreamState>()) {}
ResponseStream::~ResponseStream() = default;

namespace {

// Appends `bytes` (and/or marks the stream finished); resumes the connection
// if it waits for bytes. False if the stream no longer accepts data.
bool stream_push(StreamState& ss, std::string_view bytes, bool finish) {
  std::shared_ptr<ConnectionState> conn;
  {
    std::lock_guard<std::mutex> slock(ss.mu);
    if (ss.finished || ss.closed || ss.cancelled) return false;
    if (ss.conn == nullptr) {  // not queued yet: the reader will find the bytes
      ss.buf.append(bytes);
      ss.finished = finish;
      return true;
    }
    conn = ss.conn;
  }
  std::shared_lock<std::shared_mutex> life(conn->server->life_mu);
  std::lock_guard<std::mutex> lock(conn->mu);
  std::lock_guard<std::mutex> slock(ss.mu);
  if (ss.finished || ss.closed || ss.cancelled) return false;
  ss.buf.append(bytes);
  ss.finished = finish;
  if (conn->phase == Phase::kStreamSuspended) {
    conn->phase = Phase::kStreaming;
    MHD_resume_connection(conn->conn);
  }
  return true;
}

}  // namespace

bool ResponseStream::write(std::string_view bytes) {
  if (bytes.empty()) return open();
  return stream_push(*state_, bytes, /*finish=*/false);
}

void ResponseStream::finish() { (void)stream_push(*state_, {}, /*finish=*/true); }

size_t ResponseStream::buffered() const {
  std::lock_guard<std::mutex> slock(state_->mu);
  return state_->queued();
}

bool ResponseStream::open() const {
  std::shared_ptr<ConnectionState> conn;
  {
    std::lock_guard<std::mutex> slock(state_->mu);
    if (state_->finished || state_->closed || state_->cancelled || state_->peer_gone) return false;
    conn = state_->conn;
  }
  if (conn == nullptr) return true;
  std::lock_guard<std::mutex> lock(conn->mu);
  if (conn->phase != Phase::kStreamSuspended || conn->fd < 0) return true;
  // MHD does not watch a suspended socket; look for the peer's FIN ourselves.
  pollfd p{conn->fd, POLLRDHUP, 0};
  if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
    std::lock_guard<std::mutex> slock(state_->mu);
    state_->peer_gone = true;
    return false;
  }
  return true;
}

void ResponseStream::on_drain(size_t low_watermark, std::function<void()> fn) {
  std::lock_guard<std::mutex> slock(state_->mu);
  state_->low_watermark = low_watermark;
  state_->drain = std::move(fn);
}

// --------------------------------------------------------------- HttpServer

struct HttpServer::Impl {
  HttpServerOptions opts;
  Handler handler;
  std::shared_ptr<ServerShared> shared = std::make_shared<ServerShared>();
  MHD_Daemon* daemon = nullptr;
  uint16_t port = 0;

  std::mutex ctl_mu;  // serializes quiesce() / stop()
  bool stopped = false;
  int quiesced_fd = -1;  // returned by MHD_quiesce_daemon; closed after MHD_stop_daemon

  void quiesce_locked();
  void stop_locked(int64_t timeout_ms);
};

namespace {

void mhd_log(void* /*cls*/, const char* fmt, va_list ap) {
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  if (n < 0) return;
  size_t len = std::min(static_cast<size_t>(n), sizeof buf - 1);
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) --len;
  try {
    spdlog::warn("libmicrohttpd: {}", std::string_view(buf, len));
  } catch (...) {
  }
}

struct MhdResponseDeleter {
  void operator()(MHD_Response* r) const { MHD_destroy_response(r); }
};
using MhdResponsePtr = std::unique_ptr<MHD_Response, MhdResponseDeleter>;

void free_body(void* cls) { delete static_cast<std::string*>(cls); }

struct StreamReader {
  std::shared_ptr<ConnectionState> conn;
  std::shared_ptr<ResponseStream> stream;
};

void free_stream_reader(void* cls) { delete static_cast<StreamReader*>(cls); }

// MHD pulls the streamed body: hand over queued bytes, end the body, or suspend
// the connection until write()/finish() resumes it.
ssize_t read_stream(void* cls, uint64_t /*pos*/, char* out, size_t max) noexcept {
  auto& ctx = *static_cast<StreamReader*>(cls);
  ConnectionState& st = *ctx.conn;
  StreamState& ss = StreamState::of(*ctx.stream);
  std::function<void()> drain;
  ssize_t result = 0;
  try {
    std::shared_lock<std::shared_mutex> life(st.server->life_mu);
    std::lock_guard<std::mutex> lock(st.mu);
    std::lock_guard<std::mutex> slock(ss.mu);
    size_t before = ss.queued();
    if (ss.cancelled) {
      result = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (before > 0) {
      size_t n = std::min(before, max);
      std::memcpy(out, ss.buf.data() + ss.head, n);
      ss.head += n;
      if (ss.head == ss.buf.size()) {
        ss.buf.clear();
        ss.head = 0;
      } else if (ss.head > (size_t{64} << 10) && ss.head > ss.buf.size() / 2) {
        ss.buf.erase(0, ss.head);
        ss.head = 0;
      }
      if (before > ss.low_watermark && ss.queued() <= ss.low_watermark) drain = ss.drain;
      result = static_cast<ssize_t>(n);
    } else if (ss.finished) {
      result = MHD_CONTENT_READER_END_OF_STREAM;
    } else if (st.server->stopping) {
      ss.cancelled = true;
      result = MHD_CONTENT_READER_END_WITH_ERROR;
    } else {
      {
        std::lock_guard<std::mutex> reg(st.server->registry_mu);
        st.server->suspended.emplace(&st, ctx.conn);
      }
      st.phase = ConnectionState::Phase::kStreamSuspended;
      MHD_suspend_connection(st.conn);
      result = 0;
    }
  } catch (...) {
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  if (drain) {
    try {
      drain();
    } catch (const std::exception& e) {
      spdlog::error("http: stream drain callback threw: {}", e.what());
    } catch (...) {
      spdlog::error("http: stream drain callback threw");
    }
  }
  return result;
}

// Hands `r` to MHD for the connection of `sp`. A plain body string moves to the
// heap and is freed by MHD when the response is destroyed (no copy of large
// bodies); a stream is pulled through read_stream.
MHD_Result queue_response(const std::shared_ptr<ConnectionState>& sp, MHD_Connection* conn, HttpResponse&& r) {
  MHD_Response* raw = nullptr;
  if (r.stream) {
    StreamState& ss = StreamState::of(*r.stream);
    {
      std::lock_guard<std::mutex> lock(sp->mu);
      std::lock_guard<std::mutex> slock(ss.mu);
      if (ss.conn != nullptr || ss.closed) {
        spdlog::error("http: a ResponseStream was used for two responses");
        r.stream.reset();
        r.status = 500;
        r.content_type = "application/json";
        r.body = kHandlerFailed;
      } else {
        ss.conn = sp;
        sp->stream = r.stream;
        sp->phase = ConnectionState::Phase::kStreaming;
      }
    }
  }
  if (r.stream) {
    auto* ctx = new StreamReader{sp, r.stream};
    raw = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, &read_stream, ctx, &free_stream_reader);
    if (raw == nullptr) delete ctx;
  } else {
    auto* body = new std::string(std::move(r.body));
    raw = MHD_create_response_from_buffer_with_free_callback_cls(body->size(), body->data(), &free_body, body);
    if (raw == nullptr) delete body;
  }
  if (raw == nullptr) {
    spdlog::error("http: libmicrohttpd cannot create a response");
    return MHD_NO;
  }
  MhdResponsePtr resp(raw);
  if (!r.content_type.empty() &&
      MHD_add_response_header(resp.get(), MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str()) != MHD_YES) {
    spdlog::warn("http: invalid Content-Type dropped from response");
  }
  for (const auto& [name, value] : r.headers) {
    if (MHD_add_response_header(resp.get(), name.c_str(), value.c_str()) != MHD_YES) {
      spdlog::warn("http: response header '{}' rejected by libmicrohttpd", name);
    }
  }
  unsigned status = static_cast<unsigned>(r.status);
  if (r.status < 100 || r.status > 599) {
    spdlog::error("http: handler answered invalid status {}; sending 500", r.status);
    status = 500;
  }
  return MHD_queue_response(conn, status, resp.get());
}

MHD_Result collect_arg(void* cls, MHD_ValueKind /*kind*/, const char* key, const char* value) {
  auto* out = static_cast<std::vector<std::pair<std::string, std::string>>*>(cls);
  try {
    out->emplace_back(key != nullptr ? key : "", value != nullptr ? value : "");
  } catch (...) {
    return MHD_NO;
  }
  return MHD_YES;
}

MHD_Result collect_header(void* cls, MHD_ValueKind /*kind*/, const char* key, const char* value) {
  auto* out = static_cast<std::vector<std::pair<std::string, std::string>>*>(cls);
  try {
    std::string name = key != nullptr ? key : "";
    for (char& c : name) c = ascii_lower(c);
    out->emplace_back(std::move(name), value != nullptr ? value : "");
  } catch (...) {
    return MHD_NO;
  }
  return MHD_YES;
}

std::string client_address(MHD_Connection* conn) {
  const MHD_ConnectionInfo* info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (info == nullptr || info->client_addr == nullptr) return {};
  char buf[INET6_ADDRSTRLEN] = {};
  const sockaddr* sa = info->client_addr;
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, buf, sizeof buf);
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

// After the handler returned (or after a resume): queue the answer if there is
// one, answer 503 if the server is stopping, otherwise suspend the connection.
MHD_Result finish_or_suspend(const std::shared_ptr<ConnectionState>& sp, MHD_Connection* conn) {
  ConnectionState& st = *sp;
  std::optional<HttpResponse> out;
  {
    std::shared_lock<std::shared_mutex> life(st.server->life_mu);
    std::lock_guard<std::mutex> lock(st.mu);
    if (st.answered) {
      out = std::move(st.response);
      st.response.reset();
    } else if (st.server->stopping) {
      st.answered = true;
      out = json_response(503, kShuttingDown);
    } else {
      {
        std::lock_guard<std::mutex> reg(st.server->registry_mu);
        st.server->suspended.emplace(&st, sp);
      }
      st.phase = Phase::kSuspended;
      MHD_suspend_connection(conn);
      return MHD_YES;
    }
    st.phase = Phase::kQueued;
  }
  if (!out) return MHD_NO;  // answered but the response is gone: cannot happen
  return queue_response(sp, conn, std::move(*out));
}

MHD_Result dispatch(HttpServer::Impl& impl, const std::shared_ptr<ConnectionState>& sp,
                    MHD_Connection* conn) {
  ConnectionState& st = *sp;
  st.dispatched = true;
  if (st.body_too_large) {
    {
      std::lock_guard<std::mutex> lock(st.mu);
      st.answered = true;
      st.phase = Phase::kQueued;
    }
    return queue_response(sp, conn, json_response(413, kBodyTooLarge));
  }
  {
    std::lock_guard<std::mutex> lock(st.mu);
    st.phase = Phase::kHandling;
    const MHD_ConnectionInfo* fd_info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    st.fd = fd_info != nullptr ? fd_info->connect_fd : -1;
  }
  std::string method = st.request.method;  // for the log line if the handler throws
  std::string path = st.request.path;
  bool threw = false;
  try {
    impl.handler(std::move(st.request), Responder(sp));
  } catch (const std::exception& e) {
    threw = true;
    spdlog::error("http: handler for {} {} threw: {}", method, path, e.what());
  } catch (...) {
    threw = true;
    spdlog::error("http: handler for {} {} threw a non-standard exception", method, path);
  }
  if (threw) {
    // Unwinding destroyed the Responder (if the handler kept it): say what happened.
    std::lock_guard<std::mutex> lock(st.mu);
    if (!st.answered || st.auto_dropped) {
      st.answered = true;
      st.auto_dropped = false;
      st.response = json_response(500, kHandlerFailed);
    }
  }
  return finish_or_suspend(sp, conn);
}

MHD_Result access_handler(void* cls, MHD_Connection* conn, const char* url, const char* method,
                          const char* /*version*/, const char* upload_data, size_t* upload_data_size,
                          void** con_cls) noexcept {
  auto& impl = *static_cast<HttpServer::Impl*>(cls);
  try {
    if (*con_cls == nullptr) {
      // First call: headers are in.
      auto sp = std::make_shared<ConnectionState>(impl.shared, conn);
      auto* holder = new std::shared_ptr<ConnectionState>(sp);
      *con_cls = holder;
      impl.shared->in_flight.fetch_add(1);

      HttpRequest& req = sp->request;
      req.method = method != nullptr ? method : "";
      req.path = url != nullptr ? url : "";
      MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, &collect_arg, &req.query);
      MHD_get_connection_values(conn, MHD_HEADER_KIND, &collect_header, &req.headers);
      req.remote_addr = client_address(conn);

      if (const std::string* cl = req.header("content-length")) {
        char* end = nullptr;
        errno = 0;
        unsigned long long n = std::strtoull(cl->c_str(), &end, 10);
        if (errno == 0 && end != cl->c_str() && *end == '\0') {
          if (n > impl.opts.max_body_bytes) {
            // Answer before reading the body; MHD discards it and closes.
            sp->body_too_large = true;
            return dispatch(impl, sp, conn);
          }
          req.body.reserve(static_cast<size_t>(n));
        }
      }
      return MHD_YES;
    }

    auto& sp = *static_cast<std::shared_ptr<ConnectionState>*>(*con_cls);
    ConnectionState& st = *sp;
    if (*upload_data_size > 0) {
      size_t n = *upload_data_size;
      *upload_data_size = 0;
      st.body_received += n;
      if (!st.body_too_large && st.request.body.size() + n <= impl.opts.max_body_bytes) {
        st.request.body.append(upload_data, n);
      } else {
        st.body_too_large = true;
        st.request.body.clear();
        st.request.body.shrink_to_fit();
        if (st.body_received > impl.opts.max_body_bytes + kMaxDiscardBytes) {
          spdlog::warn("http: dropping connection from {}: request body far beyond {} bytes",
                       st.request.remote_addr, impl.opts.max_body_bytes);
          return MHD_NO;
        }
      }
      return MHD_YES;
    }
    if (!st.dispatched) return dispatch(impl, sp, conn);
    return finish_or_suspend(sp, conn);  // resumed
  } catch (const std::exception& e) {
    spdlog::error("http: request failed inside the server: {}", e.what());
  } catch (...) {
    spdlog::error("http: request failed inside the server");
  }
  return MHD_NO;
}

void request_completed(void* cls, MHD_Connection* /*conn*/, void** con_cls,
                       MHD_RequestTerminationCode /*toe*/) noexcept {
  auto& impl = *static_cast<HttpServer::Impl*>(cls);
  auto* holder = static_cast<std::shared_ptr<ConnectionState>*>(*con_cls);
  if (holder == nullptr) return;
  *con_cls = nullptr;
  std::shared_ptr<ConnectionState> sp = std::move(*holder);
  delete holder;
  std::shared_ptr<ResponseStream> stream;
  {
    std::lock_guard<std::mutex> lock(sp->mu);
    sp->phase = Phase::kClosed;
    sp->conn = nullptr;
    sp->fd = -1;
    sp->response.reset();
    stream = std::move(sp->stream);
  }
  if (stream) {
    std::function<void()> drain;
    {
      StreamState& ss = StreamState::of(*stream);
      std::lock_guard<std::mutex> slock(ss.mu);
      ss.closed = true;
      ss.conn.reset();
      ss.buf.clear();
      ss.head = 0;
      drain = ss.drain;
    }
    if (drain) {
      try {
        drain();
      } catch (...) {
        spdlog::error("http: stream drain callback threw");
      }
    }
  }
  {
    std::lock_guard<std::mutex> reg(impl.shared->registry_mu);
    impl.shared->suspended.erase(sp.get());
  }
  sp.reset();
  impl.shared->request_finished();
}

struct ListenAddress {
  sockaddr_storage ss{};
  socklen_t len = 0;
  bool v6 = false;
  bool any6 = false;  // "::": accept IPv4 too (dual stack)
};

Result<ListenAddress> parse_listen_address(const std::string& host_in, uint16_t port) {
  std::string host = host_in;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  ListenAddress a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.len = sizeof(sockaddr_in);
    return a;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.len = sizeof(sockaddr_in6);
    a.v6 = true;
    a.any6 = IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr);
    return a;
  }
  return invalid_argument("listen address '" + host_in + "' is not an IPv4 or IPv6 literal");
}

std::string describe_bind_errno(int err) {
  switch (err) {
    case EADDRINUSE: return "address in use";
    case EACCES: return "permission denied (ports below 1024 need privileges)";
    case EADDRNOTAVAIL: return "address not available on this host";
    case EAFNOSUPPORT: return "address family not supported (is IPv6 disabled?)";
    default: return std::strerror(err);
  }
}

// MHD_start_daemon failed: find out why by binding the address ourselves the
// way MHD does (SO_REUSEADDR; IPV6_V6ONLY unless dual stack). 0 if it binds.
int probe_bind_errno(const ListenAddress& a) {
  int fd = ::socket(a.v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int one = 1;
  int v6only = a.any6 ? 0 : 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (a.v6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  int err = 0;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&a.ss), a.len) != 0) err = errno;
  ::close(fd);
  return err;
}

std::string display_address(const std::string& host, uint16_t port) {
  bool v6 = host.find(':') != std::string::npos && host.front() != '[';
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

}  // namespace

void HttpServer::Impl::quiesce_locked() {
  if (daemon == nullptr || quiesced_fd >= 0) return;
  MHD_socket fd = MHD_quiesce_daemon(daemon);
  if (fd != MHD_INVALID_SOCKET) quiesced_fd = fd;
}

void HttpServer::Impl::stop_locked(int64_t timeout_ms) {
  if (stopped) return;
  stopped = true;
  if (daemon == nullptr) return;
  quiesce_locked();
  auto now = std::chrono::steady_clock::now();
  shared->wait_idle(now + std::chrono::milliseconds(std::max<int64_t>(timeout_ms, 0)));

  // Answer every request still suspended with 503 and forbid new suspensions.
  size_t swept = 0;
  {
    std::unique_lock<std::shared_mutex> life(shared->life_mu);
    shared->stopping = true;
    std::vector<std::shared_ptr<ConnectionState>> suspended;
    {
      std::lock_guard<std::mutex> reg(shared->registry_mu);
      suspended.reserve(shared->suspended.size());
      for (auto& [ptr, sp] : shared->suspended) suspended.push_back(sp);
    }
    for (auto& sp : suspended) {
      std::lock_guard<std::mutex> lock(sp->mu);
      if (sp->phase == Phase::kStreamSuspended) {
        {
          std::lock_guard<std::mutex> slock(StreamState::of(*sp->stream).mu);
          StreamState::of(*sp->stream).cancelled = true;
        }
        sp->phase = Phase::kStreaming;
        MHD_resume_connection(sp->conn);
        ++swept;
        continue;
      }
      if (sp->phase != Phase::kSuspended) continue;
      sp->answered = true;
      sp->response = json_response(503, kShuttingDown);
      sp->phase = Phase::kResumed;
      MHD_resume_connection(sp->conn);
      ++swept;
    }
  }
  if (shared->in_flight.load() > 0) {
    if (swept > 0) spdlog::info("http: ended {} waiting requests/streams at shutdown", swept);
    shared->wait_idle(std::chrono::steady_clock::now() + kShutdownGrace);
  }
  MHD_stop_daemon(daemon);
  daemon = nullptr;
  if (quiesced_fd >= 0) {
    ::close(quiesced_fd);
    quiesced_fd = -1;
  }
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(HttpServerOptions opts, Handler handler) {
  if (!handler) return invalid_argument("http server needs a handler");
  if (opts.threads == 0) return invalid_argument("http server needs at least one thread");
  if (opts.connection_limit < opts.threads) {
    return invalid_argument("connection_limit must be at least the number of threads");
  }
  SH_ASSIGN_OR_RETURN(ListenAddress addr, parse_listen_address(opts.listen_host, opts.port));

  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  impl->handler = std::move(handler);

  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  if (addr.v6) flags |= addr.any6 ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;

  impl->daemon = MHD_start_daemon(
      flags, opts.port, nullptr, nullptr, &access_handler, impl.get(),                 //
      MHD_OPTION_EXTERNAL_LOGGER, &mhd_log, nullptr,                                   //
      MHD_OPTION_NOTIFY_COMPLETED, &request_completed, impl.get(),                     //
      MHD_OPTION_THREAD_POOL_SIZE, static_cast<unsigned>(opts.threads),                //
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(opts.connection_limit),       //
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(opts.connection_timeout_s), //
      MHD_OPTION_SOCK_ADDR, reinterpret_cast<const sockaddr*>(&addr.ss),               //
      MHD_OPTION_END);
  if (impl->daemon == nullptr) {
    std::string where = display_address(opts.listen_host, opts.port);
    int err = probe_bind_errno(addr);
    if (err != 0) return unavailable("cannot listen on " + where + ": " + describe_bind_errno(err));
    return unavailable("cannot listen on " + where + ": libmicrohttpd failed to start (see log)");
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(impl->daemon, MHD_DAEMON_INFO_BIND_PORT);
  impl->port = info != nullptr ? info->port : opts.port;
  spdlog::info("http: listening on {} with {} threads",
               display_address(opts.listen_host, impl->port), opts.threads);
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { stop(); }

uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::quiesce() {
  std::lock_guard<std::mutex> lock(impl_->ctl_mu);
  impl_->quiesce_locked();
}

void HttpServer::stop(int64_t timeout_ms) {
  std::lock_guard<std::mutex> lock(impl_->ctl_mu);
  impl_->stop_locked(timeout_ms);
}

int64_t HttpServer::in_flight() const { return impl_->shared->in_flight.load(); }

}  // namespace sh::api
