// LobbyManager: lobbies, their members and their chat. A session is in at most one lobby.
// A member whose connection dropped stays (connected = false) for the resume grace, then
// leaves. An empty lobby that is not persistent expires after Limits::lobby_expiry_ms.
// Lobbies count toward quotas of the session and the address that created them while they
// exist (Limits::max_lobbies_per_session, max_lobbies_per_address).
#pragma once

#include <lobbykit/options.hpp>

#include "core/clock.hpp"
#include "core/event_bus.hpp"
#include "protocol/error_code.hpp"
#include "store/store.hpp"

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace lobbykit::core {

struct Member {
  Participant p;
  TimeMs disconnected_ms = 0;  // steady: when the connection dropped (p.connected == false)
};

struct Lobby {
  LobbyInfo info;                   // participant_count kept equal to members.size()
  std::uint64_t last_offset = 0;    // newest chat offset ever given out
  std::vector<Member> members;      // in joining order
  std::deque<ChatMessage> history;  // the newest Limits::chat_history messages
  TimeMs empty_since = 0;           // steady: when it became empty; 0 while it has members
  std::uint64_t order = 0;          // creation order: list() sorts by it (ms ties happen)
  // Who created it, for the quotas; "" when not counted (an exempt creator, or restored from
  // the store: creators are kept in memory only).
  PeerId creator;
  std::string creator_address;

  Member* member(std::string_view peer);
  const Member* member(std::string_view peer) const;
};

class LobbyManager {
 public:
  LobbyManager(const Limits& limits, Clock& clock, store::Store& store, EventBus& bus);

  // Restores lobbies and chat; sessions that were in a lobby come back as disconnected
  // members with a fresh grace, so a restart looks like a short network drop.
  void load(const store::Snapshot& snap);

  struct CreateParams {
    std::string name;
    bool is_private = false;
    bool persistent = false;
    std::uint32_t max_participants = 0;  // 0: Limits::max_participants
    PeerId creator;        // the creating session, "" for none (HTTP)
    std::string address;   // its client's address key, "" when exempt (admin, in-process)
  };
  // Publishes LobbyCreated. Errors: lobby_exists, lobby_quota, too_many_lobbies.
  std::variant<Lobby*, protocol::Error> create(const CreateParams& params);
  Lobby* find(const LobbyId& id);
  Lobby* find_public_by_name(const std::string& name);
  std::vector<LobbyInfo> list(bool include_private) const;

  // Adds p to the lobby. Publishes ParticipantJoined. Errors: lobby_full.
  std::optional<protocol::Error> join(Lobby& lobby, const Participant& p);
  // Removes the member; publishes ParticipantLeft. No-op if it is not a member.
  void leave(const LobbyId& lobby_id, const PeerId& peer, const std::string& reason);
  // Replaces a member's participant record; publishes ParticipantUpdated when it changed.
  void update(const LobbyId& lobby_id, const Participant& p);
  // Connection state of a member; a reconnect within the grace just flips it back.
  void set_connected(const LobbyId& lobby_id, const PeerId& peer, bool connected);

  // Stamps and stores a chat message; publishes ChatPosted. Returns a copy: with
  // Limits::chat_history 0 the lobby keeps none.
  ChatMessage post_chat(Lobby& lobby, const PeerId& sender, const std::string& sender_name,
                        std::string text);
  struct Page {
    std::vector<const ChatMessage*> messages;  // oldest first
    bool complete = true;   // false: messages after `after` were dropped by retention
    bool has_more = false;  // true: limit cut the page; ask again after the last offset
  };
  // The messages after `after`, oldest first: at most `limit`, and no more than fit in
  // max_bytes of JSON (protocol::json_size; at least one message when any is left).
  Page history(const Lobby& lobby, std::uint64_t after, std::uint32_t limit,
               std::size_t max_bytes = SIZE_MAX) const;
  // The newest messages, oldest first, by the same two bounds: what a lobby snapshot
  // carries. complete: false when any older message is not in the page (dropped by
  // retention or left out for size; chat_history fetches what is kept).
  Page recent(const Lobby& lobby, std::uint32_t limit, std::size_t max_bytes) const;

  // Changes the settings given in u (already checked: a valid name, max_participants >= 1,
  // metadata a JSON object of at most max_metadata_bytes).
  // A max_participants below the member count removes nobody; joins are refused until the
  // lobby fits again. Publishes LobbyUpdated when anything changed. Errors: lobby_exists.
  std::optional<protocol::Error> update_settings(Lobby& lobby, const LobbyUpdate& u);
  // Every member leaves (reason "lobby_removed"), then the lobby goes. LobbyRemoved.
  void remove(const LobbyId& id, const std::string& reason);
  // Ends expired graces and expires empty lobbies. Call about once a second.
  void tick();

  std::size_t count() const { return lobbies_.size(); }
  std::size_t created_by(const PeerId& creator) const;      // existing lobbies, for quotas
  std::size_t created_from(const std::string& address) const;
  std::size_t participant_count() const;
  const std::unordered_map<LobbyId, Lobby>& all() const { return lobbies_; }

 private:
  void persist(const Lobby& l);

  const Limits& limits_;
  Clock& clock_;
  store::Store& store_;
  EventBus& bus_;
  std::unordered_map<LobbyId, Lobby> lobbies_;
  std::unordered_map<std::string, LobbyId> by_name_key_;
  std::unordered_map<PeerId, std::size_t> by_creator_;        // existing lobbies per creator
  std::unordered_map<std::string, std::size_t> by_address_;   // ... per creator's address
  std::uint64_t next_order_ = 1;
};

}  // namespace lobbykit::core
