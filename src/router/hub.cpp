#include "router/hub.hpp"

#include "protocol/envelope.hpp"
#include "protocol/messages.hpp"
#include "router/address.hpp"
#include "router/hub_state.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <optional>

namespace lobbykit::router {

using protocol::CloseCode;

namespace {

// Who may send a message: anyone (the first message of a connection), a client session,
// or a registered bot provider (docs/bots.md).
enum class Role { any, client, provider };

struct Route {
  std::string_view type;
  Role role;
  void (*fn)(Hub::State&, Request&);
};

// The whole protocol surface: message type -> handler.
constexpr std::array<Route, 26> kRoutes{{
    {"auth", Role::any, handle_auth},
    {"set_name", Role::client, handle_set_name},
    {"ping", Role::client, handle_ping},
    {"list_lobbies", Role::client, handle_list_lobbies},
    {"watch_lobbies", Role::client, handle_watch_lobbies},
    {"create_lobby", Role::client, handle_create_lobby},
    {"join_lobby", Role::client, handle_join_lobby},
    {"leave_lobby", Role::client, handle_leave_lobby},
    {"chat", Role::client, handle_chat},
    {"chat_history", Role::client, handle_chat_history},
    {"update_media", Role::client, handle_update_media},
    {"relay_description", Role::client, handle_relay_description},
    {"relay_candidate", Role::client, handle_relay_candidate},
    {"list_bot_kinds", Role::client, handle_list_bot_kinds},
    {"add_bot", Role::client, handle_add_bot},
    {"remove_bot", Role::client, handle_remove_bot},
    {"provider_hello", Role::any, handle_provider_hello},
    {"provider_status", Role::provider, handle_provider_status},
    {"job_accept", Role::provider, handle_job_accept},
    {"job_decline", Role::provider, handle_job_decline},
    {"job_end", Role::provider, handle_job_end},
    {"provider_drain", Role::provider, handle_provider_drain},
    {"kick_member", Role::client, handle_kick_member},
    {"mute_member", Role::client, handle_mute_member},
    {"app_message", Role::client, handle_app_message},
    {"set_metadata", Role::client, handle_set_metadata},
}};

const Route* find_route(std::string_view type) {
  for (const auto& r : kRoutes)
    if (r.type == type) return &r;
  return nullptr;
}

// Counts dispatch() calls on the stack.
struct DispatchDepth {
  explicit DispatchDepth(int& d) : depth(d) { ++depth; }
  ~DispatchDepth() { --depth; }
  int& depth;
};

constexpr TimeMs kLobbyTickMs = 1000;        // grace and empty-lobby expiry resolution
constexpr TimeMs kSessionScanMs = 60'000;    // abandoned-session expiry resolution
constexpr TimeMs kRateNoticeMs = 1000;       // at most one rate_limited error without an id
                                             // per second

}  // namespace

Hub::State::State(const Limits& l, core::Clock& c, store::Store& st, Outbox& o,
                  core::Worker& w)
    : limits(l), clock(c), store(st), out(o), worker(w),
      sessions(limits, clock, store, bus),
      auth(limits, clock, store, worker, sessions, bus),
      lobbies(limits, clock, store, bus),
      bots(limits, clock, store, bus) {
  bots.set_actions(&bot_relay);
}

Hub::Hub(const Limits& limits, core::Clock& clock, store::Store& store, Outbox& outbox,
         core::Worker& worker)
    : store_(store), state_(std::make_unique<State>(limits, clock, store, outbox, worker)) {
  State& s = *state_;
  store::Snapshot snap = store.load(limits.chat_history);
  s.sessions.load(snap.sessions);
  s.auth.load(snap.names);
  s.lobbies.load(snap);
  // First subscriber: the router's own reactions go out before any host handler runs.
  s.bus.subscribe([&s](const Event& e) { s.on_event(e); });
  // Jobs do not survive a restart: the bots they had in lobbies leave, and their dispatches
  // wait for providers to come back.
  for (const PeerId& bot : s.bots.load(snap.dispatches))
    s.end_session(bot, "bot_replaced", CloseCode::session_closed);
  s.route_counters.assign(kRoutes.size(), nullptr);
  const TimeMs now = clock.steady_ms();
  s.next_lobby_tick = now + kLobbyTickMs;
  s.next_session_scan = now + kSessionScanMs;
}

Hub::~Hub() = default;

core::EventBus& Hub::events() { return state_->bus; }
void Hub::set_hooks(Hooks hooks, std::function<void(std::function<void()>)> post) {
  State& s = *state_;
  s.hooks = std::move(hooks);
  s.gate->set_post(std::move(post));
}

void Hub::set_provider_keys(const std::vector<std::string>& keys) { state_->bots.set_keys(keys); }
void Hub::set_token_options(const std::string& secret, bool require_token) {
  state_->token_secret = secret;
  state_->require_token = require_token;
}
Metrics& Hub::metrics() { return state_->metrics; }

Metrics::Gauges Hub::gauges() const {
  const State& s = *state_;
  return Metrics::Gauges{s.sessions.count(), s.sessions.connected_count(), s.lobbies.count(),
                         s.lobbies.participant_count()};
}

void Hub::on_open(ConnId id, std::string_view address) {
  State& s = *state_;
  const TimeMs now = s.clock.steady_ms();
  Conn c;
  c.id = id;
  c.address = address_key(address);
  if (address != kInProcessAddress) c.remote = std::string(address);
  c.opened_ms = now;
  c.tokens = s.limits.rate_burst;
  c.flood_tokens = s.limits.rate_flood_burst;
  c.refilled_ms = now;
  s.conns.emplace(id, std::move(c));
  s.unauthenticated.insert(id);
}

void Hub::on_close(ConnId id) {
  State& s = *state_;
  auto it = s.conns.find(id);
  if (it == s.conns.end()) return;
  PeerId peer = std::move(it->second.peer);
  const std::string provider = std::move(it->second.provider);
  s.conns.erase(it);
  s.unauthenticated.erase(id);
  s.lobby_watchers.erase(id);
  if (!provider.empty()) {
    auto p = s.provider_conn.find(provider);
    if (p != s.provider_conn.end() && p->second == id) {
      s.provider_conn.erase(p);
      s.bots.disconnected(provider, "closed");
    }
    return;
  }
  if (peer.empty()) return;
  auto owner = s.conn_of.find(peer);
  if (owner == s.conn_of.end() || owner->second != id) return;  // replaced meanwhile
  s.conn_of.erase(owner);
  if (core::Session* session = s.sessions.find(peer)) {
    s.sessions.disconnected(*session);
    if (!session->lobby_id.empty()) s.lobbies.set_connected(session->lobby_id, peer, false);
  }
}

void Hub::on_message(ConnId id, std::string_view text) {
  State& s = *state_;
  auto it = s.conns.find(id);
  if (it == s.conns.end() || it->second.closing) return;
  Conn& c = it->second;
  // Counted when it arrives, also when it has to wait behind a hook.
  if (!s.take_token(c)) {
    s.refuse_for_rate(c, text);
    return;
  }
  if (c.held_by) {
    s.hold(c, text);
    return;
  }
  s.dispatch(c, text);
}

bool Hub::State::take_token(Conn& c) {
  const TimeMs now = clock.steady_ms();
  if (now > c.refilled_ms) {
    const double refill = (now - c.refilled_ms) * limits.rate_per_second / 1000.0;
    c.tokens = std::min(limits.rate_burst, c.tokens + refill);
    c.flood_tokens = std::min(limits.rate_flood_burst, c.flood_tokens + refill);
    c.refilled_ms = now;
  }
  if (c.tokens < 1.0) return false;
  c.tokens -= 1.0;
  return true;
}

void Hub::State::refuse_for_rate(Conn& c, std::string_view text) {
  metrics.messages_in["rate_limited"]++;
  // Refusals are answered, so they are bounded too: a client that keeps sending when told
  // to wait goes, before its answers cost more than its messages did.
  if (c.flood_tokens < 1.0) {
    close_conn(c.id, CloseCode::flooding, "kept sending over the rate limit");
    return;
  }
  c.flood_tokens -= 1.0;
  Error e = make_error(ErrorCode::rate_limited,
                       "Too many messages: this one was not handled. Send it again after "
                       "retry_after_ms.");
  e.retry_after_ms = std::max<std::int64_t>(
      1, static_cast<std::int64_t>(
             std::ceil((1.0 - c.tokens) * 1000.0 / limits.rate_per_second - 1e-9)));
  // The id of the request, so that its one reply is this refusal.
  std::string id_raw;
  if (protocol::valid_utf8(text)) {
    protocol::Envelope env;
    if (!dispatching) {
      DispatchDepth depth(dispatching);
      protocol::parse_envelope(text, env, parse_buffer);
    } else {
      rapidjson::Document doc;
      protocol::parse_envelope(text, doc, env);
    }
    id_raw = std::move(env.id_raw);
  }
  if (!id_raw.empty()) {
    fail(c.id, e, id_raw);
    return;
  }
  const TimeMs now = clock.steady_ms();
  if (c.rate_notice_ms >= 0 && now - c.rate_notice_ms < kRateNoticeMs) return;
  c.rate_notice_ms = now;
  e.message = "Too many messages: messages without an id are being dropped. Slow down.";
  fail(c.id, e, "");
}

void Hub::State::dispatch(Conn& c, std::string_view text) {
  if (!protocol::valid_utf8(text)) {
    metrics.messages_in["invalid"]++;
    close_conn(c.id, CloseCode::invalid_payload, "message is not valid UTF-8");
    return;
  }
  // Parsed in place in the reused buffer; a dispatch nested in a handler (which nothing
  // does today) would parse on its own rather than overwrite the outer message.
  const bool reuse = !dispatching;
  DispatchDepth depth(dispatching);
  std::optional<rapidjson::Document> own_doc;
  if (!reuse) own_doc.emplace();
  protocol::Envelope env;
  if (auto e = reuse ? protocol::parse_envelope(text, env, parse_buffer)
                     : protocol::parse_envelope(text, *own_doc, env)) {
    metrics.messages_in["invalid"]++;
    fail(c.id, *e, env.id_raw);
    return;
  }
  const Route* route = find_route(env.type);
  if (!route) {
    metrics.messages_in["unknown"]++;
    fail(c.id, make_error(ErrorCode::unknown_type,
                   "Unknown message type \"" + std::string(env.type) + "\"."),
         env.id_raw);
    return;
  }
  // The counter of this route, found once (map nodes never move).
  std::uint64_t*& counter = route_counters[static_cast<std::size_t>(route - kRoutes.data())];
  if (!counter) counter = &metrics.messages_in[std::string(route->type)];
  ++*counter;
  core::Session* session = c.peer.empty() ? nullptr : sessions.find(c.peer);
  const bool is_provider = !c.provider.empty();
  if (is_provider) bots.seen(c.provider);
  // A connection is a client or a provider for life: the other side's messages are unknown.
  if ((route->role == Role::client && is_provider) || (route->role == Role::provider && session)) {
    metrics.messages_in["unknown"]++;
    fail(c.id, make_error(ErrorCode::unknown_type,
                   "Unknown message type \"" + std::string(env.type) + "\" on this connection."),
         env.id_raw);
    return;
  }
  if ((route->role == Role::client && !session) || (route->role == Role::provider && !is_provider)) {
    fail(c.id, make_error(ErrorCode::not_authenticated,
                   "Authenticate first: the first message must be \"auth\" (or "
                   "\"provider_hello\" for a bot provider)."),
         env.id_raw);
    return;
  }
  Request r{c, session, route->type, env.id_raw, *env.data};
  route->fn(*this, r);
}

void Hub::tick() {
  State& s = *state_;
  // The hub's own schedules run on the monotonic clock (core/clock.hpp); what the managers
  // compare with their stored timestamps reads the wall clock inside them.
  const TimeMs now = s.clock.steady_ms();
  s.tick_hooks();
  s.tick_drain(now);
  s.flush_lobby_counts(now);
  if (!s.unauthenticated.empty()) {
    std::vector<ConnId> late;
    for (ConnId id : s.unauthenticated) {
      const Conn& c = s.conns.at(id);
      if (!c.closing && now - c.opened_ms >= s.limits.auth_timeout_ms) late.push_back(id);
    }
    for (ConnId id : late) {
      s.unauthenticated.erase(id);
      s.close_conn(id, CloseCode::auth_timeout, "no auth message in time");
    }
  }
  if (now >= s.next_lobby_tick) {
    s.next_lobby_tick = now + kLobbyTickMs;
    s.lobbies.tick();
    s.bots.tick();
    s.tick_bots();
    for (const PeerId& peer : s.sessions.idle_expired())
      s.end_session(peer, "expired", CloseCode::session_closed);
  }
  if (now >= s.next_session_scan) {
    s.next_session_scan = now + kSessionScanMs;
    s.sessions.refresh_connected();
    for (const PeerId& peer : s.sessions.abandoned())
      s.end_session(peer, "expired", CloseCode::session_closed);
  }
}

void Hub::begin_drain(std::uint32_t period_ms, std::string url, std::function<void()> done) {
  State& s = *state_;
  if (s.drain) return;
  State::Drain d;
  d.started = s.clock.steady_ms();
  d.period_ms = period_ms;
  d.url = std::move(url);
  d.done = std::move(done);
  for (const auto& [id, c] : s.conns)
    if (!c.closing && !c.remote.empty()) d.todo.push_back(id);  // not in-process
  std::sort(d.todo.begin(), d.todo.end());  // connection ids grow: oldest first
  s.drain = std::move(d);
  s.tick_drain(s.drain->started);
}

bool Hub::draining() const { return state_->drain.has_value(); }

void Hub::State::tick_drain(TimeMs now) {
  if (!drain || !drain->done) return;  // not draining, or every one told already
  Drain& d = *drain;
  const std::size_t total = d.todo.size();
  // How many should have been told by now: a straight line from 0 at the start to all of
  // them at period_ms.
  std::size_t due = total;
  const TimeMs elapsed = now - d.started;
  if (d.period_ms > 0 && elapsed < static_cast<TimeMs>(d.period_ms)) {
    due = static_cast<std::size_t>((static_cast<std::uint64_t>(total) *
                                        static_cast<std::uint64_t>(std::max<TimeMs>(elapsed, 0)) +
                                    d.period_ms - 1) /
                                   d.period_ms);
    if (due == 0 && total > 0) due = 1;  // the first batch goes at once
  }
  for (; d.told < due; ++d.told) {
    const ConnId id = d.todo[d.told];
    auto it = conns.find(id);
    if (it == conns.end() || it->second.closing) continue;
    // The client waits after_ms before it reconnects: spread over a second within a
    // batch, so one batch does not arrive at the next server all at once.
    const std::uint32_t after_ms = static_cast<std::uint32_t>((d.told * 337) % 1000);
    send(id, protocol::envelope("reconnect", "", [&](JsonBuilder& b) {
           b.str("reason", "draining").num("after_ms", after_ms);
           if (!d.url.empty()) b.str("url", d.url);
         }),
         "reconnect");
    close_conn(id, CloseCode::going_away, "server draining");
  }
  if (d.told < total) return;
  auto done = std::move(d.done);
  d.done = nullptr;
  d.todo.clear();
  d.todo.shrink_to_fit();
  done();
}

void Hub::shutdown() {
  State& s = *state_;
  std::vector<ConnId> ids;
  for (const auto& [id, c] : s.conns) ids.push_back(id);
  for (ConnId id : ids) s.close_conn(id, CloseCode::going_away, "server shutting down");
  flush();
}

// --- hooks (hub_state.hpp: ask) ------------------------------------------------------

Error denial_error(const Denial& d) {
  // The host's reason when it is a code ([a-z0-9_]{1,64}), else the generic one.
  bool code = !d.reason.empty() && d.reason.size() <= 64;
  for (char ch : d.reason)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) code = false;
  Error e = make_error(ErrorCode::denied, d.message.empty() ? "The server refused this request."
                                                            : d.message);
  e.reason = code ? d.reason : "denied";
  return e;
}

