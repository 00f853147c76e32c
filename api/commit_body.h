// The body of POST /consumer-groups/{group}/offsets:
//   {"offsets":[{"topic": string, "partition": int, "offset": int, "metadata"?: string|null}]}
// parsed and validated apart from the handler (no storage, no HTTP), so it can be
// tested and fuzzed on its own (tests/fuzz/fuzz_commit_body.cc).
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <vector>

#include "api/errors.h"
#include "core/metadata/metadata_store.h"

namespace sh::api {

inline constexpr size_t kMaxCommitMetadataBytes = 4096;

// Parses `body` into *out (one OffsetCommit per element, in order). Checks the
// JSON, that "offsets" is the only field and a non-empty array, that each
// element has exactly the known fields with the right types, a valid topic
// name, a partition in [0, 2^31-1], an offset >= 0 (values above 2^63-1 are
// clamped to it) and metadata of at most kMaxCommitMetadataBytes. Does not
// look the partitions up (the handler does, against the reader).
// Returns a kBadBody ApiError on the first problem; *out is then unspecified.
std::optional<ApiError> parse_commit_body(std::string_view body, std::vector<OffsetCommit>* out);

}  // namespace sh::api
