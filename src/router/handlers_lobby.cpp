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

// The settings of a create_lobby request after the host's adjustments, checked as a client's
// own are.
std::variant<protocol::CreateLobbyReq, Error> adjusted(const Hub::State& s,
                                                       const protocol::CreateLobbyReq& req,
                                                       const CreateLobbyDecision& d) {
  rapidjson::Document doc(rapidjson::kObjectType);
  auto& a = doc.GetAllocator();
  const std::string& name = d.name ? *d.name : req.name;
  doc.AddMember("name", rapidjson::Value(name.data(), static_cast<rapidjson::SizeType>(name.size()), a), a);
  doc.AddMember("private", d.is_private.value_or(req.is_private), a);
  doc.AddMember("persistent", d.persistent.value_or(req.persistent), a);
  if (auto max = d.max_participants ? d.max_participants : req.max_participants)
    doc.AddMember("max_participants", *max, a);
  protocol::CreateLobbyReq out;
  if (auto e = protocol::decode(doc, out, s.limits)) {
    e->message = "The server's adjustment is not valid: " + e->message;
    return *e;
  }
  return out;
}

CreateLobbyRequest hook_request(const protocol::CreateLobbyReq& req, const PeerId& creator,
                                const std::string& address) {
  CreateLobbyRequest q;
  q.peer_id = creator;
  q.address = address;
  q.name = req.name;
  q.is_private = req.is_private;
  q.persistent = req.persistent;
  q.max_participants = req.max_participants.value_or(0);
  return q;
}

}  // namespace

std::variant<core::Lobby*, Error> create_lobby(Hub::State& s, const rapidjson::Value& data,
                                               const PeerId& creator, const std::string& address) {
  protocol::CreateLobbyReq req;
  if (auto e = protocol::decode(data, req, s.limits)) return *e;
  return create_lobby(s, req, creator, address);
}

