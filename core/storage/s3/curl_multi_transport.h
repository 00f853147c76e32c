// HttpTransport on libcurl's multi interface: ONE event-loop thread owns a
// CURLM and drives every transfer in flight (curl_multi_poll, woken with
// curl_multi_wakeup when work arrives), so a thousand concurrent reads cost a
// thousand easy handles, not a thousand threads. Connections stay alive in the
// multi handle's connection cache and are reused by whichever transfer needs
// the host next; at most `max_host_connections` per host (further transfers
// wait in curl's queue, their timeout running) and `max_total_connections` in
// all. DNS and TLS sessions are shared through a curl_share.
//
// send() prepares an easy handle on the caller's thread (the same setup and
// error mapping as CurlTransport: curl_exchange.h), hands it to the loop
// through a locked queue and blocks until the transfer completes.
//
// Destruction completes every transfer still queued or in flight with a
// retryable kUnavailable ("transport shut down") and joins the loop; a send()
// blocked at that moment returns that error without touching the transport.
// Thread-safe: any number of concurrent send() calls.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <curl/curl.h>

#include "core/storage/s3/curl_transport.h"
#include "core/storage/s3/http_transport.h"

namespace sh::s3 {

struct CurlMultiTransportOptions {
  // Per-transfer settings exactly as CurlTransport's (connect and stall
  // timeouts, TLS verification, CA file, user agent); max_idle_handles bounds
  // the easy handles kept for reuse.
  CurlTransportOptions transfer;
  long max_host_connections = 64;   // CURLMOPT_MAX_HOST_CONNECTIONS
  long max_total_connections = 64;  // CURLMOPT_MAX_TOTAL_CONNECTIONS (and the idle cache size)
};

class CurlMultiTransport final : public HttpTransport {
 public:
  // If the multi handle or the loop thread cannot be created, every send()
  // fails with kInternal.
  explicit CurlMultiTransport(CurlMultiTransportOptions opts);
  ~CurlMultiTransport() override;
  CurlMultiTransport(const CurlMultiTransport&) = delete;
  CurlMultiTransport& operator=(const CurlMultiTransport&) = delete;

  Result<TransportResponse> send(const TransportRequest& req, const SendOptions& opts) override;

  // TCP connections opened so far (for tests of connection reuse).
  int64_t connections_opened() const { return connections_opened_.load(); }

 private:
  struct EasyDeleter {
    void operator()(CURL* h) const;
  };
  using Easy = std::unique_ptr<CURL, EasyDeleter>;
  struct MultiDeleter {
    void operator()(CURLM* m) const;
  };
  using Multi = std::unique_ptr<CURLM, MultiDeleter>;
  struct Transfer;

  void run_loop();
  // Completes `t` (already removed from the multi) and returns its handle to the pool.
  void complete(Transfer& t, Result<TransportResponse> result);

  CurlMultiTransportOptions opts_;
  std::unique_ptr<curl_internal::Share> share_;
  Multi multi_;

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<Transfer>> queue_;  // guarded by mu_: handed to the loop
  bool stopping_ = false;                         // guarded by mu_
  std::vector<Easy> idle_;                        // guarded by mu_

  std::atomic<int64_t> connections_opened_{0};
  std::thread loop_;  // last: starts after everything above exists
};

}  // namespace sh::s3
