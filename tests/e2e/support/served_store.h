// Test support: a test suite's store directory, segments written into it with
// `streamhouse segment write`, and one `streamhouse serve` child over it.
#pragma once

#include <ios>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "tests/e2e/support/process.h"

namespace sh::testing {

// `streamhouse segment write --store <store> --topic <topic> --partition <partition> <extra>`
// with `input` (JSON lines) on stdin.
CommandResult segment_write(const std::string& store, const std::string& topic, int partition,
                            const std::string& input, const std::vector<std::string>& extra = {});

// XORs the byte at `pos` of `file` with `mask` in place; false if the file
// could not be opened, read or written.
bool flip_byte(const std::string& file, std::streamoff pos, char mask = 0x5a);

// Static state of a suite whose tests share one served store (CRTP: each suite
// its own). SetUpTestSuite calls open_store(), writes with write(), then
// serve(); the inherited TearDownTestSuite stops the server and removes the
// directory.
template <typename Suite>
class ServedStoreSuite : public ::testing::Test {
 protected:
  static void open_store() {
    dir_ = new TempDir();
    store_ = "file://" + dir_->path();
  }
  // Starts `streamhouse serve --store <store> <args>`; fails if it did not come up.
  static void serve(std::vector<std::string> args) {
    args.insert(args.begin(), {"--store", store_});
    server_ = new ServerProcess(std::move(args));
    ASSERT_GT(server_->port(), 0);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }
  static CommandResult write(const std::string& topic, int partition, const std::string& input,
                             const std::vector<std::string>& extra) {
    return segment_write(store_, topic, partition, input, extra);
  }

  static inline TempDir* dir_ = nullptr;
  static inline std::string store_;
  static inline ServerProcess* server_ = nullptr;
};

}  // namespace sh::testing
