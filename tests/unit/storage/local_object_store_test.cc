#include "core/storage/local_object_store.h"
#include "tests/support/temp_dir.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace sh {
namespace {

namespace fs = std::filesystem;

// A real temporary directory, removed with everything in it at the end.
using TempDir = testing::ScratchDir;

void write_file(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << data;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Runs every test twice: with openat2 resolution and with the openat component walk.
class LocalObjectStoreTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    LocalObjectStore::force_component_walk_for_testing(GetParam());
    root_ = tmp_.path() / "root";
    auto s = LocalObjectStore::open(root_.string(), /*create_if_missing=*/true);
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    store_ = *s;
  }
  void TearDown() override { LocalObjectStore::force_component_walk_for_testing(false); }

  void put_ok(const std::string& key, const std::string& data) {
    auto st = store_->put(key, data);
    ASSERT_TRUE(st.ok()) << "put " << key << ": " << st.error().to_string();
  }

  TempDir tmp_;
  fs::path root_;
  std::shared_ptr<LocalObjectStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Resolution, LocalObjectStoreTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "ComponentWalk" : "Openat2"; });

// ---------------------------------------------------------------- keys

TEST_P(LocalObjectStoreTest, RejectsKeysThatCouldEscapeTheRoot) {
  write_file(tmp_.path() / "x", "outside");
  const std::vector<std::string> bad = {
      "",         "../x",  "a/../../x", "/etc/passwd", std::string("a\0b", 3),
      "a//b",     ".",     "..",        "./a",         "a/.",
      "a/",       "a\\b",  "..\\x",     ".tmp-1-x",    "dir/.tmp-2-y",
      std::string(300, 'n')};
  for (const std::string& key : bad) {
    SCOPED_TRACE("key of " + std::to_string(key.size()) + " bytes: " + key);
    auto g = store_->get(key);
    ASSERT_FALSE(g.ok()) << "get of a bad key must fail";
    EXPECT_EQ(g.error().code(), Errc::kInvalidArgument) << g.error().to_string();
    auto h = store_->head(key);
    ASSERT_FALSE(h.ok());
    EXPECT_EQ(h.error().code(), Errc::kInvalidArgument);
    auto r = store_->get_range(key, 0, 1);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
    auto p = store_->put(key, "evil");
    ASSERT_FALSE(p.ok()) << "put of a bad key must fail";
    EXPECT_EQ(p.error().code(), Errc::kInvalidArgument);
  }
  EXPECT_EQ(read_file(tmp_.path() / "x"), "outside") << "a file outside the root was modified";
  EXPECT_FALSE(fs::exists("/etc/passwd.tmp")) << "sanity";
}

TEST_P(LocalObjectStoreTest, ErrorMessagesNameTheKey) {
  auto g = store_->get("a/../../secret");
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message().find("a/../../secret"), std::string::npos) << g.error().message();
  auto nul = store_->get(std::string("a\0b", 3));
  ASSERT_FALSE(nul.ok());
  EXPECT_NE(nul.error().message().find("a\\x00b"), std::string::npos)
      << "NUL must be shown escaped: " << nul.error().message();
  auto missing = store_->get("t/0/missing.bin");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Errc::kNotFound);
  EXPECT_NE(missing.error().message().find("t/0/missing.bin"), std::string::npos);
}

