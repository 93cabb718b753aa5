// Inside the Hub: the state every handler works on, the connection table, and the handler
// functions the route table points at. Only router/*.cpp include this.
#pragma once

#include "core/access_token.hpp"
#include "core/auth_manager.hpp"
#include "core/bot_manager.hpp"
#include "core/lobby_manager.hpp"
#include "core/session_manager.hpp"
#include "protocol/envelope.hpp"
#include "protocol/error_code.hpp"
#include "protocol/json.hpp"
#include "protocol/messages.hpp"
#include "router/hooks.hpp"
#include "router/hub.hpp"

#include <rapidjson/document.h>

#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace lobbykit::router {

// Times in Conn and in Hub::State's own schedules are Clock::steady_ms() readings: they live
// only as long as the process, and a step of the wall clock must not move them.
struct Conn {
  ConnId id = 0;
  PeerId peer;               // "" until authenticated as a client
  std::string provider;      // "" until registered as a bot provider (docs/bots.md)
  std::string address;       // address_key() of the peer: per-address limits; "" exempt
  std::string remote;        // the peer's address as the transport gave it (for hooks); ""
                             // for an in-process connection
  TimeMs opened_ms = 0;
  double tokens = 0;         // rate-limit bucket
  double flood_tokens = 0;   // messages it may still send while over the rate
  TimeMs refilled_ms = 0;    // of both buckets
  TimeMs rate_notice_ms = -1;  // when the last rate_limited error without an id went out
  bool closing = false;      // close requested; further messages are ignored
  // While one of its requests waits for a host hook (Hub::State::ask), the connection's
  // later messages wait too, in order, and run once the hook has answered.
  std::uint64_t held_by = 0;      // the hook call it waits for; 0: none
  std::deque<std::string> held;   // messages that arrived meanwhile
  std::size_t held_bytes = 0;
};

// One inbound message while its handler runs.
struct Request {
  Conn& conn;
  core::Session* session;  // nullptr before auth
  std::string_view type;
  const std::string& id_raw;
  const rapidjson::Value& data;
};

using protocol::Error;
using protocol::ErrorCode;
using protocol::make_error;
using protocol::JsonBuilder;

// BotManager's hands: messages to providers, bot sessions to end (handlers_bots.cpp).
class BotRelay final : public core::BotActions {
 public:
  explicit BotRelay(Hub::State& s) : s_(s) {}
  void offer(const core::BotProviderState& provider, const core::Dispatch& d,
             const core::BotJob& job) override;
  void cancel(const std::string& provider_id, const std::string& job_id,
              std::string_view reason) override;
  void drain(const std::string& provider_id) override;
  void close_provider(const std::string& provider_id) override;
  void remove_bot(const PeerId& bot, std::string_view reason) override;

 private:
  Hub::State& s_;
};

struct Hub::State {
  State(const Limits& limits, core::Clock& clock, store::Store& store, Outbox& out,
        core::Worker& worker);
  ~State() { gate->close(); }

  const Limits limits;
  core::Clock& clock;
  store::Store& store;
  Outbox& out;
  core::Worker& worker;
  core::EventBus bus;
  Metrics metrics;
  core::SessionManager sessions;
  core::AuthManager auth;
  core::LobbyManager lobbies;
  core::BotManager bots;
  BotRelay bot_relay{*this};

