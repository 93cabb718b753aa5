#include "protocol/error_code.hpp"

namespace lobbykit::protocol {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::bad_json: return "bad_json";
    case ErrorCode::bad_message: return "bad_message";
    case ErrorCode::unknown_type: return "unknown_type";
    case ErrorCode::bad_field: return "bad_field";
    case ErrorCode::not_authenticated: return "not_authenticated";
    case ErrorCode::already_authenticated: return "already_authenticated";
    case ErrorCode::invalid_token: return "invalid_token";
    case ErrorCode::not_in_lobby: return "not_in_lobby";
    case ErrorCode::lobby_not_found: return "lobby_not_found";
    case ErrorCode::lobby_full: return "lobby_full";
    case ErrorCode::lobby_exists: return "lobby_exists";
    case ErrorCode::too_many_lobbies: return "too_many_lobbies";
    case ErrorCode::lobby_quota: return "lobby_quota";
    case ErrorCode::too_many_sessions: return "too_many_sessions";
    case ErrorCode::name_required: return "name_required";
    case ErrorCode::name_taken: return "name_taken";
    case ErrorCode::password_required: return "password_required";
    case ErrorCode::wrong_password: return "wrong_password";
    case ErrorCode::too_many_attempts: return "too_many_attempts";
    case ErrorCode::unknown_peer: return "unknown_peer";
    case ErrorCode::bad_target: return "bad_target";
    case ErrorCode::rate_limited: return "rate_limited";
    case ErrorCode::session_not_found: return "session_not_found";
    case ErrorCode::name_not_found: return "name_not_found";
    case ErrorCode::unauthorized: return "unauthorized";
    case ErrorCode::not_found: return "not_found";
    case ErrorCode::method_not_allowed: return "method_not_allowed";
    case ErrorCode::too_large: return "too_large";
    case ErrorCode::unknown_kind: return "unknown_kind";
    case ErrorCode::bot_quota: return "bot_quota";
    case ErrorCode::too_many_dispatches: return "too_many_dispatches";
    case ErrorCode::too_many_providers: return "too_many_providers";
    case ErrorCode::dispatch_not_found: return "dispatch_not_found";
    case ErrorCode::provider_not_found: return "provider_not_found";
    case ErrorCode::job_not_found: return "job_not_found";
    case ErrorCode::forbidden: return "forbidden";
    case ErrorCode::denied: return "denied";
    case ErrorCode::hook_timeout: return "hook_timeout";
    case ErrorCode::hook_failed: return "hook_failed";
    case ErrorCode::invalid_access_token: return "invalid_access_token";
    case ErrorCode::access_token_expired: return "access_token_expired";
    case ErrorCode::access_token_required: return "access_token_required";
    case ErrorCode::draining: return "draining";
    case ErrorCode::not_ready: return "not_ready";
    case ErrorCode::internal_error: return "internal_error";
  }
  return "internal_error";
}

}  // namespace lobbykit::protocol
