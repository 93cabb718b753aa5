// Error codes of the wire protocol: stable, machine-readable strings. A client branches on
// the code; the sentence next to it is for people. docs/protocol.md lists every code.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <string_view>

namespace lobbykit::protocol {

enum class ErrorCode {
  bad_json,               // not JSON, or nested too deep
  bad_message,            // not an envelope: not an object, bad "type", "data" or "id"
  unknown_type,           // no handler for this type
  bad_field,              // a field of "data" is missing, of the wrong type or over a limit
  not_authenticated,      // anything but "auth" before authenticating
  already_authenticated,  // a second "auth" on one connection
  invalid_token,          // resume token unknown or expired
  not_in_lobby,           // needs a lobby and the session is in none
  lobby_not_found,
  lobby_full,
  lobby_exists,           // a lobby with that name exists
  too_many_lobbies,       // the server holds Limits::max_lobbies already
  lobby_quota,            // the session or its address created as many lobbies as allowed
  too_many_sessions,      // Limits::max_sessions or max_sessions_per_address reached
  name_required,          // creating or joining a lobby needs a display name first
  name_taken,
  password_required,
  wrong_password,
  too_many_attempts,      // password attempts on this name are throttled
  unknown_peer,           // relay target not in the sender's lobby
  bad_target,             // relay to oneself
  rate_limited,           // over the per-session message rate; the message was dropped
  session_not_found,      // admin: no such session
  name_not_found,         // admin: no such name claim
  unauthorized,           // admin: missing or wrong bearer token
  not_found,              // HTTP: no such route or file
  method_not_allowed,     // HTTP: route exists, method does not
  too_large,              // HTTP: request body over Limits::max_http_body_bytes
  // Bots (docs/bots.md).
  unknown_kind,           // no provider offers that bot kind
  bot_quota,              // the lobby has Limits::max_bots_per_lobby dispatches
  too_many_dispatches,    // the server holds Limits::max_dispatches
  too_many_providers,     // the server holds Limits::max_providers provider connections
  dispatch_not_found,
  provider_not_found,
  job_not_found,          // no such job, or it is no longer offered to / held by this provider
  forbidden,              // not allowed here (member bots off; a bot joining another lobby;
                          // a role or an access token's lobby that does not allow it)
  // Access tokens (docs/protocol.md, "Access tokens").
  invalid_access_token,   // malformed, wrong algorithm, bad signature, or tokens are off
  access_token_expired,   // "exp" passed, or "nbf" still ahead (beyond the clock skew)
  access_token_required,  // the server requires an access token and auth had none
  // Host hooks (docs/embedding.md).
  denied,                 // the host's hook refused; "reason" carries the host's own code
  hook_timeout,           // the host's hook did not answer within Limits::hook_timeout_ms
  hook_failed,            // the host's hook threw, or dropped its decision unanswered
  // Operating (docs/deployment.md).
  draining,               // the server is draining: no new sessions; connect elsewhere
  not_ready,              // GET /api/health/ready: draining, or the store cannot be written
  internal_error,
};

std::string_view to_string(ErrorCode code);

// An error about to be sent: code, a sentence for people, and optional details.
struct Error {
  Error() = default;
  Error(ErrorCode c, std::string m, std::string f = {}, std::int64_t retry = -1,
        std::string r = {})
      : code(c), message(std::move(m)), field(std::move(f)), retry_after_ms(retry),
        reason(std::move(r)) {}

  ErrorCode code = ErrorCode::internal_error;
  std::string message;
  std::string field;                // bad_field: the path of the offending field, e.g. data.name
  std::int64_t retry_after_ms = -1; // too_many_attempts / rate_limited: when to try again
  std::string reason;               // denied: the host's reason code
};

// An error with just a code and a sentence.
inline Error make_error(ErrorCode code, std::string message) {
  return Error{code, std::move(message), {}, -1, {}};
}

}  // namespace lobbykit::protocol
