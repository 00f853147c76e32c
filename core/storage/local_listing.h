// Internal to LocalObjectStore: S3 ListObjectsV2 over a directory tree (keys in
// byte order, any prefix string, delimiter roll-up into common prefixes,
// start_after, max_keys with an opaque continuation token). Not for use outside
// core/storage.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/fs/file.h"
#include "core/result.h"
#include "core/storage/object_store.h"

namespace sh::local_store {

// Most items (objects and common prefixes together) on one page, as in S3.
inline constexpr uint32_t kMaxListKeys = 1000;

// One page for `opts`, read from `dir` (owned): the directory whose key path is
// `dir_path` ("" for the root, else ending with '/'), keeping only its top-level
// names that start with `name_prefix`. Depth first in key order; sub-trees
// entirely before start_after or the continuation token are skipped unread;
// symlinks, special files, temp files and invalid names are not objects.
// REQUIRES: opts.max_keys > 0 (it is capped at kMaxListKeys); dir_path + name_prefix
// == opts.prefix.
Result<ListPage> list_tree(fs::UniqueFd dir, const std::string& dir_path,
                           std::string_view name_prefix, const ListOptions& opts);

}  // namespace sh::local_store
