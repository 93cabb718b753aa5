// Names and JSON forms of the client's events and connection states (used by hosts, the C
// ABI and Python), and RequestError.
#include <lobbykit/client.hpp>

#include "client/request_table.hpp"
#include "protocol/json.hpp"
#include "protocol/messages.hpp"

namespace lobbykit {
namespace {

using protocol::JsonBuilder;

struct NameOf {
  const char* operator()(const client_event::StateChanged&) const { return "state_changed"; }
  const char* operator()(const client_event::Welcome&) const { return "welcome"; }
  const char* operator()(const client_event::LobbyJoined&) const { return "lobby_joined"; }
  const char* operator()(const client_event::LobbyLeft&) const { return "lobby_left"; }
  const char* operator()(const client_event::ParticipantJoined&) const { return "participant_joined"; }
  const char* operator()(const client_event::ParticipantLeft&) const { return "participant_left"; }
  const char* operator()(const client_event::ParticipantUpdated&) const { return "participant_updated"; }
  const char* operator()(const client_event::NameChanged&) const { return "name_changed"; }
  const char* operator()(const client_event::Chat&) const { return "chat"; }
  const char* operator()(const client_event::PeerAdded&) const { return "peer_added"; }
  const char* operator()(const client_event::PeerRemoved&) const { return "peer_removed"; }
  const char* operator()(const client_event::Description&) const { return "description"; }
  const char* operator()(const client_event::Candidate&) const { return "candidate"; }
  const char* operator()(const client_event::Error&) const { return "error"; }
  const char* operator()(const client_event::LobbyUpdated&) const { return "lobby_updated"; }
  const char* operator()(const client_event::AppMessage&) const { return "app_message"; }
  const char* operator()(const client_event::LobbyList&) const { return "lobby_list"; }
  const char* operator()(const client_event::LobbyListed&) const { return "lobby_listed"; }
  const char* operator()(const client_event::LobbyUnlisted&) const { return "lobby_unlisted"; }
};

void write_lobbies(JsonBuilder& b, const std::vector<LobbyInfo>& lobbies) {
  b.begin_array("lobbies");
  for (const auto& l : lobbies) protocol::write(b, l);
  b.end_array();
}

struct Fields {
  JsonBuilder& b;
  void operator()(const client_event::StateChanged& e) const { b.str("state", to_string(e.state)); }
  void operator()(const client_event::Welcome& e) const {
    b.str("peer_id", e.peer_id).str("token", e.token).str("name", e.name)
        .boolean("resumed", e.resumed).key("lobby");
    if (e.lobby) protocol::write(b, *e.lobby); else b.w().Null();
    b.begin_array("participants");
    for (const auto& p : e.participants) protocol::write(b, p);
    b.end_array();
  }
  void operator()(const client_event::LobbyJoined& e) const {
    b.key("lobby");
    protocol::write(b, e.lobby);
  }
  void operator()(const client_event::LobbyUpdated& e) const {
    b.key("lobby");
    protocol::write(b, e.lobby);
  }
  void operator()(const client_event::AppMessage& e) const {
    b.str("lobby_id", e.lobby_id).str("name", e.name).str("from", e.from)
        .str("from_name", e.from_name).str("to", e.to)
        .raw("payload", e.payload_json.empty() ? std::string_view("null")
                                               : std::string_view(e.payload_json));
  }
  void operator()(const client_event::LobbyList& e) const { write_lobbies(b, e.lobbies); }
  void operator()(const client_event::LobbyListed& e) const {
    b.key("lobby");
    protocol::write(b, e.lobby);
  }
  void operator()(const client_event::LobbyUnlisted& e) const { b.str("lobby_id", e.lobby_id); }
  void operator()(const client_event::LobbyLeft& e) const {
    b.str("lobby_id", e.lobby_id).str("reason", e.reason);
  }
  void operator()(const client_event::ParticipantJoined& e) const {
    b.key("participant");
    protocol::write(b, e.participant);
  }
  void operator()(const client_event::ParticipantLeft& e) const {
    b.str("peer_id", e.peer_id).str("reason", e.reason);
  }
  void operator()(const client_event::ParticipantUpdated& e) const {
    b.key("participant");
    protocol::write(b, e.participant);
  }
  void operator()(const client_event::NameChanged& e) const { b.str("name", e.name); }
  void operator()(const client_event::Chat& e) const {
    b.str("lobby_id", e.message.lobby_id).key("message");
    protocol::write(b, e.message);
  }
  void operator()(const client_event::PeerAdded& e) const {
    b.str("peer_id", e.peer_id).str("name", e.name).boolean("is_bot", e.is_bot)
        .boolean("should_offer", e.should_offer);
  }
  void operator()(const client_event::PeerRemoved& e) const { b.str("peer_id", e.peer_id); }
  void operator()(const client_event::Description& e) const {
    // Nested as on the wire, so it reads like an RTCSessionDescriptionInit.
    b.str("from", e.from).key("description").begin_object().str("type", e.type)
        .str("sdp", e.sdp).end_object();
  }
  void operator()(const client_event::Candidate& e) const {
    // As on the wire: an RTCIceCandidateInit, or null for the end of candidates.
    b.str("from", e.from).key("candidate");
    if (e.candidate.empty()) {
      b.w().Null();
      return;
    }
    b.begin_object().str("candidate", e.candidate);
    if (e.sdp_mid) b.str("sdpMid", *e.sdp_mid);
    if (e.sdp_mline_index) b.num("sdpMLineIndex", *e.sdp_mline_index);
    if (e.username_fragment) b.str("usernameFragment", *e.username_fragment);
    b.end_object();
  }
  void operator()(const client_event::Error& e) const { client::write_client_error_fields(b, e.error); }
};

void write_error(JsonBuilder& b, const ClientError& e) {
  b.begin_object();
  client::write_client_error_fields(b, e);
  b.end_object();
}

}  // namespace

const char* to_string(ConnectionState s) {
  switch (s) {
    case ConnectionState::disconnected: return "disconnected";
    case ConnectionState::connecting: return "connecting";
    case ConnectionState::connected: return "connected";
    case ConnectionState::reconnecting: return "reconnecting";
  }
  return "unknown";
}

RequestError::RequestError(ClientError e)
    : std::runtime_error(e.code + ": " + e.message), error_(std::move(e)) {}

const char* client_event_name(const ClientEvent& e) { return std::visit(NameOf{}, e); }

std::string client_event_to_json(const ClientEvent& e) {
  JsonBuilder b;
  b.begin_object().str("type", client_event_name(e));
  std::visit(Fields{b}, e);
  b.end_object();
  return b.take();
}

std::string client_error_to_json(const ClientError& e) {
  JsonBuilder b;
  write_error(b, e);
  return b.take();
}

std::string client_snapshot_to_json(const ClientSnapshot& s) {
  JsonBuilder b;
  b.begin_object().str("state", to_string(s.state)).str("peer_id", s.peer_id)
      .str("token", s.token).str("name", s.name).boolean("is_bot", s.is_bot).key("lobby");
  if (s.lobby) protocol::write(b, *s.lobby); else b.w().Null();
  b.begin_array("participants");
  for (const auto& p : s.participants) protocol::write(b, p);
  b.end_array().begin_array("chat");
  for (const auto& m : s.chat) protocol::write(b, m);
  b.end_array().unum("last_offset", s.last_offset)
      .boolean("history_complete", s.history_complete).key("last_error");
  if (s.last_error) write_error(b, *s.last_error); else b.w().Null();
  write_lobbies(b, s.lobbies);
  b.boolean("watching_lobbies", s.watching_lobbies).end_object();
  return b.take();
}

}  // namespace lobbykit
