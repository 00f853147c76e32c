#include "core/storage/local_listing.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/storage/local_keys.h"

namespace sh::local_store {
namespace {

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

struct DirEntry {
  std::string name;
  bool is_dir = false;
  std::string sort_key;  // name, plus '/' for a directory: gives byte order of the keys below
};

enum class EntryType { kFile, kDir, kOther };

EntryType entry_type(int dirfd, const struct dirent* e) {
  switch (e->d_type) {
    case DT_REG:
      return EntryType::kFile;
    case DT_DIR:
      return EntryType::kDir;
    case DT_UNKNOWN: {
      struct stat st;
      if (::fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) return EntryType::kOther;
      if (S_ISREG(st.st_mode)) return EntryType::kFile;
      if (S_ISDIR(st.st_mode)) return EntryType::kDir;
      return EntryType::kOther;
    }
    default:
      return EntryType::kOther;  // symlinks, fifos, sockets, devices are not objects
  }
}

Error deadline_passed(std::string_view prefix) {
  return Error(Errc::kTimeout, fmt::format("listing {}: deadline passed", printable(prefix)), true);
}

// Reads the entries of `fd` (taking ownership) that can be part of a key and
// whose name starts with `name_prefix`, sorted in key order.
Result<std::vector<DirEntry>> read_dir(fs::UniqueFd fd, std::string_view name_prefix,
                                       std::string_view dir_path) {
  const int raw = fd.get();
  UniqueDir dir(::fdopendir(raw));
  if (!dir) return key_errno_error(errno, "listing", dir_path);
  fd.release();  // owned by DIR now
  std::vector<DirEntry> out;
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(dir.get());
    if (e == nullptr) {
      if (errno != 0) return key_errno_error(errno, "listing", dir_path);
      break;
    }
    std::string_view name(e->d_name);
    if (!valid_component(name) || !name.starts_with(name_prefix)) continue;
    const EntryType t = entry_type(raw, e);
    if (t == EntryType::kOther) continue;
    DirEntry d;
    d.name = std::string(name);
    d.is_dir = t == EntryType::kDir;
    d.sort_key = d.is_dir ? d.name + "/" : d.name;
    out.push_back(std::move(d));
  }
  std::sort(out.begin(), out.end(),
            [](const DirEntry& a, const DirEntry& b) { return a.sort_key < b.sort_key; });
  return out;
}

// One ListObjectsV2 page over the directory tree, visited depth first in key order.
class Lister {
 public:
  Lister(const ListOptions& opts, uint32_t max_keys)
      : opts_(opts), token_(opts.continuation_token), max_keys_(max_keys) {}

  // Lists the directory `dir_path` ("" or ending with '/'), open as `fd`, keeping
  // only top-level names that start with `name_prefix`.
  Status run(fs::UniqueFd fd, const std::string& dir_path, std::string_view name_prefix) {
    walk(std::move(fd), dir_path, name_prefix);
    return std::move(status_);
  }

  ListPage take_page() { return std::move(page_); }

 private:
  // All keys below a directory whose path is `dpath` are < `bound` (so they can be skipped)?
  static bool all_below(const std::string& dpath, const std::string& bound) {
    return !bound.empty() && dpath < bound && !bound.starts_with(dpath);
  }

  void walk(fs::UniqueFd fd, const std::string& path, std::string_view name_prefix) {
    if (done_) return;
    if (opts_.deadline.expired()) {
      fail(deadline_passed(opts_.prefix));
      return;
    }
    const int raw = fd.get();
    fs::UniqueFd keep(::dup(raw));  // read_dir consumes one fd; keep one for openat/fstatat
    if (!keep.valid()) {
      fail(key_errno_error(errno, "listing", path));
      return;
    }
    auto entries = read_dir(std::move(fd), name_prefix, path);
    if (!entries.ok()) {
      fail(std::move(entries).error());
      return;
    }
    for (const DirEntry& e : *entries) {
      if (done_) return;
      if (!e.is_dir) {
        visit_file(keep.get(), path + e.name, e.name);
        continue;
      }
      std::string dpath = path + e.name + "/";
      if (all_below(dpath, opts_.start_after) || all_below(dpath, token_)) continue;
      const int child = open_dir_at(keep.get(), e.name);
      if (child < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) continue;  // raced away
        fail(key_errno_error(errno, "listing", dpath));
        return;
      }
      fs::UniqueFd child_fd(child);
      // With a delimiter inside dpath (after the prefix), everything below rolls
      // up into one common prefix: only whether some key exists matters.
      if (!opts_.delimiter.empty()) {
        const size_t pos = dpath.find(opts_.delimiter, opts_.prefix.size());
        if (pos != std::string::npos && pos + opts_.delimiter.size() <= dpath.size()) {
          std::string cp = dpath.substr(0, pos + opts_.delimiter.size());
          if (!token_.empty() && cp <= token_) continue;
          if (cp == last_prefix_) continue;
          auto has = has_key(std::move(child_fd), dpath);
          if (!has.ok()) {
            fail(std::move(has).error());
            return;
          }
          if (*has) emit(std::move(cp), /*is_prefix=*/true, nullptr);
          continue;
        }
      }
      walk(std::move(child_fd), dpath, "");
    }
  }

