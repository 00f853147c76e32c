// Compile-and-behaviour check of service/s3_flags.cc (the service links it
// itself). Exits non-zero with a message when a flag does not land in S3Options.
#include <cstdio>

#include "service/s3_flags.h"

namespace {

int failures = 0;
void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL: %s\n", what);
    ++failures;
  }
}

}  // namespace

int main() {
  {
    CLI::App app;
    sh::s3::S3Options o;
    sh::add_s3_flags(&app, &o);
    const char* argv[] = {"x", "--s3-endpoint", "http://127.0.0.1:18380", "--s3-region", "eu-west-3",
                          "--s3-path-style", "--s3-connect-timeout-ms", "750", "--s3-max-attempts", "3"};
    app.parse(static_cast<int>(std::size(argv)), argv);
    expect(o.endpoint == "http://127.0.0.1:18380", "--s3-endpoint");
    expect(o.region == "eu-west-3", "--s3-region");
    expect(o.path_style.has_value() && *o.path_style, "bare --s3-path-style means true");
    expect(o.connect_timeout_ms == 750, "--s3-connect-timeout-ms");
    expect(o.max_attempts == 3, "--s3-max-attempts");
  }
  {
    CLI::App app;
    sh::s3::S3Options o;
    sh::add_s3_flags(&app, &o);
    const char* argv[] = {"x", "--s3-path-style=false"};
    app.parse(2, argv);
    expect(o.path_style.has_value() && !*o.path_style, "--s3-path-style=false");
  }
  {
    CLI::App app;
    sh::s3::S3Options o;
    sh::add_s3_flags(&app, &o);
    const char* argv[] = {"x"};
    app.parse(1, argv);
    expect(!o.path_style.has_value(), "no flag leaves path style automatic");
    const char* bad[] = {"x", "--s3-max-attempts", "0"};
    CLI::App app2;
    sh::s3::S3Options o2;
    sh::add_s3_flags(&app2, &o2);
    bool rejected = false;
    try {
      app2.parse(3, bad);
    } catch (const CLI::ParseError&) {
      rejected = true;
    }
    expect(rejected, "--s3-max-attempts 0 is rejected");
    expect(app.help().find("secret") == std::string::npos, "no secret-looking option in help");
    expect(app.help().find("(default: automatic)") != std::string::npos,
           "help must not claim path-style defaults to true");
  }
  if (failures == 0) std::puts("s3 flags OK");
  return failures == 0 ? 0 : 1;
}