  std::unordered_map<ConnId, Conn> conns;
  std::unordered_map<PeerId, ConnId> conn_of;  // sessions that have a connection now
  std::unordered_set<ConnId> unauthenticated;   // watched for the auth deadline
  std::unordered_map<std::string, ConnId> provider_conn;  // connected bot providers
  // Lobbies with bots and no person, and since when (steady_ms).
  std::unordered_map<LobbyId, TimeMs> humanless_since;
  protocol::ParseBuffer parse_buffer;           // inbound messages are parsed in it
  int dispatching = 0;                          // dispatch() calls on the stack
  std::vector<std::uint64_t*> route_counters;   // metrics.messages_in entry per route
  TimeMs next_lobby_tick = 0;
  TimeMs next_session_scan = 0;
  // watch_lobbies (docs/protocol.md, "Lobby list pushes"): the subscribed connections, the
  // public lobbies they have been told of (kept while anyone watches; filled on subscribe),
  // and the listed lobbies whose participant count changed since the last coalesced push.
  std::set<ConnId> lobby_watchers;
  std::unordered_set<LobbyId> lobby_listed_ids;
  std::set<LobbyId> lobby_count_changed;
  TimeMs next_lobby_list_push = 0;
  // Graceful drain (Hub::begin_drain; docs/deployment.md, "Draining"): the connections to
  // tell to reconnect, oldest first, told in batches spread over the period by tick_drain().
  struct Drain {
    TimeMs started = 0;
    std::uint32_t period_ms = 0;
    std::string url;             // the reconnect hint's "url" ("" : none)
    std::vector<ConnId> todo;    // WebSocket connections open when the drain began
    std::size_t told = 0;        // todo[0, told) have been told
    std::function<void()> done;  // runs once, when every one has been told
  };
  std::optional<Drain> drain;
  std::string token_secret;    // ServerOptions::token_secret ("" : access tokens off)
  bool require_token = false;  // ServerOptions::require_token

  // Host hooks (router/hooks.hpp) and the calls waiting for their answers, by call number:
  // numbers grow with time and every call has the same timeout, so the first entry is the
  // first to time out.
  Hooks hooks;
  std::shared_ptr<HookGate> gate = std::make_shared<HookGate>(nullptr);
  struct PendingHook {
    ConnId conn = 0;     // the connection that waits; 0 for a call without one (HTTP)
    std::string type;    // of the request that waits
    std::string id_raw;  // its id
    TimeMs deadline = 0;
    std::function<void(const Error&)> refuse;  // without a connection: tells the refusal
  };
  std::map<std::uint64_t, PendingHook> pending_hooks;
  std::uint64_t hook_calls = 0;

  // Asks a host hook about request r and holds r's connection until it answers (or its
  // deadline passes). An allowing decision runs then(request, decision) on the loop thread
  // later, with the connection, its session and the request's id (not its data: decode
  // first, and look up again whatever may have changed meanwhile). A denial, a timeout, a
  // throw or a dropped decision is answered with denied / hook_timeout / hook_failed. Must be
  // the last thing a handler does with r.
  template <class D, class Req, class Then>
  void ask(Request& r, const std::function<void(const Req&, Decision<D>)>& hook, const Req& req,
           Then then);
  // The same for a request without a connection (HTTP): then(decision) when allowed, else
  // refuse(error).
  template <class D, class Req, class Then>
  void ask_detached(const std::function<void(const Req&, Decision<D>)>& hook, const Req& req,
                    Then then, std::function<void(const Error&)> refuse);
  // Calls the hook for call number `call` (already in pending_hooks); allowed(decision) runs
  // on the loop thread if it allows.
  template <class D, class Req, class Allowed>
  void invoke_hook(std::uint64_t call, const std::function<void(const Req&, Decision<D>)>& hook,
                   const Req& req, Allowed allowed);
  // The answer to hook call `call`: runs go with the waiting request unless the call is over
  // (timed out) or its connection gone, then lets the connection's held messages run.
  void settle(std::uint64_t call, const std::function<void(Request&)>& go);
  // The same for a call without a connection.
  void settle_detached(std::uint64_t call, const std::function<void()>& go);
  // Refuses a hook call with its error (denied, deadline passed, hook failed).
  void settle_failed(std::uint64_t call, const Error& e);
  // Runs the connection's held messages until one waits for a hook again.
  void run_held(ConnId conn);
  // A message arriving while its connection waits for a hook; over the limits it closes the
  // connection (4006).
  void hold(Conn& c, std::string_view text);
  void tick_hooks();
  // Tells the drain's next batch to reconnect ("reconnect", then close 1001).
  void tick_drain(TimeMs now);

