// WebRTC signaling: the managed mesh (who connects to whom, who offers) and the relay of
// descriptions and ICE candidates between two members of one lobby.
#include "protocol/messages.hpp"
#include "router/hub_state.hpp"

namespace lobbykit::router {

namespace {

protocol::Frame peer_added(const Participant& p, bool should_offer) {
  return protocol::envelope("peer_added", "", [&](JsonBuilder& b) {
    b.str("peer_id", p.peer_id)
        .str("name", p.name)
        .boolean("is_bot", p.is_bot)
        .boolean("should_offer", should_offer);
  });
}

// kind is the outbound type ("description" or "candidate") and the payload's key. The
// payload is checked in place and written once, straight into the outbound frame.
void relay(Hub::State& s, Request& r, const char* kind,
           std::optional<Error> (*check)(const rapidjson::Value&, protocol::RelayFields&)) {
  core::Lobby* lobby = s.lobby_of(*r.session);
  if (!lobby) {
    s.fail(r, make_error(ErrorCode::not_in_lobby, "Join a lobby first."));
    return;
  }
  protocol::RelayFields req;
  if (auto e = check(r.data, req)) {
    s.fail(r, *e);
    return;
  }
  const PeerId& from = r.session->peer_id;
  if (req.to == from) {
    s.fail(r, make_error(ErrorCode::bad_target, "A peer cannot signal to itself."));
    return;
  }
  const core::Member* target = lobby->member(req.to);
  if (!target || !target->p.connected) {
    s.fail(r, make_error(ErrorCode::unknown_peer, "That peer is not a connected member of your lobby."));
    return;
  }
  const PeerId& to = target->p.peer_id;
  s.send_to_peer(to, protocol::envelope(kind, "", [&](JsonBuilder& b) {
                   b.str("from", from).key(kind);
                   protocol::write_relay_payload(b, req);
                 }),
                 kind);
  s.reply(r, [](JsonBuilder&) {});
  s.bus.publish(event::SignalRelayed{lobby->info.id, from, to, kind});
}

}  // namespace

void Hub::State::introduce(const core::Lobby& lobby, const PeerId& peer, bool restart) {
  const core::Member* self = lobby.member(peer);
  if (!self || !self->p.has_media || !self->p.connected) return;
  protocol::Frame removed;
  if (restart) {
    removed = protocol::envelope("peer_removed", "", [&](JsonBuilder& b) {
      b.str("peer_id", peer);
    });
  }
  const protocol::Frame to_others = peer_added(self->p, false);
  for (const auto& m : lobby.members) {
    if (m.p.peer_id == peer || !m.p.has_media || !m.p.connected) continue;
    if (removed) send_to_peer(m.p.peer_id, removed, "peer_removed");
    send_to_peer(m.p.peer_id, to_others, "peer_added");
    // The newcomer offers: one side per pair, decided here, so glare cannot happen.
    send_to_peer(peer, peer_added(m.p, true), "peer_added");
  }
}

void handle_relay_description(Hub::State& s, Request& r) {
  relay(s, r, "description", protocol::check_description);
}

void handle_relay_candidate(Hub::State& s, Request& r) {
  relay(s, r, "candidate", protocol::check_candidate);
}

}  // namespace lobbykit::router
