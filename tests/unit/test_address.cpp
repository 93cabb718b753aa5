// Tests for address_key (router/address.hpp): the key per-address limits count under.
#include "router/address.hpp"

#include <doctest/doctest.h>

#include <string>

namespace lobbykit::router {
namespace {

TEST_CASE("address_key: IPv4 as given, IPv6 by /64, in-process exempt") {
  CHECK(address_key("127.0.0.1") == "127.0.0.1");
  CHECK(address_key("203.0.113.7") == "203.0.113.7");
  CHECK(address_key("::ffff:203.0.113.7") == "203.0.113.7");  // IPv4 on a dual-stack socket
  CHECK(address_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd") == "2001:db8:1:2::/64");
  CHECK(address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9"));
  CHECK(address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1"));
  CHECK(address_key("::1") == "::/64");
  CHECK(address_key(kInProcessAddress) == "");
  CHECK(address_key("") == "unknown");
  CHECK(address_key("not an address") == "not an address");
  CHECK(address_key(std::string(200, '1')) == std::string(200, '1'));
}

}  // namespace
}  // namespace lobbykit::router
