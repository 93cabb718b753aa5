// What a client reads: the values and messages the server sends, decoded leniently. A
// missing or mistyped field keeps its default and unknown fields are ignored, as
// docs/protocol.md asks of clients (fields may be added within a protocol version).
#pragma once

#include <lobbykit/model.hpp>

#include <rapidjson/document.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lobbykit::protocol {

// Field readers over a JSON object; `obj` may be any value (a non-object has no fields).
std::string read_string(const rapidjson::Value& obj, const char* key);
bool read_bool(const rapidjson::Value& obj, const char* key, bool fallback = false);
std::uint64_t read_uint(const rapidjson::Value& obj, const char* key);
std::int64_t read_int(const rapidjson::Value& obj, const char* key, std::int64_t fallback = 0);
const rapidjson::Value* read_object(const rapidjson::Value& obj, const char* key);
const rapidjson::Value* read_array(const rapidjson::Value& obj, const char* key);

Participant read_participant(const rapidjson::Value& v);
LobbyInfo read_lobby(const rapidjson::Value& v);
// The wire form has no lobby id: the caller knows which lobby it came from.
ChatMessage read_chat_message(const rapidjson::Value& v, const LobbyId& lobby_id);
std::vector<ChatMessage> read_chat_messages(const rapidjson::Value* array,
                                            const LobbyId& lobby_id);

// A draining server's "reconnect" push (docs/protocol.md, "Draining"): when the connection
// then closes, the next one opens after_ms later (no backoff, not counted as a failed
// attempt), at url when it is given and has the same scheme as the one in use.
struct ReconnectHint {
  std::uint32_t after_ms = 0;  // at most kMaxHintDelayMs
  std::string url;             // "" : the URL in use
};
constexpr std::uint32_t kMaxHintDelayMs = 60'000;
ReconnectHint read_reconnect_hint(const rapidjson::Value& data);

// {"lobby", "participants", "history", "history_complete", "last_offset"}: in welcome and
// in the join_lobby result.
struct LobbySnapshot {
  LobbyInfo lobby;
  std::vector<Participant> participants;
  std::vector<ChatMessage> history;  // oldest first
  bool history_complete = true;
  std::uint64_t last_offset = 0;
};
LobbySnapshot read_lobby_snapshot(const rapidjson::Value& v);

struct Welcome {
  PeerId peer_id;
  std::string token;
  std::string name;
  bool is_bot = false;
  bool resumed = false;
  std::optional<LobbySnapshot> lobby;
  std::uint64_t chat_history = 0;  // limits.chat_history; 0 when not told
};
Welcome read_welcome(const rapidjson::Value& data);

}  // namespace lobbykit::protocol
