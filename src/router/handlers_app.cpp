// Handlers for what a host's application carries over lobbykit: app_message (to the lobby or
// one member, asked of the host's app_message hook when it has one for that name) and
// set_metadata (a participant's own, or a moderator's for the lobby).
#include "protocol/messages.hpp"
#include "router/hub_state.hpp"
#include "router/operations.hpp"

namespace lobbykit::router {

namespace {

// bad_target (itself) or unknown_peer (not a connected member), as the signaling relay says.
std::optional<Error> check_target(const core::Lobby& lobby, const PeerId& from, const PeerId& to) {
  if (to.empty()) return std::nullopt;
  if (to == from) return make_error(ErrorCode::bad_target, "A peer cannot send a message to itself.");
  const core::Member* m = lobby.member(to);
  if (!m || !m->p.connected)
    return make_error(ErrorCode::unknown_peer, "That peer is not a connected member of your lobby.");
  return std::nullopt;
}

// Delivers (unless the host handled it) and replies {"delivered", "reply"?}.
void finish_app_message(Hub::State& s, Request& r, const core::Lobby& lobby,
                        const protocol::AppMessageReq& req, const AppMessageDecision& d) {
  std::string reply;
  if (d.reply_json) {
    if (protocol::normalize_json(*d.reply_json, false, SIZE_MAX, reply)) {
      s.fail(r, make_error(ErrorCode::hook_failed,
                           "The server's answer to this message is not valid JSON."));
      return;
    }
  }
  std::uint32_t delivered = 0;
  if (d.deliver) {
    const PeerId& from = r.session->peer_id;
    delivered = deliver_app_message(s, lobby, from, r.session->name, req.to, req.name,
                                    req.payload_json);
    s.bus.publish(event::AppMessage{lobby.info.id, req.name, from, r.session->name, req.to,
                                    req.payload_json, delivered});
  }
  s.reply(r, [&](JsonBuilder& b) {
    b.unum("delivered", delivered);
    if (d.reply_json) b.raw("reply", reply);
  });
}

}  // namespace

void handle_app_message(Hub::State& s, Request& r) {
  core::Lobby* lobby = s.lobby_of(*r.session);
  if (!lobby) {
    s.fail(r, make_error(ErrorCode::not_in_lobby, "Join a lobby first."));
    return;
  }
  protocol::AppMessageReq req;
  if (auto e = protocol::decode(r.data, req, s.limits)) {
    s.fail(r, *e);
    return;
  }
  if (auto e = check_target(*lobby, r.session->peer_id, req.to)) {
    s.fail(r, *e);
    return;
  }
  const Hooks& hooks = s.hooks;
  if (!hooks.app_message || (hooks.app_message_wants && !hooks.app_message_wants(req.name))) {
    finish_app_message(s, r, *lobby, req, AppMessageDecision::allowed());
    return;
  }
  AppMessageRequest q;
  q.peer_id = r.session->peer_id;
  q.name = r.session->name;
  q.user_id = r.session->user_id;
  q.roles = r.session->roles;
  q.lobby_id = lobby->info.id;
  q.to = req.to;
  q.type = req.name;
  q.payload_json = req.payload_json;
  s.ask(r, hooks.app_message, q,
        [&s, req, lobby_id = q.lobby_id](Request& waiting, AppMessageDecision& d) {
          // Still in the lobby it wrote to: a message does not follow its writer elsewhere.
          core::Lobby* still = waiting.session && waiting.session->lobby_id == lobby_id
                                   ? s.lobbies.find(lobby_id)
                                   : nullptr;
          if (!still) {
            s.fail(waiting, make_error(ErrorCode::not_in_lobby,
                                       "You left the lobby before this message was sent."));
            return;
          }
          if (d.deliver) {
            if (auto e = check_target(*still, waiting.session->peer_id, req.to)) {
              s.fail(waiting, *e);
              return;
            }
          }
          finish_app_message(s, waiting, *still, req, d);
        });
}

void handle_set_metadata(Hub::State& s, Request& r) {
  protocol::SetMetadataReq req;
  if (auto e = protocol::decode(r.data, req, s.limits)) {
    s.fail(r, *e);
    return;
  }
  if (!req.lobby) {
    if (!s.limits.allow_participant_metadata) {
      s.fail(r, make_error(ErrorCode::forbidden,
                           "This server does not let clients set their own metadata."));
      return;
    }
    replace_session_metadata(s, *r.session, req.metadata_json);
  } else {
    if (!r.session->has_role(kModeratorRole)) {
      s.fail(r, make_error(ErrorCode::forbidden,
                           "Only a moderator may set the lobby's metadata; this session has no "
                           "\"moderator\" role."));
      return;
    }
    core::Lobby* lobby = s.lobby_of(*r.session);
    if (!lobby) {
      s.fail(r, make_error(ErrorCode::not_in_lobby, "Join a lobby first."));
      return;
    }
    LobbyUpdate u;
    u.metadata_json = req.metadata_json;
    if (auto e = s.lobbies.update_settings(*lobby, u)) {
      s.fail(r, *e);
      return;
    }
  }
  s.reply(r, [&](JsonBuilder& b) { b.raw("metadata", req.metadata_json); });
}

}  // namespace lobbykit::router
