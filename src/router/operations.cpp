// The server-side operations (operations.hpp): argument checks, then the managers.
#include "router/operations.hpp"

#include "protocol/envelope.hpp"
#include "protocol/names.hpp"

#include <algorithm>
#include <utility>

namespace lobbykit::router {

namespace {

Error bad_field(const char* field, std::string message) {
  return Error{ErrorCode::bad_field, std::move(message), field, -1};
}

Error no_lobby() { return make_error(ErrorCode::lobby_not_found, "There is no such lobby."); }

// A lobby name as create_lobby takes it: cleaned in place, or the reason it is refused.
std::optional<Error> check_lobby_name(const Hub::State& s, std::string& name) {
  protocol::NameCheck c = protocol::check_name(name, s.limits.max_lobby_name_chars);
  if (!c.problem.empty()) return bad_field("name", c.problem);
  name = std::move(c.name);
  return std::nullopt;
}

std::optional<Error> check_max_participants(const Hub::State& s, std::uint32_t max) {
  if (max >= 1 && max <= s.limits.max_participants) return std::nullopt;
  return bad_field("max_participants", "\"max_participants\" must be a whole number from 1 to " +
                                           std::to_string(s.limits.max_participants) + ".");
}

LobbyDetail detail_of(const core::Lobby& lobby) {
  LobbyDetail d;
  d.lobby = lobby.info;
  d.participants.reserve(lobby.members.size());
  for (const auto& m : lobby.members) d.participants.push_back(m.p);
  return d;
}

}  // namespace

SessionInfo session_info(Hub::State& s, const core::Session& session) {
  SessionInfo info;
  info.peer_id = session.peer_id;
  info.name = session.name;
  info.is_bot = session.is_bot;
  info.connected = session.connected;
  info.lobby_id = session.lobby_id;
  info.name_protected = !session.name.empty() && s.auth.is_protected(session.name);
  info.created_ms = session.created_ms;
  info.last_seen_ms = session.last_seen_ms;
  if (!session.metadata_json.empty()) info.metadata_json = session.metadata_json;
  return info;
}

std::vector<SessionInfo> list_sessions(Hub::State& s) {
  std::vector<SessionInfo> out;
  out.reserve(s.sessions.count());
  for (const auto& [id, session] : s.sessions.all()) out.push_back(session_info(s, session));
  return out;
}

std::vector<LobbyDetail> list_lobbies(Hub::State& s) {
  std::vector<LobbyDetail> out;
  for (const LobbyInfo& info : s.lobbies.list(true))
    if (const core::Lobby* lobby = s.lobbies.find(info.id)) out.push_back(detail_of(*lobby));
  return out;
}

std::variant<LobbyDetail, Error> get_lobby(Hub::State& s, const LobbyId& id) {
  const core::Lobby* lobby = s.lobbies.find(id);
  if (!lobby) return no_lobby();
  return detail_of(*lobby);
}

std::variant<LobbyInfo, Error> create_lobby(Hub::State& s, const LobbySettings& settings) {
  core::LobbyManager::CreateParams p;
  p.name = settings.name;
  if (auto e = check_lobby_name(s, p.name)) return *e;
  if (settings.max_participants != 0) {
    if (auto e = check_max_participants(s, settings.max_participants)) return *e;
  }
  p.is_private = settings.is_private;
  p.persistent = settings.persistent;
  p.max_participants = settings.max_participants;
  // creator and address stay "": the host's lobbies count under no quota.
  auto created = s.lobbies.create(p);
  if (auto* e = std::get_if<Error>(&created)) return std::move(*e);
  return std::get<core::Lobby*>(created)->info;
}

std::variant<LobbyInfo, Error> update_lobby(Hub::State& s, const LobbyId& id,
                                            const LobbyUpdate& update) {
  core::Lobby* lobby = s.lobbies.find(id);
  if (!lobby) return no_lobby();
  LobbyUpdate u = update;
  if (u.name) {
    if (auto e = check_lobby_name(s, *u.name)) return *e;
  }
  if (u.max_participants) {
    if (auto e = check_max_participants(s, *u.max_participants)) return *e;
  }
  if (u.metadata_json) {
    std::string json;
    if (auto problem = protocol::normalize_json(*u.metadata_json, true,
                                                s.limits.max_metadata_bytes, json))
      return bad_field("metadata", "\"metadata\" is not usable: " + *problem + ".");
    u.metadata_json = std::move(json);
  }
  if (auto e = s.lobbies.update_settings(*lobby, u)) return *e;
  return lobby->info;
}

std::optional<Error> remove_lobby(Hub::State& s, const LobbyId& id) {
  if (!s.lobbies.find(id)) return no_lobby();
  s.lobbies.remove(id, "removed");
  return std::nullopt;
}

std::optional<Error> kick_session(Hub::State& s, const PeerId& peer) {
  if (!s.sessions.find(peer))
    return make_error(ErrorCode::session_not_found, "There is no such session.");
  s.end_session(peer, "kicked", protocol::CloseCode::kicked);
  return std::nullopt;
}

std::variant<SessionInfo, Error> rename_session(Hub::State& s, const PeerId& peer,
                                                const std::string& name) {
  if (!s.sessions.find(peer))
    return make_error(ErrorCode::session_not_found, "There is no such session.");
  protocol::NameCheck c = protocol::check_name(name, s.limits.max_name_chars);
  if (!c.problem.empty()) return bad_field("name", c.problem);
  auto outcome = s.auth.admin_rename(peer, c.name);
  if (outcome.error) return std::move(*outcome.error);
  s.update_member_names(outcome.renamed);
  return session_info(s, *s.sessions.find(peer));
}

void reset_password(Hub::State& s, const std::string& name, std::optional<std::string> password,
                    std::function<void(std::optional<Error>)> done) {
  if (password && (password->size() < s.limits.min_password_bytes ||
                   password->size() > s.limits.max_password_bytes)) {
    done(bad_field("password", "\"password\" must be a string of " +
                                   std::to_string(s.limits.min_password_bytes) + " to " +
                                   std::to_string(s.limits.max_password_bytes) + " bytes."));
    return;
  }
  s.auth.admin_set_password(name, std::move(password),
                            [done = std::move(done)](core::AuthManager::Outcome o) {
                              done(std::move(o.error));
                            });
}

std::variant<ChatMessage, Error> post_notice(Hub::State& s, const LobbyId& lobby_id,
                                             const std::string& text) {
  core::Lobby* lobby = s.lobbies.find(lobby_id);
  if (!lobby) return no_lobby();
  if (text.empty()) return bad_field("text", "\"text\" is empty.");
  if (text.size() > s.limits.max_chat_bytes)
    return bad_field("text", "\"text\" is longer than " + std::to_string(s.limits.max_chat_bytes) +
                                 " bytes.");
  if (!protocol::valid_utf8(text)) return bad_field("text", "\"text\" is not UTF-8.");
  // An empty sender marks it as the server's (ChatMessage::system).
  return s.lobbies.post_chat(*lobby, PeerId(), std::string(), text);
}

std::uint32_t deliver_app_message(Hub::State& s, const core::Lobby& lobby, const PeerId& from,
                                  const std::string& from_name, const PeerId& to,
                                  const std::string& name, const std::string& payload_json) {
  auto frame = protocol::envelope("app_message", "", [&](JsonBuilder& b) {
    b.str("lobby_id", lobby.info.id).str("name", name).str("from", from).str("from_name", from_name);
    if (!to.empty()) b.str("to", to);
    b.raw("payload", payload_json);
  });
  std::uint32_t delivered = 0;
  for (const auto& m : lobby.members) {
    if (!m.p.connected || m.p.peer_id == from || (!to.empty() && m.p.peer_id != to)) continue;
    s.send_to_peer(m.p.peer_id, frame, "app_message");
    ++delivered;
  }
  return delivered;
}

std::variant<std::uint32_t, Error> send_app_message(Hub::State& s, const LobbyId& lobby_id,
                                                    const std::string& name,
                                                    const std::string& payload_json,
                                                    const PeerId& to) {
  const core::Lobby* lobby = s.lobbies.find(lobby_id);
  if (!lobby) return no_lobby();
  if (!protocol::valid_app_message_name(name))
    return bad_field("name", "\"name\" must be 1 to " +
                                 std::to_string(protocol::kMaxAppMessageNameChars) +
                                 " characters of A-Z, a-z, 0-9, \"_\", \".\", \":\" and \"-\".");
  std::string payload = "null";
  if (!payload_json.empty()) {
    if (auto problem = protocol::normalize_json(payload_json, false, s.limits.max_app_message_bytes,
                                                payload))
      return bad_field("payload", "\"payload\" is not usable: " + *problem + ".");
  }
  if (!to.empty()) {
    const core::Member* m = lobby->member(to);
    if (!m || !m->p.connected)
      return make_error(ErrorCode::unknown_peer, "That peer is not a connected member of the lobby.");
  }
  return deliver_app_message(s, *lobby, PeerId(), std::string(), to, name, payload);
}

std::variant<LobbyInfo, Error> set_lobby_metadata(Hub::State& s, const LobbyId& lobby_id,
                                                  const std::string& metadata_json) {
  core::Lobby* lobby = s.lobbies.find(lobby_id);
  if (!lobby) return no_lobby();
  LobbyUpdate u;
  u.metadata_json.emplace();
  if (auto problem = protocol::normalize_json(metadata_json, true, s.limits.max_metadata_bytes,
                                              *u.metadata_json))
    return bad_field("metadata", "\"metadata\" is not usable: " + *problem + ".");
  if (auto e = s.lobbies.update_settings(*lobby, u)) return *e;
  return lobby->info;
}

void replace_session_metadata(Hub::State& s, core::Session& session, std::string metadata_json) {
  s.sessions.set_metadata(session, metadata_json);
  core::Lobby* lobby = s.lobby_of(session);
  const core::Member* m = lobby ? lobby->member(session.peer_id) : nullptr;
  if (!m) return;
  Participant p = m->p;
  p.metadata_json = std::move(metadata_json);
  s.lobbies.update(lobby->info.id, p);
}

std::variant<SessionInfo, Error> set_session_metadata(Hub::State& s, const PeerId& peer,
                                                      const std::string& metadata_json) {
  core::Session* session = s.sessions.find(peer);
  if (!session) return make_error(ErrorCode::session_not_found, "There is no such session.");
  std::string json;
  if (auto problem = protocol::normalize_json(metadata_json, true, s.limits.max_metadata_bytes, json))
    return bad_field("metadata", "\"metadata\" is not usable: " + *problem + ".");
  replace_session_metadata(s, *session, std::move(json));
  return session_info(s, *session);
}

}  // namespace lobbykit::router
