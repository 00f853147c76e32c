// The JSON body of POST /consumer-groups/{group}/offsets (api/commit_body.h).
//
// Input: the request body.
//
// Invariants: an accepted body has at least one commit, each with a valid
// topic name, a partition in [0, 2^31-1], an offset below 2^63 and metadata
// within the limit; written back as JSON it parses to the same commits; a
// refused body gets 40005 with a message.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/commit_body.h"
#include "core/format/names.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sh;
  using json = nlohmann::json;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  std::vector<OffsetCommit> commits;
  if (auto e = api::parse_commit_body(body, &commits)) {
    FUZZ_CHECK(e->error_code == api::kBadBody && !e->message.empty(), "refusals are 40005");
    return 0;
  }
  FUZZ_CHECK(!commits.empty(), "an accepted body commits something");
  json offsets = json::array();
  for (const OffsetCommit& c : commits) {
    FUZZ_CHECK(format::valid_topic_name(c.topic), "topic name");
    FUZZ_CHECK(c.partition >= 0, "partition range");
    FUZZ_CHECK(c.offset <= static_cast<uint64_t>(INT64_MAX), "offset below 2^63");
    FUZZ_CHECK(c.metadata.size() <= api::kMaxCommitMetadataBytes, "metadata length");
    offsets.push_back(
        {{"topic", c.topic}, {"partition", c.partition}, {"offset", c.offset}, {"metadata", c.metadata}});
  }
  const std::string again = json{{"offsets", std::move(offsets)}}.dump();
  std::vector<OffsetCommit> reparsed;
  FUZZ_CHECK(!api::parse_commit_body(again, &reparsed), "a written-back body is accepted");
  FUZZ_CHECK(reparsed.size() == commits.size(), "same number of commits");
  for (size_t i = 0; i < commits.size(); ++i) {
    FUZZ_CHECK(reparsed[i].topic == commits[i].topic && reparsed[i].partition == commits[i].partition &&
                   reparsed[i].offset == commits[i].offset &&
                   reparsed[i].metadata == commits[i].metadata,
               "a written-back body parses to the same commits");
  }
  return 0;
}
