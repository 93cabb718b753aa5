#include "protocol/client_decode.hpp"

#include "protocol/json.hpp"

#include <algorithm>

namespace lobbykit::protocol {

namespace {

const rapidjson::Value* member(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject()) return nullptr;
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

}  // namespace

std::string read_string(const rapidjson::Value& obj, const char* key) {
  const auto* v = member(obj, key);
  return v && v->IsString() ? std::string(v->GetString(), v->GetStringLength()) : std::string();
}

bool read_bool(const rapidjson::Value& obj, const char* key, bool fallback) {
  const auto* v = member(obj, key);
  return v && v->IsBool() ? v->GetBool() : fallback;
}

std::uint64_t read_uint(const rapidjson::Value& obj, const char* key) {
  const auto* v = member(obj, key);
  return v && v->IsUint64() ? v->GetUint64() : 0;
}

std::int64_t read_int(const rapidjson::Value& obj, const char* key, std::int64_t fallback) {
  const auto* v = member(obj, key);
  return v && v->IsInt64() ? v->GetInt64() : fallback;
}

const rapidjson::Value* read_object(const rapidjson::Value& obj, const char* key) {
  const auto* v = member(obj, key);
  return v && v->IsObject() ? v : nullptr;
}

const rapidjson::Value* read_array(const rapidjson::Value& obj, const char* key) {
  const auto* v = member(obj, key);
  return v && v->IsArray() ? v : nullptr;
}

Participant read_participant(const rapidjson::Value& v) {
  Participant p;
  p.peer_id = read_string(v, "peer_id");
  p.name = read_string(v, "name");
  p.has_media = read_bool(v, "has_media");
  p.audio_muted = read_bool(v, "audio_muted");
  p.video_muted = read_bool(v, "video_muted");
  p.screen_sharing = read_bool(v, "screen_sharing");
  p.is_bot = read_bool(v, "is_bot");
  p.connected = read_bool(v, "connected", true);
  p.user_id = read_string(v, "user_id");
  if (const auto* roles = read_array(v, "roles"))
    for (const auto& role : roles->GetArray())
      if (role.IsString()) p.roles.emplace_back(role.GetString(), role.GetStringLength());
  if (const auto* metadata = read_object(v, "metadata")) p.metadata_json = to_json(*metadata);
  return p;
}

LobbyInfo read_lobby(const rapidjson::Value& v) {
  LobbyInfo l;
  l.id = read_string(v, "id");
  l.name = read_string(v, "name");
  l.is_private = read_bool(v, "private");
  l.persistent = read_bool(v, "persistent");
  l.max_participants = static_cast<std::uint32_t>(read_uint(v, "max_participants"));
  l.participant_count = static_cast<std::uint32_t>(read_uint(v, "participants"));
  l.created_ms = read_int(v, "created_ms");
  if (const auto* metadata = read_object(v, "metadata")) l.metadata_json = to_json(*metadata);
  return l;
}

ChatMessage read_chat_message(const rapidjson::Value& v, const LobbyId& lobby_id) {
  ChatMessage m;
  m.lobby_id = lobby_id;
  m.offset = read_uint(v, "offset");
  m.sender = read_string(v, "sender");
  m.sender_name = read_string(v, "sender_name");
  m.text = read_string(v, "text");
  m.time_ms = read_int(v, "time_ms");
  m.system = read_bool(v, "system");
  return m;
}

std::vector<ChatMessage> read_chat_messages(const rapidjson::Value* array,
                                            const LobbyId& lobby_id) {
  std::vector<ChatMessage> out;
  if (!array || !array->IsArray()) return out;
  out.reserve(array->Size());
  for (const auto& m : array->GetArray()) {
    if (m.IsObject()) out.push_back(read_chat_message(m, lobby_id));
  }
  return out;
}

LobbySnapshot read_lobby_snapshot(const rapidjson::Value& v) {
  LobbySnapshot s;
  if (const auto* lobby = read_object(v, "lobby")) s.lobby = read_lobby(*lobby);
  if (const auto* list = read_array(v, "participants")) {
    for (const auto& p : list->GetArray()) {
      if (p.IsObject()) s.participants.push_back(read_participant(p));
    }
  }
  s.history = read_chat_messages(read_array(v, "history"), s.lobby.id);
  s.history_complete = read_bool(v, "history_complete", true);
  s.last_offset = read_uint(v, "last_offset");
  return s;
}

Welcome read_welcome(const rapidjson::Value& data) {
  Welcome w;
  w.peer_id = read_string(data, "peer_id");
  w.token = read_string(data, "token");
  w.name = read_string(data, "name");
  w.is_bot = read_bool(data, "is_bot");
  w.resumed = read_bool(data, "resumed");
  if (const auto* lobby = read_object(data, "lobby")) w.lobby = read_lobby_snapshot(*lobby);
  if (const auto* limits = read_object(data, "limits"))
    w.chat_history = read_uint(*limits, "chat_history");
  return w;
}

ReconnectHint read_reconnect_hint(const rapidjson::Value& data) {
  ReconnectHint h;
  h.after_ms = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(read_uint(data, "after_ms"), kMaxHintDelayMs));
  h.url = read_string(data, "url");
  return h;
}

}  // namespace lobbykit::protocol