TEST_P(LocalObjectStoreTest, SymlinksInsideTheRootAreNeverFollowed) {
  write_file(tmp_.path() / "outside" / "secret.txt", "TOP SECRET");
  fs::create_directory_symlink(tmp_.path() / "outside", root_ / "dirlink");
  fs::create_directory_symlink("../outside", root_ / "rellink");
  fs::create_symlink(tmp_.path() / "outside" / "secret.txt", root_ / "filelink");
  fs::create_directories(root_ / "sub");
  fs::create_directory_symlink("../../outside", root_ / "sub" / "deeplink");

  for (const std::string key : {"dirlink/secret.txt", "rellink/secret.txt", "filelink",
                                "sub/deeplink/secret.txt"}) {
    SCOPED_TRACE(key);
    for (auto r : {store_->get(key), store_->get_range(key, 0, 3), store_->get_suffix(key, 3)}) {
      ASSERT_FALSE(r.ok()) << "read through a symlink succeeded: " << r->data;
      EXPECT_EQ(r.error().code(), Errc::kInvalidArgument) << r.error().to_string();
    }
    EXPECT_FALSE(store_->head(key).ok());
  }
  // Writing through a link must not create files outside.
  auto p = store_->put("dirlink/planted.txt", "x");
  EXPECT_FALSE(p.ok()) << "put through a symlinked directory succeeded";
  EXPECT_FALSE(fs::exists(tmp_.path() / "outside" / "planted.txt"))
      << "put wrote a file outside the root";
  // Listing does not descend into links nor report them as objects.
  auto page = store_->list({});
  ASSERT_TRUE(page.ok()) << page.error().to_string();
  for (const auto& o : page->objects) {
    EXPECT_EQ(o.key.find("secret"), std::string::npos) << "listed " << o.key;
    EXPECT_NE(o.key, "filelink");
  }
  ListOptions lo;
  lo.prefix = "dirlink/";
  auto linked = store_->list(lo);
  ASSERT_TRUE(linked.ok());
  EXPECT_TRUE(linked->objects.empty()) << "listing with a prefix through a link saw objects";
}

// ---------------------------------------------------------------- reads

TEST_P(LocalObjectStoreTest, GetRangeReturnsExactlyTheRange) {
  put_ok("t/0/obj", "0123456789");
  auto all = store_->get_range("t/0/obj", 0, 10);
  ASSERT_TRUE(all.ok()) << all.error().to_string();
  EXPECT_EQ(all->data, "0123456789");
  EXPECT_EQ(all->object_size, 10u);
  EXPECT_FALSE(all->etag.empty());
  auto mid = store_->get_range("t/0/obj", 3, 4);
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(mid->data, "3456");
  EXPECT_EQ(mid->object_size, 10u);
  auto last = store_->get_range("t/0/obj", 9, 1);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->data, "9");
}

TEST_P(LocalObjectStoreTest, GetRangeRejectsRangesBeyondTheObject) {
  put_ok("obj", "0123456789");
  struct Case {
    uint64_t offset, length;
  };
  for (Case c : {Case{10, 1}, Case{5, 6}, Case{0, 11}, Case{100, 5}, Case{UINT64_MAX, 2},
                 Case{UINT64_MAX - 1, 1}}) {
    SCOPED_TRACE(std::to_string(c.offset) + fmt::format("+{}", c.length));
    auto r = store_->get_range("obj", c.offset, c.length);
    ASSERT_FALSE(r.ok()) << "range past the end returned " << r->data.size() << " bytes";
    // A range whose end overflows is malformed; one that merely ends past the object is out of range.
    const bool overflows = c.offset > UINT64_MAX - c.length;
    EXPECT_EQ(r.error().code(), overflows ? Errc::kInvalidArgument : Errc::kOutOfRange)
        << r.error().to_string();
    EXPECT_NE(r.error().message().find("obj"), std::string::npos) << r.error().message();
  }
  auto r = store_->get_range("obj", 5, 6);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("beyond object size 10"), std::string::npos)
      << r.error().message();
  auto empty = store_->get_range("obj", 0, 0);
  ASSERT_FALSE(empty.ok()) << "a zero-length range must be rejected";
  EXPECT_EQ(empty.error().code(), Errc::kInvalidArgument);
}

