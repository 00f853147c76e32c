// api/compression: Accept-Encoding negotiation, gzip round trips through zlib's
// inflate, the gzip variant's ETag and what apply_compression does to a response.
#include "api/compression.h"

#include <zlib.h>

#include <random>
#include <string>

#include <gtest/gtest.h>

namespace sh::api {
namespace {

// gunzip with zlib (not our code): the bytes a client gets back, or "" + failure.
std::string gunzip(const std::string& in) {
  z_stream zs{};
  EXPECT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  std::string out;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  char buf[16384];
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) break;
  }
  EXPECT_EQ(rc, Z_STREAM_END) << "not one complete gzip member";
  EXPECT_EQ(zs.avail_in, 0u) << "bytes after the gzip member";
  inflateEnd(&zs);
  return out;
}

std::string json_body(size_t at_least) {
  std::string s = "{\"records\":[";
  for (int i = 0; s.size() < at_least; ++i) {
    if (i > 0) s += ',';
    s += "{\"offset\":" + std::to_string(i) + ",\"value\":\"v-" + std::to_string(i) + "\"}";
  }
  return s + "]}\n";
}

bool gzip_ok(const char* header) {
  const std::string h = header;
  return parse_accept_encoding(&h).prefers_gzip();
}

TEST(AcceptEncoding, NamesWeightsAndWildcards) {
  EXPECT_FALSE(parse_accept_encoding(nullptr).prefers_gzip()) << "no header: identity";
  EXPECT_TRUE(parse_accept_encoding(nullptr).identity_acceptable());
  EXPECT_FALSE(gzip_ok("")) << "an empty value: identity only";
  EXPECT_TRUE(gzip_ok("gzip"));
  EXPECT_TRUE(gzip_ok("GZip")) << "codings are case-insensitive";
  EXPECT_TRUE(gzip_ok("x-gzip"));
  EXPECT_TRUE(gzip_ok("gzip, deflate, br"));
  EXPECT_TRUE(gzip_ok("br;q=1.0, gzip;q=0.8, *;q=0.1"));
  EXPECT_TRUE(gzip_ok(" , gzip ;  Q=0.7 ,")) << "whitespace, empty elements, upper-case Q";
  EXPECT_TRUE(gzip_ok("gzip;level=9")) << "a parameter that is not q is no weight";
  EXPECT_TRUE(gzip_ok("*")) << "* covers gzip";
  EXPECT_TRUE(gzip_ok("gzip;q=1, identity;q=0.5"));
  EXPECT_TRUE(gzip_ok("gzip;q=0.5, identity;q=0.5")) << "a tie goes to gzip";
  EXPECT_TRUE(gzip_ok("gzip;q=0.001")) << "the smallest weight is still acceptable";
}

TEST(AcceptEncoding, RefusalsAndMalformedWeights) {
  EXPECT_FALSE(gzip_ok("gzip;q=0"));
  EXPECT_FALSE(gzip_ok("gzip; q=0.000"));
  EXPECT_FALSE(gzip_ok("*;q=0"));
  EXPECT_FALSE(gzip_ok("*, gzip;q=0")) << "a named coding beats *";
  EXPECT_FALSE(gzip_ok("gzip;q=0, *")) << "a named coding beats *, in any order";
  EXPECT_FALSE(gzip_ok("identity"));
  EXPECT_FALSE(gzip_ok("deflate, br"));
  EXPECT_FALSE(gzip_ok("gzip;q=0.5, identity")) << "identity preferred";
  EXPECT_FALSE(gzip_ok("gzip;q=0.5, *")) << "* gives identity its weight";
  EXPECT_FALSE(gzip_ok("gzip;q=2")) << "q above 1 is malformed: the element is ignored";
  EXPECT_FALSE(gzip_ok("gzip;q=0.1234")) << "more than three decimals";
  EXPECT_FALSE(gzip_ok("gzip;q=1.5"));
  EXPECT_FALSE(gzip_ok("gzip;q=abc"));
  EXPECT_FALSE(gzip_ok("gzip;q="));
  EXPECT_FALSE(gzip_ok("gzipx, xgzip")) << "whole names only";

  const std::string star_off = "*;q=0";
  EXPECT_FALSE(parse_accept_encoding(&star_off).identity_acceptable());
  const std::string id_off = "gzip, identity;q=0";
  EXPECT_FALSE(parse_accept_encoding(&id_off).identity_acceptable());
  EXPECT_TRUE(parse_accept_encoding(&id_off).prefers_gzip());
  const std::string id_named = "identity;q=0, *;q=0";
  EXPECT_EQ(parse_accept_encoding(&id_named).gzip, 0);
}

