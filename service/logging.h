// Process-wide logging on spdlog: human-readable text, or one JSON object per
// line (--log-format json) for log collectors.
#pragma once

#include <string>

#include "core/result.h"

namespace sh::service {

// format: "text" | "json"; level: trace|debug|info|warn|error|off. Logs go to stderr.
Status setup_logging(const std::string& format, const std::string& level);

}  // namespace sh::service