TEST_P(LocalObjectStoreTest, SuffixClampsToObjectSize) {
  put_ok("obj", "0123456789");
  auto s4 = store_->get_suffix("obj", 4);
  ASSERT_TRUE(s4.ok());
  EXPECT_EQ(s4->data, "6789");
  EXPECT_EQ(s4->object_size, 10u);
  auto big = store_->get_suffix("obj", 1 << 20);
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->data, "0123456789") << "a suffix longer than the object returns all of it";
  auto huge = store_->get_suffix("obj", UINT64_MAX);
  ASSERT_TRUE(huge.ok());
  EXPECT_EQ(huge->data.size(), 10u);
  EXPECT_FALSE(store_->get_suffix("obj", 0).ok()) << "bytes=-0 is not a range";
}

TEST_P(LocalObjectStoreTest, EmptyObject) {
  put_ok("empty", "");
  auto g = store_->get("empty");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->data, "");
  EXPECT_EQ(g->object_size, 0u);
  auto s = store_->get_suffix("empty", 48);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->data, "");
  EXPECT_FALSE(store_->get_range("empty", 0, 1).ok());
}

TEST_P(LocalObjectStoreTest, MissingObjectsAndDirectoriesAreNotFound) {
  put_ok("dir/obj", "x");
  for (const std::string key : {"nope", "dir/nope", "nope/deeper/x", "dir", "dir/obj/below"}) {
    SCOPED_TRACE(key);
    auto g = store_->get(key);
    ASSERT_FALSE(g.ok());
    EXPECT_EQ(g.error().code(), Errc::kNotFound) << g.error().to_string();
    auto h = store_->head(key);
    ASSERT_FALSE(h.ok());
    EXPECT_EQ(h.error().code(), Errc::kNotFound);
  }
}

TEST_P(LocalObjectStoreTest, HeadMatchesGet) {
  put_ok("a/b", "hello");
  auto h = store_->head("a/b");
  ASSERT_TRUE(h.ok()) << h.error().to_string();
  EXPECT_EQ(h->key, "a/b");
  EXPECT_EQ(h->size, 5u);
  EXPECT_GT(h->mtime_ms, 0);
  auto g = store_->get("a/b");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->etag, h->etag);
}

TEST_P(LocalObjectStoreTest, EtagChangesOnReplaceAndIfMatchIsEnforced) {
  put_ok("seg", "version-1");
  auto first = store_->head("seg");
  ASSERT_TRUE(first.ok());
  ReadOptions pinned;
  pinned.if_match_etag = first->etag;
  auto ok_read = store_->get_range("seg", 0, 7, pinned);
  ASSERT_TRUE(ok_read.ok()) << "if_match with the current etag must succeed: "
                            << ok_read.error().to_string();
  EXPECT_EQ(ok_read->data, "version");

  put_ok("seg", "version-2");  // same size, new content
  auto second = store_->head("seg");
  ASSERT_TRUE(second.ok());
  EXPECT_NE(second->etag, first->etag) << "replacing an object must change its etag";
  for (auto r : {store_->get_range("seg", 0, 7, pinned), store_->get_suffix("seg", 4, pinned),
                 store_->get("seg", pinned)}) {
    ASSERT_FALSE(r.ok()) << "read of a replaced object with a stale etag succeeded";
    EXPECT_EQ(r.error().code(), Errc::kPreconditionFailed) << r.error().to_string();
  }
  EXPECT_FALSE(store_->head("seg", pinned).ok());
}

TEST_P(LocalObjectStoreTest, ExpiredDeadlineIsTimeout) {
  put_ok("obj", "abc");
  ReadOptions o;
  o.deadline = Deadline{std::chrono::steady_clock::now() - std::chrono::seconds(1)};
  auto r = store_->get_range("obj", 0, 1, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kTimeout);
  ListOptions lo;
  lo.deadline = o.deadline;
  auto l = store_->list(lo);
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().code(), Errc::kTimeout);
  auto p = store_->put("obj2", "x", o.deadline);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code(), Errc::kTimeout);
}

// ---------------------------------------------------------------- put