  // Sending. Every frame goes through send() so metrics see it.
  void send(ConnId conn, const protocol::Frame& frame, std::string_view type);
  void send_to_peer(const PeerId& peer, const protocol::Frame& frame, std::string_view type);
  // To every connected member of the lobby, except `except` if given.
  void broadcast(const core::Lobby& lobby, const protocol::Frame& frame, std::string_view type,
                 const PeerId* except = nullptr);
  void fail(ConnId conn, const Error& e, std::string_view id_raw);
  void fail(Request& r, const Error& e) { fail(r.conn.id, e, r.id_raw); }
  // A "result" reply when the request had an id; write_data fills its data object.
  template <typename F>
  void reply(Request& r, F&& write_data) {
    if (r.id_raw.empty()) return;
    send(r.conn.id, protocol::envelope("result", r.id_raw, write_data), "result");
  }
  void close_conn(ConnId conn, protocol::CloseCode code, std::string_view reason);

  // The connection of a session, or nullptr.
  Conn* conn_for(const PeerId& peer);
  core::Lobby* lobby_of(const core::Session& s);
  // {lobby, participants, history, history_complete} of a lobby as a member sees it.
  void write_lobby_snapshot(JsonBuilder& b, const core::Lobby& lobby);
  // The chat a reply may carry (snapshot history, a chat_history page): a quarter of the
  // outbound queue, so a full lobby history never trips the slow-consumer close (4003).
  std::size_t history_budget() const { return limits.max_outbound_bytes / 4; }

  // Lobby list pushes: one frame encoded once, sent to every watcher.
  void push_lobby_listed(const core::Lobby& lobby);
  void push_lobby_unlisted(const LobbyId& lobby_id);
  // A lobby's settings or existence changed: listed now if public, else unlisted if it was.
  void lobby_list_changed(const core::Lobby& lobby);
  // From Hub::tick: the coalesced participant-count pushes.
  void flush_lobby_counts(TimeMs now);

  // Reactions to core events: keeps sessions in step with lobbies and tells clients.
  void on_event(const Event& e);
  // After a name change (AuthManager::Outcome::renamed): the lobby records of those sessions
  // take their new names. Not from on_event: a publish nested in the NameChanged delivery
  // would reach host subscribers before the NameChanged itself.
  void update_member_names(const std::vector<PeerId>& peers);
  // Managed mesh: introduces `peer` to every other connected media member of the lobby;
  // `peer` is the side that offers. With `restart`, the others first drop the old pair.
  void introduce(const core::Lobby& lobby, const PeerId& peer, bool restart);

  // Session removal shared by kick and expiry: out of its lobby, name released, gone.
  void end_session(const PeerId& peer, const std::string& reason, protocol::CloseCode code);
  void join_lobby(Request& r, core::Lobby& lobby, bool has_media, bool audio_muted,
                  bool video_muted);

  // The session is authenticated on r's connection: registers it and sends the welcome
  // (with its lobby's snapshot when it is in one; a resume restarts its media pairs).
  void welcome(Request& r, core::Session& session, const std::string& token, bool resumed);
  // The lobby's dispatches in a snapshot ("bots"), and the pushes about one.
  void write_bots(JsonBuilder& b, const LobbyId& lobby);
  // Bots in a non-persistent lobby without a person for bot_empty_lobby_ms leave.
  void tick_bots();
  // A bot's job credential in auth: a new bot session, named after its kind.
  void auth_bot(Request& r, const std::string& credential);
  // After a bot session joined a lobby: its job is joined (or it was not a job's bot).
  void bot_joined(const PeerId& peer) { bots.bot_joined(peer); }

