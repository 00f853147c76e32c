// Listen addresses: "host:port" parsing, the one host+port formatter, the
// numeric socket address and the bind probe.
#include "api/listen_address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace sh::api {
namespace {

HostPort must_parse(const std::string& text) {
  auto r = parse_host_port(text);
  EXPECT_TRUE(r.ok()) << "'" << text << "' rejected: " << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : HostPort{};
}

// The message of the rejection of `text`, or "" (and a failure) if it parsed.
std::string rejection(const std::string& text) {
  auto r = parse_host_port(text);
  EXPECT_FALSE(r.ok()) << "'" << text << "' was accepted as host '" << (r.ok() ? r->host : "") << "' port "
                       << (r.ok() ? r->port : 0);
  if (r.ok()) return "";
  EXPECT_EQ(r.error().code(), Errc::kInvalidArgument) << text;
  return r.error().message();
}

TEST(ListenAddress, ParsesIpv4HostAndPort) {
  HostPort hp = must_parse("127.0.0.1:8080");
  EXPECT_EQ(hp.host, "127.0.0.1");
  EXPECT_EQ(hp.port, 8080);
  hp = must_parse("0.0.0.0:65535");
  EXPECT_EQ(hp.host, "0.0.0.0");
  EXPECT_EQ(hp.port, 65535);
}

TEST(ListenAddress, ParsesBracketedIpv6AndDropsTheBrackets) {
  HostPort hp = must_parse("[::1]:9000");
  EXPECT_EQ(hp.host, "::1");
  EXPECT_EQ(hp.port, 9000);
  hp = must_parse("[::]:80");
  EXPECT_EQ(hp.host, "::");
  EXPECT_EQ(hp.port, 80);
  hp = must_parse("[fe80::1%eth0]:443");
  EXPECT_EQ(hp.host, "fe80::1%eth0");
}

TEST(ListenAddress, PortZeroMeansPickAFreePort) {
  HostPort hp = must_parse("127.0.0.1:0");
  EXPECT_EQ(hp.host, "127.0.0.1");
  EXPECT_EQ(hp.port, 0);
  EXPECT_EQ(must_parse("[::1]:0").port, 0);
  EXPECT_EQ(must_parse("127.0.0.1:00080").port, 80) << "leading zeros are still decimal";
}

TEST(ListenAddress, MissingPortIsRejectedWithTheInput) {
  std::string m = rejection("127.0.0.1");
  EXPECT_NE(m.find("'127.0.0.1'"), std::string::npos) << m;
  EXPECT_NE(m.find("host:port"), std::string::npos) << m;
  rejection("127.0.0.1:");
  rejection("");
  m = rejection("[::1]");
  EXPECT_NE(m.find("[ipv6]:port"), std::string::npos) << m;
  rejection("[::1]:");
  rejection("[::1]8080");
  rejection("[::1");
}

TEST(ListenAddress, BadPortIsRejected) {
  for (const char* text : {"127.0.0.1:65536", "127.0.0.1:99999", "127.0.0.1:123456", "127.0.0.1:80x",
                           "127.0.0.1:-1", "127.0.0.1:+80", "127.0.0.1: 80", "127.0.0.1:0x50", "[::1]:70000"}) {
    std::string m = rejection(text);
    EXPECT_NE(m.find("port 0-65535"), std::string::npos) << text << ": " << m;
  }
}

TEST(ListenAddress, EmptyHostIsRejected) {
  rejection(":8080");
  rejection("[]:8080");
}

TEST(ListenAddress, UnbracketedIpv6IsRejectedAsAmbiguous) {
  std::string m = rejection("::1:8080");
  EXPECT_NE(m.find("brackets"), std::string::npos) << m;
}

TEST(ListenAddress, FormatsIpv4PlainAndIpv6InBrackets) {
  EXPECT_EQ(format_host_port("127.0.0.1", 8080), "127.0.0.1:8080");
  EXPECT_EQ(format_host_port("0.0.0.0", 0), "0.0.0.0:0");
  EXPECT_EQ(format_host_port("::1", 9000), "[::1]:9000");
  EXPECT_EQ(format_host_port("::", 80), "[::]:80");
  EXPECT_EQ(format_host_port("[::1]", 9000), "[::1]:9000") << "already bracketed: not bracketed twice";
  EXPECT_EQ(format_host_port("", 80), ":80");
}

TEST(ListenAddress, FormatIsTheInverseOfParse) {
  for (const char* text : {"127.0.0.1:8080", "[::1]:9000", "[::]:0", "0.0.0.0:65535"}) {
    HostPort hp = must_parse(text);
    EXPECT_EQ(format_host_port(hp.host, hp.port), text);
  }
}

TEST(ListenAddress, MakesIpv4AndIpv6SocketAddresses) {
  auto v4 = make_listen_address("127.0.0.1", 8080);
  ASSERT_TRUE(v4.ok()) << v4.error().message();
  EXPECT_FALSE(v4->v6);
  EXPECT_EQ(v4->len, sizeof(sockaddr_in));
  const auto* in4 = reinterpret_cast<const sockaddr_in*>(v4->addr());
  EXPECT_EQ(in4->sin_family, AF_INET);
  EXPECT_EQ(ntohs(in4->sin_port), 8080);
  EXPECT_EQ(ntohl(in4->sin_addr.s_addr), INADDR_LOOPBACK);

  for (const char* host : {"::1", "[::1]"}) {
    auto v6 = make_listen_address(host, 9000);
    ASSERT_TRUE(v6.ok()) << host << ": " << v6.error().message();
    EXPECT_TRUE(v6->v6) << host;
    EXPECT_FALSE(v6->any6) << host << ": only '::' is dual stack";
    EXPECT_EQ(v6->len, sizeof(sockaddr_in6));
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(v6->addr());
    EXPECT_EQ(in6->sin6_family, AF_INET6);
    EXPECT_EQ(ntohs(in6->sin6_port), 9000);
    EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)) << host;
  }

  auto any = make_listen_address("::", 0);
  ASSERT_TRUE(any.ok());
  EXPECT_TRUE(any->v6);
  EXPECT_TRUE(any->any6);
}

