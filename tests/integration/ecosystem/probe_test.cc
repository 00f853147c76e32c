// service/probe: URL and status-line parsing (the live server is probed in
// ecosystem_e2e_test).
#include "service/probe.h"

#include <sstream>

#include <gtest/gtest.h>

namespace sh::service {
namespace {

TEST(ProbeUrl, AcceptsTheFormsAHealthCheckUses) {
  auto t = parse_probe_url("http://127.0.0.1:8080/healthz");
  ASSERT_TRUE(t.ok()) << t.error().message();
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 8080);
  EXPECT_EQ(t->path, "/healthz");

  t = parse_probe_url("localhost:9/readyz?verbose=1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "localhost");
  EXPECT_EQ(t->port, 9);
  EXPECT_EQ(t->path, "/readyz?verbose=1");

  t = parse_probe_url("http://[::1]:8080");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->port, 8080);
  EXPECT_EQ(t->path, "/");

  t = parse_probe_url("http://example.internal/healthz");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->port, 80) << "no port: HTTP's default";
}

TEST(ProbeUrl, RejectsWhatItCannotSendSafely) {
  for (const char* bad : {"https://127.0.0.1:8443/healthz", "ftp://h/x", "http://:8080/", "http://h:/x",
                          "http://h:0/x", "http://h:65536/x", "http://h:80a/x", "http://[::1/x",
                          "http://[::1]8080/x", "http://user@h:80/x", "http://h:80/a b",
                          "http://h:80/x\r\nX-Injected: 1", ""}) {
    auto t = parse_probe_url(bad);
    EXPECT_FALSE(t.ok()) << "accepted '" << bad << "'";
    if (!t.ok()) {
      EXPECT_EQ(t.error().code(), Errc::kInvalidArgument) << bad;
    }
  }
}

TEST(ProbeStatusLine, ReadsTheThreeDigitCode) {
  EXPECT_EQ(*parse_status_line("HTTP/1.1 200 OK\r\n"), 200);
  EXPECT_EQ(*parse_status_line("HTTP/1.0 503 Service Unavailable\r\nRetry-After: 1\r\n"), 503);
  EXPECT_EQ(*parse_status_line("HTTP/1.1 204\r\n"), 204);
  for (const char* bad : {"", "HTTP/1.1 20", "HTTP/2 200 OK\r\n", "HTTP/1.1 2x0 OK\r\n",
                          "HTTP/1.1 2000 OK\r\n", "SSH-2.0-OpenSSH_9\r\n", "HTTP/1.1 099 x\r\n"}) {
    EXPECT_FALSE(parse_status_line(bad).ok()) << "accepted '" << bad << "'";
  }
}

TEST(ProbeRun, UsageErrorsExitTwoAndSayWhy) {
  std::ostringstream out, err;
  ProbeOptions o;
  o.url = "https://127.0.0.1:1/healthz";
  EXPECT_EQ(run_probe(o, out, err), 2);
  EXPECT_NE(err.str().find("https is not supported"), std::string::npos) << err.str();
  EXPECT_EQ(out.str(), "");
}

}  // namespace
}  // namespace sh::service
