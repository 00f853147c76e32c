// LocalObjectStore: an ObjectStore over a directory. Key "a/b/c" is the file
// <root>/a/b/c. Used for the embedded mode, tools and tests.
//
// Keys are '/'-separated relative paths and can never reach outside the root:
// a key that is empty, starts with '/', contains an empty, "." or ".." component,
// a NUL or a backslash, or whose component starts with the reserved temp prefix
// ".tmp-" is rejected with kInvalidArgument naming the key. Symbolic links are
// never followed (a key that traverses one is kInvalidArgument), so a link inside
// the root cannot expose files outside it.
//
// ETags are derived from (inode, size, mtime ns): replacing an object through
// put() (a rename) always changes its ETag.
//
// list() follows S3 ListObjectsV2: keys in byte order, any prefix string,
// delimiter roll-up into common prefixes, start_after, max_keys (objects and
// common prefixes together, at most 1000) with an opaque continuation token.
// Directories are not objects; temp files of in-progress puts are invisible.
//
// Thread-safe: every call works on its own file descriptors.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/fs/file.h"
#include "core/storage/object_store.h"

namespace sh {

class LocalObjectStore final : public ObjectStore {
 public:
  // Prefix of the temp files put() writes before renaming them into place.
  static constexpr std::string_view kTempPrefix = ".tmp-";

  // Opens the store rooted at `root_dir` (made absolute, symlinks in the root
  // path itself resolved). kNotFound if it does not exist and !create_if_missing;
  // kInvalidArgument if it is not a directory.
  static Result<std::shared_ptr<LocalObjectStore>> open(std::string root_dir,
                                                        bool create_if_missing);

  Result<RangeRead> get_range(std::string_view key, uint64_t offset, uint64_t length,
                              const ReadOptions& opts = {}) override;
  Result<RangeRead> get_suffix(std::string_view key, uint64_t length,
                               const ReadOptions& opts = {}) override;
  Result<RangeRead> get(std::string_view key, const ReadOptions& opts = {}) override;
  Result<ObjectInfo> head(std::string_view key, const ReadOptions& opts = {}) override;
  Result<ListPage> list(const ListOptions& opts) override;
  // Writes a temp file beside the target, fsyncs it, renames it over the key and
  // fsyncs the directory; creates missing parent directories. kAlreadyExists if
  // a parent component is an existing file or the key is an existing directory.
  Status put(std::string_view key, std::string_view data, Deadline deadline = {}) override;
  // As put, but moves the temp file into place with renameat2(RENAME_NOREPLACE)
  // (link(2) where that is unsupported): kAlreadyExists if the key exists (as
  // an object or a directory); the existing object is untouched.
  Status put_if_absent(std::string_view key, std::string_view data,
                       Deadline deadline = {}) override;
  // "file://<absolute root>".
  std::string describe() const override;

  const std::string& root() const { return root_; }

  // kInvalidArgument (naming the key) unless `key` is a valid key for this store.
  static Status validate_key(std::string_view key);

  // Tests: resolve keys by walking components with openat(O_NOFOLLOW) instead of
  // a single openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS). Process-wide.
  static void force_component_walk_for_testing(bool on);

 private:
  LocalObjectStore(std::string root, fs::UniqueFd root_fd);

  struct OpenFile;
  Result<OpenFile> open_object(std::string_view key, const ReadOptions& opts);
  Status write_object(std::string_view key, std::string_view data, Deadline deadline,
                      bool replace);

  std::string root_;
  fs::UniqueFd root_fd_;
};

}  // namespace sh
