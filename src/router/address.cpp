#include "router/address.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace lobbykit::router {

std::string address_key(std::string_view address) {
  if (address == kInProcessAddress) return {};
  if (address.empty()) return "unknown";
  char text[INET6_ADDRSTRLEN + 8] = {};
  if (address.size() >= sizeof text) return std::string(address);
  std::memcpy(text, address.data(), address.size());
  unsigned char v6[16];
  if (inet_pton(AF_INET6, text, v6) != 1) return std::string(address);
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  char out[INET6_ADDRSTRLEN];
  if (std::memcmp(v6, kMapped, sizeof kMapped) == 0) {
    inet_ntop(AF_INET, v6 + 12, out, sizeof out);
    return out;
  }
  std::memset(v6 + 8, 0, 8);
  inet_ntop(AF_INET6, v6, out, sizeof out);
  return std::string(out) + "/64";
}

}  // namespace lobbykit::router
