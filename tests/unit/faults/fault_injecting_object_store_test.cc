// The fault-injecting decorator itself: which calls a rule sees, when it fires,
// what each kind does to the answer, deadlines, and concurrent use.
#include "tests/support/fault_injecting_object_store.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/storage/local_object_store.h"
#include "tests/support/temp_dir.h"

namespace sh {
namespace {

using testing::FaultInjectingObjectStore;
using testing::FaultRule;

class FaultStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto local = LocalObjectStore::open(scratch_.path().string(), true);
    ASSERT_TRUE(local.ok()) << local.error().to_string();
    faults_ = std::make_shared<FaultInjectingObjectStore>(*local);
    ASSERT_TRUE(faults_->put("a/obj", kData, {}).ok());
    ASSERT_TRUE(faults_->put("b/obj", kData, {}).ok());
  }

  static constexpr std::string_view kData = "0123456789abcdef";
  testing::ScratchDir scratch_{"sh-fault-store-test"};
  std::shared_ptr<FaultInjectingObjectStore> faults_;
};

TEST_F(FaultStoreTest, RuleFiresOnTheCallsAfterSkipForTimesThenGoesQuiet) {
  faults_->add(FaultRule::error("get", Errc::kUnavailable, "store down").after(1).only(2));
  std::vector<bool> ok;
  for (int i = 0; i < 5; ++i) ok.push_back(faults_->get("a/obj", {}).ok());
  EXPECT_EQ(ok, (std::vector<bool>{true, false, false, true, true}))
      << "skip 1, fire on the next 2, then let everything through";
  EXPECT_EQ(faults_->injected(), 2u);
  EXPECT_EQ(faults_->calls("get"), 5u);

  faults_->add(FaultRule::error("get", Errc::kPermissionDenied, "denied"));
  auto r = faults_->get("a/obj", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kPermissionDenied);
  EXPECT_NE(r.error().message().find("denied"), std::string::npos) << r.error().message();
  EXPECT_NE(r.error().message().find("a/obj"), std::string::npos) << r.error().message();
  faults_->clear();
  EXPECT_TRUE(faults_->get("a/obj", {}).ok()) << "clear() removes every rule";
}

TEST_F(FaultStoreTest, PutIfAbsentIsForwardedAndCanBeFaulted) {
  ASSERT_TRUE(faults_->put_if_absent("c/obj", "new", {}).ok());
  auto exists = faults_->put_if_absent("c/obj", "other", {});
  ASSERT_FALSE(exists.ok());
  EXPECT_EQ(exists.error().code(), Errc::kAlreadyExists) << "the inner store's answer passes through";
  EXPECT_EQ(faults_->calls("put_if_absent"), 2u);
  EXPECT_EQ(faults_->calls("put"), 2u) << "put_if_absent is its own operation";

  faults_->add(FaultRule::error("put_if_absent", Errc::kUnavailable).once());
  auto faulted = faults_->put_if_absent("d/obj", "x", {});
  ASSERT_FALSE(faulted.ok());
  EXPECT_EQ(faulted.error().code(), Errc::kUnavailable);
  EXPECT_FALSE(faults_->get("d/obj", {}).ok()) << "an injected error must not reach the inner store";
  EXPECT_TRUE(faults_->put_if_absent("d/obj", "x", {}).ok());
}

TEST_F(FaultStoreTest, RangePastTheEndIsOutOfRange) {
  auto r = faults_->get_range("a/obj", 10, 100, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kOutOfRange) << r.error().to_string();
  EXPECT_NE(r.error().message().find("a/obj"), std::string::npos) << r.error().message();
}

TEST_F(FaultStoreTest, RuleSeesOnlyItsOperationAndKeys) {
  faults_->add(FaultRule::error("get_range", Errc::kUnavailable).on_key("b/"));
  EXPECT_TRUE(faults_->get_range("a/obj", 0, 4, {}).ok()) << "other key";
  EXPECT_TRUE(faults_->get("b/obj", {}).ok()) << "other operation";
  EXPECT_TRUE(faults_->get_suffix("b/obj", 4, {}).ok()) << "other operation";
  auto r = faults_->get_range("b/obj", 0, 4, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kUnavailable);
  EXPECT_TRUE(r.error().retryable());

  faults_->clear();
  faults_->add(FaultRule::error("", Errc::kTimeout));  // every operation
  EXPECT_FALSE(faults_->head("a/obj", {}).ok());
  ListOptions lo;
  EXPECT_FALSE(faults_->list(lo).ok());
  EXPECT_FALSE(faults_->put("c/obj", "x", {}).ok());
  faults_->clear();
  EXPECT_EQ(faults_->get("c/obj", {}).error().code(), Errc::kNotFound)
      << "a failed put must not reach the inner store";
}

