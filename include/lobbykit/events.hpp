// Typed events: one struct per state change. The server publishes them on its loop thread,
// in the order the changes happen; host code subscribes through Server::subscribe.
#pragma once

#include <lobbykit/export.hpp>
#include <lobbykit/model.hpp>

#include <string>
#include <variant>

namespace lobbykit {
namespace event {

struct SessionCreated { PeerId peer_id; std::string name; bool is_bot = false; };
struct SessionResumed { PeerId peer_id; std::string name; };
// The session's connection went away; it is in its resume grace now.
struct SessionDisconnected { PeerId peer_id; };
// The session is gone for good. reason: "expired" (abandoned for session_ttl_ms, or
// without name and lobby for idle_session_ttl_ms), "evicted" (without name and lobby, it
// made room for a new session under max_sessions / max_sessions_per_address), "kicked".
struct SessionClosed { PeerId peer_id; std::string reason; };
struct NameChanged { PeerId peer_id; std::string old_name; std::string new_name; };
struct LobbyCreated { LobbyInfo lobby; };
// reason: "expired" (empty too long) or "removed" (admin).
struct LobbyRemoved { LobbyId lobby_id; std::string reason; };
struct ParticipantJoined { LobbyId lobby_id; Participant participant; };
// reason: "left", "grace_expired", "kicked", "lobby_removed".
struct ParticipantLeft {
  LobbyId lobby_id;
  PeerId peer_id;
  std::string reason;
  bool had_media = false;  // the peer was part of the media mesh
};
struct ParticipantUpdated { LobbyId lobby_id; Participant participant; };
struct ChatPosted { ChatMessage message; };
// kind: "description" or "candidate". Payloads are not copied into the event.
struct SignalRelayed { LobbyId lobby_id; PeerId from; PeerId to; std::string kind; };

// Bots (docs/bots.md). A provider registered (or resumed: resumed = true).
struct BotProviderConnected {
  std::string provider_id;
  std::string name;
  std::string kinds;  // the kinds it offers, comma-separated
  bool resumed = false;
};
// reason: "closed" (its connection ended) or "silent" (no status within bot_silence_ms);
// its jobs wait bot_reclaim_ms for it to resume. "gone": the reclaim window passed.
struct BotProviderDisconnected { std::string provider_id; std::string reason; };
// A dispatch was added or changed state, or its job did. job_reason: why the previous job
// ended ("" when none ended with this change).
struct BotDispatchUpdated { BotDispatch dispatch; std::string job_reason; };
// reason: "removed", "ended_by_bot", "lobby_removed", "lobby_empty".
struct BotDispatchRemoved { std::string dispatch_id; LobbyId lobby_id; std::string reason; };
// A lobby's settings changed (name, private, persistent, max_participants, metadata): the
// host's update_lobby / set_lobby_metadata, the admin API, or a moderator's set_metadata.
// lobby: the new settings.
struct LobbyUpdated { LobbyInfo lobby; };
// An application message from a member was delivered (docs/embedding.md, "Application
// messages and metadata"): to every other connected member, or only to `to`. delivered: how
// many members it went to. Not published for what a hook handled (deliver false), nor for the
// host's own send_app_message.
struct AppMessage {
  LobbyId lobby_id;
  std::string name;          // the message's name
  PeerId from;
  std::string from_name;
  PeerId to;                 // "" when to the lobby
  std::string payload_json;  // a JSON value
  std::uint32_t delivered = 0;
};
}  // namespace event

using Event = std::variant<event::SessionCreated, event::SessionResumed,
                           event::SessionDisconnected, event::SessionClosed,
                           event::NameChanged, event::LobbyCreated, event::LobbyRemoved,
                           event::ParticipantJoined, event::ParticipantLeft,
                           event::ParticipantUpdated, event::ChatPosted,
                           event::SignalRelayed, event::BotProviderConnected,
                           event::BotProviderDisconnected, event::BotDispatchUpdated,
                           event::BotDispatchRemoved, event::LobbyUpdated,
                           event::AppMessage>;

// Stable snake_case name of an event ("session_created", ...).
LOBBYKIT_API const char* event_name(const Event& e);
// The event as a JSON object {"type": name, ...fields}; the C ABI and Python use this.
LOBBYKIT_API std::string event_to_json(const Event& e);

// JSON objects of the bot value types, as docs/bots.md shows them (C ABI and Python).
LOBBYKIT_API std::string to_json(const BotDispatch& d);
LOBBYKIT_API std::string to_json(const BotKindInfo& k);
LOBBYKIT_API std::string to_json(const BotProviderInfo& p);

}  // namespace lobbykit
