// WebSocket close codes the server uses. docs/protocol.md lists each with its meaning.
#pragma once

#include <cstdint>

namespace lobbykit::protocol {

enum class CloseCode : std::uint16_t {
  normal = 1000,
  going_away = 1001,         // server shutting down
  unsupported_data = 1003,   // a binary frame
  invalid_payload = 1007,    // text frame that is not valid UTF-8
  policy = 1008,             // generic policy violation
  too_big = 1009,            // message over max_message_bytes
  internal_error = 1011,
  auth_timeout = 4000,       // no auth message within auth_timeout_ms
  replaced = 4001,           // another connection resumed this session
  kicked = 4002,             // an admin kicked the session
  slow_consumer = 4003,      // outbound queue over max_outbound_bytes
  session_closed = 4004,     // the session was removed (expired, admin)
};

}  // namespace lobbykit::protocol
