// Internal to core/storage/s3 (not for use elsewhere): what CurlTransport and
// CurlMultiTransport share — RAII owners for CURL* / CURLSH*, the curl_share of
// DNS and TLS sessions, and CurlExchange, one request's life on an easy handle
// (option setup, the C callbacks collecting the answer, the CURLcode → Error
// mapping), so both transports behave and fail identically.
#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <string>

#include <curl/curl.h>

#include "core/result.h"
#include "core/storage/s3/curl_transport.h"
#include "core/storage/s3/http_transport.h"

namespace sh::s3::curl_internal {

// curl_global_init, once per process (before the first handle).
void global_init_once();

struct EasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
using Easy = std::unique_ptr<CURL, EasyDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// A curl_share of the DNS cache and TLS sessions, with a mutex per lock kind
// (handles on different threads may use it at once). Outlives every handle
// attached to it.
class Share {
 public:
  Share();
  ~Share();
  Share(const Share&) = delete;
  Share& operator=(const Share&) = delete;
  CURLSH* get() const { return handle_; }

 private:
  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* userptr) noexcept;
  static void unlock(CURL*, curl_lock_data data, void* userptr) noexcept;

  CURLSH* handle_ = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks_;
};

// One request on one easy handle: prepare() configures the (reset) handle,
// the transfer runs (curl_easy_perform or a multi handle), finish() turns its
// CURLcode into the answer. Not movable: the handle's callbacks point into it.
//
// Errors of finish() (HttpTransport's contract):
//   kTimeout      CURLE_OPERATION_TIMEDOUT: total timeout or the stall limit (retryable)
//   kBadResponse  body above SendOptions::max_body_bytes
//   kUnavailable  connect/DNS/TLS failure, dropped connection, truncated body
//                 (retryable unless TLS verification or the URL is at fault)
// Messages name "<method> <scheme>://<host[:port]>", never header values.
class CurlExchange {
 public:
  CurlExchange(const TransportRequest& req, const SendOptions& so) : req_(req), so_(so) {}
  CurlExchange(const CurlExchange&) = delete;
  CurlExchange& operator=(const CurlExchange&) = delete;

  // REQUIRES: `h` freshly created or curl_easy_reset; `share` outlives the transfer.
  // Sets URL (CURLOPT_PATH_AS_IS: the path is sent exactly as signed), headers,
  // body, timeouts (total = so.timeout_ms, connect, stall), TLS verification,
  // HTTP/1.1 and the callbacks. kInvalidArgument for an unsupported method.
  Status prepare(CURL* h, CURLSH* share, const CurlTransportOptions& opts);

  // The response for rc == CURLE_OK, else the mapped error. Detaches the
  // handle from this exchange's header list and error buffer, so the handle
  // may be reused or destroyed afterwards.
  Result<TransportResponse> finish(CURL* h, CURLcode rc);

  // An error for a transfer that never ran to completion (the transport shut down).
  Error abandoned(std::string_view why) const;

 private:
  static size_t on_body(char* ptr, size_t size, size_t nmemb, void* userdata) noexcept;
  static size_t on_header(char* buf, size_t size, size_t nitems, void* userdata) noexcept;
  static size_t on_read(char* buffer, size_t size, size_t nitems, void* userdata) noexcept;
  static int on_seek(void* userdata, curl_off_t offset, int origin) noexcept;

  std::string where() const;
  Error transport_error(CURLcode rc) const;

  const TransportRequest& req_;
  SendOptions so_;
  TransportResponse response_;
  bool too_large_ = false;
  size_t body_pos_ = 0;  // upload position in req_.body
  std::string url_;
  Slist headers_;
  char errbuf_[CURL_ERROR_SIZE] = {0};
};

// Connections the finished transfer on `h` had to open (0 when it reused one).
int64_t new_connections(CURL* h);

}  // namespace sh::s3::curl_internal