std::variant<core::Lobby*, Error> create_lobby(Hub::State& s, const protocol::CreateLobbyReq& req,
                                               const PeerId& creator, const std::string& address) {
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

void handle_watch_lobbies(Hub::State& s, Request& r) {
  protocol::WatchLobbiesReq req;
  if (auto e = protocol::decode(r.data, req)) return s.fail(r, *e);
  if (!req.watch) {
    s.lobby_watchers.erase(r.conn.id);
    if (s.lobby_watchers.empty()) s.lobby_listed_ids.clear();
    s.reply(r, [](JsonBuilder&) {});
    return;
  }
  auto lobbies = s.lobbies.list(false);
  s.lobby_watchers.insert(r.conn.id);
  for (const auto& l : lobbies) s.lobby_listed_ids.insert(l.id);
  s.reply(r, [&](JsonBuilder& b) {
    b.begin_array("lobbies");
    for (const auto& l : lobbies) protocol::write(b, l);
    b.end_array();
  });
}

namespace {

void finish_create_lobby(Hub::State& s, Request& r, const protocol::CreateLobbyReq& req) {
  auto created = create_lobby(s, req, r.session->peer_id, r.conn.address);
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

}  // namespace

void handle_create_lobby(Hub::State& s, Request& r) {
  if (!r.session->only_lobby.empty()) {
    s.fail(r, make_error(ErrorCode::forbidden,
                         "This session's access token allows only one lobby; it may not create "
                         "lobbies."));
    return;
  }
  protocol::CreateLobbyReq req;
  if (auto e = protocol::decode(r.data, req, s.limits)) {
    s.fail(r, *e);
    return;
  }
  if (!s.hooks.create_lobby) {
    finish_create_lobby(s, r, req);
    return;
  }
  s.ask(r, s.hooks.create_lobby, hook_request(req, r.session->peer_id, r.conn.remote),
        [&s, req](Request& waiting, CreateLobbyDecision& d) {
          if (!waiting.session) return;
          auto settings = adjusted(s, req, d);
          if (auto* e = std::get_if<Error>(&settings)) {
            s.fail(waiting, *e);
            return;
          }
          finish_create_lobby(s, waiting, std::get<protocol::CreateLobbyReq>(settings));
        });
}

void create_lobby_hooked(Hub::State& s, const protocol::CreateLobbyReq& req,
                         const std::string& remote, const std::string& address,
                         std::function<void(std::variant<core::Lobby*, Error>)> done) {
  if (!s.hooks.create_lobby) {
    done(create_lobby(s, req, "", address));
    return;
  }
  auto refuse = [done](const Error& e) { done(e); };
  s.ask_detached(s.hooks.create_lobby, hook_request(req, "", remote),
                 [&s, req, address, done](CreateLobbyDecision& d) {
                   auto settings = adjusted(s, req, d);
                   if (auto* e = std::get_if<Error>(&settings)) {
                     done(*e);
                     return;
                   }
                   done(create_lobby(s, std::get<protocol::CreateLobbyReq>(settings), "", address));
                 },
                 refuse);
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
  // The host hears of new members; a member joining again, or a job's bot (the host's own
  // add_bot put it there), goes on without asking.
  if (!s.hooks.join || lobby->member(r.session->peer_id) || s.bots.of_bot(r.session->peer_id)) {
    s.join_lobby(r, *lobby, req.has_media, req.audio_muted, req.video_muted);
    return;
  }
  JoinRequest q;
  q.peer_id = r.session->peer_id;
  q.name = r.session->name;
  q.is_bot = r.session->is_bot;
  q.user_id = r.session->user_id;
  q.roles = r.session->roles;
  q.lobby = lobby->info;
  q.has_media = req.has_media;
  s.ask(r, s.hooks.join, q, [&s, req, id = lobby->info.id](Request& waiting, JoinDecision&) {
    if (!waiting.session) return;
    core::Lobby* still = s.lobbies.find(id);
    if (!still) {
      s.fail(waiting, make_error(ErrorCode::lobby_not_found, "There is no such lobby."));
      return;
    }
    s.join_lobby(waiting, *still, req.has_media, req.audio_muted, req.video_muted);
  });
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
    if (!r.session->metadata_json.empty()) p.metadata_json = r.session->metadata_json;
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
  if (!s.hooks.chat) {
    const ChatMessage& m = s.lobbies.post_chat(*lobby, r.session->peer_id, r.session->name,
                                               std::move(req.text));
    s.reply(r, [&](JsonBuilder& b) { b.unum("offset", m.offset); });
    return;
  }
  ChatRequest q;
  q.peer_id = r.session->peer_id;
  q.user_id = r.session->user_id;
  q.roles = r.session->roles;
  q.name = r.session->name;
  q.lobby_id = lobby->info.id;
  q.text = std::move(req.text);
  s.ask(r, s.hooks.chat, q, [&s, q](Request& waiting, ChatDecision& d) {
    // Still in the lobby it wrote to: a message does not follow its writer elsewhere.
    if (!waiting.session || waiting.session->lobby_id != q.lobby_id) {
      s.fail(waiting, make_error(ErrorCode::not_in_lobby,
                                 "You left the lobby before this message was sent."));
      return;
    }
    core::Lobby* lobby = s.lobbies.find(q.lobby_id);
    if (!lobby) {
      s.fail(waiting, make_error(ErrorCode::not_in_lobby, "The lobby is gone."));
      return;
    }
    std::string text = d.text ? std::move(*d.text) : q.text;
    if (text.empty() || text.size() > s.limits.max_chat_bytes || !protocol::valid_utf8(text)) {
      s.fail(waiting, make_error(ErrorCode::hook_failed,
                                 "The server's rewrite of this message is not a valid chat text."));
      return;
    }
    const ChatMessage& m = s.lobbies.post_chat(*lobby, waiting.session->peer_id,
                                               waiting.session->name, std::move(text));
    s.reply(waiting, [&](JsonBuilder& b) { b.unum("offset", m.offset); });
  });
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
      (req.audio_muted == false || req.video_muted == false || req.screen_sharing == true)) {
    s.fail(r, make_error(ErrorCode::forbidden,
                         "A listener may not unmute or share a screen: it receives audio and "
                         "video and sends none."));
    return;
  }
  core::Member* m = lobby->member(r.session->peer_id);
  if (!m) return;
  Participant p = m->p;
  const bool had_media = p.has_media;
  p.has_media = req.has_media.value_or(p.has_media);
  p.audio_muted = req.audio_muted.value_or(p.audio_muted);
  p.video_muted = req.video_muted.value_or(p.video_muted);
  p.screen_sharing = req.screen_sharing.value_or(p.screen_sharing) && p.has_media;
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
