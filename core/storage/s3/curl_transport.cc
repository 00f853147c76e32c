#include "core/storage/s3/curl_transport.h"

#include "core/storage/s3/curl_exchange.h"

namespace sh::s3 {

void CurlTransport::EasyDeleter::operator()(CURL* h) const { curl_easy_cleanup(h); }

CurlTransport::CurlTransport(CurlTransportOptions opts) : opts_(std::move(opts)) {
  curl_internal::global_init_once();
  share_ = std::make_unique<curl_internal::Share>();
}

CurlTransport::~CurlTransport() {
  // Easy handles must go before the share they are attached to.
  std::lock_guard<std::mutex> lock(pool_mu_);
  idle_.clear();
}

CurlTransport::Easy CurlTransport::acquire() {
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!idle_.empty()) {
      Easy h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  return Easy(curl_easy_init());
}

void CurlTransport::release(Easy h) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (idle_.size() < opts_.max_idle_handles) idle_.push_back(std::move(h));
}

int64_t CurlTransport::connections_opened() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return connections_opened_;
}

Result<TransportResponse> CurlTransport::send(const TransportRequest& req,
                                              const SendOptions& opts) {
  Easy easy = acquire();
  if (!easy) return internal_error("curl_easy_init failed");
  CURL* h = easy.get();
  curl_easy_reset(h);

  curl_internal::CurlExchange exchange(req, opts);
  SH_RETURN_IF_ERROR(exchange.prepare(h, share_->get(), opts_));
  const CURLcode rc = curl_easy_perform(h);
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    connections_opened_ += curl_internal::new_connections(h);
  }
  auto result = exchange.finish(h, rc);
  release(std::move(easy));
  return result;
}

}  // namespace sh::s3
