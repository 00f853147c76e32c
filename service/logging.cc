#include "service/logging.h"

#include <chrono>
#include <cstdio>
#include <mutex>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace sh::service {
namespace {

// One JSON object per line: {"ts","level","logger","msg"}; the message is escaped properly.
class JsonLinesSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        msg.time.time_since_epoch())
                        .count();
    nlohmann::json line{
        {"ts_ms", ms},
        {"level", spdlog::level::to_string_view(msg.level).data()},
        {"msg", std::string(msg.payload.data(), msg.payload.size())},
    };
    if (msg.logger_name.size() > 0) {
      line["logger"] = std::string(msg.logger_name.data(), msg.logger_name.size());
    }
    std::string out = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    out.push_back('\n');
    std::fwrite(out.data(), 1, out.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

}  // namespace

Status setup_logging(const std::string& format, const std::string& level) {
  spdlog::sink_ptr sink;
  if (format == "json") {
    sink = std::make_shared<JsonLinesSink>();
  } else if (format == "text") {
    sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  } else {
    return invalid_argument("--log-format must be text or json, got '" + format + "'");
  }
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    return invalid_argument("--log-level must be trace, debug, info, warn, error or off");
  }
  auto logger = std::make_shared<spdlog::logger>("streamhouse", sink);
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return {};
}

}  // namespace sh::service