void Hub::State::settle(std::uint64_t call, const std::function<void(Request&)>& go) {
  auto it = pending_hooks.find(call);
  if (it == pending_hooks.end()) return;  // answered already, or timed out
  PendingHook p = std::move(it->second);
  pending_hooks.erase(it);
  auto c = conns.find(p.conn);
  if (c == conns.end() || c->second.held_by != call) return;  // the client went meanwhile
  Conn& conn = c->second;
  conn.held_by = 0;
  if (!conn.closing) {
    core::Session* session = conn.peer.empty() ? nullptr : sessions.find(conn.peer);
    static const rapidjson::Value kNoData(rapidjson::kObjectType);
    Request r{conn, session, p.type, p.id_raw, kNoData};
    go(r);
  }
  run_held(p.conn);
}

void Hub::State::settle_detached(std::uint64_t call, const std::function<void()>& go) {
  auto it = pending_hooks.find(call);
  if (it == pending_hooks.end()) return;
  pending_hooks.erase(it);
  go();
}

void Hub::State::settle_failed(std::uint64_t call, const Error& e) {
  auto it = pending_hooks.find(call);
  if (it == pending_hooks.end()) return;
  if (it->second.conn) {
    settle(call, [&](Request& r) { fail(r, e); });
    return;
  }
  auto refuse = std::move(it->second.refuse);
  pending_hooks.erase(it);
  if (refuse) refuse(e);
}

