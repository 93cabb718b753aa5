#include "client/ws_url.hpp"

#include <cctype>
#include <charconv>

namespace lobbykit::client {

namespace {

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

bool valid_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_';
}

}  // namespace

std::optional<WsUrl> parse_ws_url(std::string_view url) {
  WsUrl u;
  if (starts_with_nocase(url, "ws://")) {
    url.remove_prefix(5);
  } else if (starts_with_nocase(url, "wss://")) {
    u.tls = true;
    url.remove_prefix(6);
  } else {
    return std::nullopt;
  }
  std::size_t slash = url.find_first_of("/?#");
  std::string_view authority = url.substr(0, slash);
  std::string_view rest = slash == std::string_view::npos ? std::string_view() : url.substr(slash);
  if (std::size_t hash = rest.find('#'); hash != std::string_view::npos)
    rest = rest.substr(0, hash);
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;

  std::string_view host;
  std::string_view port;
  if (authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    host = authority.substr(1, close - 1);
    for (char c : host) {
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.')
        return std::nullopt;
    }
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return std::nullopt;
      port = after.substr(1);
      if (port.empty()) return std::nullopt;
    }
  } else {
    std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
    if (host.empty()) return std::nullopt;
    for (char c : host)
      if (!valid_host_char(c)) return std::nullopt;
  }
  u.host.assign(host);
  u.port = u.tls ? 443 : 80;
  if (!port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      return std::nullopt;
    u.port = static_cast<std::uint16_t>(value);
  }
  if (rest.empty()) {
    u.path = "/";
  } else if (rest.front() == '?') {
    u.path = "/" + std::string(rest);
  } else {
    u.path.assign(rest);
  }
  for (char c : u.path)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return std::nullopt;
  const bool v6 = u.host.find(':') != std::string::npos;
  u.host_header = v6 ? "[" + u.host + "]" : u.host;
  if (!port.empty()) u.host_header += ":" + std::to_string(u.port);
  return u;
}

}  // namespace lobbykit::client
