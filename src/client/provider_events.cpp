// Names and JSON forms of the bot provider's events and snapshot (Python uses these).
#include <lobbykit/provider.hpp>

#include "client/request_table.hpp"
#include "protocol/json.hpp"

#include <rapidjson/document.h>

namespace lobbykit {
namespace {

using protocol::JsonBuilder;

struct NameOf {
  const char* operator()(const provider_event::StateChanged&) const { return "state_changed"; }
  const char* operator()(const provider_event::Registered&) const { return "registered"; }
  const char* operator()(const provider_event::Offer&) const { return "offer"; }
  const char* operator()(const provider_event::Cancel&) const { return "cancel"; }
  const char* operator()(const provider_event::Drain&) const { return "drain"; }
  const char* operator()(const provider_event::Error&) const { return "error"; }
};

// The metadata as stored: a JSON object text (anything else is written as {}).
void write_metadata(JsonBuilder& b, const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    b.key("metadata").begin_object().end_object();
    return;
  }
  b.raw("metadata", json);
}

struct Fields {
  JsonBuilder& b;
  void operator()(const provider_event::StateChanged& e) const {
    b.str("state", to_string(e.state));
  }
  void operator()(const provider_event::Registered& e) const {
    b.str("provider_id", e.provider_id).boolean("resumed", e.resumed).begin_array("jobs");
    for (const KeptJob& j : e.jobs)
      b.begin_object().str("job_id", j.job_id).str("state", j.state).unum("attempt", j.attempt)
          .end_object();
    b.end_array();
  }
  void operator()(const provider_event::Offer& e) const {
    const JobOffer& o = e.offer;
    b.str("job_id", o.job_id).str("dispatch_id", o.dispatch_id).str("kind", o.kind)
        .str("lobby_id", o.lobby_id).str("lobby_name", o.lobby_name);
    write_metadata(b, o.metadata_json);
    b.unum("attempt", o.attempt).unum("timeout_ms", o.timeout_ms);
  }
  void operator()(const provider_event::Cancel& e) const {
    b.str("job_id", e.job_id).str("reason", e.reason);
  }
  void operator()(const provider_event::Drain&) const {}
  void operator()(const provider_event::Error& e) const { client::write_client_error_fields(b, e.error); }
};

}  // namespace

const char* provider_event_name(const ProviderEvent& e) { return std::visit(NameOf{}, e); }

std::string provider_event_to_json(const ProviderEvent& e) {
  JsonBuilder b;
  b.begin_object().str("type", provider_event_name(e));
  std::visit(Fields{b}, e);
  b.end_object();
  return b.take();
}

std::string provider_snapshot_to_json(const ProviderSnapshot& s) {
  JsonBuilder b;
  b.begin_object().str("state", to_string(s.state)).str("provider_id", s.provider_id)
      .boolean("accepting", s.accepting).begin_array("jobs");
  for (const auto& id : s.jobs) b.value(id);
  b.end_array().key("load").w().Double(s.load);
  if (s.last_error) {
    b.raw("last_error", client_error_to_json(*s.last_error));
  } else {
    b.key("last_error").w().Null();
  }
  b.end_object();
  return b.take();
}

}  // namespace lobbykit
