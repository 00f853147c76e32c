#include "service/s3_flags.h"

namespace sh {

void add_s3_flags(CLI::App* app, sh::s3::S3Options* opts) {
  const std::string group = "S3 object store";
  app->add_option("--s3-endpoint", opts->endpoint,
                  "S3 endpoint URL, e.g. http://127.0.0.1:9000 (default: AWS_ENDPOINT_URL_S3, "
                  "AWS_ENDPOINT_URL, else AWS for the region)")
      ->group(group);
  app->add_option("--s3-region", opts->region,
                  "S3 region (default: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1)")
      ->group(group);
  app->add_option_function<bool>(
         "--s3-path-style", [opts](const bool& v) { opts->path_style = v; },
         "Path-style addressing (true/false); default: automatic (path-style for IP or "
         "localhost endpoints)")
      ->expected(0, 1)
      ->default_str("true")  // value of a bare --s3-path-style
      ->option_text("BOOLEAN (default: automatic)")
      ->group(group);
  app->add_option("--s3-ca-file", opts->ca_file,
                  "Extra CA bundle (PEM) to trust for the S3 endpoint; TLS verification stays on")
      ->check(CLI::ExistingFile)
      ->group(group);
  app->add_option("--s3-connect-timeout-ms", opts->connect_timeout_ms,
                  "TCP/TLS connect timeout for S3 requests, ms")
      ->check(CLI::Range(int64_t{1}, int64_t{600000}))
      ->capture_default_str()
      ->group(group);
  app->add_option("--s3-max-attempts", opts->max_attempts,
                  "Attempts per S3 operation (first try included) under its deadline")
      ->check(CLI::Range(1, 100))
      ->capture_default_str()
      ->group(group);
}

}  // namespace sh
