// Names and JSON forms of the public events (used by hosts, the C ABI and Python).
#include <lobbykit/events.hpp>

#include "protocol/json.hpp"
#include "protocol/messages.hpp"

namespace lobbykit {
namespace {

using protocol::JsonBuilder;

struct NameOf {
  const char* operator()(const event::SessionCreated&) const { return "session_created"; }
  const char* operator()(const event::SessionResumed&) const { return "session_resumed"; }
  const char* operator()(const event::SessionDisconnected&) const { return "session_disconnected"; }
  const char* operator()(const event::SessionClosed&) const { return "session_closed"; }
  const char* operator()(const event::NameChanged&) const { return "name_changed"; }
  const char* operator()(const event::LobbyCreated&) const { return "lobby_created"; }
  const char* operator()(const event::LobbyRemoved&) const { return "lobby_removed"; }
  const char* operator()(const event::ParticipantJoined&) const { return "participant_joined"; }
  const char* operator()(const event::ParticipantLeft&) const { return "participant_left"; }
  const char* operator()(const event::ParticipantUpdated&) const { return "participant_updated"; }
  const char* operator()(const event::ChatPosted&) const { return "chat_posted"; }
  const char* operator()(const event::SignalRelayed&) const { return "signal_relayed"; }
  const char* operator()(const event::BotProviderConnected&) const { return "bot_provider_connected"; }
  const char* operator()(const event::BotProviderDisconnected&) const {
    return "bot_provider_disconnected";
  }
  const char* operator()(const event::BotDispatchUpdated&) const { return "bot_dispatch_updated"; }
  const char* operator()(const event::BotDispatchRemoved&) const { return "bot_dispatch_removed"; }
  const char* operator()(const event::LobbyUpdated&) const { return "lobby_updated"; }
  const char* operator()(const event::AppMessage&) const { return "app_message"; }
};

struct Fields {
  JsonBuilder& b;
  void operator()(const event::SessionCreated& e) const {
    b.str("peer_id", e.peer_id).str("name", e.name).boolean("is_bot", e.is_bot);
  }
  void operator()(const event::SessionResumed& e) const {
    b.str("peer_id", e.peer_id).str("name", e.name);
  }
  void operator()(const event::SessionDisconnected& e) const { b.str("peer_id", e.peer_id); }
  void operator()(const event::SessionClosed& e) const {
    b.str("peer_id", e.peer_id).str("reason", e.reason);
  }
  void operator()(const event::NameChanged& e) const {
    b.str("peer_id", e.peer_id).str("old_name", e.old_name).str("new_name", e.new_name);
  }
  void operator()(const event::LobbyCreated& e) const {
    b.key("lobby");
    protocol::write(b, e.lobby);
  }
  void operator()(const event::LobbyRemoved& e) const {
    b.str("lobby_id", e.lobby_id).str("reason", e.reason);
  }
  void operator()(const event::ParticipantJoined& e) const {
    b.str("lobby_id", e.lobby_id).key("participant");
    protocol::write(b, e.participant);
  }
  void operator()(const event::ParticipantLeft& e) const {
    b.str("lobby_id", e.lobby_id).str("peer_id", e.peer_id).str("reason", e.reason)
        .boolean("had_media", e.had_media);
  }
  void operator()(const event::ParticipantUpdated& e) const {
    b.str("lobby_id", e.lobby_id).key("participant");
    protocol::write(b, e.participant);
  }
  void operator()(const event::ChatPosted& e) const {
    b.str("lobby_id", e.message.lobby_id).key("message");
    protocol::write(b, e.message);
  }
  void operator()(const event::SignalRelayed& e) const {
    b.str("lobby_id", e.lobby_id).str("from", e.from).str("to", e.to).str("kind", e.kind);
  }
  void operator()(const event::BotProviderConnected& e) const {
    b.str("provider_id", e.provider_id).str("name", e.name).str("kinds", e.kinds)
        .boolean("resumed", e.resumed);
  }
  void operator()(const event::BotProviderDisconnected& e) const {
    b.str("provider_id", e.provider_id).str("reason", e.reason);
  }
  void operator()(const event::BotDispatchUpdated& e) const {
    b.key("dispatch");
    protocol::write(b, e.dispatch);
    b.str("job_id", e.dispatch.job_id).str("job_state", e.dispatch.job_state)
        .str("provider_id", e.dispatch.provider_id).str("job_reason", e.job_reason);
  }
  void operator()(const event::BotDispatchRemoved& e) const {
    b.str("dispatch_id", e.dispatch_id).str("lobby_id", e.lobby_id).str("reason", e.reason);
  }
  void operator()(const event::LobbyUpdated& e) const {
    b.key("lobby");
    protocol::write(b, e.lobby);
  }
  void operator()(const event::AppMessage& e) const {
    b.str("lobby_id", e.lobby_id).str("name", e.name).str("from", e.from)
        .str("from_name", e.from_name).str("to", e.to)
        .raw("payload", e.payload_json.empty() ? std::string_view("null") : e.payload_json)
        .unum("delivered", e.delivered);
  }
};

}  // namespace

const char* event_name(const Event& e) { return std::visit(NameOf{}, e); }

std::string event_to_json(const Event& e) {
  JsonBuilder b;
  b.begin_object().str("type", event_name(e));
  std::visit(Fields{b}, e);
  b.end_object();
  return b.take();
}

std::string to_json(const BotDispatch& d) {
  JsonBuilder b;
  protocol::write(b, d);
  return b.take();
}

std::string to_json(const BotKindInfo& k) {
  JsonBuilder b;
  b.begin_object()
      .str("kind", k.kind)
      .str("description", k.description)
      .boolean("available", k.available)
      .end_object();
  return b.take();
}

std::string to_json(const BotProviderInfo& p) {
  JsonBuilder b;
  b.begin_object()
      .str("provider_id", p.provider_id)
      .str("name", p.name)
      .str("version", p.version)
      .str("kinds", p.kinds)
      .unum("max_jobs", p.max_jobs)
      .unum("running", p.running)
      .key("load");
  b.w().Double(p.load);
  b.boolean("accepting", p.accepting)
      .boolean("connected", p.connected)
      .num("connected_ms", p.connected_ms)
      .end_object();
  return b.take();
}

}  // namespace lobbykit
