#include "core/storage/s3/curl_transport.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

#include "core/text/ascii.h"

namespace sh::s3 {
namespace {

std::once_flag g_curl_global_init;

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct ReceiveState {
  TransportResponse* response;
  uint64_t max_body_bytes;
  bool too_large = false;
};

struct SendState {
  std::string_view body;
  size_t pos = 0;
};

// C callbacks: no exception may escape; a failure returns a value that makes
// curl abort the transfer.
size_t on_body(char* ptr, size_t size, size_t nmemb, void* userdata) noexcept {
  auto* st = static_cast<ReceiveState*>(userdata);
  const size_t n = size * nmemb;
  try {
    if (st->response->body.size() + n > st->max_body_bytes) {
      st->too_large = true;
      return 0;
    }
    st->response->body.append(ptr, n);
    return n;
  } catch (...) {
    return 0;
  }
}

size_t on_header(char* buf, size_t size, size_t nitems, void* userdata) noexcept {
  auto* st = static_cast<ReceiveState*>(userdata);
  const size_t n = size * nitems;
  try {
    std::string_view line(buf, n);
    if (line.rfind("HTTP/", 0) == 0) {
      st->response->headers.clear();  // a new response (after 100-continue or a redirect)
      return n;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return n;
    std::string name = text::ascii_lowered(line.substr(0, colon));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.remove_suffix(1);
    }
    st->response->headers.emplace_back(std::move(name), std::string(value));
    return n;
  } catch (...) {
    return 0;
  }
}

size_t on_read(char* buffer, size_t size, size_t nitems, void* userdata) noexcept {
  auto* st = static_cast<SendState*>(userdata);
  const size_t n = std::min(size * nitems, st->body.size() - st->pos);
  std::memcpy(buffer, st->body.data() + st->pos, n);
  st->pos += n;
  return n;
}

int on_seek(void* userdata, curl_off_t offset, int origin) noexcept {
  auto* st = static_cast<SendState*>(userdata);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > st->body.size()) {
    return CURL_SEEKFUNC_FAIL;
  }
  st->pos = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

Error transport_error(CURLcode rc, const ReceiveState& st, const TransportRequest& req,
                      const char* errbuf) {
  const std::string where = fmt::format("{} {}://{}", req.method, req.scheme, req.host_header());
  const char* detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);
  std::string message = fmt::format("{}: {}", where, detail);
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return Error(Errc::kTimeout, std::move(message), /*retryable=*/true);
    case CURLE_WRITE_ERROR:
      if (st.too_large) {
        return Error(Errc::kBadResponse,
                     fmt::format("{}: response body larger than the {} bytes expected", where,
                                 st.max_body_bytes),
                     false);
      }
      return Error(Errc::kInternal, fmt::format("{}: cannot store response body", where), false);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return Error(Errc::kUnavailable, std::move(message), false);
    default:
      return Error(Errc::kUnavailable, std::move(message), /*retryable=*/true);
  }
}

}  // namespace

struct CurlTransport::Share {
  CURLSH* handle = nullptr;
  std::array<std::mutex, CURL_LOCK_DATA_LAST> locks;

  static void lock(CURL*, curl_lock_data data, curl_lock_access, void* userptr) {
    static_cast<Share*>(userptr)->locks[data].lock();
  }
  static void unlock(CURL*, curl_lock_data data, void* userptr) {
    static_cast<Share*>(userptr)->locks[data].unlock();
  }
  Share() {
    handle = curl_share_init();
    if (handle == nullptr) return;
    curl_share_setopt(handle, CURLSHOPT_LOCKFUNC, &Share::lock);
    curl_share_setopt(handle, CURLSHOPT_UNLOCKFUNC, &Share::unlock);
    curl_share_setopt(handle, CURLSHOPT_USERDATA, this);
    curl_share_setopt(handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(handle, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  ~Share() {
    if (handle != nullptr) curl_share_cleanup(handle);
  }
};

void CurlTransport::EasyDeleter::operator()(CURL* h) const { curl_easy_cleanup(h); }

CurlTransport::CurlTransport(CurlTransportOptions opts) : opts_(std::move(opts)) {
  std::call_once(g_curl_global_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  share_ = std::make_unique<Share>();
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

  TransportResponse response;
  ReceiveState recv{&response, opts.max_body_bytes};
  SendState send_state{req.body};
  char errbuf[CURL_ERROR_SIZE] = {0};

  Slist headers;
  auto append = [&headers](const std::string& line) -> bool {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next == nullptr) return false;
    (void)headers.release();
    headers.reset(next);
    return true;
  };
  bool ok = append("Expect:");  // no 100-continue round trip on PUT
  for (const auto& [name, value] : req.headers) {
    // "Name;" sends an empty header; "Name:" would remove it.
    ok = ok && append(value.empty() ? fmt::format("{};", name)
                                    : fmt::format("{}: {}", name, value));
  }
  if (!ok) return internal_error("curl_slist_append failed");

  const std::string url = req.url();
  const int64_t total_ms = std::max<int64_t>(1, opts.timeout_ms);
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_SHARE, share_->handle);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_USERAGENT, opts_.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min(opts_.connect_timeout_ms, total_ms)));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(total_ms));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(std::max<int64_t>(1, (opts_.stall_timeout_ms + 999) / 1000)));
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, opts_.verify_tls ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, opts_.verify_tls ? 2L : 0L);
  if (!opts_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, opts_.ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &recv);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &recv);

  if (req.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (req.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req.method == "PUT") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, &on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &send_state);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, &on_seek);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &send_state);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  } else {
    return invalid_argument(fmt::format("unsupported HTTP method {}", req.method));
  }

  const CURLcode rc = curl_easy_perform(h);
  long new_connections = 0;
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &new_connections);
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    connections_opened_ += new_connections;
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);  // the list dies with this frame
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  if (rc != CURLE_OK) {
    Error err = transport_error(rc, recv, req, errbuf);
    release(std::move(easy));
    return err;
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  release(std::move(easy));
  return response;
}

}  // namespace sh::s3