TEST_P(LocalObjectStoreTest, PutCreatesParentsAndLeavesNoTempFiles) {
  const std::string data(300'000, 'z');
  put_ok("orders/7/seg_00000000000000000001.bin", data);
  EXPECT_EQ(read_file(root_ / "orders/7/seg_00000000000000000001.bin"), data);
  for (const auto& e : fs::recursive_directory_iterator(root_)) {
    EXPECT_EQ(e.path().filename().string().rfind(".tmp-", 0), std::string::npos)
        << "temp file left behind: " << e.path();
  }
}

TEST_P(LocalObjectStoreTest, PutConflictsWithDirectoriesAreAlreadyExists) {
  put_ok("a/b", "file");
  auto under_file = store_->put("a/b/c", "x");
  ASSERT_FALSE(under_file.ok()) << "a key below an existing object cannot be a file here";
  EXPECT_EQ(under_file.error().code(), Errc::kAlreadyExists) << under_file.error().to_string();
  auto onto_dir = store_->put("a", "x");
  ASSERT_FALSE(onto_dir.ok());
  EXPECT_EQ(onto_dir.error().code(), Errc::kAlreadyExists) << onto_dir.error().to_string();
  auto still = store_->get("a/b");
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->data, "file");
}

// ---------------------------------------------------------------- put_if_absent

TEST_P(LocalObjectStoreTest, PutIfAbsentCreatesOnceAndNeverReplaces) {
  ASSERT_TRUE(store_->put_if_absent("t/0/seg", "first").ok());
  auto again = store_->put_if_absent("t/0/seg", "second");
  ASSERT_FALSE(again.ok()) << "put_if_absent replaced an existing object";
  EXPECT_EQ(again.error().code(), Errc::kAlreadyExists) << again.error().to_string();
  EXPECT_NE(again.error().message().find("t/0/seg"), std::string::npos) << again.error().message();
  auto got = store_->get("t/0/seg");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->data, "first") << "the losing write must leave the object untouched";

  // A plain put still replaces; put_if_absent onto a directory or below a file refuses.
  ASSERT_TRUE(store_->put("t/0/seg", "replaced").ok());
  EXPECT_EQ(store_->get("t/0/seg")->data, "replaced");
  EXPECT_EQ(store_->put_if_absent("t/0", "x").error().code(), Errc::kAlreadyExists);
  EXPECT_EQ(store_->put_if_absent("t/0/seg/below", "x").error().code(), Errc::kAlreadyExists);
  EXPECT_EQ(store_->put_if_absent("../escape", "x").error().code(), Errc::kInvalidArgument);
  for (const auto& e : fs::recursive_directory_iterator(root_)) {
    EXPECT_EQ(e.path().filename().string().rfind(".tmp-", 0), std::string::npos)
        << "temp file left behind: " << e.path();
  }
}

TEST_P(LocalObjectStoreTest, ConcurrentPutIfAbsentOfOneKeyHasExactlyOneWinner) {
  constexpr int kThreads = 8;
  for (int round = 0; round < 20; ++round) {
    const std::string key = fmt::format("race/seg_{}", round);
    std::atomic<int> ready{0};
    std::vector<Status> results(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
      threads.emplace_back([&, i] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) {
        }
        results[i] = store_->put_if_absent(key, fmt::format("writer {}", i));
      });
    }
    for (auto& t : threads) t.join();
    int winners = 0, winner = -1;
    for (int i = 0; i < kThreads; ++i) {
      if (results[i].ok()) {
        ++winners;
        winner = i;
      } else {
        EXPECT_EQ(results[i].error().code(), Errc::kAlreadyExists) << results[i].error().to_string();
      }
    }
    ASSERT_EQ(winners, 1) << "round " << round << ": exactly one concurrent put_if_absent must win";
    auto got = store_->get(key);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->data, fmt::format("writer {}", winner)) << "the object is the winner's bytes";
  }
  for (const auto& e : fs::recursive_directory_iterator(root_)) {
    EXPECT_EQ(e.path().filename().string().rfind(".tmp-", 0), std::string::npos)
        << "temp file left behind: " << e.path();
  }
}

