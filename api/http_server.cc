// libmicrohttpd wrapper: the daemon and the connection state machine. See
// http_server.h for the contract. The streamed body's own state (queued bytes,
// finish, drain callback) is in response_stream.cc; address parsing and the
// bind probe are in listen_address.cc.
//
// Concurrency design
// ------------------
// Every request owns a detail::ConnectionState, shared (shared_ptr) by the MHD
// side (a heap-held shared_ptr in *con_cls), by the Responder, by a queued
// ResponseStream (StreamState::conn, as its detail::StreamConnection) and,
// while the connection is suspended, by the server's registry of suspended
// requests.
//
// ConnectionState::phase moves under ConnectionState::mu:
//   kReceiving --(upload complete, handler called)---> kHandling
//   kReceiving --(Content-Length over the limit)-----> kQueued    (413)
//   kHandling  --(handler returned, answered)--------> kQueued
//   kHandling  --(handler returned, not answered)----> kSuspended (MHD_suspend_connection)
//   kReceiving --(raw URL holds %00)-----------------> kQueued    (400)
//   kSuspended --(respond() / stop() sweep)----------> kResumed   (MHD_resume_connection)
//   kSuspended --(dead-peer sweep: client hung up)---> kResumed   (answered, on_gone hook run)
//   kResumed   --(access handler called again)-------> kQueued
//   kQueued    --(the response has a stream)---------> kStreaming
//   kStreaming --(read_stream: nothing queued)-------> kStreamSuspended (MHD_suspend_connection)
//   kStreamSuspended --(write()/finish() / stop() / dead-peer sweep)---> kStreaming (MHD_resume_connection)
//   any        --(MHD completion callback)-----------> kClosed
// respond() during kHandling only stores the response; the access handler
// queues it when the handler returns. Exactly one party resumes a suspended
// connection: whoever moves it out of kSuspended / kStreamSuspended while
// holding mu. stop() resumes a waiting stream with StreamState::cancelled
// set, so read_stream ends the body with an error.
//
// ServerShared::life_mu (shared_mutex) orders suspend/resume against stop():
// respond(), stream writes, read_stream and the post-handler decision hold it
// shared; stop() takes it exclusively to set `stopping` and resume (with 503
// or a cancelled stream) everything suspended. After that no connection is
// ever suspended again (handlers that return unanswered get 503, idle streams
// are cancelled), so MHD_stop_daemon never sees a suspended connection.
// Lock order: life_mu -> ConnectionState::mu -> StreamState::mu -> registry_mu.
// No user code runs under any of these locks (drain callbacks run after
// they are released).
//
// Dead peers: MHD does not watch a suspended socket, so a client that hangs up
// during a long-poll would keep its connection slot (and sit in CLOSE-WAIT)
// until the wait ends. A sweeper thread polls the sockets of suspended
// requests every dead_peer_check_ms for POLLRDHUP/POLLHUP and resumes the dead
// ones (answered, Connection: close; a waiting stream is cancelled), so MHD
// frees them; the Responder's on_client_gone hook then runs on the sweeper
// thread, outside every lock.
#include "api/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/listen_address.h"
#include "core/exec/thread_slice.h"
#include "core/text/ascii.h"

