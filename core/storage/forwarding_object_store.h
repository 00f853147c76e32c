// ForwardingObjectStore: passes every call to an inner store. Decorators
// (metering, fault injection, test probes) derive from it and override only
// what they change.
#pragma once

#include <memory>
#include <utility>

#include "core/storage/object_store.h"

namespace sh {

class ForwardingObjectStore : public ObjectStore {
 public:
  // REQUIRES: inner != nullptr.
  explicit ForwardingObjectStore(std::shared_ptr<ObjectStore> inner) : inner_(std::move(inner)) {}

  Result<RangeRead> get_range(std::string_view key, uint64_t offset, uint64_t length,
                              const ReadOptions& opts) override {
    return inner_->get_range(key, offset, length, opts);
  }
  Result<RangeRead> get_suffix(std::string_view key, uint64_t length,
                               const ReadOptions& opts) override {
    return inner_->get_suffix(key, length, opts);
  }
  Result<RangeRead> get(std::string_view key, const ReadOptions& opts) override {
    return inner_->get(key, opts);
  }
  Result<ObjectInfo> head(std::string_view key, const ReadOptions& opts) override {
    return inner_->head(key, opts);
  }
  Result<ListPage> list(const ListOptions& opts) override { return inner_->list(opts); }
  Status put(std::string_view key, std::string_view data, Deadline deadline) override {
    return inner_->put(key, data, deadline);
  }
  Status put_if_absent(std::string_view key, std::string_view data, Deadline deadline) override {
    return inner_->put_if_absent(key, data, deadline);
  }
  std::string describe() const override { return inner_->describe(); }

 protected:
  ObjectStore& inner() { return *inner_; }

 private:
  std::shared_ptr<ObjectStore> inner_;
};

}  // namespace sh