TEST_P(LocalObjectStoreTest, ConcurrentReadersSeeOldOrNewObjectWhole) {
  const std::string a(1 << 20, 'a');
  const std::string b(2 << 20, 'b');
  put_ok("hot", a);
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!stop.load()) {
      auto g = store_->get("hot");
      if (!g.ok()) {
        torn.fetch_add(1);
        continue;
      }
      reads.fetch_add(1);
      if (!(g->data == a || g->data == b)) torn.fetch_add(1);
    }
  });
  for (int i = 0; i < 20; ++i) put_ok("hot", i % 2 ? a : b);
  while (reads.load() < 5) std::this_thread::yield();
  stop = true;
  reader.join();
  EXPECT_EQ(torn.load(), 0) << "a reader saw a partial or failed object during replacement";
}

// ---------------------------------------------------------------- list

struct Item {
  std::string name;
  bool is_prefix;
  bool operator==(const Item&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Item& i) {
  return os << (i.is_prefix ? "P:" : "K:") << i.name;
}

// The S3 ListObjectsV2 rules applied to a sorted key set (the reference model).
std::vector<Item> model_list(const std::set<std::string>& keys, const std::string& prefix,
                             const std::string& delimiter, const std::string& start_after) {
  std::vector<Item> out;
  for (const std::string& k : keys) {
    if (k.rfind(prefix, 0) != 0) continue;
    if (!start_after.empty() && k <= start_after) continue;
    if (!delimiter.empty()) {
      size_t pos = k.find(delimiter, prefix.size());
      if (pos != std::string::npos) {
        std::string cp = k.substr(0, pos + delimiter.size());
        if (out.empty() || out.back().name != cp) out.push_back({cp, true});
        continue;
      }
    }
    out.push_back({k, false});
  }
  return out;
}

// Merges a page's objects and common prefixes into key order.
std::vector<Item> page_items(const ListPage& page) {
  std::vector<Item> items;
  for (const auto& o : page.objects) items.push_back({o.key, false});
  for (const auto& p : page.common_prefixes) items.push_back({p, true});
  std::sort(items.begin(), items.end(),
            [](const Item& x, const Item& y) { return x.name < y.name; });
  return items;
}

class ListTest : public LocalObjectStoreTest {
 protected:
  void SetUp() override {
    LocalObjectStoreTest::SetUp();
    for (const std::string& k : keys_) put_ok(k, "data:" + k);
    // Things that are not objects.
    fs::create_directories(root_ / "emptydir" / "sub");
    fs::create_directories(root_ / "a" / "emptyinside");
    write_file(root_ / "orders" / "0" / ".tmp-999-seg_3", "in-progress put");
    fs::create_symlink(root_ / "a0", root_ / "link-to-a0");
  }

  // Every page of a listing, checking page size and token rules on the way.
  std::vector<Item> list_paged(ListOptions opts) {
    std::vector<Item> all;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = store_->list(opts);
      EXPECT_TRUE(page.ok()) << page.error().to_string();
      if (!page.ok()) return all;
      std::vector<Item> items = page_items(*page);
      EXPECT_LE(items.size(), opts.max_keys) << "page larger than max_keys";
      if (!page->next_continuation_token.empty()) {
        EXPECT_EQ(items.size(), opts.max_keys) << "a truncated page must be full";
      }
      EXPECT_TRUE(std::is_sorted(page->objects.begin(), page->objects.end(),
                                 [](const ObjectInfo& x, const ObjectInfo& y) {
                                   return x.key < y.key;
                                 }));
      all.insert(all.end(), items.begin(), items.end());
      if (page->next_continuation_token.empty()) return all;
      opts.continuation_token = page->next_continuation_token;
    }
    ADD_FAILURE() << "listing did not terminate";
    return all;
  }

  const std::set<std::string> keys_ = {
      "a.x",         "a-b",          "a/b",           "a/c/d",           "a/c/e",
      "a0",          "ab/c",         "b/x/y/z",       "b/x/y2",          "b/x-/q",
      "orders/0/seg_00000000000000000000.bin",         "orders/0/seg_00000000000000000100.bin",
      "orders/0/zz", "orders/1/seg_00000000000000000000.bin", "orders-x/0/a", "z"};
};