void Hub::State::run_held(ConnId id) {
  for (;;) {
    auto it = conns.find(id);
    if (it == conns.end()) return;
    Conn& c = it->second;
    if (c.held_by || c.held.empty()) return;
    if (c.closing) {
      c.held.clear();
      c.held_bytes = 0;
      return;
    }
    std::string text = std::move(c.held.front());
    c.held.pop_front();
    c.held_bytes -= text.size();
    dispatch(c, text);
  }
}

void Hub::State::hold(Conn& c, std::string_view text) {
  if (c.held.size() >= limits.max_held_messages ||
      c.held_bytes + text.size() > limits.max_held_bytes) {
    metrics.messages_in["rate_limited"]++;
    close_conn(c.id, CloseCode::flooding, "too many messages waiting for the host's decision");
    return;
  }
  c.held.emplace_back(text);
  c.held_bytes += text.size();
}

void Hub::State::tick_hooks() {
  const TimeMs now = clock.steady_ms();
  while (!pending_hooks.empty() && pending_hooks.begin()->second.deadline <= now) {
    settle_failed(pending_hooks.begin()->first,
                  make_error(ErrorCode::hook_timeout,
                             "The server did not decide on this request in time; try again."));
  }
}

void Hub::State::send(ConnId conn, const protocol::Frame& frame, std::string_view type) {
  metrics.messages_out[std::string(type)]++;
  out.send(conn, frame);
}

