// Internal to LocalObjectStore: the key rules and no-follow path primitives that
// its listing (local_listing.cc) shares with it. Defined in local_object_store.cc,
// which owns key validation and path safety. Not for use outside core/storage.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace sh::local_store {

// The key as it may appear in a message, in single quotes: printable ASCII kept,
// the rest escaped as \xNN.
std::string printable(std::string_view key);

// Maps an errno of `op` ("reading", "listing", ...) on `key` to an Error in the
// store's own words: ENOENT/ENOTDIR → kNotFound "no object 'key'"; ELOOP/EXDEV →
// kInvalidArgument "key 'key' traverses a symbolic link ..."; ENAMETOOLONG →
// kInvalidArgument "key 'key' is too long"; anything else as fs::errno_error.
Error key_errno_error(int err, std::string_view op, std::string_view key);

// Can `c` be one component of a key? Not empty, ".", "..", over NAME_MAX bytes,
// starting with the temp prefix, or holding NUL, '\\' or '/'.
bool valid_component(std::string_view c);

// Opens the directory `name` in `dirfd` without following a symlink (a symlink is
// ELOOP). Returns the fd or -1 with errno set.
int open_dir_at(int dirfd, const std::string& name);

// ETag of a file: hex(inode)-hex(size)-hex(mtime ns).
std::string make_etag(const struct stat& st);
// Modification time of a file in ms since the epoch.
int64_t mtime_ms_of(const struct stat& st);

}  // namespace sh::local_store
