// WebSocket close codes the server uses. docs/protocol.md lists each with its meaning.
#pragma once

#include <cstdint>
#include <string_view>

namespace lobbykit::protocol {

enum class CloseCode : std::uint16_t {
  normal = 1000,
  going_away = 1001,         // server shutting down
  protocol_error = 1002,     // a WebSocket protocol violation (e.g. a malformed close frame)
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
  too_many_sessions = 4005,  // no room for a new session (after the too_many_sessions error)
  flooding = 4006,           // kept sending far over the rate limit (Limits::rate_flood_burst)
  unauthorized = 4007,       // a provider_hello with a wrong key
  provider_silent = 4008,    // a provider sent nothing for Limits::bot_silence_ms
};

// The payload of a close frame a client sent (RFC 6455 5.5.1, 7.4): empty, or a status code
// a peer may send followed by a UTF-8 reason. Returns 0 when it is well-formed, otherwise
// the code to close with: protocol_error (a one-byte payload, a code that may not be sent)
// or invalid_payload (a reason that is not UTF-8).
std::uint16_t close_payload_error(std::string_view payload);

}  // namespace lobbykit::protocol
