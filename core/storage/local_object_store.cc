#include "core/storage/local_object_store.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/storage/local_keys.h"
#include "core/storage/local_listing.h"

namespace sh {
namespace {

// Is `name` inside `dirfd` a symbolic link?
bool is_symlink_at(int dirfd, const std::string& name) {
  struct stat st;
  return ::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

}  // namespace

// Key rules and path primitives shared with the listing (declared in local_keys.h).
namespace local_store {

std::string printable(std::string_view key) {
  std::string out = "'";
  for (unsigned char c : key) {
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  out += "'";
  return out;
}

Error key_errno_error(int err, std::string_view op, std::string_view key) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return not_found(fmt::format("no object {}", printable(key)));
    case ELOOP:
    case EXDEV:
      return invalid_argument(fmt::format(
          "key {} traverses a symbolic link (symlinks are not followed)", printable(key)));
    case ENAMETOOLONG:
      return invalid_argument(fmt::format("key {} is too long", printable(key)));
    default:
      return fs::errno_error(err, op, printable(key));
  }
}

bool valid_component(std::string_view c) {
  if (c.empty() || c == "." || c == "..") return false;
  if (c.size() > NAME_MAX) return false;
  if (c.starts_with(LocalObjectStore::kTempPrefix)) return false;
  for (char ch : c) {
    if (ch == '\0' || ch == '\\' || ch == '/') return false;
  }
  return true;
}

int open_dir_at(int dirfd, const std::string& name) {
  int fd;
  do {
    fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0 && (errno == ENOTDIR || errno == ELOOP) && is_symlink_at(dirfd, name)) errno = ELOOP;
  return fd;
}

std::string make_etag(const struct stat& st) {
  const int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                           static_cast<int64_t>(st.st_mtim.tv_nsec);
  return fmt::format("{:x}-{:x}-{:x}", static_cast<unsigned long long>(st.st_ino),
                     static_cast<unsigned long long>(st.st_size),
                     static_cast<unsigned long long>(mtime_ns));
}

int64_t mtime_ms_of(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000;
}

}  // namespace local_store

namespace {

using local_store::key_errno_error;
using local_store::make_etag;
using local_store::mtime_ms_of;
using local_store::open_dir_at;
using local_store::printable;

std::atomic<bool> g_force_walk{false};
std::atomic<bool> g_openat2_unavailable{false};
std::atomic<uint64_t> g_temp_counter{0};

std::vector<std::string_view> split_components(std::string_view key) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    const size_t slash = key.find('/', start);
    if (slash == std::string_view::npos) {
      parts.push_back(key.substr(start));
      return parts;
    }
    parts.push_back(key.substr(start, slash - start));
    start = slash + 1;
  }
}

Status check_deadline(const Deadline& d, std::string_view op, std::string_view key) {
  if (d.expired()) {
    return Error(Errc::kTimeout, fmt::format("{} {}: deadline passed", op, printable(key)), true);
  }
  return ok_status();
}

// Opens a validated relative path under root_fd component by component, never
// following a symlink. Returns the fd or -1 with errno set.
int walk_open(int root_fd, std::string_view path, int flags) {
  std::vector<std::string_view> parts = split_components(path);
  fs::UniqueFd dir;
  int cur = root_fd;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const int fd = open_dir_at(cur, std::string(parts[i]));
    if (fd < 0) return -1;
    dir.reset(fd);
    cur = fd;
  }
  const std::string last(parts.back());
  int fd;
  do {
    fd = ::openat(cur, last.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0 && (errno == ENOTDIR || errno == ELOOP) && is_symlink_at(cur, last)) errno = ELOOP;
  return fd;
}

