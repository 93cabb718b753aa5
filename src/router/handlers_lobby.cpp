// Handlers for lobbies and chat: list, create, join, leave, chat, chat_history, update_media.
#include "protocol/messages.hpp"
#include "router/hub_state.hpp"

namespace lobbykit::router {

namespace {

// The lobby the requester is in, or nullptr after sending not_in_lobby.
core::Lobby* require_lobby(Hub::State& s, Request& r) {
  core::Lobby* lobby = s.lobby_of(*r.session);
  if (!lobby) s.fail(r, make_error(ErrorCode::not_in_lobby, "Join a lobby first."));
  return lobby;
}

}  // namespace

std::variant<core::Lobby*, Error> create_lobby(Hub::State& s, const rapidjson::Value& data,
                                               const PeerId& creator, const std::string& address) {
  protocol::CreateLobbyReq req;
  if (auto e = protocol::decode(data, req, s.limits)) return *e;
  core::LobbyManager::CreateParams p;
  p.name = req.name;
  p.is_private = req.is_private;
  p.persistent = req.persistent;
  p.max_participants = req.max_participants.value_or(0);
  p.creator = creator;
  p.address = address;
  return s.lobbies.create(p);
}

void handle_list_lobbies(Hub::State& s, Request& r) {
  auto lobbies = s.lobbies.list(false);
  s.reply(r, [&](JsonBuilder& b) {
    b.begin_array("lobbies");
    for (const auto& l : lobbies) protocol::write(b, l);
    b.end_array();
  });
}

void handle_create_lobby(Hub::State& s, Request& r) {
  if (!r.session->only_lobby.empty()) {
    s.fail(r, make_error(ErrorCode::forbidden,
                         "This session's access token allows only one lobby; it may not create "
                         "lobbies."));
    return;
  }
  auto created = create_lobby(s, r.data, r.session->peer_id, r.conn.address);
  if (auto* e = std::get_if<Error>(&created)) {
    s.fail(r, *e);
    return;
  }
  const core::Lobby* lobby = std::get<core::Lobby*>(created);
  s.reply(r, [&](JsonBuilder& b) {
    b.key("lobby");
    protocol::write(b, lobby->info);
  });
}

void handle_join_lobby(Hub::State& s, Request& r) {
  protocol::JoinLobbyReq req;
  if (auto e = protocol::decode(r.data, req, s.limits)) {
    s.fail(r, *e);
    return;
  }
  if (r.session->name.empty()) {
    s.fail(r, make_error(ErrorCode::name_required, "Set a display name before joining a lobby."));
    return;
  }
  core::Lobby* lobby = nullptr;
  if (req.lobby_id) {
    lobby = s.lobbies.find(*req.lobby_id);
  } else {
    // Cleaned as lobby names are when created; a name that could not be one finds none.
    protocol::NameCheck c = protocol::check_name(*req.name, s.limits.max_lobby_name_chars);
    if (c.problem.empty()) lobby = s.lobbies.find_public_by_name(c.name);
  }
  if (!lobby) {
    s.fail(r, make_error(ErrorCode::lobby_not_found, "There is no such lobby."));
    return;
  }
  s.join_lobby(r, *lobby, req.has_media, req.audio_muted, req.video_muted);
}

void Hub::State::join_lobby(Request& r, core::Lobby& lobby, bool has_media, bool audio_muted,
                            bool video_muted) {
  const PeerId& peer = r.session->peer_id;
  // A job's bot goes where its dispatch is, nowhere else.
  if (const core::Dispatch* d = bots.of_bot(peer); d && d->lobby_id != lobby.info.id) {
    fail(r, make_error(ErrorCode::forbidden, "This bot may only join the lobby of its job."));
    return;
  }
  if (auto e = lobby_allowed(*r.session, lobby.info.id)) {
    fail(r, *e);
    return;
  }
  // A listener receives media and sends none: it joins muted.
  if (r.session->has_role(kListenerRole)) audio_muted = video_muted = true;
  core::Member* already = lobby.member(peer);
  if (!already) {
    if (lobby.members.size() >= lobby.info.max_participants) {
      fail(r, make_error(ErrorCode::lobby_full, "The lobby is full."));
      return;
    }
    if (!r.session->lobby_id.empty()) lobbies.leave(r.session->lobby_id, peer, "left");
    Participant p;
    p.peer_id = peer;
    p.name = r.session->name;
    p.has_media = has_media;
    p.audio_muted = audio_muted;
    p.video_muted = video_muted;
    p.is_bot = r.session->is_bot;
    p.user_id = r.session->user_id;
    p.roles = r.session->roles;
    if (auto e = lobbies.join(lobby, p)) {
      fail(r, *e);
      return;
    }
  }
  reply(r, [&](JsonBuilder& b) { write_lobby_snapshot(b, lobby); });
  // Joining the lobby one is in is a no-op apart from the snapshot.
  if (!already && has_media) introduce(lobby, peer, false);
  bot_joined(peer);
}

void handle_leave_lobby(Hub::State& s, Request& r) {
  core::Lobby* lobby = require_lobby(s, r);
  if (!lobby) return;
  s.lobbies.leave(lobby->info.id, r.session->peer_id, "left");
  s.reply(r, [](JsonBuilder&) {});
}

void handle_chat(Hub::State& s, Request& r) {
  core::Lobby* lobby = require_lobby(s, r);
  if (!lobby) return;
  protocol::ChatReq req;
  if (auto e = protocol::decode(r.data, req, s.limits)) {
    s.fail(r, *e);
    return;
  }
  const ChatMessage& m = s.lobbies.post_chat(*lobby, r.session->peer_id, r.session->name,
                                             std::move(req.text));
  s.reply(r, [&](JsonBuilder& b) { b.unum("offset", m.offset); });
}

void handle_chat_history(Hub::State& s, Request& r) {
  core::Lobby* lobby = require_lobby(s, r);
  if (!lobby) return;
  protocol::ChatHistoryReq req;
  if (auto e = protocol::decode(r.data, req)) {
    s.fail(r, *e);
    return;
  }
  auto page = s.lobbies.history(*lobby, req.after, req.limit, s.history_budget());
  s.reply(r, [&](JsonBuilder& b) {
    b.begin_array("messages");
    for (const auto* m : page.messages) protocol::write(b, *m);
    b.end_array();
    b.boolean("complete", page.complete)
        .boolean("has_more", page.has_more)
        .unum("last_offset", lobby->last_offset);
  });
}

void handle_update_media(Hub::State& s, Request& r) {
  core::Lobby* lobby = require_lobby(s, r);
  if (!lobby) return;
  protocol::UpdateMediaReq req;
  if (auto e = protocol::decode(r.data, req)) {
    s.fail(r, *e);
    return;
  }
  if (r.session->has_role(kListenerRole) &&
      (req.audio_muted == false || req.video_muted == false)) {
    s.fail(r, make_error(ErrorCode::forbidden,
                         "A listener may not unmute: it receives audio and video and sends none."));
    return;
  }
  core::Member* m = lobby->member(r.session->peer_id);
  if (!m) return;
  Participant p = m->p;
  const bool had_media = p.has_media;
  p.has_media = req.has_media.value_or(p.has_media);
  p.audio_muted = req.audio_muted.value_or(p.audio_muted);
  p.video_muted = req.video_muted.value_or(p.video_muted);
  s.lobbies.update(lobby->info.id, p);
  s.reply(r, [&](JsonBuilder& b) {
    b.key("participant");
    protocol::write(b, p);
  });
  if (!had_media && p.has_media) {
    s.introduce(*lobby, p.peer_id, false);
  } else if (had_media && !p.has_media) {
    auto removed = protocol::envelope("peer_removed", "", [&](JsonBuilder& b) {
      b.str("peer_id", p.peer_id);
    });
    for (const auto& other : lobby->members)
      if (other.p.peer_id != p.peer_id && other.p.has_media && other.p.connected)
        s.send_to_peer(other.p.peer_id, removed, "peer_removed");
  }
}

}  // namespace lobbykit::router