namespace sh::api {

namespace {

// The server's own answers: one line of JSON and a newline, as api/errors.cc writes them.
constexpr const char* kBodyTooLarge = R"({"error_code":41300,"message":"request body too large"})" "\n";
constexpr const char* kRequestDropped =
    R"({"error_code":50000,"message":"internal error: request dropped"})" "\n";
constexpr const char* kHandlerFailed =
    R"({"error_code":50000,"message":"internal error: request handler failed"})" "\n";
constexpr const char* kShuttingDown = R"({"error_code":50301,"message":"server shutting down"})" "\n";
constexpr const char* kNulInUrl =
    R"({"error_code":40006,"message":"the URL contains a NUL byte (%00); NUL is not allowed in a path or query value"})" "\n";
constexpr const char* kClientGone = R"({"error_code":50000,"message":"client went away"})" "\n";
// The URI log callback's answer becomes the request's initial *con_cls. It
// allocates nothing (so nothing leaks if MHD drops the request before the
// access handler): &kNulUrlMarker for a raw URL with %00, otherwise the raw
// URL's C-string length tagged with a low 1 bit (never a heap pointer).
alignas(8) char kNulUrlMarker = 0;  // aligned: never mistaken for a tagged length

void* tag_raw_length(size_t n) { return reinterpret_cast<void*>((static_cast<uintptr_t>(n) << 1) | 1u); }
bool is_raw_length_tag(void* p) { return (reinterpret_cast<uintptr_t>(p) & 1u) != 0; }
size_t raw_length_of(void* p) { return static_cast<size_t>(reinterpret_cast<uintptr_t>(p) >> 1); }

// A raw NUL byte inside the request target. libmicrohttpd (0.9.75) cuts the
// request line in place: the target runs from `url` to the space before
// `version`, and the URI log callback saw it as a C string of `raw_length`
// bytes. If the C string is shorter than the target, a NUL cut it short.
// (If the pointers do not have that layout, nothing is concluded.)
bool target_cut_by_raw_nul(const char* url, const char* version, size_t raw_length) {
  if (url == nullptr || version == nullptr) return false;
  const auto u = reinterpret_cast<uintptr_t>(url);
  const auto v = reinterpret_cast<uintptr_t>(version);
  if (v <= u || v - u > (size_t{1} << 20) || std::strncmp(version, "HTTP/", 5) != 0) return false;
  const size_t target_length = v - u - 1;  // up to the space (now NUL) before the version
  return raw_length < target_length;
}
// Past max_body_bytes we read and discard the rest of a body (to answer 413
// cleanly) but only up to this much more; then the connection is dropped.
constexpr size_t kMaxDiscardBytes = size_t{1} << 20;
// After stop() answered the suspended requests with 503, how long it waits for
// those answers to be written before stopping the daemon.
constexpr std::chrono::milliseconds kShutdownGrace{1000};
// The buffer libmicrohttpd callocs for each streamed response: every follower
// holds one. A chunked body is written from the connection's own pool, so a
// larger buffer buys no throughput (measured: bench/stream at 4, 16 and 64 KiB);
// it only costs memory per stream. Only an HTTP/1.0 client's body passes
// through it.
constexpr size_t kStreamBlockBytes = size_t{4} << 10;
// Each connection's memory pool: the request head is read into it, and a
// chunked body is written from it. libmicrohttpd zero-fills the half it first
// gives the read buffer when that shrinks, so every held connection (a waiting
// follower) keeps those pages resident. 24 KiB (the default is 32) takes a
// request head of up to ~24 KiB (measured: 24,000 header bytes pass, 30,000 get 431).
constexpr size_t kConnectionPoolBytes = size_t{24} << 10;

HttpResponse json_response(int status, const char* body) {
  HttpResponse r;
  r.status = status;
  r.body = body;
  return r;
}

// True if the peer of `fd` has hung up. MHD does not watch suspended sockets,
// so a suspended connection looks for the peer's FIN itself.
bool peer_hung_up(int fd) {
  pollfd p{fd, POLLRDHUP, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// True if the raw (undecoded) URL has an encoded NUL ("%00").
bool url_has_encoded_nul(const char* url) {
  for (const char* p = url; p != nullptr && *p != '\0'; ++p) {
    if (p[0] == '%' && p[1] == '0' && p[2] == '0') return true;
  }
  return false;
}

}  // namespace

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (text::iequals(k, name)) return &v;
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
  std::atomic<int64_t> clients_gone{0};
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

struct ConnectionState final : StreamConnection {
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
  bool peer_gone = false;       // pending() or the dead-peer sweep saw the peer hang up
  std::function<void()> on_gone;  // Responder::on_client_gone hook; run by the dead-peer sweep
  std::optional<HttpResponse> response;
  std::shared_ptr<ResponseStream> stream;  // the queued streamed body, if any

  // Touched only by the MHD thread that runs this connection.
  HttpRequest request;
  size_t body_received = 0;
  bool body_too_large = false;
  bool url_has_nul = false;
  bool dispatched = false;

  // StreamConnection, for the queued stream.
  bool feed(StreamState& ss, std::string_view bytes, bool finish) override;
  bool peer_gone_while_waiting() override;
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
  std::function<void()> dropped_hook;  // destroyed after the locks: it may own Responders
  std::shared_lock<std::shared_mutex> life(st.server->life_mu);
  std::lock_guard<std::mutex> lock(st.mu);
  if (st.answered || st.phase == Phase::kClosed) return false;
  dropped_hook = std::move(st.on_gone);
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
  // The socket stays open while suspended (we hold mu, so nobody resumes it).
  if (state_->phase == Phase::kSuspended && state_->fd >= 0 && peer_hung_up(state_->fd)) {
    state_->peer_gone = true;
    return false;
  }
  return true;
}

bool Responder::on_client_gone(std::function<void()> cb) {
  if (!state_) return false;
  std::lock_guard<std::mutex> lock(state_->mu);
  if (state_->answered || state_->phase == Phase::kClosed || state_->peer_gone) return false;
  state_->on_gone = std::move(cb);
  return true;
}

// ------------------------------------------- ConnectionState as StreamConnection

bool detail::ConnectionState::feed(StreamState& ss, std::string_view bytes, bool finish) {
  std::shared_lock<std::shared_mutex> life(server->life_mu);
  std::lock_guard<std::mutex> lock(mu);
  std::lock_guard<std::mutex> slock(ss.mu);
  if (!ss.accepting_locked()) return false;
  ss.append_locked(bytes, finish);
  if (phase == Phase::kStreamSuspended) {
    phase = Phase::kStreaming;
    MHD_resume_connection(conn);
  }
  return true;
}

bool detail::ConnectionState::peer_gone_while_waiting() {
  std::lock_guard<std::mutex> lock(mu);
  return phase == Phase::kStreamSuspended && fd >= 0 && peer_hung_up(fd);
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

  // The dead-peer sweeper (see the top of this file).
  std::thread sweeper;
  std::mutex sweeper_mu;
  std::condition_variable sweeper_cv;
  bool sweeper_stop = false;  // guarded by sweeper_mu

  void quiesce_locked();
  void stop_locked(int64_t timeout_ms);
  void run_sweeper();
  void stop_sweeper();
};

namespace {

void mhd_log(void* /*cls*/, const char* fmt, va_list ap) {
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  if (n < 0) return;
  size_t len = std::min(static_cast<size_t>(n), sizeof buf - 1);
  while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) --len;
  try {
    const std::string_view msg(buf, len);
    // A streamed body we end on purpose (its client went away, or the server
    // stops) is reported by MHD as an application error: routine, not a warning.
    if (msg.starts_with("Closing connection (application error generating response)")) {
      spdlog::debug("libmicrohttpd: {}", msg);
      return;
    }
    spdlog::warn("libmicrohttpd: {}", msg);
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
    if (ss.cancelled) {
      result = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (ss.queued_locked() > 0) {
      result = static_cast<ssize_t>(ss.take_locked(out, max, &drain));
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
      st.phase = Phase::kStreamSuspended;
      MHD_suspend_connection(st.conn);
      result = 0;
    }
  } catch (...) {
    return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  StreamState::run_drain(drain);
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
        sp->phase = Phase::kStreaming;
      }
    }
  }
  if (r.stream) {
    auto* ctx = new StreamReader{sp, r.stream};
    raw = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, kStreamBlockBytes, &read_stream, ctx,
                                            &free_stream_reader);
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
    out->emplace_back(text::ascii_lowered(key != nullptr ? key : ""), value != nullptr ? value : "");
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
  if (st.url_has_nul) {
    {
      std::lock_guard<std::mutex> lock(st.mu);
      st.answered = true;
      st.phase = Phase::kQueued;
    }
    return queue_response(sp, conn, json_response(400, kNulInUrl));
  }
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

// The first request a server thread handles asks for its short slice (MHD
// starts its threads itself and has no hook for a thread's start).
void ask_short_slice_once(unsigned us) {
  thread_local bool asked = false;
  if (asked) return;
  asked = true;
  if (!exec::request_short_slice(std::chrono::microseconds(us))) {
    spdlog::debug("http: the kernel did not take a {} us scheduler slice for this thread", us);
  }
}

MHD_Result access_handler(void* cls, MHD_Connection* conn, const char* url, const char* method,
                          const char* version, const char* upload_data, size_t* upload_data_size,
                          void** con_cls) noexcept {
  auto& impl = *static_cast<HttpServer::Impl*>(cls);
  try {
    if (*con_cls == nullptr || *con_cls == &kNulUrlMarker || is_raw_length_tag(*con_cls)) {
      // First call: headers are in.
      if (impl.opts.short_slice_us > 0) ask_short_slice_once(impl.opts.short_slice_us);
      const bool url_has_nul =
          *con_cls == &kNulUrlMarker ||
          (is_raw_length_tag(*con_cls) && target_cut_by_raw_nul(url, version, raw_length_of(*con_cls)));
      auto sp = std::make_shared<ConnectionState>(impl.shared, conn);
      sp->url_has_nul = url_has_nul;
      auto* holder = new std::shared_ptr<ConnectionState>(sp);
      *con_cls = holder;
      impl.shared->in_flight.fetch_add(1);

      HttpRequest& req = sp->request;
      req.method = method != nullptr ? method : "";
      req.path = url != nullptr ? url : "";
      MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, &collect_arg, &req.query);
      MHD_get_connection_values(conn, MHD_HEADER_KIND, &collect_header, &req.headers);
      req.remote_addr = client_address(conn);
      // Answer before reading any body: MHD discards it and closes.
      if (url_has_nul) return dispatch(impl, sp, conn);

      if (const std::string* cl = req.header("content-length")) {
        char* end = nullptr;
        errno = 0;
        unsigned long long n = std::strtoull(cl->c_str(), &end, 10);
        if (errno == 0 && end != cl->c_str() && *end == '\0' && n > impl.opts.max_body_bytes) {
          sp->body_too_large = true;
          return dispatch(impl, sp, conn);
        }
        // No reserve() from the claimed length: the body buffer grows only with
        // bytes that actually arrived, so idle connections claiming large
        // bodies cost no memory.
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
  if (*con_cls == &kNulUrlMarker || is_raw_length_tag(*con_cls)) {
    *con_cls = nullptr;
    return;
  }
  auto* holder = static_cast<std::shared_ptr<ConnectionState>*>(*con_cls);
  if (holder == nullptr) return;
  *con_cls = nullptr;
  std::shared_ptr<ConnectionState> sp = std::move(*holder);
  delete holder;
  std::shared_ptr<ResponseStream> stream;
  std::function<void()> dropped_hook;  // destroyed after the lock
  {
    std::lock_guard<std::mutex> lock(sp->mu);
    dropped_hook = std::move(sp->on_gone);
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
      drain = ss.close_locked();
    }
    StreamState::run_drain(drain);
  }
  {
    std::lock_guard<std::mutex> reg(impl.shared->registry_mu);
    impl.shared->suspended.erase(sp.get());
  }
  sp.reset();
  impl.shared->request_finished();
}

// URI log callback: sees the raw URL (before MHD decodes it into C strings).
// Its return value is the request's initial *con_cls.
void* inspect_raw_url(void* /*cls*/, const char* uri, MHD_Connection* /*conn*/) noexcept {
  if (uri == nullptr) return nullptr;
  return url_has_encoded_nul(uri) ? &kNulUrlMarker : tag_raw_length(std::strlen(uri));
}

}  // namespace

void HttpServer::Impl::run_sweeper() {
  const auto interval = std::chrono::milliseconds(opts.dead_peer_check_ms);
  std::unique_lock<std::mutex> lock(sweeper_mu);
  while (!sweeper_cv.wait_for(lock, interval, [&] { return sweeper_stop; })) {
    lock.unlock();
    std::vector<std::shared_ptr<ConnectionState>> suspended;
    {
      std::lock_guard<std::mutex> reg(shared->registry_mu);
      suspended.reserve(shared->suspended.size());
      for (auto& [ptr, sp] : shared->suspended) suspended.push_back(sp);
    }
    std::vector<std::function<void()>> hooks;
    {
      std::shared_lock<std::shared_mutex> life(shared->life_mu);
      for (auto& sp : suspended) {
        if (shared->stopping) break;  // stop() answers them itself
        std::lock_guard<std::mutex> cl(sp->mu);
        if (sp->fd < 0 || sp->conn == nullptr) continue;
        if (sp->phase == Phase::kStreamSuspended) {
          if (!peer_hung_up(sp->fd)) continue;
          {
            std::lock_guard<std::mutex> slock(StreamState::of(*sp->stream).mu);
            StreamState::of(*sp->stream).cancelled = true;
          }
          sp->peer_gone = true;
          sp->phase = Phase::kStreaming;
          MHD_resume_connection(sp->conn);
          shared->clients_gone.fetch_add(1);
          continue;
        }
        if (sp->phase != Phase::kSuspended || sp->answered || !peer_hung_up(sp->fd)) continue;
        sp->peer_gone = true;
        sp->answered = true;
        HttpResponse gone = json_response(500, kClientGone);
        gone.with_header("Connection", "close");
        sp->response = std::move(gone);
        sp->phase = Phase::kResumed;
        MHD_resume_connection(sp->conn);
        shared->clients_gone.fetch_add(1);
        if (sp->on_gone) hooks.push_back(std::move(sp->on_gone));
        sp->on_gone = nullptr;
      }
    }
    suspended.clear();
    for (auto& hook : hooks) {
      try {
        hook();
      } catch (const std::exception& e) {
        spdlog::error("http: client-gone hook threw: {}", e.what());
      } catch (...) {
        spdlog::error("http: client-gone hook threw");
      }
    }
    hooks.clear();  // may release Responders: outside every lock
    lock.lock();
  }
}

void HttpServer::Impl::stop_sweeper() {
  {
    std::lock_guard<std::mutex> lock(sweeper_mu);
    sweeper_stop = true;
  }
  sweeper_cv.notify_all();
  if (sweeper.joinable()) sweeper.join();
}

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
  stop_sweeper();  // it resumes nothing once `stopping` is set; joined before the daemon goes
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
  SH_ASSIGN_OR_RETURN(ListenAddress addr, make_listen_address(opts.listen_host, opts.port));

  auto impl = std::make_unique<Impl>();
  impl->opts = opts;
  impl->handler = std::move(handler);

  unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | MHD_USE_ERROR_LOG;
  if (addr.v6) flags |= addr.any6 ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;

  // One thread is MHD's own internal thread. A pool size of 1 (or 0) is
  // ignored with a warning in the log, so the option is given only for more.
  MHD_OptionItem pool_option[] = {
      {MHD_OPTION_THREAD_POOL_SIZE, static_cast<intptr_t>(opts.threads), nullptr},
      {MHD_OPTION_END, 0, nullptr},
  };
  if (opts.threads == 1) pool_option[0] = pool_option[1];
  impl->daemon = MHD_start_daemon(
      flags, opts.port, nullptr, nullptr, &access_handler, impl.get(),                 //
      MHD_OPTION_EXTERNAL_LOGGER, &mhd_log, nullptr,                                   //
      MHD_OPTION_NOTIFY_COMPLETED, &request_completed, impl.get(),                     //
      MHD_OPTION_ARRAY, pool_option,                                                   //
      MHD_OPTION_CONNECTION_LIMIT, static_cast<unsigned>(opts.connection_limit),       //
      MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(opts.connection_timeout_s), //
      MHD_OPTION_CONNECTION_MEMORY_LIMIT, kConnectionPoolBytes,                        //
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, static_cast<unsigned>(opts.per_ip_connection_limit),
      MHD_OPTION_URI_LOG_CALLBACK, &inspect_raw_url, nullptr,                          //
      MHD_OPTION_SOCK_ADDR, addr.addr(),                                               //
      MHD_OPTION_END);
  if (impl->daemon == nullptr) {
    std::string where = format_host_port(opts.listen_host, opts.port);
    int err = probe_bind(addr);
    if (err != 0) return unavailable(fmt::format("cannot listen on {}: {}", where, describe_bind_errno(err)));
    return unavailable(fmt::format("cannot listen on {}: libmicrohttpd failed to start (see log)", where));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(impl->daemon, MHD_DAEMON_INFO_BIND_PORT);
  impl->port = info != nullptr ? info->port : opts.port;
  if (opts.dead_peer_check_ms > 0) {
    Impl* self = impl.get();
    impl->sweeper = std::thread([self] { self->run_sweeper(); });
  }
  spdlog::info("http: listening on {} with {} threads",
               format_host_port(opts.listen_host, impl->port), opts.threads);
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

int64_t HttpServer::clients_gone() const { return impl_->shared->clients_gone.load(); }

}  // namespace sh::api
