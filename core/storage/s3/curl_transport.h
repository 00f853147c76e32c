// HttpTransport on libcurl's easy interface (HTTP/1.1): each send() runs
// curl_easy_perform on the calling thread. Keeps a pool of idle easy handles so
// connections stay alive between requests (each handle owns its connection
// cache), and shares DNS and TLS sessions across handles through a curl_share.
// Thread-safe: any number of concurrent send() calls. CurlMultiTransport
// (curl_multi_transport.h) drives many transfers on one thread instead; both
// set up handles and map errors with the same code (curl_exchange.h).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <curl/curl.h>

#include "core/storage/s3/http_transport.h"

namespace sh::s3 {

namespace curl_internal {
class Share;
}

struct CurlTransportOptions {
  int64_t connect_timeout_ms = 2000;
  // Abort when fewer than 1 byte/s arrives for this long (first byte included).
  int64_t stall_timeout_ms = 5000;
  bool verify_tls = true;
  std::string ca_file;  // extra CA bundle (PEM); "" = system store
  size_t max_idle_handles = 64;
  std::string user_agent = "streamhouse-reader";
};

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(CurlTransportOptions opts);
  ~CurlTransport() override;
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  Result<TransportResponse> send(const TransportRequest& req, const SendOptions& opts) override;

  // Connections opened so far (for tests of connection reuse).
  int64_t connections_opened() const;

 private:
  struct EasyDeleter {
    void operator()(CURL* h) const;
  };
  using Easy = std::unique_ptr<CURL, EasyDeleter>;

  Easy acquire();
  void release(Easy h);

  CurlTransportOptions opts_;
  std::unique_ptr<curl_internal::Share> share_;
  mutable std::mutex pool_mu_;
  std::vector<Easy> idle_;  // guarded by pool_mu_
  mutable std::mutex stats_mu_;
  int64_t connections_opened_ = 0;  // guarded by stats_mu_
};

}  // namespace sh::s3