INSTANTIATE_TEST_SUITE_P(Resolution, ListTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "ComponentWalk" : "Openat2"; });

TEST_P(ListTest, FlatListingIsAllObjectsInByteOrderWithSizes) {
  auto page = store_->list({});
  ASSERT_TRUE(page.ok()) << page.error().to_string();
  std::vector<std::string> got;
  for (const auto& o : page->objects) {
    got.push_back(o.key);
    EXPECT_EQ(o.size, ("data:" + o.key).size()) << o.key;
    EXPECT_FALSE(o.etag.empty());
  }
  EXPECT_EQ(got, std::vector<std::string>(keys_.begin(), keys_.end()))
      << "directories, temp files and symlinks must not be listed; order must be byte order";
  EXPECT_TRUE(page->common_prefixes.empty());
  EXPECT_TRUE(page->next_continuation_token.empty());
}

TEST_P(ListTest, DelimiterRollsUpCommonPrefixes) {
  ListOptions o;
  o.delimiter = "/";
  auto page = store_->list(o);
  ASSERT_TRUE(page.ok());
  std::vector<std::string> objects, prefixes;
  for (const auto& x : page->objects) objects.push_back(x.key);
  EXPECT_EQ(objects, (std::vector<std::string>{"a-b", "a.x", "a0", "z"}))
      << "'-' < '.' < '/' < '0': byte order must hold across file and directory names";
  EXPECT_EQ(page->common_prefixes,
            (std::vector<std::string>{"a/", "ab/", "b/", "orders-x/", "orders/"}))
      << "empty directories must not appear as common prefixes";

  o.prefix = "orders/";
  auto parts = store_->list(o);
  ASSERT_TRUE(parts.ok());
  EXPECT_EQ(parts->common_prefixes, (std::vector<std::string>{"orders/0/", "orders/1/"}));
  EXPECT_TRUE(parts->objects.empty());
}

TEST_P(ListTest, PrefixNeedNotEndAtASlash) {
  ListOptions o;
  o.prefix = "orders/0/seg_";
  auto page = store_->list(o);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "orders/0/seg_00000000000000000000.bin");
  EXPECT_EQ(page->objects[1].key, "orders/0/seg_00000000000000000100.bin");

  o.prefix = "or";
  o.delimiter = "/";
  auto tops = store_->list(o);
  ASSERT_TRUE(tops.ok());
  EXPECT_EQ(tops->common_prefixes, (std::vector<std::string>{"orders-x/", "orders/"}));

  o.prefix = "nothing/here/";
  auto none = store_->list(o);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->objects.empty() && none->common_prefixes.empty());
  o.prefix = "../";
  auto escape = store_->list(o);
  ASSERT_TRUE(escape.ok());
  EXPECT_TRUE(escape->objects.empty() && escape->common_prefixes.empty());
}

TEST_P(ListTest, StartAfterSkipsKeysUpToAndIncludingIt) {
  ListOptions o;
  o.prefix = "orders/0/";
  o.start_after = "orders/0/seg_00000000000000000000.bin";
  auto page = store_->list(o);
  ASSERT_TRUE(page.ok());
  std::vector<std::string> got;
  for (const auto& x : page->objects) got.push_back(x.key);
  EXPECT_EQ(got, (std::vector<std::string>{"orders/0/seg_00000000000000000100.bin",
                                           "orders/0/zz"}));
}

