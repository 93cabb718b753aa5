// Trusted reverse proxies and X-Forwarded-For (transport/forwarded.hpp).
#include "transport/forwarded.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

namespace lobbykit::transport {
namespace {

ProxyList parse_ok(const std::vector<std::string>& entries) {
  std::string error;
  std::optional<ProxyList> list = ProxyList::parse(entries, error);
  INFO(error);
  REQUIRE(list.has_value());
  return *list;
}

std::string parse_error(const std::vector<std::string>& entries) {
  std::string error;
  CHECK_FALSE(ProxyList::parse(entries, error).has_value());
  return error;
}

TEST_CASE("trusted proxies: addresses and networks, IPv4 also as IPv4-mapped IPv6") {
  ProxyList p = parse_ok({"127.0.0.1", "10.0.0.0/8", "192.168.1.128/25", "fd00::/8", "::1"});
  CHECK(p.trusts("127.0.0.1"));
  CHECK(p.trusts("::ffff:127.0.0.1"));
  CHECK_FALSE(p.trusts("127.0.0.2"));
  CHECK(p.trusts("10.255.1.2"));
  CHECK_FALSE(p.trusts("11.0.0.1"));
  CHECK(p.trusts("192.168.1.200"));
  CHECK_FALSE(p.trusts("192.168.1.127"));
  CHECK(p.trusts("fd12:3456::1"));
  CHECK_FALSE(p.trusts("fe80::1"));
  CHECK(p.trusts("::1"));
  CHECK_FALSE(p.trusts("not an address"));
  CHECK_FALSE(p.trusts(""));
  CHECK(parse_ok({"0.0.0.0/0"}).trusts("203.0.113.9"));
  CHECK_FALSE(parse_ok({"0.0.0.0/0"}).trusts("2001:db8::1"));  // an IPv4 network
  CHECK_FALSE(parse_ok({}).trusts("127.0.0.1"));
}

TEST_CASE("trusted proxies: a bad entry is refused with a sentence") {
  CHECK(parse_error({"localhost"}).find("is not an IPv4 or IPv6 address") != std::string::npos);
  CHECK(parse_error({"10.0.0.0/33"}).find("longer than 32 bits") != std::string::npos);
  CHECK(parse_error({"fd00::/129"}).find("longer than 128 bits") != std::string::npos);
  CHECK(parse_error({"10.0.0.0/"}).find("bad prefix length") != std::string::npos);
  CHECK(parse_error({"10.0.0.0/x"}).find("bad prefix length") != std::string::npos);
  CHECK(parse_error({"10.0.0.0/8/8"}).find("bad prefix length") != std::string::npos);
}

TEST_CASE("X-Forwarded-For: believed only from a trusted proxy, rightmost untrusted entry") {
  ProxyList p = parse_ok({"127.0.0.1", "10.0.0.0/8"});
  const std::string one = "203.0.113.7";
  const std::string chain = "198.51.100.1, 203.0.113.7, 10.1.2.3";  // client, spoof?, proxy
  const std::string spoofed = "1.2.3.4, 203.0.113.7";
  const std::string garbage = "203.0.113.7, <script>";
  const std::string all_proxies = "10.0.0.5, 10.0.0.6";
  CHECK(p.client_address("127.0.0.1", &one) == "203.0.113.7");
  CHECK(p.client_address("::ffff:127.0.0.1", &one) == "203.0.113.7");
  CHECK(p.client_address("127.0.0.1", nullptr) == "127.0.0.1");
  // The proxy appended what it saw: the rightmost entry that is not a proxy.
  CHECK(p.client_address("127.0.0.1", &chain) == "203.0.113.7");
  CHECK(p.client_address("127.0.0.1", &spoofed) == "203.0.113.7");
  CHECK(p.client_address("127.0.0.1", &all_proxies) == "10.0.0.5");
  CHECK(p.client_address("127.0.0.1", &garbage) == "127.0.0.1");
  // Not from a proxy: the header is the client's own claim, ignored.
  CHECK(p.client_address("198.51.100.20", &one) == "198.51.100.20");
  CHECK(parse_ok({}).client_address("127.0.0.1", &one) == "127.0.0.1");
  const std::string empty;
  CHECK(p.client_address("127.0.0.1", &empty) == "127.0.0.1");
  const std::string v6 = "2001:db8::5";
  CHECK(p.client_address("127.0.0.1", &v6) == "2001:db8::5");
}

}  // namespace
}  // namespace lobbykit::transport
