// SigV4 signer: the AWS documentation vector, then each step on its own.
#include "core/storage/s3/sigv4.h"

#include <gtest/gtest.h>

#include "core/storage/s3/aws_time.h"
#include "core/storage/s3/crypto.h"
#include "core/storage/s3/uri_encoding.h"
#include "core/text/ascii.h"

namespace sh::s3 {
namespace {

constexpr int64_t k20130524 = 1369353600000;  // 2013-05-24T00:00:00Z
constexpr char kAccess[] = "AKIAIOSFODNN7EXAMPLE";
constexpr char kSecret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

Credentials doc_credentials() {
  Credentials c;
  c.access_key_id = kAccess;
  c.secret_access_key = kSecret;
  return c;
}

TransportRequest doc_get_request() {
  TransportRequest req;
  req.method = "GET";
  req.scheme = "https";
  req.host = "examplebucket.s3.amazonaws.com";
  req.path = "/test.txt";
  req.set_header("Host", req.host_header());
  req.set_header("Range", "bytes=0-9");
  return req;
}

// https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html "GET Object"
TEST(SigV4KnownAnswer, AwsDocumentationGetObjectVector) {
  auto clock = std::make_shared<ManualClock>(k20130524);
  SigV4Signer signer("us-east-1", "s3", clock);
  TransportRequest req = doc_get_request();
  signer.sign(&req, doc_credentials());

  EXPECT_EQ(req.header("x-amz-date").value_or(""), "20130524T000000Z");
  EXPECT_EQ(req.header("x-amz-content-sha256").value_or(""), kEmptyPayloadSha256);
  EXPECT_EQ(req.header("Authorization").value_or(""),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
      << "the AWS documentation example must sign to the documented signature";
}

TEST(SigV4KnownAnswer, AwsDocumentationIntermediateSteps) {
  TransportRequest req = doc_get_request();
  req.set_header("x-amz-content-sha256", std::string(kEmptyPayloadSha256));
  req.set_header("x-amz-date", "20130524T000000Z");
  CanonicalHeaders ch = SigV4Signer::canonical_headers(req.headers);
  const std::string cr = SigV4Signer::canonical_request(
      "GET", SigV4Signer::canonical_uri(req.path), SigV4Signer::canonical_query(req.query), ch,
      kEmptyPayloadSha256);
  EXPECT_EQ(cr,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "x-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string scope = SigV4Signer::credential_scope("20130524", "us-east-1", "s3");
  const std::string sts = SigV4Signer::string_to_sign("20130524T000000Z", scope, cr);
  EXPECT_EQ(sts,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  const std::string key = SigV4Signer::derive_signing_key(kSecret, "20130524", "us-east-1", "s3");
  EXPECT_EQ(SigV4Signer::signature(key, sts),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

// Same page, "GET Bucket (List Objects)": ?max-keys=2&prefix=J
TEST(SigV4KnownAnswer, AwsDocumentationListObjectsVector) {
  auto clock = std::make_shared<ManualClock>(k20130524);
  SigV4Signer signer("us-east-1", "s3", clock);
  TransportRequest req;
  req.host = "examplebucket.s3.amazonaws.com";
  req.path = "/";
  req.query = {{"prefix", "J"}, {"max-keys", "2"}};
  req.set_header("Host", req.host_header());
  signer.sign(&req, doc_credentials());
  const std::string auth = req.header("Authorization").value_or("");
  EXPECT_NE(auth.find("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
            std::string::npos)
      << auth;
}

TEST(SigV4Steps, CanonicalUriEncodesEachSegmentOnceAndKeepsSlashes) {
  EXPECT_EQ(SigV4Signer::canonical_uri(""), "/");
  EXPECT_EQ(SigV4Signer::canonical_uri("/bucket/a b+c%d~e"), "/bucket/a%20b%2Bc%25d~e");
  EXPECT_EQ(SigV4Signer::canonical_uri("/b//x/./y/../z"), "/b//x/./y/../z") << "S3 paths are not normalised";
  EXPECT_EQ(SigV4Signer::canonical_uri("/b/%2F"), "/b/%252F") << "an already-encoded key is data, encoded again";
  EXPECT_EQ(SigV4Signer::canonical_uri("/b/\xc3\xa9t\xc3\xa9"), "/b/%C3%A9t%C3%A9");
  EXPECT_EQ(SigV4Signer::canonical_uri("/b/a=b&c:d@e*f(g)!"), "/b/a%3Db%26c%3Ad%40e%2Af%28g%29%21");
}

TEST(SigV4Steps, CanonicalQuerySortsByEncodedNameThenValue) {
  QueryParams q = {{"prefix", "a b/"}, {"list-type", "2"}, {"b", "2"}, {"b", "1"}, {"empty", ""},
                   {"continuation-token", "1+/="}};
  EXPECT_EQ(SigV4Signer::canonical_query(q),
            "b=1&b=2&continuation-token=1%2B%2F%3D&empty=&list-type=2&prefix=a%20b%2F");
  EXPECT_EQ(SigV4Signer::canonical_query({}), "");
}

TEST(SigV4Steps, CanonicalHeadersLowerTrimSortAndSelect) {
  HeaderList h = {{"X-Amz-Date", "20130524T000000Z"},
                  {"Host", "  example.com  "},
                  {"Range", "bytes=0-9"},
                  {"If-Match", "\"abc\""},
                  {"User-Agent", "x"},
                  {"x-amz-meta-note", "  a   b\t c "},
                  {"X-AMZ-META-NOTE", "second"}};
  CanonicalHeaders ch = SigV4Signer::canonical_headers(h);
  EXPECT_EQ(ch.block,
            "host:example.com\nrange:bytes=0-9\nx-amz-date:20130524T000000Z\n"
            "x-amz-meta-note:a b c,second\n");
  EXPECT_EQ(ch.signed_headers, "host;range;x-amz-date;x-amz-meta-note")
      << "if-match and user-agent are sent but not signed";
}

TEST(SigV4Steps, SessionTokenIsSignedAndRemovedWhenCredentialsLoseIt) {
  auto clock = std::make_shared<ManualClock>(k20130524);
  SigV4Signer signer("us-east-1", "s3", clock);
  TransportRequest req = doc_get_request();
  Credentials c = doc_credentials();
  c.session_token = "TOKEN/with+chars==";
  signer.sign(&req, c);
  EXPECT_EQ(req.header("x-amz-security-token").value_or(""), c.session_token);
  EXPECT_NE(req.header("Authorization")->find(
                "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date;x-amz-security-token"),
            std::string::npos);
  signer.sign(&req, doc_credentials());  // re-sign with long-term credentials
  EXPECT_FALSE(req.header("x-amz-security-token").has_value());
  EXPECT_EQ(req.header("Authorization")->find("x-amz-security-token"), std::string::npos);
  int auth_headers = 0;
  for (const auto& h : req.headers) auth_headers += text::iequals(h.first, "authorization");
  EXPECT_EQ(auth_headers, 1) << "re-signing must replace, not add, the Authorization header";
}

TEST(SigV4Steps, SigningKeyCachedPerDayAndFollowsTheSecret) {
  auto clock = std::make_shared<ManualClock>(k20130524);
  SigV4Signer signer("us-east-1", "s3", clock);
  const std::string k1 = signer.signing_key(kSecret, "20130524");
  EXPECT_EQ(k1, SigV4Signer::derive_signing_key(kSecret, "20130524", "us-east-1", "s3"));
  EXPECT_EQ(signer.signing_key(kSecret, "20130524"), k1);
  EXPECT_NE(signer.signing_key(kSecret, "20130525"), k1) << "a new day needs a new key";
  EXPECT_NE(signer.signing_key("othersecret", "20130524"), k1) << "a rotated secret needs a new key";
}

TEST(SigV4Steps, ClockOffsetMovesTheSigningTime) {
  auto clock = std::make_shared<ManualClock>(k20130524);
  SigV4Signer signer("us-east-1", "s3", clock);
  signer.set_clock_offset_ms(3600 * 1000);
  TransportRequest req = doc_get_request();
  signer.sign(&req, doc_credentials());
  EXPECT_EQ(req.header("x-amz-date").value_or(""), "20130524T010000Z");
}

TEST(SigV4Steps, PayloadHashOfBodyUnlessPreset) {
  auto clock = std::make_shared<ManualClock>(k20130524);
  SigV4Signer signer("us-east-1", "s3", clock);
  TransportRequest req = doc_get_request();
  req.method = "PUT";
  req.body = "hello";
  signer.sign(&req, doc_credentials());
  EXPECT_EQ(req.header("x-amz-content-sha256").value_or(""), sha256_hex("hello"));
  EXPECT_EQ(sha256_hex("hello"), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
}

TEST(Crypto, HmacSha256Rfc4231Case2) {
  EXPECT_EQ(hex_encode(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(UriEncoding, DecodeRoundTripsAndRejectsBadEscapes) {
  EXPECT_EQ(uri_decode("a%20b+c%2B", true).value_or("?"), "a b c+");
  EXPECT_EQ(uri_decode("a+b", false).value_or("?"), "a+b");
  EXPECT_FALSE(uri_decode("abc%2", false).has_value());
  EXPECT_FALSE(uri_decode("abc%zz", false).has_value());
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(uri_decode(uri_encode(all, false), false).value_or(""), all);
}

TEST(AwsTime, FormatsAndParses) {
  EXPECT_EQ(format_amz_date(k20130524), "20130524T000000Z");
  EXPECT_EQ(format_amz_date(951782400000 + 3723000), "20000229T010203Z");  // leap day
  EXPECT_EQ(parse_http_date("Fri, 24 May 2013 00:00:00 GMT").value_or(-1), k20130524);
  EXPECT_FALSE(parse_http_date("Fri, 24 Mai 2013 00:00:00 GMT").has_value());
  EXPECT_FALSE(parse_http_date("garbage").has_value());
  EXPECT_EQ(parse_iso8601("2013-05-24T00:00:00Z").value_or(-1), k20130524);
  EXPECT_EQ(parse_iso8601("2013-05-24T00:00:01.250Z").value_or(-1), k20130524 + 1250);
  EXPECT_FALSE(parse_iso8601("2013-05-24 00:00:00").has_value());
}

}  // namespace
}  // namespace sh::s3
