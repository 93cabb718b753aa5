// WebSocket URLs (ws://host[:port][/path], wss://...) taken apart for a connect call.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lobbykit::client {

struct WsUrl {
  bool tls = false;         // wss
  std::string host;         // a name or an address; IPv6 without its brackets
  std::uint16_t port = 0;   // 80 / 443 when the URL has none
  std::string path = "/";   // with the query, if any
  std::string host_header;  // host[:port] as the Host header wants it
};

// nullopt for anything else than a well-formed ws:// or wss:// URL (no user info).
std::optional<WsUrl> parse_ws_url(std::string_view url);

}  // namespace lobbykit::client
