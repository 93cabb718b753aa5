#include "transport/forwarded.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace lobbykit::transport {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<std::array<std::uint8_t, 16>> ProxyList::to_bytes(std::string_view address) {
  if (address.empty() || address.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char text[INET6_ADDRSTRLEN];
  std::memcpy(text, address.data(), address.size());
  text[address.size()] = '\0';
  std::array<std::uint8_t, 16> out{};
  in_addr v4;
  if (inet_pton(AF_INET, text, &v4) == 1) {
    out[10] = out[11] = 0xff;  // ::ffff:a.b.c.d
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, text, &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

std::optional<ProxyList> ProxyList::parse(const std::vector<std::string>& entries,
                                          std::string& error) {
  ProxyList list;
  for (const std::string& entry : entries) {
    std::string_view e = trim(entry);
    std::string_view address = e;
    std::optional<unsigned> bits;
    if (auto slash = e.find('/'); slash != std::string_view::npos) {
      address = e.substr(0, slash);
      std::string_view digits = e.substr(slash + 1);
      unsigned n = 0;
      bool ok = !digits.empty() && digits.size() <= 3;
      for (char c : digits) {
        if (c < '0' || c > '9') ok = false;
        n = n * 10 + static_cast<unsigned>(c - '0');
      }
      if (!ok) {
        error = "the trusted proxy \"" + entry + "\" has a bad prefix length";
        return std::nullopt;
      }
      bits = n;
    }
    auto bytes = to_bytes(address);
    if (!bytes) {
      error = "the trusted proxy \"" + entry + "\" is not an IPv4 or IPv6 address";
      return std::nullopt;
    }
    const bool v4 = address.find(':') == std::string_view::npos;
    const unsigned max_bits = v4 ? 32 : 128;
    if (bits && *bits > max_bits) {
      error = "the trusted proxy \"" + entry + "\" has a prefix longer than " +
              std::to_string(max_bits) + " bits";
      return std::nullopt;
    }
    Net net;
    net.bytes = *bytes;
    net.prefix = (v4 ? 96 : 0) + bits.value_or(max_bits);
    list.nets_.push_back(net);
  }
  return list;
}

bool ProxyList::contains(const std::array<std::uint8_t, 16>& a) const {
  for (const Net& n : nets_) {
    unsigned bits = n.prefix;
    std::size_t i = 0;
    for (; bits >= 8; bits -= 8, ++i)
      if (a[i] != n.bytes[i]) break;
    if (bits >= 8) continue;  // a whole byte differed
    const auto mask = static_cast<std::uint8_t>(0xff00u >> bits);
    if (bits == 0 || (a[i] & mask) == (n.bytes[i] & mask)) return true;
  }
  return false;
}

bool ProxyList::trusts(std::string_view address) const {
  if (nets_.empty()) return false;
  auto bytes = to_bytes(address);
  return bytes && contains(*bytes);
}

std::string ProxyList::client_address(std::string_view peer,
                                      const std::string* x_forwarded_for) const {
  if (!x_forwarded_for || !trusts(peer)) return std::string(peer);
  std::string_view rest = *x_forwarded_for;
  std::string_view leftmost;
  while (!rest.empty()) {
    const std::size_t comma = rest.rfind(',');
    const std::string_view entry =
        trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    auto bytes = to_bytes(entry);
    if (!bytes) return std::string(peer);
    if (!contains(*bytes)) return std::string(entry);
    leftmost = entry;
  }
  return leftmost.empty() ? std::string(peer) : std::string(leftmost);
}

}  // namespace lobbykit::transport
