// ListObjectsV2 answer parsing (pugixml).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/storage/object_store.h"

namespace sh::s3 {

struct ListObjectsV2Result {
  std::vector<ObjectInfo> objects;           // full S3 keys
  std::vector<std::string> common_prefixes;  // full S3 prefixes
  bool is_truncated = false;
  std::string next_continuation_token;
};

// Parses a <ListBucketResult>. With url_encoded (the request asked
// encoding-type=url), Key and Prefix values are percent-decoded ('+' = space).
// Fails with kBadResponse on malformed XML, a missing root, a bad size or a
// truncated page without a continuation token.
Result<ListObjectsV2Result> parse_list_objects_v2(std::string_view body, bool url_encoded);

}  // namespace sh::s3
