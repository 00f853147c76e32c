// Captures everything spdlog's default logger writes while alive (every level the
// logger lets through), for tests that check what a component logs.
#pragma once

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

// Header-only spdlog in the test and the compiled library in the code under
// test are two default loggers in optimised builds: the capture would watch one
// while the code logs to the other (seen in the TSan build). Link the test with
// spdlog::spdlog, which defines this.
#if !defined(SPDLOG_COMPILED_LIB)
#error "a test using log_capture.h must link spdlog::spdlog (SPDLOG_COMPILED_LIB)"
#endif

#include <algorithm>
#include <memory>
#include <sstream>
#include <string>

namespace sh::testing {

class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::string text() {
    spdlog::default_logger()->flush();
    return out_.str();
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

}  // namespace sh::testing
