#include "protocol/close_code.hpp"

#include "protocol/envelope.hpp"

namespace lobbykit::protocol {
namespace {

// RFC 6455 7.4.1 and the IANA registry: the codes an endpoint may put in a close frame.
// 1004 is reserved; 1005, 1006 and 1015 only ever describe a close locally; 1016-2999 are
// reserved for the standard; 3000-3999 are registered, 4000-4999 are private use.
bool sendable_close_code(unsigned code) {
  if (code >= 1000 && code <= 1003) return true;
  if (code >= 1007 && code <= 1014) return true;
  return code >= 3000 && code <= 4999;
}

}  // namespace

std::uint16_t close_payload_error(std::string_view payload) {
  if (payload.empty()) return 0;
  if (payload.size() == 1) return static_cast<std::uint16_t>(CloseCode::protocol_error);
  const unsigned code = (static_cast<unsigned char>(payload[0]) << 8) |
                        static_cast<unsigned char>(payload[1]);
  if (!sendable_close_code(code)) return static_cast<std::uint16_t>(CloseCode::protocol_error);
  if (!valid_utf8(payload.substr(2))) return static_cast<std::uint16_t>(CloseCode::invalid_payload);
  return 0;
}

}  // namespace lobbykit::protocol