// Opens a validated relative path strictly beneath root_fd with no symlink
// anywhere on the way: openat2 when the kernel has it, a component walk otherwise.
int open_beneath(int root_fd, std::string_view path, int flags) {
  if (!g_force_walk.load(std::memory_order_relaxed) &&
      !g_openat2_unavailable.load(std::memory_order_relaxed)) {
    const std::string p(path);
    struct open_how how;
    std::memset(&how, 0, sizeof how);
    how.flags = static_cast<uint64_t>(flags | O_NOFOLLOW | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    long fd;
    do {
      fd = ::syscall(SYS_openat2, root_fd, p.c_str(), &how, sizeof how);
    } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
    if (fd >= 0) return static_cast<int>(fd);
    const int err = errno;
    if (err != ENOSYS && err != EPERM && err != E2BIG && err != EINVAL) return -1;
    // No openat2 (old kernel, seccomp filter): the walk gives the real answer.
    const int walked = walk_open(root_fd, path, flags);
    if (walked >= 0 || err == ENOSYS) g_openat2_unavailable.store(true);
    return walked;
  }
  return walk_open(root_fd, path, flags);
}

}  // namespace

struct LocalObjectStore::OpenFile {
  fs::UniqueFd fd;
  uint64_t size = 0;
  std::string etag;
  int64_t mtime_ms = 0;
};

void LocalObjectStore::force_component_walk_for_testing(bool on) { g_force_walk.store(on); }

LocalObjectStore::LocalObjectStore(std::string root, fs::UniqueFd root_fd)
    : root_(std::move(root)), root_fd_(std::move(root_fd)) {}

Result<std::shared_ptr<LocalObjectStore>> LocalObjectStore::open(std::string root_dir,
                                                                 bool create_if_missing) {
  if (root_dir.empty()) return invalid_argument("object store root directory is empty");
  if (root_dir.find('\0') != std::string::npos) {
    return invalid_argument("object store root directory contains NUL");
  }
  if (create_if_missing) {
    std::error_code ec;
    std::filesystem::create_directories(root_dir, ec);
    if (ec) {
      return unavailable(
          fmt::format("creating object store root {}: {}", printable(root_dir), ec.message()));
    }
  }
  char* resolved = ::realpath(root_dir.c_str(), nullptr);
  if (resolved == nullptr) {
    const int err = errno;
    if (err == ENOENT) {
      return not_found(fmt::format("object store root {} does not exist", printable(root_dir)));
    }
    return fs::errno_error(err, "resolving object store root", printable(root_dir));
  }
  std::string abs(resolved);
  std::free(resolved);
  const int fd = ::open(abs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOTDIR) {
      return invalid_argument(
          fmt::format("object store root {} is not a directory", printable(abs)));
    }
    return fs::errno_error(err, "opening object store root", printable(abs));
  }
  return std::shared_ptr<LocalObjectStore>(new LocalObjectStore(std::move(abs), fs::UniqueFd(fd)));
}

Status LocalObjectStore::validate_key(std::string_view key) {
  if (key.empty()) return invalid_argument("object key is empty");
  if (key.front() == '/') {
    return invalid_argument(fmt::format("object key {} must not start with '/'", printable(key)));
  }
  if (key.size() > PATH_MAX - 1) {
    return invalid_argument(
        fmt::format("object key {}... is too long", printable(key.substr(0, 64))));
  }
  for (std::string_view c : split_components(key)) {
    if (!local_store::valid_component(c)) {
      return invalid_argument(fmt::format(
          "object key {} has an invalid component {} (empty, '.', '..', NUL, backslash, over "
          "255 bytes or reserved prefix '.tmp-')",
          printable(key), printable(c)));
    }
  }
  return ok_status();
}