void Hub::State::send_to_peer(const PeerId& peer, const protocol::Frame& frame,
                              std::string_view type) {
  auto it = conn_of.find(peer);
  if (it != conn_of.end()) send(it->second, frame, type);
}

void Hub::State::broadcast(const core::Lobby& lobby, const protocol::Frame& frame,
                           std::string_view type, const PeerId* except) {
  // One frame for every member; counted once.
  std::uint64_t sent = 0;
  for (const auto& m : lobby.members) {
    if (!m.p.connected || (except && m.p.peer_id == *except)) continue;
    auto it = conn_of.find(m.p.peer_id);
    if (it == conn_of.end()) continue;
    out.send(it->second, frame);
    ++sent;
  }
  if (sent) metrics.messages_out[std::string(type)] += sent;
}

void Hub::State::fail(ConnId conn, const Error& e, std::string_view id_raw) {
  metrics.errors[std::string(protocol::to_string(e.code))]++;
  send(conn, protocol::error_frame(e, id_raw), "error");
}

void Hub::State::close_conn(ConnId id, CloseCode code, std::string_view reason) {
  auto it = conns.find(id);
  if (it == conns.end() || it->second.closing) return;
  it->second.closing = true;
  out.close(id, code, reason);
}

Conn* Hub::State::conn_for(const PeerId& peer) {
  auto it = conn_of.find(peer);
  if (it == conn_of.end()) return nullptr;
  auto c = conns.find(it->second);
  return c == conns.end() ? nullptr : &c->second;
}

