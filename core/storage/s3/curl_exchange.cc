#include "core/storage/s3/curl_exchange.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "core/text/ascii.h"

namespace sh::s3::curl_internal {

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// ---- Share -------------------------------------------------------------------

Share::Share() {
  handle_ = curl_share_init();
  if (handle_ == nullptr) return;
  curl_share_setopt(handle_, CURLSHOPT_LOCKFUNC, &Share::lock);
  curl_share_setopt(handle_, CURLSHOPT_UNLOCKFUNC, &Share::unlock);
  curl_share_setopt(handle_, CURLSHOPT_USERDATA, this);
  curl_share_setopt(handle_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(handle_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
}

Share::~Share() {
  if (handle_ != nullptr) curl_share_cleanup(handle_);
}

void Share::lock(CURL*, curl_lock_data data, curl_lock_access, void* userptr) noexcept {
  static_cast<Share*>(userptr)->locks_[data].lock();
}

void Share::unlock(CURL*, curl_lock_data data, void* userptr) noexcept {
  static_cast<Share*>(userptr)->locks_[data].unlock();
}

// ---- CurlExchange: C callbacks (no exception may escape; a failure returns a
// value that makes curl abort the transfer) -------------------------------------

size_t CurlExchange::on_body(char* ptr, size_t size, size_t nmemb, void* userdata) noexcept {
  auto* x = static_cast<CurlExchange*>(userdata);
  const size_t n = size * nmemb;
  try {
    if (x->response_.body.size() + n > x->so_.max_body_bytes) {
      x->too_large_ = true;
      return 0;
    }
    x->response_.body.append(ptr, n);
    return n;
  } catch (...) {
    return 0;
  }
}

size_t CurlExchange::on_header(char* buf, size_t size, size_t nitems, void* userdata) noexcept {
  auto* x = static_cast<CurlExchange*>(userdata);
  const size_t n = size * nitems;
  try {
    std::string_view line(buf, n);
    if (line.rfind("HTTP/", 0) == 0) {
      x->response_.headers.clear();  // a new response (after 100-continue or a redirect)
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
    x->response_.headers.emplace_back(std::move(name), std::string(value));
    return n;
  } catch (...) {
    return 0;
  }
}

size_t CurlExchange::on_read(char* buffer, size_t size, size_t nitems, void* userdata) noexcept {
  auto* x = static_cast<CurlExchange*>(userdata);
  const std::string_view body = x->req_.body;
  const size_t n = std::min(size * nitems, body.size() - x->body_pos_);
  std::memcpy(buffer, body.data() + x->body_pos_, n);
  x->body_pos_ += n;
  return n;
}

int CurlExchange::on_seek(void* userdata, curl_off_t offset, int origin) noexcept {
  auto* x = static_cast<CurlExchange*>(userdata);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > x->req_.body.size()) {
    return CURL_SEEKFUNC_FAIL;
  }
  x->body_pos_ = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

// ---- CurlExchange --------------------------------------------------------------

std::string CurlExchange::where() const {
  return fmt::format("{} {}://{}", req_.method, req_.scheme, req_.host_header());
}

Status CurlExchange::prepare(CURL* h, CURLSH* share, const CurlTransportOptions& opts) {
  auto append = [this](const std::string& line) -> bool {
    curl_slist* next = curl_slist_append(headers_.get(), line.c_str());
    if (next == nullptr) return false;
    (void)headers_.release();
    headers_.reset(next);
    return true;
  };
  bool ok = append("Expect:");  // no 100-continue round trip on PUT
  for (const auto& [name, value] : req_.headers) {
    // "Name;" sends an empty header; "Name:" would remove it.
    ok = ok && append(value.empty() ? fmt::format("{};", name)
                                    : fmt::format("{}: {}", name, value));
  }
  if (!ok) return internal_error("curl_slist_append failed");

  url_ = req_.url();
  const int64_t total_ms = std::max<int64_t>(1, so_.timeout_ms);
  curl_easy_setopt(h, CURLOPT_URL, url_.c_str());
  // The path goes out exactly as encoded (and signed): no "/./" or "/../" squashing.
  curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
  if (share != nullptr) curl_easy_setopt(h, CURLOPT_SHARE, share);
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf_);
  curl_easy_setopt(h, CURLOPT_USERAGENT, opts.user_agent.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers_.get());
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min(opts.connect_timeout_ms, total_ms)));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(total_ms));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME,
                   static_cast<long>(std::max<int64_t>(1, (opts.stall_timeout_ms + 999) / 1000)));
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, opts.verify_tls ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, opts.verify_tls ? 2L : 0L);
  if (!opts.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, opts.ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &CurlExchange::on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &CurlExchange::on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, this);

  if (req_.method == "GET") {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else if (req_.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (req_.method == "PUT") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, &CurlExchange::on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, this);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, &CurlExchange::on_seek);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, this);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req_.body.size()));
  } else {
    return invalid_argument(fmt::format("unsupported HTTP method {}", req_.method));
  }
  return ok_status();
}

Error CurlExchange::transport_error(CURLcode rc) const {
  const std::string at = where();
  const char* detail = errbuf_[0] != '\0' ? errbuf_ : curl_easy_strerror(rc);
  std::string message = fmt::format("{}: {}", at, detail);
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return Error(Errc::kTimeout, std::move(message), /*retryable=*/true);
    case CURLE_WRITE_ERROR:
      if (too_large_) {
        return Error(Errc::kBadResponse,
                     fmt::format("{}: response body larger than the {} bytes expected", at,
                                 so_.max_body_bytes),
                     false);
      }
      return Error(Errc::kInternal, fmt::format("{}: cannot store response body", at), false);
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

Result<TransportResponse> CurlExchange::finish(CURL* h, CURLcode rc) {
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);  // the list dies with this exchange
  if (rc != CURLE_OK) {
    Error err = transport_error(rc);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
    return err;
  }
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response_.status);
  return std::move(response_);
}

Error CurlExchange::abandoned(std::string_view why) const {
  return Error(Errc::kUnavailable, fmt::format("{}: {}", where(), why), /*retryable=*/true);
}

int64_t new_connections(CURL* h) {
  long n = 0;
  curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &n);
  return n;
}

}  // namespace sh::s3::curl_internal