  // Is there a key > start_after below the directory `dpath` (open as fd)?
  Result<bool> has_key(fs::UniqueFd fd, const std::string& dpath) {
    if (opts_.deadline.expired()) return deadline_passed(opts_.prefix);
    fs::UniqueFd keep(::dup(fd.get()));
    if (!keep.valid()) return key_errno_error(errno, "listing", dpath);
    SH_ASSIGN_OR_RETURN(std::vector<DirEntry> entries, read_dir(std::move(fd), "", dpath));
    for (const DirEntry& e : entries) {
      if (!e.is_dir) {
        if (opts_.start_after.empty() || dpath + e.name > opts_.start_after) return true;
        continue;
      }
      std::string child_path = dpath + e.name + "/";
      if (all_below(child_path, opts_.start_after)) continue;
      const int child = open_dir_at(keep.get(), e.name);
      if (child < 0) {
        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) continue;
        return key_errno_error(errno, "listing", child_path);
      }
      SH_ASSIGN_OR_RETURN(bool found, has_key(fs::UniqueFd(child), child_path));
      if (found) return true;
    }
    return false;
  }

  void visit_file(int dirfd, std::string key, const std::string& name) {
    if (!opts_.start_after.empty() && key <= opts_.start_after) return;
    if (!opts_.delimiter.empty()) {
      const size_t pos = key.find(opts_.delimiter, opts_.prefix.size());
      if (pos != std::string::npos) {
        std::string cp = key.substr(0, pos + opts_.delimiter.size());
        if ((!token_.empty() && cp <= token_) || cp == last_prefix_) return;
        emit(std::move(cp), /*is_prefix=*/true, nullptr);
        return;
      }
    }
    if (!token_.empty() && key <= token_) return;
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
      return;  // replaced or removed since readdir
    }
    emit(std::move(key), /*is_prefix=*/false, &st);
  }

  void emit(std::string item, bool is_prefix, const struct stat* st) {
    if (count_ == max_keys_) {
      // One more item exists: the page is full and the listing continues.
      page_.next_continuation_token = last_item_;
      done_ = true;
      return;
    }
    ++count_;
    last_item_ = item;
    if (is_prefix) {
      last_prefix_ = item;
      page_.common_prefixes.push_back(std::move(item));
    } else {
      ObjectInfo info;
      info.key = std::move(item);
      info.size = static_cast<uint64_t>(st->st_size);
      info.etag = make_etag(*st);
      info.mtime_ms = mtime_ms_of(*st);
      page_.objects.push_back(std::move(info));
    }
  }

  void fail(Error e) {
    if (status_.ok()) status_ = std::move(e);
    done_ = true;
  }

  const ListOptions& opts_;
  const std::string token_;  // the last item of the previous page
  const uint32_t max_keys_;
  ListPage page_;
  uint32_t count_ = 0;
  std::string last_item_;
  std::string last_prefix_;
  bool done_ = false;
  Status status_;
};

}  // namespace

Result<ListPage> list_tree(fs::UniqueFd dir, const std::string& dir_path,
                           std::string_view name_prefix, const ListOptions& opts) {
  Lister lister(opts, std::min(opts.max_keys, kMaxListKeys));
  SH_RETURN_IF_ERROR(lister.run(std::move(dir), dir_path, name_prefix));
  return lister.take_page();
}

}  // namespace sh::local_store