core::Lobby* Hub::State::lobby_of(const core::Session& session) {
  return session.lobby_id.empty() ? nullptr : lobbies.find(session.lobby_id);
}

void Hub::State::write_lobby_snapshot(JsonBuilder& b, const core::Lobby& lobby) {
  b.key("lobby");
  protocol::write(b, lobby.info);
  b.begin_array("participants");
  for (const auto& m : lobby.members) protocol::write(b, m.p);
  b.end_array();
  auto page = lobbies.recent(lobby, static_cast<std::uint32_t>(limits.chat_history),
                             history_budget());
  b.begin_array("history");
  for (const auto* m : page.messages) protocol::write(b, *m);
  b.end_array();
  b.boolean("history_complete", page.complete);
  b.unum("last_offset", lobby.last_offset);
  write_bots(b, lobby.info.id);
}

void Hub::State::end_session(const PeerId& peer, const std::string& reason, CloseCode code) {
  core::Session* session = sessions.find(peer);
  if (!session) return;
  if (!session->lobby_id.empty()) lobbies.leave(session->lobby_id, peer, reason);
  if (Conn* c = conn_for(peer)) {
    ConnId id = c->id;
    conn_of.erase(peer);
    c->peer.clear();
    close_conn(id, code, reason);
  }
  auth.release(peer);
  sessions.remove(peer, reason);
}

}  // namespace lobbykit::router