TEST_F(FaultStoreTest, FlipTruncateAndWrongLengthRewriteSuccessfulAnswers) {
  faults_->add(FaultRule::flip("get_range", 2).once());
  auto r = faults_->get_range("a/obj", 4, 8, {});
  ASSERT_TRUE(r.ok());
  std::string want(kData.substr(4, 8));
  want[2] = static_cast<char>(want[2] ^ 0xFF);
  EXPECT_EQ(r->data, want);

  faults_->add(FaultRule::flip("get_suffix", 0, /*from_end=*/true).once());
  r = faults_->get_suffix("a/obj", 4, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data, std::string("cde") + static_cast<char>('f' ^ 0xFF)) << "from_end 0 = last byte";

  // A flip beyond the answer does not fire and stays armed.
  faults_->add(FaultRule::flip("get", 100).once());
  r = faults_->get("a/obj", {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data, kData);
  const uint64_t before = faults_->injected();

  faults_->clear();
  faults_->add(FaultRule::truncate("get", 5).once());
  r = faults_->get("a/obj", {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data, kData.substr(0, 5));
  faults_->add(FaultRule::truncate("get_range", 1000).once());
  r = faults_->get_range("a/obj", 0, 4, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data, kData.substr(0, 3)) << "a truncation always returns fewer bytes than asked";

  faults_->add(FaultRule::wrong_length("", 7).only(2));
  r = faults_->get_suffix("a/obj", 4, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->object_size, 7u);
  EXPECT_EQ(r->data, kData.substr(12)) << "wrong length leaves the bytes alone";
  auto info = faults_->head("a/obj", {});
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, 7u);
  EXPECT_EQ(faults_->injected(), before + 4);

  // A failed inner read is passed on untouched and does not consume the rule.
  faults_->add(FaultRule::flip("get", 0).once());
  EXPECT_EQ(faults_->get("missing", {}).error().code(), Errc::kNotFound);
  r = faults_->get("a/obj", {});
  ASSERT_TRUE(r.ok());
  EXPECT_NE(r->data, kData) << "the flip waited for a successful read";
}

TEST_F(FaultStoreTest, DelayEndsAtTheDeadlineWithTimeout) {
  faults_->add(FaultRule::delay("get_range", 5000));
  ReadOptions ro;
  ro.deadline = Deadline::after(Millis(80));
  const auto start = std::chrono::steady_clock::now();
  auto r = faults_->get_range("a/obj", 0, 4, ro);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), Errc::kTimeout);
  EXPECT_GE(took, Millis(75));
  EXPECT_LT(took, Millis(1000)) << "the delay must end at the deadline, not after 5 s";

  faults_->clear();
  faults_->add(FaultRule::delay("get_range", 30).once());
  ro.deadline = Deadline::after(Millis(2000));
  const auto start2 = std::chrono::steady_clock::now();
  r = faults_->get_range("a/obj", 0, 4, ro);
  EXPECT_TRUE(r.ok()) << "a delay shorter than the deadline only slows the call";
  EXPECT_GE(std::chrono::steady_clock::now() - start2, Millis(30));
}

TEST_F(FaultStoreTest, ConcurrentCallersShareALimitedRuleExactly) {
  faults_->add(FaultRule::error("get_range", Errc::kUnavailable).only(37));
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (!faults_->get_range("a/obj", 0, 4, {}).ok()) ++failed;
      }
    });
  }
  // Rules may change while calls run.
  for (int i = 0; i < 20; ++i) faults_->add(FaultRule::flip("get", 0).once());
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 37);
  EXPECT_EQ(faults_->calls("get_range"), 400u);
  EXPECT_EQ(faults_->injected(), 37u);
}

}  // namespace
}  // namespace sh