  void dispatch(Conn& c, std::string_view text);
  bool take_token(Conn& c);
  // A message over the rate: refused with rate_limited, or the connection closed (4006).
  void refuse_for_rate(Conn& c, std::string_view text);
};

// Route table entries (one per message type), defined in handlers_*.cpp.
void handle_auth(Hub::State& s, Request& r);
void handle_set_name(Hub::State& s, Request& r);
void handle_ping(Hub::State& s, Request& r);
void handle_list_lobbies(Hub::State& s, Request& r);
void handle_watch_lobbies(Hub::State& s, Request& r);
void handle_create_lobby(Hub::State& s, Request& r);
void handle_join_lobby(Hub::State& s, Request& r);
void handle_leave_lobby(Hub::State& s, Request& r);
void handle_chat(Hub::State& s, Request& r);
void handle_chat_history(Hub::State& s, Request& r);
void handle_update_media(Hub::State& s, Request& r);
void handle_relay_description(Hub::State& s, Request& r);
void handle_relay_candidate(Hub::State& s, Request& r);
void handle_list_bot_kinds(Hub::State& s, Request& r);
void handle_add_bot(Hub::State& s, Request& r);
void handle_remove_bot(Hub::State& s, Request& r);
void handle_provider_hello(Hub::State& s, Request& r);
void handle_provider_status(Hub::State& s, Request& r);
void handle_job_accept(Hub::State& s, Request& r);
void handle_job_decline(Hub::State& s, Request& r);
void handle_job_end(Hub::State& s, Request& r);
void handle_provider_drain(Hub::State& s, Request& r);

// Bot operations shared by the admin HTTP API and the host's Server calls (docs/bots.md).
struct BotAdded {
  BotDispatch dispatch;
  bool created = false;  // false: the lobby already had that key
};
// Errors: lobby_not_found, bad_field (kind, key or metadata), unknown_kind, bot_quota,
// too_many_dispatches. metadata_json: "" or a JSON object.
std::variant<BotAdded, Error> add_bot(Hub::State& s, const LobbyId& lobby_id,
                                      const std::string& kind, const std::string& key,
                                      const std::string& metadata_json);
// Errors: dispatch_not_found (no dispatch with that key in that lobby).
std::optional<Error> remove_bot(Hub::State& s, const LobbyId& lobby_id, const std::string& key);
void write_provider(JsonBuilder& b, const core::BotProviderState& p);
void write_bot_kinds(JsonBuilder& b, const std::vector<core::BotManager::KindInfo>& kinds);
// A Dispatch with its "job" (or null): what admins see.
void write_dispatch_with_job(JsonBuilder& b, const core::BotManager& bots, const core::Dispatch& d);

// Lobby creation shared by the WS handler and POST /api/lobbies. creator: the session ("" for
// HTTP); address: the client's address key, "" when exempt from the per-address quota.
std::variant<core::Lobby*, Error> create_lobby(Hub::State& s, const rapidjson::Value& data,
                                               const PeerId& creator, const std::string& address);
std::variant<core::Lobby*, Error> create_lobby(Hub::State& s, const protocol::CreateLobbyReq& req,
                                               const PeerId& creator, const std::string& address);
// POST /api/lobbies: through the create_lobby hook when the host set one (remote: the
// client's address as the transport gave it); done runs on the loop thread, maybe later.
void create_lobby_hooked(Hub::State& s, const protocol::CreateLobbyReq& req,
                         const std::string& remote, const std::string& address,
                         std::function<void(std::variant<core::Lobby*, Error>)> done);

// A host's refusal as the client sees it (code "denied", the host's reason).
Error denial_error(const Denial& d);

template <class D, class Req, class Then>
void Hub::State::ask(Request& r, const std::function<void(const Req&, Decision<D>)>& hook,
                     const Req& req, Then then) {
  const std::uint64_t call = ++hook_calls;
  PendingHook& p = pending_hooks[call];
  p.conn = r.conn.id;
  p.type = std::string(r.type);
  p.id_raw = r.id_raw;
  p.deadline = clock.steady_ms() + limits.hook_timeout_ms;
  r.conn.held_by = call;
  State* self = this;
  invoke_hook(call, hook, req, [self, call, then](D& d) {
    self->settle(call, [&](Request& waiting) { then(waiting, d); });
  });
}

