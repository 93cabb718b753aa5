// Reactions to core events: the one place that turns state changes into frames for the
// members of a lobby, whichever path (a request, a timer, an admin call) caused them.
#include "protocol/messages.hpp"
#include "router/hub_state.hpp"

namespace lobbykit::router {

namespace {

template <typename... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <typename... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace

void Hub::State::on_event(const Event& ev) {
  std::visit(
      Overloaded{
          [&](const event::ParticipantJoined& e) {
            if (core::Session* s = sessions.find(e.participant.peer_id))
              sessions.set_lobby(*s, e.lobby_id);
            if (lobby_listed_ids.count(e.lobby_id)) lobby_count_changed.insert(e.lobby_id);
            core::Lobby* lobby = lobbies.find(e.lobby_id);
            if (!lobby) return;
            auto frame = protocol::envelope("participant_joined", "", [&](JsonBuilder& b) {
              b.str("lobby_id", e.lobby_id).key("participant");
              protocol::write(b, e.participant);
            });
            broadcast(*lobby, frame, "participant_joined", &e.participant.peer_id);
          },
          [&](const event::ParticipantLeft& e) {
            if (core::Session* s = sessions.find(e.peer_id)) sessions.set_lobby(*s, "");
            if (lobby_listed_ids.count(e.lobby_id)) lobby_count_changed.insert(e.lobby_id);
            // A job's bot that leaves fails its job (after this event reached everyone); a
            // removed lobby takes its dispatches along instead (LobbyRemoved).
            if (e.reason != "lobby_removed" && bots.of_bot(e.peer_id)) {
              const PeerId peer = e.peer_id;
              bus.defer([this, peer] { bots.bot_gone(peer); });
            }
            if (e.reason != "left") {
              auto frame = protocol::envelope("lobby_left", "", [&](JsonBuilder& b) {
                b.str("lobby_id", e.lobby_id).str("reason", e.reason);
              });
              send_to_peer(e.peer_id, frame, "lobby_left");
            }
            core::Lobby* lobby = lobbies.find(e.lobby_id);
            if (!lobby) return;
            auto left = protocol::envelope("participant_left", "", [&](JsonBuilder& b) {
              b.str("lobby_id", e.lobby_id).str("peer_id", e.peer_id).str("reason", e.reason);
            });
            broadcast(*lobby, left, "participant_left");
            if (!e.had_media) return;
            auto removed = protocol::envelope("peer_removed", "", [&](JsonBuilder& b) {
              b.str("peer_id", e.peer_id);
            });
            for (const auto& m : lobby->members)
              if (m.p.has_media && m.p.connected)
                send_to_peer(m.p.peer_id, removed, "peer_removed");
          },
          [&](const event::ParticipantUpdated& e) {
            core::Lobby* lobby = lobbies.find(e.lobby_id);
            if (!lobby) return;
            auto frame = protocol::envelope("participant_updated", "", [&](JsonBuilder& b) {
              b.str("lobby_id", e.lobby_id).key("participant");
              protocol::write(b, e.participant);
            });
            broadcast(*lobby, frame, "participant_updated");
          },
          [&](const event::NameChanged& e) {
            auto frame = protocol::envelope("name_changed", "", [&](JsonBuilder& b) {
              b.str("name", e.new_name);
            });
            send_to_peer(e.peer_id, frame, "name_changed");
          },
          [&](const event::ChatPosted& e) {
            core::Lobby* lobby = lobbies.find(e.message.lobby_id);
            if (!lobby) return;
            // Serialized once, queued to every member.
            auto frame = protocol::envelope("chat", "", [&](JsonBuilder& b) {
              b.str("lobby_id", e.message.lobby_id).key("message");
              protocol::write(b, e.message);
            });
            broadcast(*lobby, frame, "chat");
          },
          [&](const event::SessionClosed& e) {
            if (bots.of_bot(e.peer_id)) {
              const PeerId peer = e.peer_id;
              bus.defer([this, peer] { bots.bot_gone(peer); });
            }
          },
          [&](const event::LobbyCreated& e) {
            if (const core::Lobby* lobby = lobbies.find(e.lobby.id)) lobby_list_changed(*lobby);
          },
          [&](const event::LobbyRemoved& e) {
            lobby_count_changed.erase(e.lobby_id);
            if (lobby_listed_ids.erase(e.lobby_id)) push_lobby_unlisted(e.lobby_id);
            if (!bots.lobby_has_dispatches(e.lobby_id)) return;
            const LobbyId id = e.lobby_id;
            bus.defer([this, id] { bots.remove_lobby(id, "lobby_removed"); });
          },
          [&](const event::BotDispatchUpdated& e) {
            core::Lobby* lobby = lobbies.find(e.dispatch.lobby_id);
            if (!lobby) return;
            auto frame = protocol::envelope("bot_dispatch", "", [&](JsonBuilder& b) {
              b.key("dispatch");
              protocol::write(b, e.dispatch);
            });
            broadcast(*lobby, frame, "bot_dispatch");
          },
          [&](const event::BotDispatchRemoved& e) {
            core::Lobby* lobby = lobbies.find(e.lobby_id);
            if (!lobby) return;
            auto frame = protocol::envelope("bot_dispatch_removed", "", [&](JsonBuilder& b) {
              b.str("lobby_id", e.lobby_id).str("dispatch_id", e.dispatch_id).str("reason", e.reason);
            });
            broadcast(*lobby, frame, "bot_dispatch_removed");
          },
          [&](const event::LobbyUpdated& e) {
            core::Lobby* lobby = lobbies.find(e.lobby.id);
            if (!lobby) return;
            lobby_list_changed(*lobby);
            auto frame = protocol::envelope("lobby_updated", "", [&](JsonBuilder& b) {
              b.str("lobby_id", e.lobby.id).key("lobby");
              protocol::write(b, e.lobby);
            });
            broadcast(*lobby, frame, "lobby_updated");
          },
          [](const auto&) {},
      },
      ev);
}

void Hub::State::push_lobby_listed(const core::Lobby& lobby) {
  if (lobby_watchers.empty()) return;
  auto frame = protocol::envelope("lobby_listed", "", [&](JsonBuilder& b) {
    b.key("lobby");
    protocol::write(b, lobby.info);
  });
  for (ConnId c : lobby_watchers) send(c, frame, "lobby_listed");
}

void Hub::State::push_lobby_unlisted(const LobbyId& lobby_id) {
  if (lobby_watchers.empty()) return;
  auto frame = protocol::envelope("lobby_unlisted", "",
                                  [&](JsonBuilder& b) { b.str("lobby_id", lobby_id); });
  for (ConnId c : lobby_watchers) send(c, frame, "lobby_unlisted");
}

void Hub::State::lobby_list_changed(const core::Lobby& lobby) {
  if (lobby.info.is_private) {
    lobby_count_changed.erase(lobby.info.id);
    if (lobby_listed_ids.erase(lobby.info.id)) push_lobby_unlisted(lobby.info.id);
    return;
  }
  if (lobby_watchers.empty()) return;  // lobby_listed_ids is filled again on subscribe
  lobby_listed_ids.insert(lobby.info.id);
  lobby_count_changed.erase(lobby.info.id);  // this push carries the count too
  push_lobby_listed(lobby);
}

void Hub::State::flush_lobby_counts(TimeMs now) {
  if (now < next_lobby_list_push || lobby_count_changed.empty()) return;
  next_lobby_list_push = now + limits.lobby_list_push_ms;
  std::set<LobbyId> changed;
  changed.swap(lobby_count_changed);
  for (const LobbyId& id : changed) {
    const core::Lobby* lobby = lobbies.find(id);
    if (lobby && !lobby->info.is_private && lobby_listed_ids.count(id)) push_lobby_listed(*lobby);
  }
}

void Hub::State::update_member_names(const std::vector<PeerId>& peers) {
  for (const PeerId& peer : peers) {
    core::Session* s = sessions.find(peer);
    core::Lobby* lobby = s ? lobby_of(*s) : nullptr;
    core::Member* m = lobby ? lobby->member(peer) : nullptr;
    if (!m || m->p.name == s->name) continue;
    Participant p = m->p;
    p.name = s->name;
    lobbies.update(lobby->info.id, p);
  }
}

}  // namespace lobbykit::router
