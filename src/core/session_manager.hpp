// SessionManager: who is who. A session has a public peer id and a secret token; only the
// token's SHA-256 is kept. Sessions outlive connections: a client resumes by token, also
// after a server restart, until the session has been abandoned for Limits::session_ttl_ms,
// or, when it has no name and is in no lobby (it holds nothing but its peer id), for
// Limits::idle_session_ttl_ms. The number of sessions is capped per server and per address
// of the client that created them; an idle session makes room for a new one.
#pragma once

#include <lobbykit/options.hpp>

#include "core/clock.hpp"
#include "core/event_bus.hpp"
#include "protocol/error_code.hpp"
#include "store/store.hpp"

#include <optional>
#include <set>
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
  // address_key() of the client that created it: counted under max_sessions_per_address;
  // "" when exempt (in-process) or restored from the store. Kept in memory only.
  std::string address;
  TimeMs idle_since = -1;  // steady: since when it is idle (see SessionManager); -1: not idle
  // Who the host says it is (an access token, docs/embedding.md): "" / none / "" without one.
  std::string user_id;
  std::vector<std::string> roles;
  std::string metadata_json;  // a JSON object, "" when none
  LobbyId only_lobby;         // the one lobby it may join (the token's "lobby"); "" any
  // Server-wide monotonic number of its join of lobby_id (0 when in none); stored, so a
  // restored lobby lists its members in join order (LobbyManager::load).
  std::int64_t join_seq = 0;

  bool has_role(std::string_view role) const;
};

// The host's identity of a session, from its access token.
struct Identity {
  std::string user_id;
  std::vector<std::string> roles;
  std::string metadata_json;
  LobbyId only_lobby;
};

class SessionManager {
 public:
  SessionManager(const Limits& limits, Clock& clock, store::Store& store, EventBus& bus);

  void load(const std::vector<store::SessionRecord>& records);

  struct Created {
    Session* session;
    std::string token;  // the only time the raw token exists on the server
  };
  // Whether a new session from `address` (see Session::address) fits under max_sessions and
  // max_sessions_per_address. When it does not but an idle session can make room (the
  // address's oldest one; for the server cap alone, the oldest of all), that session is
  // named in `evict`: remove it and ask again. Otherwise `refusal` is too_many_sessions.
  struct Admission {
    std::optional<protocol::Error> refusal;
    PeerId evict;  // "" when nothing is to go
  };
  Admission admit(const std::string& address) const;
  // A new connected session, created from `address`. Publishes SessionCreated.
  Created create(bool is_bot, std::string address = {});
  // The session owning token, now marked connected; nullptr when unknown.
  // Publishes SessionResumed.
  Session* resume(std::string_view token);
  // The connection of a session went away. Publishes SessionDisconnected.
  void disconnected(Session& s);

  Session* find(const PeerId& peer_id);
  // The session a resume token belongs to, or nullptr; changes nothing (resume() does).
  const Session* find_by_token(std::string_view token) const;
  Session* find_by_name_key(const std::string& key);  // linear; admin paths only

  void set_name(Session& s, std::string name);
  void set_identity(Session& s, Identity identity);
  // Replaces its metadata (a JSON object, already checked).
  void set_metadata(Session& s, std::string metadata_json);
  void set_lobby(Session& s, LobbyId lobby_id);
  // Removes a session for good (admin kick, expiry). Publishes SessionClosed.
  void remove(const PeerId& peer_id, const std::string& reason);
  // Stamps last_seen_ms of connected sessions older than a quarter of session_ttl_ms, so the
  // stored value stays recent enough for a restart not to expire a session that was in use.
  void refresh_connected();
  // Disconnected sessions not seen for session_ttl_ms and in no lobby; the caller removes
  // them (it also has to release their names).
  std::vector<PeerId> abandoned() const;
  // Sessions idle (disconnected, no name, no lobby) for idle_session_ttl_ms, oldest first.
  // A session restored from the store counts as idle from the restart on (a restart is a
  // disconnect), as a lobby member's grace starts anew. Cheap when none is due.
  std::vector<PeerId> idle_expired() const;

  std::size_t count() const { return sessions_.size(); }
  std::size_t count_from(const std::string& address) const;
  std::size_t idle_count() const { return idle_.size(); }
  std::size_t connected_count() const { return connected_; }
  const std::unordered_map<PeerId, Session>& all() const { return sessions_; }

 private:
  void persist(const Session& s);
  // Keeps idle_ and Session::idle_since in step after any change of connected, name, lobby.
  void update_idle(Session& s);

  const Limits& limits_;
  Clock& clock_;
  store::Store& store_;
  EventBus& bus_;
  std::unordered_map<PeerId, Session> sessions_;
  std::unordered_map<std::string, PeerId> by_token_hash_;
  std::unordered_map<std::string, std::vector<PeerId>> by_address_;  // Session::address != ""
  std::int64_t last_join_seq_ = 0;  // the newest join_seq given out or restored
  std::set<std::pair<TimeMs, PeerId>> idle_;  // (idle_since, peer) of the idle sessions
  std::size_t connected_ = 0;
};

}  // namespace lobbykit::core