TEST_P(ListTest, MatchesTheS3ModelForEveryPageSize) {
  const std::vector<std::string> prefixes = {"", "a", "a/", "a/c", "b/", "b/x", "orders/",
                                             "orders/0/seg_", "o", "zz", "emptydir/"};
  const std::vector<std::string> delimiters = {"", "/", "-", "/x", "c/"};
  const std::vector<std::string> starts = {"", "a", "a-b", "a/", "a/b", "a/c/d", "ab",
                                           "b/x/y", "orders/0/", "orders/0/seg_00000000000000000000.bin",
                                           "orders/1/", "y"};
  int combos = 0;
  for (const auto& prefix : prefixes) {
    for (const auto& delim : delimiters) {
      for (const auto& start : starts) {
        std::vector<Item> want = model_list(keys_, prefix, delim, start);
        for (uint32_t max_keys : {1u, 2u, 3u, 1000u}) {
          SCOPED_TRACE("prefix='" + prefix + "' delimiter='" + delim + "' start_after='" + start +
                       fmt::format("' max_keys={}", max_keys));
          ListOptions o;
          o.prefix = prefix;
          o.delimiter = delim;
          o.start_after = start;
          o.max_keys = max_keys;
          ASSERT_EQ(list_paged(o), want);
          ++combos;
        }
      }
    }
  }
  EXPECT_EQ(combos, 11 * 5 * 12 * 4);
}

TEST_P(ListTest, PagingWithMaxKeysOneWalksEveryObject) {
  ListOptions o;
  o.max_keys = 1;
  std::vector<std::string> got;
  int pages = 0;
  for (;;) {
    auto page = store_->list(o);
    ASSERT_TRUE(page.ok());
    ++pages;
    ASSERT_EQ(page->objects.size(), 1u) << "page " << pages;
    got.push_back(page->objects[0].key);
    if (page->next_continuation_token.empty()) break;
    o.continuation_token = page->next_continuation_token;
  }
  EXPECT_EQ(got, std::vector<std::string>(keys_.begin(), keys_.end()));
  EXPECT_EQ(pages, static_cast<int>(keys_.size()));
}

TEST_P(ListTest, NewObjectAfterTokenShowsUpOnNextPage) {
  ListOptions o;
  o.prefix = "orders/0/";
  o.max_keys = 1;
  auto first = store_->list(o);
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->next_continuation_token.empty());
  put_ok("orders/0/seg_00000000000000000200.bin", "new");
  o.continuation_token = first->next_continuation_token;
  o.max_keys = 1000;
  auto rest = store_->list(o);
  ASSERT_TRUE(rest.ok());
  std::vector<std::string> got;
  for (const auto& x : rest->objects) got.push_back(x.key);
  EXPECT_EQ(got, (std::vector<std::string>{"orders/0/seg_00000000000000000100.bin",
                                           "orders/0/seg_00000000000000000200.bin",
                                           "orders/0/zz"}));
}

// ---------------------------------------------------------------- open

TEST(LocalObjectStoreOpenTest, MissingRootAndFileRoot) {
  TempDir tmp;
  auto missing = LocalObjectStore::open((tmp.path() / "nope").string(), false);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), Errc::kNotFound);
  write_file(tmp.path() / "file", "x");
  auto file = LocalObjectStore::open((tmp.path() / "file").string(), false);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().code(), Errc::kInvalidArgument);
  auto created = LocalObjectStore::open((tmp.path() / "new" / "deep").string(), true);
  ASSERT_TRUE(created.ok()) << created.error().to_string();
  EXPECT_TRUE(fs::is_directory(tmp.path() / "new" / "deep"));
  EXPECT_EQ((*created)->describe(),
            "file://" + fs::canonical(tmp.path() / "new" / "deep").string());
}

TEST(LocalObjectStoreOpenTest, RelativeRootIsMadeAbsolute) {
  TempDir tmp;
  const fs::path cwd = fs::current_path();
  fs::current_path(tmp.path());
  auto s = LocalObjectStore::open("rel/data", true);
  fs::current_path(cwd);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ((*s)->describe(), "file://" + fs::canonical(tmp.path() / "rel/data").string());
  ASSERT_TRUE((*s)->put("k", "v").ok());
  EXPECT_EQ(read_file(tmp.path() / "rel/data/k"), "v");
}

}  // namespace
}  // namespace sh
