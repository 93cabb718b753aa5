// Plain value types shared by every layer and by host applications (events carry them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lobbykit {

using PeerId = std::string;   // public id of a session, shown to others
using LobbyId = std::string;  // public id of a lobby
using TimeMs = std::int64_t;  // milliseconds since the Unix epoch

// A member of a lobby as the other members see it.
struct Participant {
  PeerId peer_id;
  std::string name;
  bool has_media = false;
  bool audio_muted = false;
  bool video_muted = false;
  bool is_bot = false;
  bool connected = true;  // false while the session is in its resume grace
  std::string user_id;             // the host's user id from an access token; "" when none
  std::vector<std::string> roles;  // from the access token (docs/protocol.md, "Roles")
  // The session's metadata, a JSON object: from its access token, the host, or itself
  // (set_metadata). "" reads as {}.
  std::string metadata_json = "{}";
  // Sends a screen as a second video track (docs/protocol.md). Last, so that positional
  // initializers written before it still compile.
  bool screen_sharing = false;
};

struct LobbyInfo {
  LobbyId id;
  std::string name;
  bool is_private = false;
  bool persistent = false;
  std::uint32_t max_participants = 0;
  std::uint32_t participant_count = 0;
  TimeMs created_ms = 0;
  // The host's (or a moderator's) data about the lobby, a JSON object; "" reads as {}.
  std::string metadata_json = "{}";
};

struct ChatMessage {
  LobbyId lobby_id;
  std::uint64_t offset = 0;  // per-lobby, starts at 1, strictly increasing
  PeerId sender;
  std::string sender_name;
  std::string text;
  TimeMs time_ms = 0;
  // A notice the server (the host, an admin) posted: sender and sender_name are "".
  // Clients show it as not from a participant. Kept as sender == "" in the store.
  bool system = false;
};

// A bot dispatch as members, admins and hosts see it (docs/bots.md): the wish "a bot of
// `kind` in `lobby_id`" and the state of its current attempt.
struct BotDispatch {
  std::string dispatch_id;
  LobbyId lobby_id;
  std::string kind;
  std::string key;            // names the dispatch within its lobby (default: the kind)
  std::string metadata_json;  // a JSON object handed to the provider ("{}" when none)
  std::string state;          // "waiting", "starting", "running", "failed"
  std::string reason;         // why waiting or failed; "" otherwise
  std::uint32_t attempts = 0; // failed attempts so far
  PeerId bot_peer_id;         // the bot's session while it has one
  TimeMs created_ms = 0;
  std::string job_id;         // the current job, "" when none
  std::string job_state;      // "offered", "assigned", "joined"; "" when no job
  std::string provider_id;    // the current job's provider, "" when none
};

// A bot kind some provider offers.
struct BotKindInfo {
  std::string kind;
  std::string description;
  bool available = false;  // a provider could take one now
};

// A bot provider as admins see it.
struct BotProviderInfo {
  std::string provider_id;
  std::string name;
  std::string version;
  std::string kinds;           // comma-separated
  std::uint32_t max_jobs = 0;
  std::uint32_t running = 0;   // jobs it holds
  double load = 0;             // its own report, 0..1
  bool accepting = false;      // gets offers (not draining, says it accepts)
  bool connected = false;      // false during its reclaim window
  TimeMs connected_ms = 0;
};

// A session as the host and admins see it (Server::list_sessions, GET /api/admin/sessions).
struct SessionInfo {
  PeerId peer_id;
  std::string name;       // "" until the session sets one
  bool is_bot = false;
  bool connected = false;  // false while disconnected (in its resume grace, or abandoned)
  LobbyId lobby_id;       // "" when in no lobby
  bool name_protected = false;
  TimeMs created_ms = 0;
  TimeMs last_seen_ms = 0;
  std::string metadata_json = "{}";  // the session's metadata, a JSON object
};

// A lobby with its members (Server::list_lobbies / get_lobby).
struct LobbyDetail {
  LobbyInfo lobby;
  std::vector<Participant> participants;  // in joining order
};

// What a host sets when it creates a lobby (Server::create_lobby); as create_lobby's data.
struct LobbySettings {
  std::string name;
  bool is_private = false;
  bool persistent = false;
  std::uint32_t max_participants = 0;  // 0: Limits::max_participants
};

// A change of a lobby's settings (Server::update_lobby): fields left empty stay as they are.
struct LobbyUpdate {
  std::optional<std::string> name;
  std::optional<bool> is_private;
  std::optional<bool> persistent;
  std::optional<std::uint32_t> max_participants;  // below the member count: nobody leaves,
                                                  // joins are refused until it fits
  std::optional<std::string> metadata_json = std::nullopt;  // a JSON object; replaces the lobby's
};

}  // namespace lobbykit
