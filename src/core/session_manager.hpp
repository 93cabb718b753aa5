// SessionManager: who is who. A session has a public peer id and a secret token; only the
// token's SHA-256 is kept. Sessions outlive connections: a client resumes by token, also
// after a server restart, until the session has been abandoned for Limits::session_ttl_ms.
#pragma once

#include <lobbykit/options.hpp>

#include "core/clock.hpp"
#include "core/event_bus.hpp"
#include "store/store.hpp"

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace lobbykit::core {

struct Session {
  PeerId peer_id;
  std::string token_hash;
  std::string name;   // "" until the session sets one
  bool is_bot = false;
  LobbyId lobby_id;   // "" when in no lobby
  TimeMs created_ms = 0;
  TimeMs last_seen_ms = 0;
  bool connected = false;
};

class SessionManager {
 public:
  SessionManager(const Limits& limits, Clock& clock, store::Store& store, EventBus& bus);

  void load(const std::vector<store::SessionRecord>& records);

  struct Created {
    Session* session;
    std::string token;  // the only time the raw token exists on the server
  };
  // A new connected session. Publishes SessionCreated.
  Created create(bool is_bot);
  // The session owning token, now marked connected; nullptr when unknown.
  // Publishes SessionResumed.
  Session* resume(std::string_view token);
  // The connection of a session went away. Publishes SessionDisconnected.
  void disconnected(Session& s);

  Session* find(const PeerId& peer_id);
  Session* find_by_name_key(const std::string& key);  // linear; admin paths only

  void set_name(Session& s, std::string name);
  void set_lobby(Session& s, LobbyId lobby_id);
  // Removes a session for good (admin kick, expiry). Publishes SessionClosed.
  void remove(const PeerId& peer_id, const std::string& reason);
  // Stamps last_seen_ms of connected sessions older than a quarter of session_ttl_ms, so the
  // stored value stays recent enough for a restart not to expire a session that was in use.
  void refresh_connected();
  // Disconnected sessions not seen for session_ttl_ms and in no lobby; the caller removes
  // them (it also has to release their names).
  std::vector<PeerId> abandoned() const;

  std::size_t count() const { return sessions_.size(); }
  std::size_t connected_count() const { return connected_; }
  const std::unordered_map<PeerId, Session>& all() const { return sessions_; }

 private:
  void persist(const Session& s);

  const Limits& limits_;
  Clock& clock_;
  store::Store& store_;
  EventBus& bus_;
  std::unordered_map<PeerId, Session> sessions_;
  std::unordered_map<std::string, PeerId> by_token_hash_;
  std::size_t connected_ = 0;
};

}  // namespace lobbykit::core
