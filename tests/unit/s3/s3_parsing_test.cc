// S3 XML answers, error classification, URL/option parsing and addressing.
#include <gtest/gtest.h>

#include <map>

#include "core/storage/s3/s3_errors.h"
#include "core/storage/s3/s3_object_store.h"
#include "core/storage/s3/s3_request_builder.h"
#include "core/storage/s3/s3_xml.h"

namespace sh::s3 {
namespace {

TEST(S3ErrorXml, ParsesCodeAndMessage) {
  auto info = parse_s3_error(404,
                             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
                             "<Message>The specified key does not exist.</Message><Key>a/b</Key>"
                             "<RequestId>x</RequestId></Error>");
  EXPECT_EQ(info.code, "NoSuchKey");
  EXPECT_EQ(info.message, "The specified key does not exist.");
  EXPECT_FALSE(info.retryable);
}

TEST(S3ErrorXml, EmptyOrGarbageBodiesLeaveCodeEmpty) {
  EXPECT_EQ(parse_s3_error(503, "").code, "");
  EXPECT_TRUE(parse_s3_error(503, "").retryable);
  EXPECT_EQ(parse_s3_error(502, "<html>bad gateway").code, "");
  EXPECT_TRUE(parse_s3_error(502, "<html>bad gateway").retryable);
}

TEST(S3ErrorXml, RetryableClassification) {
  EXPECT_TRUE(is_retryable_s3_error(500, "InternalError"));
  EXPECT_TRUE(is_retryable_s3_error(503, "SlowDown"));
  EXPECT_TRUE(is_retryable_s3_error(400, "RequestTimeout")) << "S3 sends RequestTimeout with 400";
  EXPECT_TRUE(is_retryable_s3_error(429, ""));
  EXPECT_FALSE(is_retryable_s3_error(403, "SignatureDoesNotMatch"));
  EXPECT_FALSE(is_retryable_s3_error(403, "InternalError")) << "403 is never retried";
  EXPECT_FALSE(is_retryable_s3_error(404, "NoSuchKey"));
  EXPECT_FALSE(is_retryable_s3_error(416, "InvalidRange"));
  EXPECT_FALSE(is_retryable_s3_error(400, "InvalidArgument"));
}

TEST(S3ErrorXml, MapsToErrcWithContext) {
  auto e = s3_error_to_error(parse_s3_error(404, "<Error><Code>NoSuchKey</Code></Error>"), "GET s3://b/k");
  EXPECT_EQ(e.code(), Errc::kNotFound);
  EXPECT_NE(e.message().find("s3://b/k"), std::string::npos) << e.message();
  e = s3_error_to_error(parse_s3_error(404, "<Error><Code>NoSuchBucket</Code></Error>"), "GET s3://b/k");
  EXPECT_EQ(e.code(), Errc::kUnavailable);
  EXPECT_NE(e.message().find("bucket does not exist"), std::string::npos) << e.message();
  EXPECT_EQ(s3_error_to_error(parse_s3_error(403, "<Error><Code>SignatureDoesNotMatch</Code></Error>"), "x").code(),
            Errc::kPermissionDenied);
  EXPECT_EQ(s3_error_to_error(parse_s3_error(412, ""), "x").code(), Errc::kPreconditionFailed);
  EXPECT_EQ(s3_error_to_error(parse_s3_error(416, ""), "x").code(), Errc::kOutOfRange);
  auto slow = s3_error_to_error(parse_s3_error(503, "<Error><Code>SlowDown</Code></Error>"), "x");
  EXPECT_EQ(slow.code(), Errc::kUnavailable);
  EXPECT_TRUE(slow.retryable());
  EXPECT_EQ(s3_error_to_error(parse_s3_error(400, "<Error><Code>InvalidArgument</Code></Error>"), "x").code(),
            Errc::kBadResponse);
}

TEST(ListObjectsV2Xml, ParsesPageWithUrlEncodedKeys) {
  const char* xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix>p%2F</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>
  <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents><Key>p/a+b%2Bc%25.seg</Key><LastModified>2024-01-02T03:04:05.000Z</LastModified>
    <ETag>&quot;abc&quot;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>p/%C3%A9</Key><LastModified>2024-01-02T03:04:06.000Z</LastModified>
    <ETag>&quot;def&quot;</ETag><Size>0</Size></Contents>
  <CommonPrefixes><Prefix>p/dir%20x/</Prefix></CommonPrefixes>
</ListBucketResult>)";
  auto r = parse_list_objects_v2(xml, true);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  ASSERT_EQ(r->objects.size(), 2u);
  EXPECT_EQ(r->objects[0].key, "p/a b+c%.seg");
  EXPECT_EQ(r->objects[0].size, 42u);
  EXPECT_EQ(r->objects[0].etag, "\"abc\"");
  EXPECT_EQ(r->objects[0].mtime_ms, 1704164645000);
  EXPECT_EQ(r->objects[1].key, "p/\xc3\xa9");
  ASSERT_EQ(r->common_prefixes.size(), 1u);
  EXPECT_EQ(r->common_prefixes[0], "p/dir x/");
  EXPECT_TRUE(r->is_truncated);
  EXPECT_EQ(r->next_continuation_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(ListObjectsV2Xml, RejectsMalformedAnswers) {
  EXPECT_EQ(parse_list_objects_v2("not xml <", true).error().code(), Errc::kBadResponse);
  EXPECT_EQ(parse_list_objects_v2("<Other/>", true).error().code(), Errc::kBadResponse);
  EXPECT_EQ(parse_list_objects_v2("<ListBucketResult><Contents><Key>a</Key><Size>x1</Size></Contents>"
                                  "</ListBucketResult>", false).error().code(),
            Errc::kBadResponse);
  EXPECT_EQ(parse_list_objects_v2("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
                                  false).error().code(),
            Errc::kBadResponse)
      << "a truncated page without a token would end the listing early";
  EXPECT_EQ(parse_list_objects_v2("<ListBucketResult><Contents><Key>a%zz</Key><Size>1</Size></Contents>"
                                  "</ListBucketResult>", true).error().code(),
            Errc::kBadResponse);
}

TEST(S3Url, ParsesBucketAndNormalizesPrefix) {
  auto o = parse_s3_url("s3://my-bucket/segments/prod");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->bucket, "my-bucket");
  EXPECT_EQ(o->prefix, "segments/prod/");
  EXPECT_EQ(parse_s3_url("s3://b").value().prefix, "");
  EXPECT_EQ(parse_s3_url("s3://b/").value().prefix, "");
  EXPECT_EQ(parse_s3_url("s3://b/x/").value().prefix, "x/");
  EXPECT_FALSE(parse_s3_url("http://b/x").ok());
  EXPECT_FALSE(parse_s3_url("s3://").ok());
  EXPECT_FALSE(parse_s3_url("s3:///x").ok());
  EXPECT_FALSE(parse_s3_url("s3://b c/x").ok());
  EXPECT_FALSE(parse_s3_url("s3://b/x?y").ok());
}

TEST(S3Url, AwsEnvironmentFillsOnlyUnsetFields) {
  std::map<std::string, std::string> env = {{"AWS_ENDPOINT_URL", "http://generic:1"},
                                            {"AWS_ENDPOINT_URL_S3", "http://s3only:2"},
                                            {"AWS_DEFAULT_REGION", "eu-west-1"},
                                            {"AWS_PROFILE", "prod"}};
  auto lookup = [&](const std::string& n) -> std::optional<std::string> {
    auto it = env.find(n);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  S3Options o;
  apply_aws_environment(&o, lookup);
  EXPECT_EQ(o.endpoint, "http://s3only:2") << "AWS_ENDPOINT_URL_S3 beats AWS_ENDPOINT_URL";
  EXPECT_EQ(o.region, "eu-west-1");
  EXPECT_EQ(o.profile, "prod");
  env["AWS_REGION"] = "ap-south-1";
  env.erase("AWS_ENDPOINT_URL_S3");
  S3Options o2;
  o2.region = "us-west-2";
  apply_aws_environment(&o2, lookup);
  EXPECT_EQ(o2.endpoint, "http://generic:1");
  EXPECT_EQ(o2.region, "us-west-2") << "an explicit flag is not overridden by the environment";
  S3Options o3;
  apply_aws_environment(&o3, lookup);
  EXPECT_EQ(o3.region, "ap-south-1") << "AWS_REGION beats AWS_DEFAULT_REGION";
}

TEST(Addressing, PathStyleForIpAndLocalhostVirtualHostedElsewhere) {
  auto ep = [](const char* url) { return parse_endpoint(url).value(); };
  EXPECT_TRUE(choose_path_style(ep("http://127.0.0.1:18380"), "bucket", std::nullopt));
  EXPECT_TRUE(choose_path_style(ep("http://localhost:9000"), "bucket", std::nullopt));
  EXPECT_TRUE(choose_path_style(ep("http://[::1]:9000"), "bucket", std::nullopt));
  EXPECT_FALSE(choose_path_style(ep("https://s3.us-east-1.amazonaws.com"), "bucket", std::nullopt));
  EXPECT_TRUE(choose_path_style(ep("https://s3.us-east-1.amazonaws.com"), "bucket", true)) << "forced";
  EXPECT_FALSE(choose_path_style(ep("http://127.0.0.1"), "bucket", false)) << "forced off";
  EXPECT_TRUE(choose_path_style(ep("https://s3.amazonaws.com"), "my.bucket", std::nullopt))
      << "dotted bucket breaks the TLS wildcard";
  EXPECT_TRUE(choose_path_style(ep("https://s3.amazonaws.com"), "Upper_Case", std::nullopt));
  EXPECT_FALSE(is_ip_or_localhost("10.0.0"));
  EXPECT_FALSE(is_ip_or_localhost("1.2.3.4.5"));
  EXPECT_FALSE(is_ip_or_localhost("s3.local"));
  EXPECT_FALSE(parse_endpoint("http://host/path").ok());
  EXPECT_FALSE(parse_endpoint("ftp://host").ok());
  EXPECT_FALSE(parse_endpoint("http://user:pass@host").ok()) << "no credentials in endpoints";
}

TEST(RequestBuilder, BuildsPathStyleAndVirtualHostedRequests) {
  S3RequestBuilder path(parse_endpoint("http://127.0.0.1:18380").value(), "bkt", true);
  TransportRequest g = path.get_object("dir/a b", "bytes=0-9", std::string("\"e\""));
  EXPECT_EQ(g.url(), "http://127.0.0.1:18380/bkt/dir/a%20b");
  EXPECT_EQ(g.header("host").value_or(""), "127.0.0.1:18380");
  EXPECT_EQ(g.header("range").value_or(""), "bytes=0-9");
  EXPECT_EQ(g.header("if-match").value_or(""), "\"e\"");

  S3RequestBuilder vh(parse_endpoint("https://s3.eu-west-3.amazonaws.com").value(), "bkt", false);
  TransportRequest l = vh.list_objects_v2({"p/", "/", "tok+/=", "p/a", 5000});
  EXPECT_EQ(l.url(),
            "https://bkt.s3.eu-west-3.amazonaws.com/?continuation-token=tok%2B%2F%3D&delimiter=%2F"
            "&encoding-type=url&list-type=2&max-keys=1000&prefix=p%2F&start-after=p%2Fa");
  EXPECT_EQ(l.header("host").value_or(""), "bkt.s3.eu-west-3.amazonaws.com");

  std::string body = "hello";
  TransportRequest p = path.put_object("k", body);
  EXPECT_EQ(p.method, "PUT");
  EXPECT_EQ(p.header("x-amz-content-sha256").value_or(""),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
}

}  // namespace
}  // namespace sh::s3