TEST(ListenAddress, NamesAreNotLiterals) {
  for (const char* host : {"localhost", "", "example.com", "127.0.0.1:80", "[::1", "256.0.0.1"}) {
    auto r = make_listen_address(host, 80);
    ASSERT_FALSE(r.ok()) << "'" << host << "' was taken for a literal";
    EXPECT_EQ(r.error().code(), Errc::kInvalidArgument);
    EXPECT_EQ(r.error().message(), "listen address '" + std::string(host) + "' is not an IPv4 or IPv6 literal");
  }
}

TEST(ListenAddress, ProbeBindSaysWhyAPortCannotBeBound) {
  auto free_port = make_listen_address("127.0.0.1", 0);
  ASSERT_TRUE(free_port.ok());
  EXPECT_EQ(probe_bind(*free_port), 0) << "port 0 always binds";

  // Hold a listening socket and probe its port.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  auto taken = make_listen_address("127.0.0.1", ntohs(a.sin_port));
  ASSERT_TRUE(taken.ok());
  int err = probe_bind(*taken);
  ::close(fd);
  EXPECT_EQ(err, EADDRINUSE);
  EXPECT_EQ(describe_bind_errno(err), "address in use");
}

TEST(ListenAddress, DescribesCommonBindErrors) {
  EXPECT_EQ(describe_bind_errno(EACCES), "permission denied (ports below 1024 need privileges)");
  EXPECT_EQ(describe_bind_errno(EADDRNOTAVAIL), "address not available on this host");
  EXPECT_FALSE(describe_bind_errno(ENOMEM).empty());
}

}  // namespace
}  // namespace sh::api
