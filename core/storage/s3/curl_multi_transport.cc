#include "core/storage/s3/curl_multi_transport.h"

#include <optional>
#include <system_error>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/storage/s3/curl_exchange.h"

namespace sh::s3 {

// One send(): shared by the caller (waiting on `done`) and the loop (driving
// `easy`), so either may be the last to let go of it.
struct CurlMultiTransport::Transfer {
  Transfer(const TransportRequest& req, const SendOptions& so) : exchange(req, so) {}

  Easy easy;
  curl_internal::CurlExchange exchange;  // request and response state the callbacks use

  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<TransportResponse>> result;  // guarded by mu; set once
};

void CurlMultiTransport::EasyDeleter::operator()(CURL* h) const { curl_easy_cleanup(h); }
void CurlMultiTransport::MultiDeleter::operator()(CURLM* m) const { curl_multi_cleanup(m); }

CurlMultiTransport::CurlMultiTransport(CurlMultiTransportOptions opts) : opts_(std::move(opts)) {
  curl_internal::global_init_once();
  share_ = std::make_unique<curl_internal::Share>();
  multi_.reset(curl_multi_init());
  if (!multi_) return;
  curl_multi_setopt(multi_.get(), CURLMOPT_MAX_HOST_CONNECTIONS, opts_.max_host_connections);
  curl_multi_setopt(multi_.get(), CURLMOPT_MAX_TOTAL_CONNECTIONS, opts_.max_total_connections);
  // Idle keep-alive connections the cache holds on to.
  curl_multi_setopt(multi_.get(), CURLMOPT_MAXCONNECTS, opts_.max_total_connections);
  try {
    loop_ = std::thread([this] { run_loop(); });
  } catch (const std::system_error& e) {
    spdlog::error("S3 transport: cannot start the curl event loop: {}", e.what());
    multi_.reset();
  }
}

CurlMultiTransport::~CurlMultiTransport() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  if (loop_.joinable()) {
    curl_multi_wakeup(multi_.get());
    loop_.join();
  }
  // Idle handles go before the multi and the share (member order does the rest).
  idle_.clear();
}

void CurlMultiTransport::complete(Transfer& t, Result<TransportResponse> result) {
  // The reset drops the handle's pointers into t.exchange before t can die.
  curl_easy_reset(t.easy.get());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (idle_.size() < opts_.transfer.max_idle_handles) idle_.push_back(std::move(t.easy));
  }
  t.easy.reset();
  std::lock_guard<std::mutex> lock(t.mu);
  t.result.emplace(std::move(result));
  t.cv.notify_all();
}

Result<TransportResponse> CurlMultiTransport::send(const TransportRequest& req,
                                                   const SendOptions& opts) {
  if (!multi_) return internal_error("S3 transport: the curl event loop is not running");
  auto t = std::make_shared<Transfer>(req, opts);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      t->easy = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!t->easy) {  // pooled handles were reset when their transfer completed
    t->easy.reset(curl_easy_init());
    if (!t->easy) return internal_error("curl_easy_init failed");
  }
  SH_RETURN_IF_ERROR(t->exchange.prepare(t->easy.get(), share_->get(), opts_.transfer));
  {
    // Waking under mu_: the destructor sets stopping_ under mu_ before the
    // multi handle can go, so the handle is alive here.
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return t->exchange.abandoned("transport shut down");
    queue_.push_back(t);
    curl_multi_wakeup(multi_.get());
  }
  // From here on `this` may be destroyed (the destructor completes `t`): only `t` is used.
  std::unique_lock<std::mutex> lock(t->mu);
  t->cv.wait(lock, [&] { return t->result.has_value(); });
  return std::move(*t->result);
}

void CurlMultiTransport::run_loop() {
  CURLM* m = multi_.get();
  std::unordered_map<CURL*, std::shared_ptr<Transfer>> in_flight;
  std::vector<std::shared_ptr<Transfer>> arrived;
  for (;;) {
    bool stop;
    {
      std::lock_guard<std::mutex> lock(mu_);
      arrived.swap(queue_);
      stop = stopping_;
    }
    for (auto& t : arrived) {
      CURL* h = t->easy.get();
      if (stop) {
        complete(*t, t->exchange.abandoned("transport shut down"));
        continue;
      }
      const CURLMcode mc = curl_multi_add_handle(m, h);
      if (mc != CURLM_OK) {
        complete(*t, internal_error(fmt::format("curl_multi_add_handle: {}",
                                                curl_multi_strerror(mc))));
        continue;
      }
      in_flight.emplace(h, std::move(t));
    }
    arrived.clear();
    if (stop) {
      for (auto& [h, t] : in_flight) {
        curl_multi_remove_handle(m, h);
        complete(*t, t->exchange.abandoned("transport shut down with the transfer in flight"));
      }
      in_flight.clear();
      return;
    }

    int running = 0;
    CURLMcode mc = curl_multi_perform(m, &running);
    if (mc != CURLM_OK) spdlog::warn("S3 transport: curl_multi_perform: {}", curl_multi_strerror(mc));
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(m, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      // msg dies with curl_multi_remove_handle: copy what is needed first.
      CURL* h = msg->easy_handle;
      const CURLcode rc = msg->data.result;
      auto it = in_flight.find(h);
      curl_multi_remove_handle(m, h);
      if (it == in_flight.end()) continue;  // not ours: cannot happen
      std::shared_ptr<Transfer> t = std::move(it->second);
      in_flight.erase(it);
      connections_opened_.fetch_add(curl_internal::new_connections(h));
      complete(*t, t->exchange.finish(h, rc));
    }
    // Sleeps until a socket is ready, a curl timer is due, or a wakeup.
    mc = curl_multi_poll(m, nullptr, 0, 1000, nullptr);
    if (mc != CURLM_OK) spdlog::warn("S3 transport: curl_multi_poll: {}", curl_multi_strerror(mc));
  }
}

}  // namespace sh::s3
