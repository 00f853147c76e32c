#include "core/storage/object_store.h"

#include <fmt/format.h>

namespace sh {

Result<ByteRange> ByteRange::make(uint64_t offset, uint64_t length) {
  if (length == 0) return invalid_argument("empty byte range");
  if (offset > UINT64_MAX - length) return invalid_argument("byte range overflows");
  return ByteRange{offset, length};
}

std::string ByteRange::to_http_header_value() const {
  return fmt::format("bytes={}-{}", offset, offset + length - 1);
}

Result<std::vector<ObjectInfo>> list_all(ObjectStore& store, std::string_view prefix,
                                         std::string_view start_after, Deadline deadline) {
  std::vector<ObjectInfo> out;
  ListOptions opts;
  opts.prefix = std::string(prefix);
  opts.start_after = std::string(start_after);
  opts.deadline = deadline;
  for (;;) {
    SH_ASSIGN_OR_RETURN(ListPage page, store.list(opts));
    for (auto& o : page.objects) out.push_back(std::move(o));
    if (page.next_continuation_token.empty()) break;
    opts.continuation_token = std::move(page.next_continuation_token);
  }
  return out;
}

}  // namespace sh
