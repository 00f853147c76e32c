// HttpServer: an RAII owner of a libmicrohttpd daemon (internal thread pool,
// epoll) that hands complete requests to one handler.
//
// Handlers answer through a Responder. Answering inside the handler call is the
// fast path; a handler may also keep the Responder and answer later from any
// thread (long-polls): the server then suspends the connection, so no worker
// thread is held while it waits, and resumes it when respond() is called.
// No exception escapes into libmicrohttpd: a throwing handler becomes a 500.
// The server itself answers, without calling the handler: 413 (41300) for a
// body over max_body_bytes (before reading it), and 400 (40006) for a URL whose
// path or query holds an encoded NUL (%00) — libmicrohttpd decodes into C
// strings, so the handler would see the value cut short at the NUL.
// Streamed bodies: api/response_stream.h. Listen addresses: api/listen_address.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/response_stream.h"
#include "core/result.h"

namespace sh::api {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // URL path, percent-decoded by libmicrohttpd, without the query
  // Query arguments in arrival order, percent-decoded. A key without '=' has value "".
  std::vector<std::pair<std::string, std::string>> query;
  // Header names lower-cased.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_addr;

  // First header with this (case-insensitive) name, or nullptr.
  const std::string* header(std::string_view name) const;
};

namespace detail {
struct ConnectionState;
}

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  // If set, the body is streamed from it and `body` is ignored.
  std::shared_ptr<ResponseStream> stream;

  HttpResponse& with_header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// Completes one request. Move-only; respond() may be called once, from any thread.
// If a Responder is destroyed without responding, the client gets a 500.
class Responder {
 public:
  Responder() = default;
  explicit Responder(std::shared_ptr<detail::ConnectionState> state);
  Responder(Responder&&) noexcept = default;
  Responder& operator=(Responder&&) noexcept = default;
  Responder(const Responder&) = delete;
  Responder& operator=(const Responder&) = delete;
  ~Responder();

  void respond(HttpResponse response);
  // False once the client went away or respond() was called.
  bool pending() const;
  // Registers `cb`, called once (from the server's dead-peer sweep, on its own
  // thread, under no lock) if the client hangs up while the request waits
  // suspended; the server has then already answered and freed the connection,
  // so a later respond() is ignored. Returns false (and drops `cb`) if the
  // request is already answered or gone. `cb` must not throw; it is dropped
  // unrun when the request is answered.
  bool on_client_gone(std::function<void()> cb);

 private:
  std::shared_ptr<detail::ConnectionState> state_;
};

// Runs on the server's worker threads, concurrently for different requests.
// It must not block for long (answer later through the Responder instead).
using Handler = std::function<void(HttpRequest&& request, Responder responder)>;

struct HttpServerOptions {
  std::string listen_host = "127.0.0.1";  // IPv4 or IPv6 literal, or "0.0.0.0" / "::" (make_listen_address)
  uint16_t port = 8080;                   // 0 = pick a free port (see HttpServer::port())
  unsigned threads = 4;                   // worker thread pool size
  unsigned connection_limit = 4096;
  unsigned per_ip_connection_limit = 0;   // connections from one client IP (0 = no limit); more are closed at once
  unsigned connection_timeout_s = 15;     // idle connections (keep-alive or slow senders) are closed after this
  size_t max_body_bytes = 1 << 20;        // larger request bodies get 413 before they are read
  // How often suspended requests are checked for a client that hung up (MHD
  // does not watch a suspended socket); such a request is answered and its
  // connection freed at once. 0 = never (the request waits for respond()).
  unsigned dead_peer_check_ms = 200;
  // > 0: each server thread asks the kernel for scheduler slices of this many
  // microseconds (exec::request_short_slice) on its first request, so that it
  // preempts busy threads at once when a request wakes it. For a listener that
  // is rarely busy and must answer quickly: the admin listener's probes.
  unsigned short_slice_us = 0;
};

class HttpServer {
 public:
  // Binds and starts serving. kUnavailable if the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> start(HttpServerOptions opts, Handler handler);
  ~HttpServer();  // stop()

  // The port actually bound.
  uint16_t port() const;
  // Stops accepting new connections; in-flight requests (and further requests
  // on open keep-alive connections) go on. The listening socket stays open
  // until stop(), so new connects sit unserved in the kernel backlog.
  void quiesce();
  // Quiesces, waits (up to `timeout_ms`) for in-flight requests to finish, then
  // answers every request still waiting for respond() with 503
  // {"error_code":50301,...}, ends open streams abnormally, gives those answers
  // up to 1 s to be written, and stops the daemon. Idempotent.
  // REQUIRES: not called from a Handler or a drain callback (server threads).
  void stop(int64_t timeout_ms = 10000);
  // Requests currently being handled or suspended.
  int64_t in_flight() const;
  // Suspended requests ended because their client hung up (since start).
  int64_t clients_gone() const;

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sh::api
