// Command-line flags of the S3 object store. The service maps every flag
// --foo-bar to the environment variable STREAMHOUSE_FOO_BAR generically; the
// standard AWS_* variables are read by sh::s3::apply_aws_environment.
#pragma once

#include <CLI/CLI.hpp>

#include "core/storage/s3/s3_object_store.h"

namespace sh {

// Adds --s3-endpoint, --s3-region, --s3-path-style, --s3-ca-file,
// --s3-connect-timeout-ms and --s3-max-attempts, writing into *opts.
// REQUIRES: opts outlives app's parsing.
void add_s3_flags(CLI::App* app, sh::s3::S3Options* opts);

}  // namespace sh
