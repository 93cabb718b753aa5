// Who a session is in the host's terms: the access token of an auth checked, its claims given
// to a new session, and names numbered when taken (token names and bot names alike).
#include "protocol/envelope.hpp"
#include "protocol/names.hpp"
#include "router/hub_state.hpp"

namespace lobbykit::router {

namespace {

// Names tried before the fallback: "Ada", "Ada 2", ... "Ada 50".
constexpr int kNumberedNameTries = 50;

// base with " n" after it (n > 1), base cut short when the whole would be longer than
// max_chars code points; "" when that leaves no valid name.
std::string numbered(const std::string& base, int n, std::size_t max_chars) {
  if (n == 1) return base;
  const std::string suffix = " " + std::to_string(n);
  std::string head = base;
  while (!head.empty() && protocol::utf8_length(head) + suffix.size() > max_chars) {
    const auto last = static_cast<unsigned char>(head.back());
    head.pop_back();
    if (last < 0x80) continue;  // an ASCII character
    // The last byte of a multi-byte code point: its other continuation bytes and its lead.
    while (!head.empty() && (static_cast<unsigned char>(head.back()) & 0xC0) == 0x80)
      head.pop_back();
    if (!head.empty()) head.pop_back();
  }
  protocol::NameCheck check = protocol::check_name(head + suffix, max_chars);
  return check.problem.empty() ? check.name : std::string();
}

}  // namespace

void give_numbered_name(Hub::State& s, const PeerId& peer, const std::string& base,
                        const std::string& fallback) {
  for (int i = 1; i <= kNumberedNameTries; ++i) {
    const std::string name = numbered(base, i, s.limits.max_name_chars);
    if (!name.empty() && !s.auth.admin_rename(peer, name).error) return;
  }
  s.auth.admin_rename(peer, fallback);
}

std::variant<std::optional<core::AccessClaims>, Error> verify_auth_token(
    Hub::State& s, const protocol::AuthReq& req) {
  const bool resuming = req.token.has_value();
  if (!req.access_token) {
    if (s.require_token && !resuming)
      return make_error(ErrorCode::access_token_required,
                        "This server requires an access token (\"access_token\") to start a "
                        "session.");
    return std::nullopt;
  }
  core::TokenRules rules;
  rules.secret = s.token_secret;
  rules.now_ms = s.clock.now_ms();
  rules.skew_ms = s.limits.token_skew_ms;
  rules.max_metadata_bytes = s.limits.max_metadata_bytes;
  rules.max_name_chars = s.limits.max_name_chars;
  auto verified = core::verify_access_token(*req.access_token, rules);
  if (!resuming) {
    if (auto* e = std::get_if<Error>(&verified)) return *e;
    return std::optional<core::AccessClaims>(std::move(std::get<core::AccessClaims>(verified)));
  }
  // A resume is authenticated by its session token; a valid access token must not name
  // another user than the session's.
  const auto* claims = std::get_if<core::AccessClaims>(&verified);
  const core::Session* session = s.sessions.find_by_token(*req.token);
  if (claims && session && claims->user_id != session->user_id)
    return make_error(ErrorCode::invalid_access_token,
                      "That access token is for another user than the session it resumes; "
                      "authenticate without the session token to start a new session.");
  return std::nullopt;
}

void apply_access_claims(Hub::State& s, core::Session& session, const core::AccessClaims& claims) {
  s.sessions.set_identity(session, core::Identity{claims.user_id, claims.roles,
                                                  claims.metadata_json, claims.lobby_id});
  if (!claims.name.empty())
    give_numbered_name(s, session.peer_id, claims.name, "user " + session.peer_id);
}

std::optional<Error> lobby_allowed(const core::Session& session, const LobbyId& lobby) {
  if (session.only_lobby.empty() || session.only_lobby == lobby) return std::nullopt;
  return make_error(ErrorCode::forbidden,
                    "This session's access token allows only one lobby, and it is not this "
                    "one.");
}

}  // namespace lobbykit::router