template <class D, class Req, class Then>
void Hub::State::ask_detached(const std::function<void(const Req&, Decision<D>)>& hook,
                              const Req& req, Then then,
                              std::function<void(const Error&)> refuse) {
  const std::uint64_t call = ++hook_calls;
  PendingHook& p = pending_hooks[call];
  p.deadline = clock.steady_ms() + limits.hook_timeout_ms;
  p.refuse = std::move(refuse);
  State* self = this;
  invoke_hook(call, hook, req, [self, call, then](D& d) {
    self->settle_detached(call, [&] { then(d); });
  });
}

template <class D, class Req, class Allowed>
void Hub::State::invoke_hook(std::uint64_t call,
                             const std::function<void(const Req&, Decision<D>)>& hook,
                             const Req& req, Allowed allowed) {
  std::shared_ptr<HookGate> g = gate;
  State* self = this;
  Decision<D> decision([g, self, call, allowed](std::optional<D> d) {
    g->post([g, self, call, allowed, d = std::move(d)]() mutable {
      if (!g->open()) return;  // the hub went meanwhile
      if (!d) {
        self->settle_failed(call, make_error(ErrorCode::hook_failed,
                                             "The server could not decide on this request; "
                                             "try again later."));
      } else if (!d->allow) {
        self->settle_failed(call, denial_error(d->denial));
      } else {
        allowed(*d);
      }
    });
  });
  bool threw = false;
  try {
    hook(req, decision);
  } catch (...) {
    threw = true;  // what it threw is the host's business, not the client's
  }
  if (threw && !decision.answered()) {
    decision.resolve(D::denied("", {}));  // no later answer counts
    settle_failed(call, make_error(ErrorCode::hook_failed,
                                   "The server could not decide on this request; try again later."));
  }
}

// Access tokens (router/identity.cpp; docs/protocol.md, "Access tokens").
// The auth's access token, checked before any session is made: the claims of a valid one
// for a new session; nothing when it has none and needs none, or on a resume (a resume keeps
// its identity); or the error to answer: invalid_access_token, access_token_expired,
// access_token_required (require_token, no token), invalid_access_token for a resume with a
// valid token of another user.
std::variant<std::optional<core::AccessClaims>, Error> verify_auth_token(
    Hub::State& s, const protocol::AuthReq& req);
// A new session takes the claims: user id, roles, metadata, its only lobby, and the
// token's name (numbered, as bot names are, when another session holds it).
void apply_access_claims(Hub::State& s, core::Session& session, const core::AccessClaims& claims);
// Gives peer the name `base`, or "base 2", "base 3", ... while those are taken; after
// kNumberedNameTries, `fallback` (a name no one else can hold, e.g. with the peer id).
void give_numbered_name(Hub::State& s, const PeerId& peer, const std::string& base,
                        const std::string& fallback);
// forbidden when the session's access token allows only another lobby.
std::optional<Error> lobby_allowed(const core::Session& session, const LobbyId& lobby);

// Roles with effects (router/handlers_roles.cpp; docs/protocol.md, "Roles").
constexpr std::string_view kModeratorRole = "moderator";  // may kick_member, mute_member
constexpr std::string_view kListenerRole = "listener";    // may not publish audio or video
void handle_kick_member(Hub::State& s, Request& r);
void handle_mute_member(Hub::State& s, Request& r);

// Application messages and metadata (router/handlers_app.cpp; docs/protocol.md,
// "Application messages and metadata").
void handle_app_message(Hub::State& s, Request& r);
void handle_set_metadata(Hub::State& s, Request& r);

}  // namespace lobbykit::router
