#include "api/compression.h"

#include <zlib.h>

#include <algorithm>
#include <climits>

#include "api/response_format.h"
#include "core/text/ascii.h"

namespace sh::api {
namespace {

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths.
std::optional<int> parse_qvalue(std::string_view s) {
  if (s.empty() || s.size() > 5 || (s[0] != '0' && s[0] != '1')) return std::nullopt;
  int whole = s[0] - '0';
  int frac = 0;
  if (s.size() > 1) {
    if (s[1] != '.') return std::nullopt;
    std::string_view digits = s.substr(2);
    int scale = 100;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      frac += (c - '0') * scale;
      scale /= 10;
    }
  }
  const int q = whole * 1000 + frac;
  if (q > 1000) return std::nullopt;
  return q;
}

// RAII owner of a deflate stream.
class Deflater {
 public:
  explicit Deflater(int level) {
    // windowBits 15 + 16: a gzip wrapper (RFC 1952) around the deflate data.
    ok_ = deflateInit2(&zs_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~Deflater() {
    if (ok_) deflateEnd(&zs_);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  bool ok() const { return ok_; }
  z_stream& stream() { return zs_; }

 private:
  z_stream zs_{};
  bool ok_ = false;
};

void add_vary_accept_encoding(HttpResponse* r) {
  for (auto& [name, value] : r->headers) {
    if (!text::iequals(name, "vary")) continue;
    if (value.find("Accept-Encoding") == std::string::npos) value += ", Accept-Encoding";
    return;
  }
  r->with_header("Vary", "Accept-Encoding");
}

std::string* find_header(HttpResponse* r, std::string_view name) {
  for (auto& [k, v] : r->headers) {
    if (text::iequals(k, name)) return &v;
  }
  return nullptr;
}

}  // namespace

AcceptedEncodings parse_accept_encoding(const std::string* header) {
  AcceptedEncodings out;
  if (header == nullptr) return out;
  std::optional<int> gzip, identity, star;
  std::string_view rest(*header);
  while (!rest.empty()) {
    size_t comma = rest.find(',');
    std::string_view element = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    size_t semi = element.find(';');
    std::string_view coding = trim_ows(element.substr(0, semi));
    if (coding.empty()) continue;
    int q = 1000;
    bool malformed = false;
    while (semi != std::string_view::npos) {
      element.remove_prefix(semi + 1);
      semi = element.find(';');
      std::string_view param = trim_ows(element.substr(0, semi));
      size_t eq = param.find('=');
      if (eq == std::string_view::npos || !text::iequals(trim_ows(param.substr(0, eq)), "q")) {
        continue;  // not a weight
      }
      auto v = parse_qvalue(trim_ows(param.substr(eq + 1)));
      if (!v) {
        malformed = true;
        break;
      }
      q = *v;
    }
    if (malformed) continue;
    auto keep = [q](std::optional<int>& slot) { slot = std::max(slot.value_or(0), q); };
    if (text::iequals(coding, "gzip") || text::iequals(coding, "x-gzip")) {
      keep(gzip);
    } else if (text::iequals(coding, "identity")) {
      keep(identity);
    } else if (coding == "*") {
      keep(star);
    }
  }
  out.gzip = gzip ? *gzip : star.value_or(0);
  out.identity = identity ? *identity : star ? *star : AcceptedEncodings::kUnstated;
  return out;
}

std::optional<std::string> gzip_compress(std::string_view data, int level) {
  Deflater d(level);
  if (!d.ok()) return std::nullopt;
  z_stream& zs = d.stream();
  constexpr size_t kChunk = size_t{1} << 30;  // avail_in / avail_out are 32-bit
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(std::min(data.size(), kChunk))) + 64);
  const char* in = data.data();
  size_t in_left = data.size();
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    if (zs.avail_in == 0 && in_left > 0) {
      const size_t n = std::min(in_left, kChunk);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
      zs.avail_in = static_cast<uInt>(n);
      in += n;
      in_left -= n;
    }
    const size_t produced = zs.total_out;
    if (produced == out.size()) out.resize(out.size() * 2);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(std::min(out.size() - produced, kChunk));
    rc = deflate(&zs, in_left == 0 ? Z_FINISH : Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) return std::nullopt;
  }
  out.resize(zs.total_out);
  return out;
}

std::string gzip_variant_etag(std::string_view etag) {
  if (etag.size() < 2 || etag.back() != '"') return std::string(etag);
  const bool weak = etag.rfind("W/\"", 0) == 0;
  if (!weak && etag.front() != '"') return std::string(etag);
  std::string out(etag.substr(0, etag.size() - 1));
  out += "-gzip\"";
  return out;
}

bool if_none_match_matches(std::string_view header, std::string_view etag) {
  if (etag.rfind("W/", 0) == 0) etag.remove_prefix(2);
  size_t i = 0;
  while (i < header.size()) {
    size_t j = header.find(',', i);
    if (j == std::string_view::npos) j = header.size();
    std::string_view tag = trim_ows(header.substr(i, j - i));
    if (tag.rfind("W/", 0) == 0) tag.remove_prefix(2);
    if (!tag.empty() && (tag == "*" || tag == etag)) return true;
    i = j + 1;
  }
  return false;
}

void apply_compression(const HttpRequest& request, const CompressionOptions& opts,
                       HttpResponse* r) {
  if (r->stream) return;  // NDJSON / SSE: written as produced, never compressed
  const bool json = is_json_content_type(r->content_type);
  if (!json && r->status != 304) return;
  add_vary_accept_encoding(r);
  if (!json || r->status < 200 || r->status > 299 || request.method != "GET") return;
  if (opts.min_bytes == 0 || r->body.size() < opts.min_bytes) return;
  if (!parse_accept_encoding(request.header("accept-encoding")).prefers_gzip()) return;

  // The gzip variant has its own validator; a client holding it gets a 304
  // without the body being compressed again.
  std::string* etag = find_header(r, "etag");
  if (etag != nullptr) {
    std::string variant = gzip_variant_etag(*etag);
    const std::string* inm = request.header("if-none-match");
    if (inm != nullptr && variant != *etag && if_none_match_matches(*inm, variant)) {
      *etag = std::move(variant);
      r->status = 304;
      r->body.clear();
      r->content_type.clear();
      return;
    }
  }
  std::optional<std::string> packed = gzip_compress(r->body, opts.level);
  if (!packed || packed->size() >= r->body.size()) return;  // keep identity
  r->body = std::move(*packed);
  if (etag != nullptr) *etag = gzip_variant_etag(*etag);
  r->with_header("Content-Encoding", "gzip");  // may move the headers: etag is not used after
}

}  // namespace sh::api
