// Test support (header-only, for tests that link nlohmann_json): checks of
// the JSON error bodies and error lines the server sends.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/e2e/support/process.h"
#include "tests/e2e/support/stream_client.h"

namespace sh::testing {

// GET `path` answers status error_code/100 with a JSON object whose
// "error_code" is `error_code`.
inline void expect_get_error(const ServerProcess& server, const std::string& path, int error_code) {
  auto r = http_get(server.url(path));
  EXPECT_EQ(r.status, error_code / 100) << path << " → " << r.body;
  nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(j.is_object()) << path << ": " << r.body;
  EXPECT_EQ(j["error_code"], error_code) << path << ": " << r.body;
}

// GET `path` answers 200 with an NDJSON stream whose last line is
// {"error":{"error_code": <error_code>, ...}}; its lines into *lines and that
// last one parsed into *last. Call it under ASSERT_NO_FATAL_FAILURE.
inline void get_stream_ended_by_error(const ServerProcess& server, const std::string& path, int error_code,
                                      std::vector<std::string>* lines, nlohmann::json* last) {
  auto r = http_get(server.url(path));
  ASSERT_EQ(r.status, 200) << r.body;
  *lines = split_lines(r.body);
  ASSERT_FALSE(lines->empty());
  *last = nlohmann::json::parse(lines->back(), nullptr, false);
  ASSERT_TRUE(last->is_object() && last->contains("error")) << lines->back();
  EXPECT_EQ((*last)["error"]["error_code"], error_code) << lines->back();
}

}  // namespace sh::testing
