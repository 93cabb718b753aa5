// Handlers for what a moderator may do to the members of its lobby: kick_member and
// mute_member (docs/protocol.md, "Roles"). Roles come from the session's access token.
#include "protocol/messages.hpp"
#include "router/hub_state.hpp"

namespace lobbykit::router {

namespace {

// The moderator's lobby and the target's membership in it, or nullptr after the error:
// forbidden (not a moderator), not_in_lobby, bad_field (itself), unknown_peer.
core::Member* moderated_member(Hub::State& s, Request& r, const PeerId& target,
                               core::Lobby*& lobby) {
  if (!r.session->has_role(kModeratorRole)) {
    s.fail(r, make_error(ErrorCode::forbidden,
                         "Only a moderator may do this; this session has no \"moderator\" role."));
    return nullptr;
  }
  lobby = s.lobby_of(*r.session);
  if (!lobby) {
    s.fail(r, make_error(ErrorCode::not_in_lobby, "Join a lobby first."));
    return nullptr;
  }
  if (target == r.session->peer_id) {
    s.fail(r, Error{ErrorCode::bad_field, "A moderator cannot do this to itself.",
                    "data.peer_id", -1});
    return nullptr;
  }
  core::Member* m = lobby->member(target);
  if (!m) s.fail(r, make_error(ErrorCode::unknown_peer, "That peer is not a member of your lobby."));
  return m;
}

}  // namespace

void handle_kick_member(Hub::State& s, Request& r) {
  protocol::KickMemberReq req;
  if (auto e = protocol::decode(r.data, req)) {
    s.fail(r, *e);
    return;
  }
  core::Lobby* lobby = nullptr;
  if (!moderated_member(s, r, req.peer_id, lobby)) return;
  const LobbyId lobby_id = lobby->info.id;
  // Before lobby_left, so that the client knows who took it out and why.
  s.send_to_peer(req.peer_id, protocol::envelope("kicked", "", [&](JsonBuilder& b) {
                   b.str("lobby_id", lobby_id)
                       .str("by", r.session->peer_id)
                       .str("by_name", r.session->name)
                       .str("reason", req.reason);
                 }),
                 "kicked");
  s.lobbies.leave(lobby_id, req.peer_id, "kicked");
  s.reply(r, [](JsonBuilder&) {});
}

void handle_mute_member(Hub::State& s, Request& r) {
  protocol::MuteMemberReq req;
  if (auto e = protocol::decode(r.data, req)) {
    s.fail(r, *e);
    return;
  }
  core::Lobby* lobby = nullptr;
  core::Member* m = moderated_member(s, r, req.peer_id, lobby);
  if (!m) return;
  Participant p = m->p;
  if (req.audio) p.audio_muted = true;
  if (req.video) {
    p.video_muted = true;
    p.screen_sharing = false;  // a screen is video too
  }
  const LobbyId lobby_id = lobby->info.id;
  s.lobbies.update(lobby_id, p);
  s.send_to_peer(req.peer_id, protocol::envelope("muted", "", [&](JsonBuilder& b) {
                   b.str("lobby_id", lobby_id)
                       .str("by", r.session->peer_id)
                       .str("by_name", r.session->name)
                       .boolean("audio", req.audio)
                       .boolean("video", req.video);
                 }),
                 "muted");
  s.reply(r, [&](JsonBuilder& b) {
    b.key("participant");
    protocol::write(b, p);
  });
}

}  // namespace lobbykit::router
