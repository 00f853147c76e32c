// Files served as they are, compiled into the binary (api/CMakeLists.txt).
#pragma once

#include <string_view>

namespace sh::api {

// openapi/openapi.yaml, byte for byte.
std::string_view openapi_yaml();
// api/dashboard/index.html.
std::string_view dashboard_html();

}  // namespace sh::api
