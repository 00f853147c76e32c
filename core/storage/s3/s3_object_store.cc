#include "core/storage/s3/s3_object_store.h"

#include <charconv>
#include <iterator>
#include <thread>

#include <fmt/format.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include "core/storage/s3/aws_time.h"
#include "core/storage/s3/credentials.h"
#include "core/storage/s3/curl_multi_transport.h"
#include "core/storage/s3/curl_transport.h"
#include "core/storage/s3/http_transport.h"
#include "core/storage/s3/retry_policy.h"
#include "core/storage/s3/s3_errors.h"
#include "core/storage/s3/s3_metrics.h"
#include "core/storage/s3/s3_request_builder.h"
#include "core/storage/s3/s3_xml.h"
#include "core/storage/s3/sigv4.h"

namespace sh::s3 {
namespace {

constexpr uint64_t kMaxErrorBodyBytes = 64 * 1024;
constexpr uint64_t kMaxWholeObjectBytes = 1ull << 30;
constexpr uint64_t kMaxListBodyBytes = 16ull << 20;
constexpr size_t kMaxKeyBytes = 1024;

struct ContentRange {
  uint64_t first = 0;
  uint64_t last = 0;
  std::optional<uint64_t> total;
};

bool parse_u64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// "bytes <first>-<last>/<total|*>"
std::optional<ContentRange> parse_content_range(const std::optional<std::string>& header) {
  if (!header) return std::nullopt;
  std::string_view v = *header;
  if (v.rfind("bytes ", 0) != 0) return std::nullopt;
  v.remove_prefix(6);
  size_t dash = v.find('-'), slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || dash > slash) {
    return std::nullopt;
  }
  ContentRange cr;
  if (!parse_u64(v.substr(0, dash), &cr.first) ||
      !parse_u64(v.substr(dash + 1, slash - dash - 1), &cr.last) || cr.last < cr.first) {
    return std::nullopt;
  }
  std::string_view total = v.substr(slash + 1);
  if (total != "*") {
    uint64_t t = 0;
    if (!parse_u64(total, &t) || cr.last >= t) return std::nullopt;
    cr.total = t;
  }
  return cr;
}

Error bad_response(const std::string& what, const std::string& m, bool retryable = false) {
  return Error(Errc::kBadResponse, fmt::format("{}: {}", what, m), retryable);
}

// A 206 answer's Content-Range, checked to have a total size and to announce
// exactly the body received (a short body is retryable: the transfer was cut).
Result<ContentRange> checked_content_range(const std::string& what, const TransportResponse& r) {
  auto cr = parse_content_range(r.header("content-range"));
  if (!cr || !cr->total) return bad_response(what, "missing or malformed Content-Range");
  const uint64_t announced = cr->last - cr->first + 1;
  if (r.body.size() != announced) {
    return bad_response(what,
                        fmt::format("body has {} bytes, Content-Range announces {}", r.body.size(),
                                    announced),
                        /*retryable=*/true);
  }
  return *cr;
}

// The object read must still be the version the caller pinned.
Status check_pinned_etag(const std::string& what, const TransportResponse& r,
                         const ReadOptions& opts) {
  if (!opts.if_match_etag) return ok_status();
  auto etag = r.header("etag");
  if (etag && *etag != *opts.if_match_etag) {
    return Error(Errc::kPreconditionFailed, fmt::format("{}: object changed (ETag differs)", what),
                 false);
  }
  return ok_status();
}

RangeRead to_range_read(TransportResponse&& resp, uint64_t object_size) {
  RangeRead out;
  out.etag = resp.header("etag").value_or("");
  out.data = std::move(resp.body);
  out.object_size = object_size;
  return out;
}

// What kind of transport failure `e` is, in words that name no endpoint and
// carry no libcurl text (those go to the debug log).
std::string_view transport_failure_class(const Error& e) {
  switch (e.code()) {
    case Errc::kTimeout: return "timed out";
    case Errc::kBadResponse: return "bad response (body larger than expected)";
    case Errc::kUnavailable:
      return e.retryable() ? "connection failed" : "connection refused by the TLS or URL setup";
    default: return "transport error";
  }
}

bool valid_bucket_name(std::string_view b) {
  if (b.empty() || b.size() > 255) return false;
  for (char c : b) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

// ---- configuration -----------------------------------------------------------

Result<S3Options> parse_s3_url(std::string_view url) {
  constexpr std::string_view kScheme = "s3://";
  if (url.substr(0, kScheme.size()) != kScheme) {
    return invalid_argument(fmt::format("S3 URL must start with s3://: {}", url));
  }
  std::string_view rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  S3Options opts;
  opts.bucket = std::string(rest.substr(0, slash));
  if (!valid_bucket_name(opts.bucket)) {
    return invalid_argument(fmt::format("bad bucket name in S3 URL {}", url));
  }
  if (slash != std::string_view::npos) {
    std::string_view prefix = rest.substr(slash + 1);
    if (prefix.find('?') != std::string_view::npos || prefix.find('#') != std::string_view::npos) {
      return invalid_argument(fmt::format("S3 URL must not carry a query or fragment: {}", url));
    }
    opts.prefix = std::string(prefix);
    if (!opts.prefix.empty() && opts.prefix.back() != '/') opts.prefix.push_back('/');
  }
  return opts;
}

void apply_aws_environment(S3Options* opts,
                           const std::function<std::optional<std::string>(const std::string&)>& env) {
  auto first = [&](std::initializer_list<const char*> names) -> std::string {
    for (const char* n : names) {
      auto v = env(n);
      if (v && !v->empty()) return *v;
    }
    return "";
  };
  if (opts->endpoint.empty()) opts->endpoint = first({"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"});
  if (opts->region.empty()) opts->region = first({"AWS_REGION", "AWS_DEFAULT_REGION"});
  if (opts->profile.empty()) opts->profile = first({"AWS_PROFILE"});
  if (opts->ca_file.empty()) opts->ca_file = first({"AWS_CA_BUNDLE"});
}

void apply_aws_environment(S3Options* opts) { apply_aws_environment(opts, process_environment()); }

// ---- the store ---------------------------------------------------------------

struct S3ObjectStore::Operation {
  std::string_view name;  // metrics label
  std::string what;       // "GET s3://bucket/key bytes=0-9"
  std::function<TransportRequest()> build;
  Deadline deadline;
  uint64_t max_body_bytes = kMaxErrorBodyBytes;
  // Validates a 2xx answer; a retryable error repeats the request.
  std::function<Status(const TransportResponse&)> check;
};

Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::create(S3Options opts, S3Dependencies deps) {
  if (!valid_bucket_name(opts.bucket)) {
    return invalid_argument(fmt::format("bad S3 bucket name '{}'", opts.bucket));
  }
  if (!opts.prefix.empty() && opts.prefix.back() != '/') opts.prefix.push_back('/');
  if (opts.region.empty()) opts.region = "us-east-1";
  if (opts.endpoint.empty()) opts.endpoint = default_aws_endpoint(opts.region);
  if (!deps.transport || !deps.credentials || !deps.clock) {
    return invalid_argument("S3ObjectStore needs a transport, credentials and a clock");
  }
  SH_ASSIGN_OR_RETURN(S3Endpoint endpoint, parse_endpoint(opts.endpoint));
  bool path_style = choose_path_style(endpoint, opts.bucket, opts.path_style);
  std::string host = endpoint.host;
  auto store = std::unique_ptr<S3ObjectStore>(
      new S3ObjectStore(std::move(opts), std::move(deps), path_style, std::move(host)));
  store->builder_ = std::make_unique<S3RequestBuilder>(std::move(endpoint), store->opts_.bucket, path_style);
  return store;
}

S3ObjectStore::S3ObjectStore(S3Options opts, S3Dependencies deps, bool path_style,
                             std::string endpoint_host)
    : opts_(std::move(opts)),
      transport_(std::move(deps.transport)),
      clock_(std::move(deps.clock)),
      registry_(deps.registry ? std::move(deps.registry) : std::make_shared<prometheus::Registry>()),
      sleep_(std::move(deps.sleep)) {
  metrics_ = std::make_unique<S3Metrics>(*registry_);
  S3Metrics* m = metrics_.get();
  credentials_ = std::make_unique<CachingCredentials>(
      std::move(deps.credentials), clock_,
      [m](std::string_view provider) { m->add_credential_refresh(provider); });
  signer_ = std::make_unique<SigV4Signer>(opts_.region, "s3", clock_);
  retry_ = std::make_unique<RetryPolicy>(
      RetryOptions{opts_.max_attempts, opts_.retry_base_delay_ms, opts_.retry_max_delay_ms},
      std::move(deps.jitter));
  if (!sleep_) {
    sleep_ = [](int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };
  }
  spdlog::info("S3 store s3://{}/{} endpoint {} ({}) region {}", opts_.bucket, opts_.prefix,
               endpoint_host, path_style ? "path-style" : "virtual-hosted", opts_.region);
}

S3ObjectStore::~S3ObjectStore() = default;

bool S3ObjectStore::path_style() const { return builder_->path_style(); }
int64_t S3ObjectStore::clock_offset_ms() const { return signer_->clock_offset_ms(); }

std::string S3ObjectStore::describe() const {
  return fmt::format("s3://{}/{}", opts_.bucket, opts_.prefix);
}

std::string S3ObjectStore::object_url(std::string_view full_key) const {
  return fmt::format("s3://{}/{}", opts_.bucket, full_key);
}

Result<std::string> S3ObjectStore::full_key(std::string_view key) const {
  if (key.empty()) return invalid_argument(fmt::format("empty object key under {}", describe()));
  std::string k = fmt::format("{}{}", opts_.prefix, key);
  if (k.size() > kMaxKeyBytes) {
    return invalid_argument(fmt::format("object key longer than 1024 bytes: {}", object_url(k)));
  }
  return k;
}

Deadline S3ObjectStore::effective(const Deadline& d) const {
  return d.is_never() ? Deadline::after(Millis(opts_.request_timeout_ms)) : d;
}

Result<TransportResponse> S3ObjectStore::execute(const Operation& op) {
  bool skew_corrected = false;
  bool credentials_renewed = false;
  std::optional<Error> last;
  auto timed_out = [&](int attempts) {
    std::string m = fmt::format("{}: deadline reached after {} attempt(s)", op.what, attempts);
    if (last) fmt::format_to(std::back_inserter(m), "; last error: {}", last->message());
    return Error(Errc::kTimeout, std::move(m), true);
  };
  int attempt = 0;
  for (;;) {
    if (op.deadline.expired()) return timed_out(attempt);
    ++attempt;
    std::optional<Error> failure;
    auto creds = credentials_->get(op.deadline);
    if (!creds.ok()) {
      // A provider's message may name its endpoint (IMDS, container): debug only.
      spdlog::debug("{}: credentials: {}", op.what, creds.error().message());
      Error e(creds.error().code(),
              fmt::format("{}: no usable credentials ({})", op.what,
                          errc_name(creds.error().code())),
              creds.error().retryable());
      if (!e.retryable()) return e;
      failure = std::move(e);
    } else {
      TransportRequest req = op.build();
      signer_->sign(&req, *creds);
      SendOptions so;
      // The attempt may use all the time left; a stalled transfer is cut by the stall timeout.
      so.timeout_ms = std::max<int64_t>(1, op.deadline.remaining_ms());
      so.max_body_bytes = op.max_body_bytes;
      const SteadyTime t0 = std::chrono::steady_clock::now();
      auto resp = transport_->send(req, so);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (!resp.ok()) {
        metrics_->observe_request(op.name, "transport_error", secs);
        // The transport's message names the endpoint and carries libcurl's text:
        // debug only. The error says which operation and object, and what kind of failure.
        spdlog::debug("{}: {}", op.what, resp.error().message());
        Error e(resp.error().code(),
                fmt::format("{}: {}", op.what, transport_failure_class(resp.error())),
                resp.error().retryable());
        if (!e.retryable()) return e;
        failure = std::move(e);
      } else {
        metrics_->observe_request(op.name, std::to_string(resp->status), secs);
        metrics_->add_received_bytes(resp->body.size());
        if (resp->status >= 200 && resp->status < 300) {
          Status st = op.check(*resp);
          if (st.ok()) return resp;
          Error e = std::move(st).error();
          if (!e.retryable()) return e;
          failure = std::move(e);
        } else {
          S3ErrorInfo info = parse_s3_error(resp->status, resp->body);
          if (info.code == "RequestTimeTooSkewed" && !skew_corrected) {
            auto date = resp->header("date");
            auto server_ms = date ? parse_http_date(*date) : std::nullopt;
            if (server_ms) {
              const int64_t offset = *server_ms - clock_->now_unix_ms();
              signer_->set_clock_offset_ms(offset);
              spdlog::warn("S3 server clock differs from ours by {} ms; signing with corrected time",
                           offset);
              skew_corrected = true;
              --attempt;  // re-signing once does not use up an attempt
              continue;
            }
          }
          if (!credentials_renewed && is_expired_token_code(info.code)) {
            // AWS answers an expired session token with 400 ExpiredToken, others with
            // 403: the code decides, whatever the status.
            credentials_->invalidate(*creds);
            credentials_renewed = true;
            --attempt;
            continue;
          }
          if (!info.message.empty()) {
            spdlog::debug("{}: HTTP {} {}: {}", op.what, info.http_status, info.code, info.message);
          }
          Error e = s3_error_to_error(info, op.what);
          if (!e.retryable()) return e;
          failure = std::move(e);
        }
      }
    }
    last = std::move(failure);
    if (attempt >= retry_->max_attempts()) {
      return Error(last->code(),
                   fmt::format("{} (gave up after {} attempts)", last->message(), attempt),
                   last->retryable());
    }
    const int64_t delay = retry_->backoff_ms(attempt);
    if (!retry_->may_retry(attempt, delay, op.deadline)) return timed_out(attempt);
    metrics_->add_retry(op.name);
    spdlog::debug("{} (attempt {}) failed, retrying in {} ms", last->message(), attempt, delay);
    if (delay > 0) sleep_(delay);
  }
}

Result<RangeRead> S3ObjectStore::get_range(std::string_view key, uint64_t offset, uint64_t length,
                                           const ReadOptions& opts) {
  SH_ASSIGN_OR_RETURN(ByteRange range, ByteRange::make(offset, length));
  SH_ASSIGN_OR_RETURN(std::string k, full_key(key));
  const std::string range_header = range.to_http_header_value();
  Operation op;
  op.name = "get_object";
  op.what = fmt::format("GET {} {}", object_url(k), range_header);
  op.deadline = effective(opts.deadline);
  op.max_body_bytes = std::max(length, kMaxErrorBodyBytes);
  op.build = [&] { return builder_->get_object(k, range_header, opts.if_match_etag); };
  uint64_t object_size = 0;
  op.check = [&](const TransportResponse& r) -> Status {
    if (r.status != 206) {
      return bad_response(op.what,
                          fmt::format("expected 206 Partial Content, got HTTP {}", r.status));
    }
    SH_ASSIGN_OR_RETURN(ContentRange cr, checked_content_range(op.what, r));
    const uint64_t announced = cr.last - cr.first + 1;
    if (cr.first != offset || announced != length) {
      if (range.end() > *cr.total) {
        return Error(Errc::kOutOfRange,
                     fmt::format("{}: range runs past the end of the object (size {})", op.what,
                                 *cr.total),
                     false);
      }
      return bad_response(op.what, fmt::format("asked for {} bytes at {}, got {} at {}", length,
                                               offset, announced, cr.first));
    }
    SH_RETURN_IF_ERROR(check_pinned_etag(op.what, r, opts));
    object_size = *cr.total;
    return ok_status();
  };
  SH_ASSIGN_OR_RETURN(TransportResponse resp, execute(op));
  return to_range_read(std::move(resp), object_size);
}

Result<RangeRead> S3ObjectStore::get_suffix(std::string_view key, uint64_t length,
                                            const ReadOptions& opts) {
  if (length == 0) return invalid_argument("empty suffix read");
  SH_ASSIGN_OR_RETURN(std::string k, full_key(key));
  const std::string range_header = fmt::format("bytes=-{}", length);
  Operation op;
  op.name = "get_object";
  op.what = fmt::format("GET {} {}", object_url(k), range_header);
  op.deadline = effective(opts.deadline);
  op.max_body_bytes = std::max(length, kMaxErrorBodyBytes);
  op.build = [&] { return builder_->get_object(k, range_header, opts.if_match_etag); };
  uint64_t object_size = 0;
  op.check = [&](const TransportResponse& r) -> Status {
    if (r.status == 200) {
      // Some servers answer a suffix covering the whole object with the object.
      if (r.body.size() > length) {
        return bad_response(op.what, "server ignored the Range header");
      }
      object_size = r.body.size();
    } else if (r.status == 206) {
      SH_ASSIGN_OR_RETURN(ContentRange cr, checked_content_range(op.what, r));
      const uint64_t announced = cr.last - cr.first + 1;
      if (cr.last + 1 != *cr.total || announced != std::min(length, *cr.total)) {
        return bad_response(op.what, fmt::format("Content-Range {} is not the last {} bytes",
                                                 *r.header("content-range"), length));
      }
      object_size = *cr.total;
    } else {
      return bad_response(op.what, fmt::format("unexpected HTTP {}", r.status));
    }
    return check_pinned_etag(op.what, r, opts);
  };
  auto resp = execute(op);
  if (!resp.ok()) {
    // A suffix of an empty object is "not satisfiable"; tell that apart from a real error.
    if (resp.error().code() == Errc::kOutOfRange) {
      auto info = head(key, opts);
      if (info.ok() && info->size == 0) return RangeRead{"", 0, info->etag};
    }
    return std::move(resp).error();
  }
  return to_range_read(std::move(resp).value(), object_size);
}

Result<RangeRead> S3ObjectStore::get(std::string_view key, const ReadOptions& opts) {
  SH_ASSIGN_OR_RETURN(std::string k, full_key(key));
  Operation op;
  op.name = "get_object";
  op.what = fmt::format("GET {}", object_url(k));
  op.deadline = effective(opts.deadline);
  op.max_body_bytes = kMaxWholeObjectBytes;
  op.build = [&] { return builder_->get_object(k, "", opts.if_match_etag); };
  op.check = [&](const TransportResponse& r) -> Status {
    if (r.status != 200) {
      return bad_response(op.what, fmt::format("expected 200, got HTTP {}", r.status));
    }
    if (auto cl = r.header("content-length")) {
      uint64_t n = 0;
      if (!parse_u64(*cl, &n)) return bad_response(op.what, "malformed Content-Length");
      if (n != r.body.size()) {
        return bad_response(op.what,
                            fmt::format("body has {} bytes, Content-Length announces {}",
                                        r.body.size(), *cl),
                            true);
      }
    }
    return check_pinned_etag(op.what, r, opts);
  };
  SH_ASSIGN_OR_RETURN(TransportResponse resp, execute(op));
  const uint64_t size = resp.body.size();
  return to_range_read(std::move(resp), size);
}

Result<ObjectInfo> S3ObjectStore::head(std::string_view key, const ReadOptions& opts) {
  SH_ASSIGN_OR_RETURN(std::string k, full_key(key));
  Operation op;
  op.name = "head_object";
  op.what = fmt::format("HEAD {}", object_url(k));
  op.deadline = effective(opts.deadline);
  op.build = [&] { return builder_->head_object(k, opts.if_match_etag); };
  ObjectInfo info;
  info.key = std::string(key);
  op.check = [&](const TransportResponse& r) -> Status {
    auto cl = r.header("content-length");
    if (r.status != 200 || !cl || !parse_u64(*cl, &info.size)) {
      return bad_response(op.what, "expected 200 with a Content-Length");
    }
    info.etag = r.header("etag").value_or("");
    if (auto lm = r.header("last-modified")) info.mtime_ms = parse_http_date(*lm).value_or(0);
    return ok_status();
  };
  SH_RETURN_IF_ERROR(execute(op));
  return info;
}

Result<ListPage> S3ObjectStore::list(const ListOptions& opts) {
  ListObjectsV2Params p;
  p.prefix = opts_.prefix + opts.prefix;
  p.delimiter = opts.delimiter;
  p.continuation_token = opts.continuation_token;
  if (!opts.start_after.empty()) p.start_after = opts_.prefix + opts.start_after;
  p.max_keys = opts.max_keys;
  Operation op;
  op.name = "list_objects_v2";
  op.what = p.delimiter.empty()
                ? fmt::format("LIST {}", object_url(p.prefix))
                : fmt::format("LIST {} delimiter '{}'", object_url(p.prefix), p.delimiter);
  op.deadline = effective(opts.deadline);
  op.max_body_bytes = kMaxListBodyBytes;
  op.build = [&] { return builder_->list_objects_v2(p); };
  ListPage page;
  op.check = [&](const TransportResponse& r) -> Status {
    auto parsed = parse_list_objects_v2(r.body, /*url_encoded=*/true);
    if (!parsed.ok()) return std::move(parsed).error().prefix(op.what);
    page = ListPage{};
    for (auto& o : parsed->objects) {
      if (o.key.rfind(opts_.prefix, 0) != 0) {
        return bad_response(op.what, fmt::format("listed key outside the prefix: {}", o.key));
      }
      o.key.erase(0, opts_.prefix.size());
      page.objects.push_back(std::move(o));
    }
    for (auto& cp : parsed->common_prefixes) {
      if (cp.rfind(opts_.prefix, 0) != 0) {
        return bad_response(op.what, fmt::format("listed prefix outside the prefix: {}", cp));
      }
      page.common_prefixes.push_back(cp.substr(opts_.prefix.size()));
    }
    page.next_continuation_token = parsed->is_truncated ? parsed->next_continuation_token : "";
    return ok_status();
  };
  SH_RETURN_IF_ERROR(execute(op));
  return page;
}

Status S3ObjectStore::put(std::string_view key, std::string_view data, Deadline deadline) {
  return put_object(key, data, deadline, /*if_absent=*/false);
}

Status S3ObjectStore::put_if_absent(std::string_view key, std::string_view data,
                                    Deadline deadline) {
  return put_object(key, data, deadline, /*if_absent=*/true);
}

Status S3ObjectStore::put_object(std::string_view key, std::string_view data, Deadline deadline,
                                 bool if_absent) {
  SH_ASSIGN_OR_RETURN(std::string k, full_key(key));
  Operation op;
  op.name = "put_object";
  op.what = fmt::format("PUT {} ({} bytes{})", object_url(k), data.size(),
                        if_absent ? ", if absent" : "");
  op.deadline = effective(deadline);
  // Hash once; every attempt re-signs the same payload hash.
  TransportRequest prototype = builder_->put_object(k, data);
  // S3 (since 2024-08), MinIO and Ceph RGW refuse the PUT with 412 when the key
  // exists; the server decides, so concurrent writers cannot both win.
  if (if_absent) prototype.set_header("If-None-Match", "*");
  op.build = [&] { return prototype; };
  op.check = [&](const TransportResponse& r) -> Status {
    if (r.status != 200) {
      return bad_response(op.what, fmt::format("expected 200, got HTTP {}", r.status));
    }
    return ok_status();
  };
  auto resp = execute(op);
  if (!resp.ok()) {
    if (if_absent && resp.error().code() == Errc::kPreconditionFailed) {
      return Error(Errc::kAlreadyExists, fmt::format("{}: the key already exists", op.what),
                   false);
    }
    return std::move(resp).error();
  }
  return ok_status();
}

// ---- production wiring ---------------------------------------------------------

Result<std::shared_ptr<ObjectStore>> make_s3_object_store(S3Options opts,
                                                         std::shared_ptr<prometheus::Registry> registry,
                                                         std::shared_ptr<Clock> clock) {
  CurlTransportOptions topts;
  topts.connect_timeout_ms = opts.connect_timeout_ms;
  topts.stall_timeout_ms = opts.stall_timeout_ms;
  topts.ca_file = opts.ca_file;
  if (!opts.ca_file.empty()) {
    if (FILE* f = std::fopen(opts.ca_file.c_str(), "r")) {
      std::fclose(f);
    } else {
      return invalid_argument(fmt::format("cannot read S3 CA file {}", opts.ca_file));
    }
  }
  if (opts.max_connections < 1) {
    return invalid_argument(fmt::format("S3 max connections must be at least 1, not {}",
                                        opts.max_connections));
  }
  std::shared_ptr<HttpTransport> transport;
  if (opts.transport == S3Options::Transport::kMulti) {
    CurlMultiTransportOptions mopts;
    topts.max_idle_handles = static_cast<size_t>(opts.max_connections);
    mopts.transfer = topts;
    mopts.max_host_connections = opts.max_connections;
    mopts.max_total_connections = opts.max_connections;
    transport = std::make_shared<CurlMultiTransport>(std::move(mopts));
  } else {
    topts.max_idle_handles = static_cast<size_t>(opts.max_connections);
    transport = std::make_shared<CurlTransport>(topts);
  }
  Credentials explicit_creds;
  explicit_creds.access_key_id = opts.access_key_id;
  explicit_creds.secret_access_key = opts.secret_access_key;
  explicit_creds.session_token = opts.session_token;
  if (explicit_creds.access_key_id.empty() != explicit_creds.secret_access_key.empty()) {
    return invalid_argument("S3 access key id and secret access key must be given together");
  }
  S3Dependencies deps;
  deps.transport = transport;
  deps.credentials =
      make_default_credentials_chain(explicit_creds, opts.profile, process_environment(), transport);
  deps.clock = clock ? std::move(clock) : system_clock();
  deps.registry = std::move(registry);
  SH_ASSIGN_OR_RETURN(auto store, S3ObjectStore::create(std::move(opts), std::move(deps)));
  return std::shared_ptr<ObjectStore>(std::move(store));
}

}  // namespace sh::s3