TEST(Gzip, RoundTripsThroughZlibInflate) {
  std::mt19937 rng(7);
  std::string random(3 << 20, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  for (const std::string& in : {std::string(), std::string("x"), json_body(1024), json_body(2 << 20), random}) {
    SCOPED_TRACE(in.size());
    for (int level : {1, 6, 9}) {
      auto packed = gzip_compress(in, level);
      ASSERT_TRUE(packed.has_value());
      ASSERT_GE(packed->size(), 18u) << "a gzip member has a 10-byte header and an 8-byte trailer";
      EXPECT_EQ(static_cast<unsigned char>((*packed)[0]), 0x1f);
      EXPECT_EQ(static_cast<unsigned char>((*packed)[1]), 0x8b);
      EXPECT_TRUE(gunzip(*packed) == in) << "inflated bytes differ from the input";
    }
  }
  const std::string big = json_body(1 << 20);
  EXPECT_LT(gzip_compress(big, 1)->size() * 4, big.size()) << "JSON shrinks well at level 1";
  EXPECT_FALSE(gzip_compress("x", 42).has_value()) << "a bad level is an error, not a crash";
}

TEST(Gzip, VariantEtagsAndIfNoneMatch) {
  EXPECT_EQ(gzip_variant_etag("\"p0-2-5-s\""), "\"p0-2-5-s-gzip\"");
  EXPECT_EQ(gzip_variant_etag("W/\"abc\""), "W/\"abc-gzip\"");
  EXPECT_EQ(gzip_variant_etag("abc"), "abc") << "not an entity tag: unchanged";
  EXPECT_EQ(gzip_variant_etag("\""), "\"");

  EXPECT_TRUE(if_none_match_matches("\"a\"", "\"a\""));
  EXPECT_TRUE(if_none_match_matches("*", "\"a\""));
  EXPECT_TRUE(if_none_match_matches("\"x\", W/\"a\"", "\"a\"")) << "a list, weak comparison";
  EXPECT_TRUE(if_none_match_matches("\"a\"", "W/\"a\""));
  EXPECT_FALSE(if_none_match_matches("\"a\"", "\"a-gzip\"")) << "another variant";
  EXPECT_FALSE(if_none_match_matches("\"a-gzip\"", "\"a\""));
  EXPECT_FALSE(if_none_match_matches("", "\"a\""));
  EXPECT_FALSE(if_none_match_matches(" , ", "\"a\""));
}

HttpRequest get(std::vector<std::pair<std::string, std::string>> headers, std::string method = "GET") {
  HttpRequest r;
  r.method = std::move(method);
  r.path = "/topics";
  r.headers = std::move(headers);
  return r;
}

HttpResponse json_response(std::string body, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

const std::string* header(const HttpResponse& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

TEST(ApplyCompression, LargeJsonToAGzipClientIsCompressedWithItsOwnEtag) {
  const std::string body = json_body(8192);
  HttpResponse r = json_response(body);
  r.with_header("ETag", "\"p0-0-9-s\"");
  r.with_header("Cache-Control", "public, max-age=31536000, immutable");
  apply_compression(get({{"accept-encoding", "gzip, deflate"}}), CompressionOptions{}, &r);
  ASSERT_NE(header(r, "Content-Encoding"), nullptr);
  EXPECT_EQ(*header(r, "Content-Encoding"), "gzip");
  ASSERT_NE(header(r, "Vary"), nullptr);
  EXPECT_EQ(*header(r, "Vary"), "Accept-Encoding");
  EXPECT_EQ(*header(r, "ETag"), "\"p0-0-9-s-gzip\"") << "the gzip variant has another strong validator";
  EXPECT_LT(r.body.size(), body.size());
  EXPECT_TRUE(gunzip(r.body) == body) << "the gzip body inflates to exactly the identity body";
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
}

TEST(ApplyCompression, IfNoneMatchNamingTheGzipVariantIs304) {
  HttpResponse r = json_response(json_body(8192));
  r.with_header("ETag", "\"p0-0-9-s\"");
  r.with_header("Cache-Control", "public, max-age=31536000, immutable");
  apply_compression(get({{"accept-encoding", "gzip"}, {"if-none-match", "W/\"p0-0-9-s-gzip\""}}),
                    CompressionOptions{}, &r);
  EXPECT_EQ(r.status, 304);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(*header(r, "ETag"), "\"p0-0-9-s-gzip\"");
  EXPECT_EQ(*header(r, "Vary"), "Accept-Encoding");
  EXPECT_EQ(header(r, "Content-Encoding"), nullptr);
  ASSERT_NE(header(r, "Cache-Control"), nullptr);

  // The identity tag does not match the gzip variant: a full answer.
  HttpResponse full = json_response(json_body(8192));
  full.with_header("ETag", "\"p0-0-9-s\"");
  apply_compression(get({{"accept-encoding", "gzip"}, {"if-none-match", "\"p0-0-9-s\""}}),
                    CompressionOptions{}, &full);
  EXPECT_EQ(full.status, 200);
  EXPECT_EQ(*header(full, "ETag"), "\"p0-0-9-s-gzip\"");
}

TEST(ApplyCompression, WhatStaysIdentity) {
  const CompressionOptions opts;
  const auto gz = get({{"accept-encoding", "gzip"}});
  struct Case {
    const char* what;
    HttpRequest request;
    HttpResponse response;
    bool vary;
  };
  HttpResponse small = json_response("[" + std::string(opts.min_bytes - 3, ' ') + "]");
  HttpResponse error = json_response(json_body(8192), 404);
  HttpResponse not_modified;
  not_modified.status = 304;
  not_modified.content_type.clear();
  not_modified.with_header("ETag", "\"e\"");
  HttpResponse text = json_response(json_body(8192));
  text.content_type = "text/plain; version=0.0.4";
  HttpResponse streamed = json_response("");
  streamed.content_type = "application/x-ndjson";
  streamed.stream = std::make_shared<ResponseStream>();
  std::vector<Case> cases;
  cases.push_back({"below the threshold", gz, small, true});
  cases.push_back({"gzip;q=0", get({{"accept-encoding", "gzip;q=0, deflate"}}), json_response(json_body(8192)), true});
  cases.push_back({"no Accept-Encoding", get({}), json_response(json_body(8192)), true});
  cases.push_back({"HEAD", get({{"accept-encoding", "gzip"}}, "HEAD"), json_response(json_body(8192)), true});
  cases.push_back({"an error", gz, error, true});
  cases.push_back({"a 304", gz, not_modified, true});
  cases.push_back({"Prometheus text", gz, text, false});
  cases.push_back({"a stream", gz, streamed, false});
  for (Case& c : cases) {
    SCOPED_TRACE(c.what);
    const std::string before = c.response.body;
    const int status = c.response.status;
    apply_compression(c.request, opts, &c.response);
    EXPECT_EQ(header(c.response, "Content-Encoding"), nullptr);
    EXPECT_TRUE(c.response.body == before);
    EXPECT_EQ(c.response.status, status);
    EXPECT_EQ(header(c.response, "Vary") != nullptr, c.vary) << "Vary on every JSON answer, only there";
  }

  HttpResponse off = json_response(json_body(8192));
  apply_compression(gz, CompressionOptions{0, 1}, &off);
  EXPECT_EQ(header(off, "Content-Encoding"), nullptr) << "min_bytes 0: compression off";

  // Bytes gzip cannot shrink stay identity (no Content-Encoding for nothing).
  std::mt19937 rng(3);
  std::string noise(4096, '\0');
  for (char& ch : noise) ch = static_cast<char>(rng());
  HttpResponse incompressible = json_response(noise);
  apply_compression(gz, CompressionOptions{16, 9}, &incompressible);
  EXPECT_EQ(header(incompressible, "Content-Encoding"), nullptr);
  EXPECT_TRUE(incompressible.body == noise);
}

TEST(ApplyCompression, MergesVaryWithCors) {
  HttpResponse r = json_response(json_body(8192));
  r.with_header("Vary", "Origin");
  apply_compression(get({{"accept-encoding", "gzip"}}), CompressionOptions{}, &r);
  int vary = 0;
  for (const auto& [k, v] : r.headers) vary += k == "Vary";
  EXPECT_EQ(vary, 1) << "one Vary header";
  EXPECT_EQ(*header(r, "Vary"), "Origin, Accept-Encoding");
}

}  // namespace
}  // namespace sh::api
