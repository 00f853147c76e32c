// Where the checkout and the build tree are, for tests that read files of the
// repository (docs, OpenAPI, golden files) or run the built binary. Defined in
// a file CMake generates (tests/support/test_paths.cc.in).
#pragma once

#include <string>

namespace sh::testing {

// The checkout's root (PROJECT_SOURCE_DIR).
const std::string& source_dir();
// The build tree's root (PROJECT_BINARY_DIR).
const std::string& binary_dir();

}  // namespace sh::testing