Result<LocalObjectStore::OpenFile> LocalObjectStore::open_object(std::string_view key,
                                                                 const ReadOptions& opts) {
  SH_RETURN_IF_ERROR(validate_key(key));
  SH_RETURN_IF_ERROR(check_deadline(opts.deadline, "reading", key));
  const int fd = open_beneath(root_fd_.get(), key, O_RDONLY);
  if (fd < 0) return key_errno_error(errno, "opening", key);
  OpenFile f;
  f.fd.reset(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return key_errno_error(errno, "stat of", key);
  if (!S_ISREG(st.st_mode)) {
    return not_found(fmt::format("no object {} (not a file)", printable(key)));
  }
  f.size = static_cast<uint64_t>(st.st_size);
  f.etag = make_etag(st);
  f.mtime_ms = mtime_ms_of(st);
  if (opts.if_match_etag && *opts.if_match_etag != f.etag) {
    return Error(Errc::kPreconditionFailed,
                 fmt::format("object {} changed: etag {}, expected {}", printable(key), f.etag,
                             *opts.if_match_etag));
  }
  return f;
}

Result<RangeRead> LocalObjectStore::get_range(std::string_view key, uint64_t offset,
                                              uint64_t length, const ReadOptions& opts) {
  auto range = ByteRange::make(offset, length);
  if (!range.ok()) {
    return std::move(range).error().prefix(fmt::format("reading {}", printable(key)));
  }
  SH_ASSIGN_OR_RETURN(OpenFile f, open_object(key, opts));
  if (range->end() > f.size) {
    return Error(Errc::kOutOfRange,
                 fmt::format("reading {}: range [{}, {}) beyond object size {}", printable(key),
                             offset, range->end(), f.size));
  }
  RangeRead out;
  SH_RETURN_IF_ERROR(fs::pread_exact(f.fd.get(), offset, length, &out.data, printable(key)));
  out.object_size = f.size;
  out.etag = std::move(f.etag);
  return out;
}

Result<RangeRead> LocalObjectStore::get_suffix(std::string_view key, uint64_t length,
                                               const ReadOptions& opts) {
  if (length == 0) {
    return invalid_argument(fmt::format("reading {}: empty suffix range", printable(key)));
  }
  SH_ASSIGN_OR_RETURN(OpenFile f, open_object(key, opts));
  const uint64_t n = std::min(length, f.size);
  RangeRead out;
  SH_RETURN_IF_ERROR(fs::pread_exact(f.fd.get(), f.size - n, n, &out.data, printable(key)));
  out.object_size = f.size;
  out.etag = std::move(f.etag);
  return out;
}

Result<RangeRead> LocalObjectStore::get(std::string_view key, const ReadOptions& opts) {
  SH_ASSIGN_OR_RETURN(OpenFile f, open_object(key, opts));
  RangeRead out;
  SH_RETURN_IF_ERROR(fs::pread_exact(f.fd.get(), 0, f.size, &out.data, printable(key)));
  out.object_size = f.size;
  out.etag = std::move(f.etag);
  return out;
}

Result<ObjectInfo> LocalObjectStore::head(std::string_view key, const ReadOptions& opts) {
  SH_ASSIGN_OR_RETURN(OpenFile f, open_object(key, opts));
  ObjectInfo info;
  info.key = std::string(key);
  info.size = f.size;
  info.etag = std::move(f.etag);
  info.mtime_ms = f.mtime_ms;
  return info;
}

Result<ListPage> LocalObjectStore::list(const ListOptions& opts) {
  if (opts.deadline.expired()) {
    return Error(Errc::kTimeout, fmt::format("listing {}: deadline passed", printable(opts.prefix)),
                 true);
  }
  ListPage empty;
  if (opts.max_keys == 0) return empty;

  // Start in the deepest directory the prefix names; the rest filters its entries.
  const size_t slash = opts.prefix.rfind('/');
  const std::string dir_path =
      slash == std::string::npos ? std::string() : opts.prefix.substr(0, slash + 1);
  const std::string_view name_prefix = std::string_view(opts.prefix).substr(dir_path.size());
  if (name_prefix.find('\0') != std::string_view::npos) return empty;

  int fd;
  if (dir_path.empty()) {
    // A fresh description of the root: a dup() would share the readdir position.
    fd = ::openat(root_fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return key_errno_error(errno, "listing", opts.prefix);
  } else {
    const std::string_view dir_no_slash = std::string_view(dir_path).substr(0, dir_path.size() - 1);
    if (!validate_key(dir_no_slash).ok()) return empty;  // no valid key can start with it
    fd = open_beneath(root_fd_.get(), dir_no_slash, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV) return empty;
      return key_errno_error(errno, "listing", opts.prefix);
    }
  }
  return local_store::list_tree(fs::UniqueFd(fd), dir_path, name_prefix, opts);
}

Status LocalObjectStore::put(std::string_view key, std::string_view data, Deadline deadline) {
  return write_object(key, data, deadline, /*replace=*/true);
}

Status LocalObjectStore::put_if_absent(std::string_view key, std::string_view data,
                                       Deadline deadline) {
  return write_object(key, data, deadline, /*replace=*/false);
}

namespace {

// Moves `tmp` to `name` in `dirfd` only if `name` does not exist: renameat2
// with RENAME_NOREPLACE, or, where the kernel or file system lacks it, link(2)
// (which never replaces) with the caller's guard removing the temp name.
int rename_noreplace(int dirfd, const std::string& tmp, const std::string& name) {
  if (::renameat2(dirfd, tmp.c_str(), dirfd, name.c_str(), RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) return -1;
  return ::linkat(dirfd, tmp.c_str(), dirfd, name.c_str(), 0);
}

}  // namespace

Status LocalObjectStore::write_object(std::string_view key, std::string_view data,
                                      Deadline deadline, bool replace) {
  SH_RETURN_IF_ERROR(validate_key(key));
  SH_RETURN_IF_ERROR(check_deadline(deadline, "writing", key));
  std::vector<std::string_view> parts = split_components(key);

  // Walk (and create) the parent directories without following symlinks.
  fs::UniqueFd dir;
  int cur = root_fd_.get();
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string comp(parts[i]);
    bool created = false;
    if (::mkdirat(cur, comp.c_str(), 0755) == 0) {
      created = true;
    } else if (errno != EEXIST) {
      return key_errno_error(errno, "creating a directory for", key);
    }
    const int fd = open_dir_at(cur, comp);
    if (fd < 0) {
      if (errno == ENOTDIR) {
        return Error(Errc::kAlreadyExists,
                     fmt::format("writing {}: component {} is an existing object", printable(key),
                                 printable(comp)));
      }
      return key_errno_error(errno, "opening a directory for", key);
    }
    if (created && ::fsync(cur) != 0) return key_errno_error(errno, "syncing a directory for", key);
    dir.reset(fd);
    cur = fd;
  }

  const std::string last(parts.back());
  std::string tmp = fmt::format("{}{}-{}-", kTempPrefix, ::getpid(), g_temp_counter.fetch_add(1));
  tmp += last.substr(0, NAME_MAX - tmp.size());

  const int tfd =
      ::openat(cur, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (tfd < 0) return key_errno_error(errno, "creating a temp file for", key);
  fs::UniqueFd file(tfd);
  // Removes the temp file unless it was renamed into place.
  struct TempGuard {
    int dirfd;
    const std::string& name;
    bool armed = true;
    ~TempGuard() {
      if (armed) ::unlinkat(dirfd, name.c_str(), 0);
    }
  } guard{cur, tmp};

  SH_RETURN_IF_ERROR(fs::write_all(file.get(), data, printable(key)));
  if (::fsync(file.get()) != 0) return key_errno_error(errno, "syncing", key);
  if (::close(file.release()) != 0) return key_errno_error(errno, "closing", key);
  if (!replace) {
    if (rename_noreplace(cur, tmp, last) != 0) {
      if (errno == EEXIST) {
        return Error(Errc::kAlreadyExists,
                     fmt::format("writing {}: the key already exists", printable(key)));
      }
      return key_errno_error(errno, "moving into place", key);
    }
    // The guard stays armed: after a link fallback it removes the temp name
    // (after a rename that name is gone and its unlink a harmless no-op).
  } else {
    if (::renameat(cur, tmp.c_str(), cur, last.c_str()) != 0) {
      if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST) {
        return Error(Errc::kAlreadyExists,
                     fmt::format("writing {}: the key is an existing directory", printable(key)));
      }
      return key_errno_error(errno, "renaming into place", key);
    }
    guard.armed = false;
  }
  if (::fsync(cur) != 0) return key_errno_error(errno, "syncing the directory of", key);
  return ok_status();
}

std::string LocalObjectStore::describe() const { return fmt::format("file://{}", root_); }

}  // namespace sh
