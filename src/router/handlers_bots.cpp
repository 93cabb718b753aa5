// Bots (docs/bots.md): the provider messages, the members' add_bot / remove_bot /
// list_bot_kinds, a bot's credential auth, and BotRelay, through which the BotManager talks
// to providers and removes bot sessions.
#include "protocol/envelope.hpp"
#include "protocol/messages.hpp"
#include "router/hub_state.hpp"

#include <string>
#include <utility>

namespace lobbykit::router {

using protocol::CloseCode;

namespace {

void write_job(JsonBuilder& b, const core::BotJob& job) {
  b.begin_object()
      .str("job_id", job.id)
      .str("provider_id", job.provider_id)
      .str("state", core::to_string(job.state))
      .unum("attempt", job.attempt)
      .num("since_ms", job.since_ms)
      .end_object();
}

// A new dispatch needs a place for its bot: lobby_full when the members and the bots on
// their way already fill the lobby. A key the lobby has is no new dispatch.
std::optional<Error> bot_room(Hub::State& s, const core::Lobby& lobby, const std::string& key) {
  if (s.bots.find(lobby.info.id, key)) return std::nullopt;
  std::size_t coming = 0;
  for (const core::Dispatch* d : s.bots.in_lobby(lobby.info.id))
    if (d->state != core::DispatchState::failed &&
        (!d->job || d->job->state != core::JobState::joined))
      ++coming;
  if (lobby.members.size() + coming < lobby.info.max_participants) return std::nullopt;
  return make_error(ErrorCode::lobby_full, "The lobby has no place left for a bot.");
}

}  // namespace

void write_bot_kinds(JsonBuilder& b, const std::vector<core::BotManager::KindInfo>& kinds) {
  b.begin_array("kinds");
  for (const auto& k : kinds)
    b.begin_object()
        .str("kind", k.kind)
        .str("description", k.description)
        .boolean("available", k.available)
        .end_object();
  b.end_array();
}

void write_provider(JsonBuilder& b, const core::BotProviderState& p) {
  b.begin_object()
      .str("provider_id", p.id)
      .str("name", p.name)
      .str("version", p.version);
  b.begin_array("kinds");
  for (const auto& k : p.kinds) b.value(k.kind);
  b.end_array();
  b.unum("max_jobs", p.max_jobs)
      .unum("running", p.jobs.size())
      .key("load");
  b.w().Double(p.load);
  b.boolean("accepting", p.accepting && !p.draining)
      .boolean("draining", p.draining)
      .boolean("connected", p.connected)
      .num("connected_ms", p.connected_ms)
      .end_object();
}

void write_dispatch_with_job(JsonBuilder& b, const core::BotManager& bots, const core::Dispatch& d) {
  const BotDispatch v = bots.view(d);
  b.begin_object()
      .str("dispatch_id", v.dispatch_id)
      .str("lobby_id", v.lobby_id)
      .str("kind", v.kind)
      .str("key", v.key)
      .str("state", v.state)
      .str("reason", v.reason)
      .unum("attempts", v.attempts)
      .str("bot_peer_id", v.bot_peer_id)
      .num("created_ms", v.created_ms)
      .raw("metadata", v.metadata_json);
  b.key("job");
  if (d.job) write_job(b, *d.job);
  else b.w().Null();
  b.end_object();
}

std::variant<BotAdded, Error> add_bot(Hub::State& s, const LobbyId& lobby_id,
                                      const std::string& kind, const std::string& key,
                                      const std::string& metadata_json) {
  const core::Lobby* lobby = s.lobbies.find(lobby_id);
  if (!lobby) return make_error(ErrorCode::lobby_not_found, "There is no such lobby.");
  if (auto e = bot_room(s, *lobby, key.empty() ? kind : key)) return *e;
  // Checked as add_bot messages are, so every door gives the same answers.
  rapidjson::Document doc;
  doc.SetObject();
  auto& a = doc.GetAllocator();
  doc.AddMember("kind", rapidjson::Value(kind.c_str(), static_cast<rapidjson::SizeType>(kind.size()), a), a);
  if (!key.empty())
    doc.AddMember("key", rapidjson::Value(key.c_str(), static_cast<rapidjson::SizeType>(key.size()), a), a);
  rapidjson::Document metadata;
  if (!metadata_json.empty()) {
    if (protocol::parse_object(metadata_json, metadata))
      return Error{ErrorCode::bad_field, "\"metadata\" must be a JSON object.", "data.metadata", -1, {}};
    doc.AddMember("metadata", rapidjson::Value(metadata, a), a);
  }
  protocol::AddBotReq req;
  if (auto e = protocol::decode(doc, req, s.limits)) return *e;
  auto added = s.bots.add(lobby_id, req.kind, req.key, req.metadata_json);
  if (auto* e = std::get_if<Error>(&added)) return *e;
  const auto& ok = std::get<core::BotManager::Added>(added);
  return BotAdded{s.bots.view(*ok.dispatch), ok.created};
}

std::optional<Error> remove_bot(Hub::State& s, const LobbyId& lobby_id, const std::string& key) {
  const core::Dispatch* d = s.bots.find(lobby_id, key);
  if (!d) return make_error(ErrorCode::dispatch_not_found, "That lobby has no bot with that key.");
  s.bots.remove(d->id, "removed");
  return std::nullopt;
}

// --- BotRelay ----------------------------------------------------------------------------

void BotRelay::offer(const core::BotProviderState& provider, const core::Dispatch& d,
                     const core::BotJob& job) {
  auto it = s_.provider_conn.find(provider.id);
  if (it == s_.provider_conn.end()) return;
  const core::Lobby* lobby = s_.lobbies.find(d.lobby_id);
  auto frame = protocol::envelope("job_offer", "", [&](JsonBuilder& b) {
    b.str("job_id", job.id)
        .str("dispatch_id", d.id)
        .str("kind", d.kind)
        .str("lobby_id", d.lobby_id)
        .str("lobby_name", lobby ? lobby->info.name : std::string())
        .raw("metadata", d.metadata_json)
        .unum("attempt", job.attempt)
        .num("timeout_ms", job.deadline_ms - job.entered_ms);
  });
  s_.send(it->second, frame, "job_offer");
}

void BotRelay::cancel(const std::string& provider_id, const std::string& job_id,
                      std::string_view reason) {
  auto it = s_.provider_conn.find(provider_id);
  if (it == s_.provider_conn.end()) return;
  s_.send(it->second, protocol::envelope("job_cancel", "", [&](JsonBuilder& b) {
            b.str("job_id", job_id).str("reason", reason);
          }),
          "job_cancel");
}

void BotRelay::drain(const std::string& provider_id) {
  auto it = s_.provider_conn.find(provider_id);
  if (it == s_.provider_conn.end()) return;
  s_.send(it->second, protocol::envelope("drain", "", [](JsonBuilder&) {}), "drain");
}

void BotRelay::close_provider(const std::string& provider_id) {
  auto it = s_.provider_conn.find(provider_id);
  if (it == s_.provider_conn.end()) return;
  const ConnId conn = it->second;
  s_.provider_conn.erase(it);
  if (auto c = s_.conns.find(conn); c != s_.conns.end()) c->second.provider.clear();
  s_.close_conn(conn, CloseCode::provider_silent, "no provider_status in time");
}

void BotRelay::remove_bot(const PeerId& bot, std::string_view reason) {
  s_.end_session(bot, std::string(reason), CloseCode::session_closed);
}

// --- the hub's bot helpers ---------------------------------------------------------------

void Hub::State::write_bots(JsonBuilder& b, const LobbyId& lobby) {
  b.begin_array("bots");
  for (const core::Dispatch* d : bots.in_lobby(lobby)) protocol::write(b, bots.view(*d));
  b.end_array();
}

void Hub::State::tick_bots() {
  const TimeMs now = clock.steady_ms();
  std::unordered_map<LobbyId, TimeMs> still;
  for (const LobbyId& id : bots.lobbies()) {
    const core::Lobby* lobby = lobbies.find(id);
    if (!lobby) {  // gone without a LobbyRemoved reaching the bots: nothing to keep
      bots.remove_lobby(id, "lobby_removed");
      continue;
    }
    if (lobby->info.persistent) continue;
    bool person = false;
    for (const auto& m : lobby->members) person = person || !m.p.is_bot;
    if (person) continue;
    auto since = humanless_since.find(id);
    const TimeMs t = since == humanless_since.end() ? now : since->second;
    if (now - t >= limits.bot_empty_lobby_ms) {
      bots.remove_lobby(id, "lobby_empty");
      continue;
    }
    still.emplace(id, t);
  }
  humanless_since = std::move(still);
}

void Hub::State::auth_bot(Request& r, const std::string& credential) {
  core::Dispatch* d = bots.credential(credential);
  if (!d) {
    fail(r, make_error(ErrorCode::invalid_token,
                       "That bot credential is unknown, used or expired."));
    return;
  }
  // Under the server's session cap; a provider's bots all come from its address, so the
  // per-address cap does not apply to them.
  auto admission = sessions.admit("");
  while (!admission.refusal && !admission.evict.empty()) {
    end_session(admission.evict, "evicted", CloseCode::session_closed);
    admission = sessions.admit("");
  }
  if (admission.refusal) {
    fail(r, *admission.refusal);
    close_conn(r.conn.id, CloseCode::too_many_sessions, "no room for a new session");
    return;
  }
  const std::string dispatch_id = d->id;
  const std::string kind = d->kind;
  auto created = sessions.create(true, "");
  core::Session* session = created.session;
  const PeerId peer = session->peer_id;
  // The kind, numbered when taken ("assistant 2"); at last "bot <peer id>", which no one
  // else can hold.
  give_numbered_name(*this, peer, kind, "bot " + peer);
  if (core::Dispatch* still = bots.find(dispatch_id)) bots.bot_authenticated(*still, peer);
  session = sessions.find(peer);
  if (!session) return;
  welcome(r, *session, created.token, false);
}

// --- client messages ---------------------------------------------------------------------

void handle_list_bot_kinds(Hub::State& s, Request& r) {
  const auto kinds = s.bots.kinds();
  s.reply(r, [&](JsonBuilder& b) { write_bot_kinds(b, kinds); });
}

void handle_add_bot(Hub::State& s, Request& r) {
  if (!s.limits.allow_member_bots) {
    s.fail(r, make_error(ErrorCode::forbidden, "This server does not let members add bots."));
    return;
  }
  core::Lobby* lobby = s.lobby_of(*r.session);
  if (!lobby) {
    s.fail(r, make_error(ErrorCode::not_in_lobby, "Join a lobby first."));
    return;
  }
  protocol::AddBotReq req;
  if (auto e = protocol::decode(r.data, req, s.limits)) {
    s.fail(r, *e);
    return;
  }
  if (auto e = bot_room(s, *lobby, req.key)) {
    s.fail(r, *e);
    return;
  }
  auto added = s.bots.add(lobby->info.id, req.kind, req.key, req.metadata_json);
  if (auto* e = std::get_if<Error>(&added)) {
    s.fail(r, *e);
    return;
  }
  const std::string id = std::get<core::BotManager::Added>(added).dispatch->id;
  const core::Dispatch* d = s.bots.find(id);
  if (!d) {
    s.reply(r, [](JsonBuilder& b) { b.key("dispatch").w().Null(); });
    return;
  }
  s.reply(r, [&](JsonBuilder& b) {
    b.key("dispatch");
    protocol::write(b, s.bots.view(*d));
  });
}

void handle_remove_bot(Hub::State& s, Request& r) {
  if (!s.limits.allow_member_bots) {
    s.fail(r, make_error(ErrorCode::forbidden, "This server does not let members remove bots."));
    return;
  }
  core::Lobby* lobby = s.lobby_of(*r.session);
  if (!lobby) {
    s.fail(r, make_error(ErrorCode::not_in_lobby, "Join a lobby first."));
    return;
  }
  std::string id;
  if (auto e = protocol::decode_dispatch_id(r.data, id)) {
    s.fail(r, *e);
    return;
  }
  const core::Dispatch* d = s.bots.find(id);
  if (!d || d->lobby_id != lobby->info.id) {
    s.fail(r, make_error(ErrorCode::dispatch_not_found, "Your lobby has no such bot dispatch."));
    return;
  }
  s.bots.remove(id, "removed");
  s.reply(r, [](JsonBuilder&) {});
}

// --- provider messages -------------------------------------------------------------------

void handle_provider_hello(Hub::State& s, Request& r) {
  if (r.session || !r.conn.provider.empty()) {
    s.fail(r, make_error(ErrorCode::already_authenticated, "This connection is already authenticated."));
    return;
  }
  protocol::ProviderHelloReq req;
  if (auto e = protocol::decode(r.data, req, s.limits)) {
    s.fail(r, *e);
    return;
  }
  core::BotManager::Hello h;
  h.key = std::move(req.key);
  h.name = std::move(req.name);
  h.version = std::move(req.version);
  for (auto& [kind, description] : req.kinds)
    h.kinds.push_back(core::BotKind{std::move(kind), std::move(description)});
  h.max_jobs = req.max_jobs;
  h.resume_id = std::move(req.resume_id);
  h.resume_token = std::move(req.resume_token);
  // Registered before the hello's effects (offers to it) go out.
  auto result = s.bots.hello(h);
  if (auto* e = std::get_if<Error>(&result)) {
    s.fail(r, *e);
    if (e->code == ErrorCode::unauthorized)
      s.close_conn(r.conn.id, CloseCode::unauthorized, "wrong provider key");
    return;
  }
  auto& reg = std::get<core::BotManager::Registered>(result);
  const std::string provider_id = reg.provider->id;
  // A resume over a connection that is still open replaces it.
  if (auto old = s.provider_conn.find(provider_id);
      old != s.provider_conn.end() && old->second != r.conn.id) {
    const ConnId old_id = old->second;
    if (auto c = s.conns.find(old_id); c != s.conns.end()) c->second.provider.clear();
    s.close_conn(old_id, CloseCode::replaced, "provider resumed on another connection");
  }
  s.provider_conn[provider_id] = r.conn.id;
  r.conn.provider = provider_id;
  s.unauthenticated.erase(r.conn.id);
  std::vector<const core::Dispatch*> kept;
  if (reg.resumed)
    for (const core::Dispatch* d : s.bots.dispatches())
      if (d->job && d->job->provider_id == provider_id) kept.push_back(d);
  s.reply(r, [&](JsonBuilder& b) {
    b.str("provider_id", provider_id)
        .str("token", reg.token)
        .boolean("resumed", reg.resumed)
        .unum("status_interval_ms", s.limits.bot_status_interval_ms)
        .unum("silence_ms", s.limits.bot_silence_ms);
    b.begin_array("jobs");
    for (const core::Dispatch* d : kept) write_job(b, *d->job);
    b.end_array();
  });
  // Dispatches that waited for a provider like this one are offered now that it can hear.
  s.bots.status(provider_id, reg.provider->load, {}, true);
}

void handle_provider_status(Hub::State& s, Request& r) {
  protocol::ProviderStatusReq req;
  if (auto e = protocol::decode(r.data, req)) {
    s.fail(r, *e);
    return;
  }
  s.bots.status(r.conn.provider, req.load, req.jobs, req.accepting);
  s.reply(r, [](JsonBuilder&) {});
}

void handle_job_accept(Hub::State& s, Request& r) {
  protocol::JobReq req;
  if (auto e = protocol::decode(r.data, req)) {
    s.fail(r, *e);
    return;
  }
  auto accepted = s.bots.accept(r.conn.provider, req.job_id);
  if (auto* e = std::get_if<Error>(&accepted)) {
    s.fail(r, *e);
    return;
  }
  const auto& a = std::get<core::BotManager::Accepted>(accepted);
  s.reply(r, [&](JsonBuilder& b) {
    b.str("job_id", a.job_id)
        .str("credential", a.credential)
        .str("lobby_id", a.lobby_id)
        .str("bot_name", a.bot_name)
        .unum("join_timeout_ms", s.limits.bot_join_timeout_ms);
  });
}

void handle_job_decline(Hub::State& s, Request& r) {
  protocol::JobReq req;
  if (auto e = protocol::decode(r.data, req)) {
    s.fail(r, *e);
    return;
  }
  if (auto e = s.bots.decline(r.conn.provider, req.job_id)) {
    s.fail(r, *e);
    return;
  }
  s.reply(r, [](JsonBuilder&) {});
}

void handle_job_end(Hub::State& s, Request& r) {
  protocol::JobReq req;
  if (auto e = protocol::decode(r.data, req)) {
    s.fail(r, *e);
    return;
  }
  if (auto e = s.bots.end_job(r.conn.provider, req.job_id, req.reason, req.retry)) {
    s.fail(r, *e);
    return;
  }
  s.reply(r, [](JsonBuilder&) {});
}

void handle_provider_drain(Hub::State& s, Request& r) {
  s.bots.drain(r.conn.provider, false);
  s.reply(r, [](JsonBuilder&) {});
}

}  // namespace lobbykit::router
