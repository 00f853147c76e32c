// Test support for the streaming routes (…/records/stream): a raw HTTP/1.1
// client that reads a chunked body at the test's pace, SSE and NDJSON body
// parsing, and the server's Prometheus gauges read over GET /metrics.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "tests/e2e/support/process.h"

namespace sh::testing {

// The lines of `body` (without their '\n').
std::vector<std::string> split_lines(const std::string& body);

struct SseEvent {
  std::string event = "message";
  std::string id;
  std::string data;
};

// Events of an SSE body as a browser's EventSource dispatches them: comments
// skipped, a field line per line, and a block without a data line (an id-only
// event) not dispatched.
std::vector<SseEvent> sse_events(const std::string& body);
// The Last-Event-ID a browser holds after reading `body`: the last id field,
// dispatched or not ("" if none).
std::string sse_last_event_id(const std::string& body);

// A raw HTTP/1.1 client that reads the chunked body as it arrives, at the
// pace the test wants (curl's easy interface would read it all). Connects to
// 127.0.0.1:`port` and sends `GET path` with `headers`; `rcvbuf` > 0 sets
// SO_RCVBUF first.
class StreamClient {
 public:
  StreamClient(int port, const std::string& path, const std::vector<std::string>& headers = {},
               int rcvbuf = 0);
  ~StreamClient();
  StreamClient(const StreamClient&) = delete;
  StreamClient& operator=(const StreamClient&) = delete;
  void close();

  // Reads up to `max` raw bytes, waiting at most `wait`; false on EOF/error/timeout.
  bool read_some(std::chrono::milliseconds wait, size_t max = 65536);
  // Reads until the body contains `what` (or the body ends); false on timeout.
  bool read_until(const std::string& what, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Reads until the terminating chunk (true) or EOF/timeout (false).
  bool read_to_end(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  int status = 0;
  std::string head;  // status line and headers
  std::string body;  // decoded body so far
  bool done = false; // the terminating chunk arrived

 private:
  void decode();

  int fd_ = -1;
  bool eof_ = false;
  std::string raw_;
  size_t pos_ = 0;
  size_t chunk_left_ = 0;   // bytes of the current chunk still to come
  bool crlf_due_ = false;   // the CRLF after a chunk's data
};

// The value of the unlabelled sample `name` in the server's GET /metrics; -1 if absent.
double metric_value(const ServerProcess& server, const std::string& name);
// Waits (up to `timeout`) for `name` to read `want`; false if it never did.
bool metric_becomes(const ServerProcess& server, const std::string& name, double want,
                    std::chrono::milliseconds timeout = std::chrono::seconds(15));

}  // namespace sh::testing
