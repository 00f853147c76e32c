// Files served as they are, compiled into the binary (api/CMakeLists.txt).
#pragma once

#include <string_view>

namespace sh::api {

// openapi/openapi.yaml, byte for byte.
std::string_view openapi_yaml();
// api/dashboard/index.html with style.css and app.js inlined (embed_asset.cmake, INLINE):
// one self-contained page, nothing fetched from elsewhere.
std::string_view dashboard_html();

}  // namespace sh::api
