// Trusted reverse proxies (ServerOptions::trusted_proxies) and the client address behind
// them. A connection from a trusted proxy is counted under the address the proxy put into
// X-Forwarded-For; any other connection under its own peer address, whatever it sends
// (docs/deployment.md, "Behind a reverse proxy").
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lobbykit::transport {

class ProxyList {
 public:
  // Entries are IPv4 or IPv6 addresses, each optionally with a prefix length ("10.0.0.0/8",
  // "fd00::/8", "127.0.0.1"). nullopt, with error set to a sentence, for a bad entry.
  static std::optional<ProxyList> parse(const std::vector<std::string>& entries,
                                        std::string& error);

  bool empty() const { return nets_.empty(); }
  // Whether the address (as the kernel reports a peer: "1.2.3.4", "::1",
  // "::ffff:1.2.3.4") is one of the trusted proxies.
  bool trusts(std::string_view address) const;

  // The client's address: `peer` itself unless it is a trusted proxy and x_forwarded_for
  // (the request's X-Forwarded-For value, or nullptr) names one. Then the rightmost entry
  // that is not a trusted proxy — each proxy appends the address it saw, so entries left of
  // the last untrusted one may be made up by the client — or the leftmost when every entry
  // is trusted. An entry that is not an address makes the whole header untrusted: `peer`.
  std::string client_address(std::string_view peer, const std::string* x_forwarded_for) const;

 private:
  struct Net {
    std::array<std::uint8_t, 16> bytes{};  // IPv4 as IPv4-mapped IPv6
    unsigned prefix = 128;
  };
  static std::optional<std::array<std::uint8_t, 16>> to_bytes(std::string_view address);
  bool contains(const std::array<std::uint8_t, 16>& a) const;

  std::vector<Net> nets_;
};

}  // namespace lobbykit::transport
