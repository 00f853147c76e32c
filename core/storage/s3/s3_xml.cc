#include "core/storage/s3/s3_xml.h"

#include <charconv>

#include <fmt/format.h>
#include <pugixml.hpp>

#include "core/storage/s3/aws_time.h"
#include "core/storage/s3/uri_encoding.h"

namespace sh::s3 {
namespace {

Error bad(std::string_view m) {
  return Error(Errc::kBadResponse, fmt::format("ListObjectsV2 answer: {}", m), false);
}

Result<std::string> decoded(std::string_view v, bool url_encoded, const char* what) {
  if (!url_encoded) return std::string(v);
  auto d = uri_decode(v, /*plus_as_space=*/true);
  if (!d) return bad(fmt::format("malformed url-encoded {}", what));
  return std::move(*d);
}

}  // namespace

Result<ListObjectsV2Result> parse_list_objects_v2(std::string_view body, bool url_encoded) {
  pugi::xml_document doc;
  pugi::xml_parse_result pr = doc.load_buffer(body.data(), body.size());
  if (!pr) return bad(fmt::format("not XML: {}", pr.description()));
  pugi::xml_node root = doc.child("ListBucketResult");
  if (!root) return bad("no <ListBucketResult> element");

  ListObjectsV2Result out;
  std::string_view truncated = root.child_value("IsTruncated");
  out.is_truncated = truncated == "true";
  out.next_continuation_token = root.child_value("NextContinuationToken");
  if (out.is_truncated && out.next_continuation_token.empty()) {
    return bad("IsTruncated without NextContinuationToken");
  }
  for (pugi::xml_node c : root.children("Contents")) {
    ObjectInfo info;
    SH_ASSIGN_OR_RETURN(info.key, decoded(c.child_value("Key"), url_encoded, "Key"));
    if (info.key.empty()) return bad("<Contents> without <Key>");
    std::string_view size = c.child_value("Size");
    auto r = std::from_chars(size.data(), size.data() + size.size(), info.size);
    if (size.empty() || r.ec != std::errc() || r.ptr != size.data() + size.size()) {
      return bad(fmt::format("bad <Size> for key {}", info.key));
    }
    info.etag = c.child_value("ETag");
    if (auto t = parse_iso8601(c.child_value("LastModified"))) info.mtime_ms = *t;
    out.objects.push_back(std::move(info));
  }
  for (pugi::xml_node p : root.children("CommonPrefixes")) {
    SH_ASSIGN_OR_RETURN(std::string prefix, decoded(p.child_value("Prefix"), url_encoded, "Prefix"));
    out.common_prefixes.push_back(std::move(prefix));
  }
  return out;
}

}  // namespace sh::s3
