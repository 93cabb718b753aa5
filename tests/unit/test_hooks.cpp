// Tests for the host's decision hooks (include/lobbykit/hooks.hpp, router/hooks.hpp): a
// real Hub on the shared rig, hooks that answer at once, later, never, wrongly or by
// throwing. Answers travel through the harness's posted queue, as they travel through the
// loop's post() in a server.
#include "core/access_token.hpp"
#include "router/http_router.hpp"
#include "router/operations.hpp"
#include "support/router_harness.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace lobbykit::router {
namespace {

using protocol::CloseCode;

std::string token_data(const std::string& token) { return R"({"token":")" + token + R"("})"; }

// A hook that keeps every call's request and decision, for the test to answer.
template <class Req, class D>
struct Recorder {
  std::vector<Req> requests;
  std::vector<Decision<D>> decisions;
  std::function<void(const Req&, Decision<D>)> hook() {
    return [this](const Req& r, Decision<D> d) {
      requests.push_back(r);
      decisions.push_back(std::move(d));
    };
  }
};

struct HookHarness : Harness {
  HookHarness() : Harness(limits_with_hooks()) {}
  static Limits limits_with_hooks() {
    Limits l = testing::test_limits();
    l.hook_timeout_ms = 2'000;
    l.max_held_messages = 4;
    return l;
  }
};

// ---------------------------------------------------------------------------------------
// authenticate

TEST_CASE("hooks: authenticate sees the request without secrets and can name the session") {
  HookHarness h;
  Recorder<AuthRequest, AuthDecision> rec;
  h.set_hooks(Hooks{rec.hook(), {}, {}, {}});
  Client a = h.connect("198.51.100.7");
  int id = a.request("auth", R"({"invite":"abc","password":"p"})");
  CHECK_FALSE(a.has_reply(id));  // waits for the host
  REQUIRE(rec.requests.size() == 1);
  CHECK(rec.requests[0].address == "198.51.100.7");
  CHECK(rec.requests[0].data_json == R"({"invite":"abc"})");
  CHECK_FALSE(rec.requests[0].resume);
  AuthDecision d;
  d.name = "Guest";
  rec.decisions[0].resolve(d);
  h.run_posted();
  Msg w = a.reply(id);
  CHECK(w.type() == "welcome");
  CHECK(w.str("data.name") == "Guest");

  // A second session named "Guest" by the host is numbered.
  Client b = h.connect();
  int id2 = b.request("auth");
  rec.decisions[1].resolve(d);
  h.run_posted();
  CHECK(b.reply(id2).str("data.name") == "Guest 2");
}

TEST_CASE("hooks: a denied auth gets denied with the host's reason, the client may try again") {
  HookHarness h;
  Recorder<AuthRequest, AuthDecision> rec;
  h.set_hooks(Hooks{rec.hook(), {}, {}, {}});
  Client a = h.connect();
  int id = a.request("auth", R"({"invite":"wrong"})");
  rec.decisions[0].deny("not_invited", "You are not on the list.");
  h.run_posted();
  Msg e = a.reply(id);
  CHECK(e.code() == "denied");
  CHECK(e.str("data.reason") == "not_invited");
  CHECK(e.str("data.error") == "You are not on the list.");
  CHECK(a.close_code() == 0);

  int id2 = a.request("auth", R"({"invite":"right"})");
  rec.decisions[1].allow();
  h.run_posted();
  CHECK(a.reply(id2).type() == "welcome");

  // A reason that is not a code is replaced by the generic one, the sentence kept.
  Client b = h.connect();
  int id3 = b.request("auth");
  rec.decisions[2].deny("Not Invited!", "");
  h.run_posted();
  Msg e3 = b.reply(id3);
  CHECK(e3.str("data.reason") == "denied");
  CHECK_FALSE(e3.str("data.error").empty());
}

TEST_CASE("hooks: a new session's access token says who it is: user id, roles, claims") {
  HookHarness h;
  h.token_secret = "hooks-test-secret-0123456789abcdef";
  h.restart();
  Recorder<AuthRequest, AuthDecision> rec;
  h.set_hooks(Hooks{rec.hook(), {}, {}, {}});
  AccessClaims c;
  c.user_id = "user-42";
  c.roles = {"moderator"};
  c.name = "Ada";
  const std::string token =
      core::sign_access_token(h.token_secret, c, 3600, h.clock.now_ms() / 1000);
  Client a = h.connect();
  int id = a.request("auth", R"({"access_token":")" + token + R"("})");
  REQUIRE(rec.requests.size() == 1);
  const AuthRequest& q = rec.requests[0];
  CHECK_FALSE(q.resume);
  CHECK(q.user_id == "user-42");
  CHECK(q.roles == std::vector<std::string>{"moderator"});
  REQUIRE(q.claims);
  CHECK(q.claims->user_id == "user-42");
  CHECK(q.data_json == "{}");  // the token itself is not shown
  rec.decisions[0].allow();
  h.run_posted();
  Msg w = a.reply(id);
  CHECK(w.str("data.user_id") == "user-42");
  a.token = w.str("data.token");

  // The resume of that session says the same, from the session.
  a.disconnect();
  Client again = h.connect();
  again.request("auth", token_data(a.token));
  REQUIRE(rec.requests.size() == 2);
  CHECK(rec.requests[1].resume);
  CHECK(rec.requests[1].user_id == "user-42");
  CHECK(rec.requests[1].roles == std::vector<std::string>{"moderator"});

  // Without a token: nobody in particular.
  Client b = h.connect();
  b.request("auth");
  REQUIRE(rec.requests.size() == 3);
  CHECK(rec.requests[2].user_id.empty());
  CHECK(rec.requests[2].roles.empty());
  CHECK_FALSE(rec.requests[2].claims);
}

TEST_CASE("hooks: a resume is asked about with the session's peer id and name") {
  HookHarness h;
  Client a = h.user("Ann");
  const std::string token = a.token;
  const PeerId peer = a.peer;
  a.disconnect();
  Recorder<AuthRequest, AuthDecision> rec;
  h.set_hooks(Hooks{rec.hook(), {}, {}, {}});
  Client again = h.connect();
  int id = again.request("auth", token_data(token));
  REQUIRE(rec.requests.size() == 1);
  CHECK(rec.requests[0].resume);
  CHECK(rec.requests[0].peer_id == peer);
  CHECK(rec.requests[0].name == "Ann");
  CHECK(rec.requests[0].data_json == "{}");  // the token is not shown
  rec.decisions[0].allow();
  h.run_posted();
  Msg w = again.reply(id);
  CHECK(w.flag("data.resumed"));
  CHECK(w.str("data.peer_id") == peer);

  // An unknown token is refused without asking the host.
  Client c = h.connect();
  CHECK(c.call("auth", token_data("00")).code() == "invalid_token");
  CHECK(rec.requests.size() == 1);
}

TEST_CASE("hooks: messages sent while a hook decides wait and then run in order") {
  HookHarness h;
  Recorder<AuthRequest, AuthDecision> rec;
  h.set_hooks(Hooks{rec.hook(), {}, {}, {}});
  Client a = h.connect();
  int auth = a.request("auth");
  int ping = a.request("ping");
  int name = a.request("set_name", R"({"name":"Ann"})");
  CHECK(a.pending() == 0);
  rec.decisions[0].allow();
  h.run_posted();
  h.worker.run_all();  // set_name's work
  // The ping ran after the welcome: authenticated, not refused with not_authenticated.
  CHECK(a.next().type() == "welcome");
  CHECK(a.reply(ping).type() == "result");
  CHECK(a.reply(name).str("data.name") == "Ann");
  (void)auth;
}

TEST_CASE("hooks: too many messages waiting behind a hook close the connection with 4006") {
  HookHarness h;  // max_held_messages = 4
  Recorder<AuthRequest, AuthDecision> rec;
  h.set_hooks(Hooks{rec.hook(), {}, {}, {}});
  Client a = h.connect();
  a.request("auth");
  for (int i = 0; i < 4; ++i) a.request("ping");
  CHECK(a.close_code() == 0);
  a.request("ping");
  CHECK(a.close_code() == static_cast<int>(CloseCode::flooding));
}

TEST_CASE("hooks: a hook that never answers times out, its late answer changes nothing") {
  HookHarness h;  // hook_timeout_ms = 2000
  Recorder<AuthRequest, AuthDecision> rec;
  h.set_hooks(Hooks{rec.hook(), {}, {}, {}});
  Client a = h.connect();
  int id = a.request("auth");
  int ping = a.request("ping");
  h.clock.advance(1'999);
  h.hub->tick();
  CHECK_FALSE(a.has_reply(id));
  h.clock.advance(1);
  h.hub->tick();
  CHECK(a.reply(id).code() == "hook_timeout");
  // The held ping ran after the refusal: still unauthenticated.
  CHECK(a.reply(ping).code() == "not_authenticated");
  rec.decisions[0].allow();
  h.run_posted();
  CHECK(a.pending() == 0);
  CHECK(h.hub->gauges().sessions == 0);
}

TEST_CASE("hooks: a hook that throws, or drops its decision, refuses with hook_failed") {
  HookHarness h;
  int calls = 0;
  h.set_hooks(Hooks{[&](const AuthRequest&, Decision<AuthDecision>) {
                      ++calls;
                      throw std::runtime_error("database down: secret detail");
                    },
                    {}, {}, {}});
  Client a = h.connect();
  Msg e = a.call("auth");
  CHECK(e.code() == "hook_failed");
  CHECK(e.str("data.error").find("secret") == std::string::npos);  // the host's text stays home
  CHECK(calls == 1);

  // Dropped: every copy of the decision destroyed unanswered.
  h.set_hooks(Hooks{[](const AuthRequest&, Decision<AuthDecision>) {}, {}, {}, {}});
  Client b = h.connect();
  int id = b.request("auth");
  h.run_posted();
  CHECK(b.reply(id).code() == "hook_failed");

  // Answered, then threw: the answer counts.
  h.set_hooks(Hooks{[](const AuthRequest&, Decision<AuthDecision> d) {
                      d.allow();
                      throw std::runtime_error("after");
                    },
                    {}, {}, {}});
  Client c = h.connect();
  int id2 = c.request("auth");
  h.run_posted();
  CHECK(c.reply(id2).type() == "welcome");
}

TEST_CASE("hooks: an answer for a client that left meanwhile is dropped") {
  HookHarness h;
  Recorder<AuthRequest, AuthDecision> rec;
  h.set_hooks(Hooks{rec.hook(), {}, {}, {}});
  Client a = h.connect();
  a.request("auth");
  a.disconnect();
  rec.decisions[0].allow();
  CHECK(h.run_posted() == 1);
  CHECK(h.hub->gauges().sessions == 0);
  CHECK(h.out.records[a.id()].dropped == 0);
}

TEST_CASE("hooks: an answer after the hub is gone is dropped") {
  HookHarness h;
  Recorder<AuthRequest, AuthDecision> rec;
  h.set_hooks(Hooks{rec.hook(), {}, {}, {}});
  Client a = h.connect();
  a.request("auth");
  h.restart();  // the hub goes; its gate closes
  rec.decisions[0].allow();
  CHECK(h.posted.empty());
}

// ---------------------------------------------------------------------------------------
// join

TEST_CASE("hooks: join is asked for new members only, with the lobby, deny and allow") {
  HookHarness h;
  Client owner = h.user("Owner");
  const std::string lobby = owner.create_lobby("Room");
  owner.join(lobby);
  Recorder<JoinRequest, JoinDecision> rec;
  h.set_hooks(Hooks{{}, rec.hook(), {}, {}});
  owner.join(lobby);  // already a member: not asked
  CHECK(rec.requests.empty());

  Client b = h.user("Bob");
  int id = b.request("join_lobby", R"({"lobby_id":")" + lobby + R"(","has_media":true})");
  REQUIRE(rec.requests.size() == 1);
  CHECK(rec.requests[0].name == "Bob");
  CHECK(rec.requests[0].lobby.id == lobby);
  CHECK(rec.requests[0].lobby.name == "Room");
  CHECK(rec.requests[0].has_media);
  rec.decisions[0].deny("banned", "You are banned from this lobby.");
  h.run_posted();
  Msg e = b.reply(id);
  CHECK(e.code() == "denied");
  CHECK(e.str("data.reason") == "banned");
  CHECK(owner.take("participant_joined").empty());

  int id2 = b.request("join_lobby", R"({"lobby_id":")" + lobby + R"("})");
  rec.decisions[1].allow();
  h.run_posted();
  CHECK(b.reply(id2).str("data.lobby.id") == lobby);
}

TEST_CASE("hooks: a lobby removed while the join hook decides is not joined") {
  Limits l = HookHarness::limits_with_hooks();
  l.lobby_expiry_ms = 1'000;  // expires before the hook's deadline (2 s)
  Harness h(l);
  Client owner = h.user("Owner");
  const std::string lobby = owner.create_lobby("Room");
  Recorder<JoinRequest, JoinDecision> rec;
  h.set_hooks(Hooks{{}, rec.hook(), {}, {}});
  Client b = h.user("Bob");
  int id = b.request("join_lobby", R"({"lobby_id":")" + lobby + R"("})");
  h.clock.advance(1'500);
  h.hub->tick();
  REQUIRE(h.hub->gauges().lobbies == 0);
  rec.decisions[0].allow();
  h.run_posted();
  CHECK(b.reply(id).code() == "lobby_not_found");
}

// ---------------------------------------------------------------------------------------
// create lobby

TEST_CASE("hooks: create_lobby can deny, adjust, or adjust wrongly") {
  HookHarness h;
  Recorder<CreateLobbyRequest, CreateLobbyDecision> rec;
  h.set_hooks(Hooks{{}, {}, rec.hook(), {}});
  Client a = h.user("Ann", "203.0.113.9");
  int id = a.request("create_lobby", R"({"name":"Room","max_participants":10})");
  REQUIRE(rec.requests.size() == 1);
  CHECK(rec.requests[0].peer_id == a.peer);
  CHECK(rec.requests[0].address == "203.0.113.9");
  CHECK(rec.requests[0].name == "Room");
  CHECK(rec.requests[0].max_participants == 10);
  CreateLobbyDecision adjust;
  adjust.name = "Ann's room";
  adjust.max_participants = 4;
  adjust.is_private = true;
  rec.decisions[0].resolve(adjust);
  h.run_posted();
  Msg r = a.reply(id);
  CHECK(r.str("data.lobby.name") == "Ann's room");
  CHECK(r.num("data.lobby.max_participants") == 4);
  CHECK(r.flag("data.lobby.private"));

  int id2 = a.request("create_lobby", R"({"name":"Other"})");
  CreateLobbyDecision bad;
  bad.max_participants = 100'000;  // over Limits::max_participants
  rec.decisions[1].resolve(bad);
  h.run_posted();
  Msg e = a.reply(id2);
  CHECK(e.code() == "bad_field");
  CHECK(e.str("data.field") == "data.max_participants");

  int id3 = a.request("create_lobby", R"({"name":"Third"})");
  rec.decisions[2].deny("plan_limit", "Upgrade to create more rooms.");
  h.run_posted();
  CHECK(a.reply(id3).str("data.reason") == "plan_limit");
}

TEST_CASE("hooks: POST /api/lobbies goes through the create hook, the admin's does not") {
  HookHarness h;
  Recorder<CreateLobbyRequest, CreateLobbyDecision> rec;
  h.set_hooks(Hooks{{}, {}, rec.hook(), {}});
  HttpRouter router(*h.hub, "admin-secret", "");
  HttpRequest req;
  req.method = "POST";
  req.path = "/api/lobbies";
  req.body = R"({"name":"Web room"})";
  req.address = "192.0.2.44";
  std::optional<HttpResponse> got;
  router.handle(req, [&](HttpResponse r) { got = std::move(r); });
  CHECK_FALSE(got);
  REQUIRE(rec.requests.size() == 1);
  CHECK(rec.requests[0].peer_id.empty());
  CHECK(rec.requests[0].address == "192.0.2.44");
  rec.decisions[0].deny("closed", "No new rooms today.");
  h.run_posted();
  REQUIRE(got);
  CHECK(got->status == 403);
  Msg body(std::make_shared<const std::string>(got->body));
  CHECK(body.str("code") == "denied");
  CHECK(body.str("reason") == "closed");

  // Timed out.
  got.reset();
  router.handle(req, [&](HttpResponse r) { got = std::move(r); });
  h.clock.advance(2'000);
  h.hub->tick();
  REQUIRE(got);
  CHECK(got->status == 503);

  // The admin creates without asking.
  req.authorization = "Bearer admin-secret";
  got.reset();
  router.handle(req, [&](HttpResponse r) { got = std::move(r); });
  REQUIRE(got);
  CHECK(got->status == 201);
  CHECK(rec.requests.size() == 2);
}

// ---------------------------------------------------------------------------------------
// chat

TEST_CASE("hooks: chat can be denied or rewritten before it is stored and broadcast") {
  HookHarness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  const std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  b.join(lobby);
  a.clear();
  b.clear();
  Recorder<ChatRequest, ChatDecision> rec;
  h.set_hooks(Hooks{{}, {}, {}, rec.hook()});

  int id = a.request("chat", R"({"text":"darn it"})");
  REQUIRE(rec.requests.size() == 1);
  CHECK(rec.requests[0].text == "darn it");
  CHECK(rec.requests[0].lobby_id == lobby);
  CHECK(rec.requests[0].peer_id == a.peer);
  rec.decisions[0].resolve(ChatDecision::rewritten("d*** it"));
  h.run_posted();
  CHECK(a.reply(id).num("data.offset") == 1);
  Msg pushed = b.next("chat");
  CHECK(pushed.str("data.message.text") == "d*** it");

  int id2 = a.request("chat", R"({"text":"buy cheap pills"})");
  rec.decisions[1].deny("spam", "Looks like spam.");
  h.run_posted();
  CHECK(a.reply(id2).str("data.reason") == "spam");
  CHECK(b.take("chat").empty());
  // The history holds only what was allowed.
  Msg hist = b.ok("chat_history", "{}");
  CHECK(hist.str("data.messages.0.text") == "d*** it");
  CHECK(hist.find("data.messages.1") == nullptr);

  // A rewrite that is no chat text (empty) is refused.
  int id3 = a.request("chat", R"({"text":"x"})");
  rec.decisions[2].resolve(ChatDecision::rewritten(""));
  h.run_posted();
  CHECK(a.reply(id3).code() == "hook_failed");
}

TEST_CASE("hooks: chats keep their order when the hook answers out of order") {
  HookHarness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  const std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  b.join(lobby);
  b.clear();
  Recorder<ChatRequest, ChatDecision> rec;
  h.set_hooks(Hooks{{}, {}, {}, rec.hook()});
  a.request("chat", R"({"text":"one"})");
  a.request("chat", R"({"text":"two"})");
  // The second is not even asked about before the first is decided.
  REQUIRE(rec.requests.size() == 1);
  rec.decisions[0].allow();
  h.run_posted();
  REQUIRE(rec.requests.size() == 2);
  rec.decisions[1].allow();
  h.run_posted();
  auto chats = b.take("chat");
  REQUIRE(chats.size() == 2);
  CHECK(chats[0].str("data.message.text") == "one");
  CHECK(chats[1].str("data.message.text") == "two");
}

TEST_CASE("hooks: a chat whose writer left the lobby meanwhile is not posted") {
  HookHarness h;
  Client a = h.user("Ann");
  const std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  Recorder<ChatRequest, ChatDecision> rec;
  h.set_hooks(Hooks{{}, {}, {}, rec.hook()});
  int id = a.request("chat", R"({"text":"hello"})");
  // The leave waits behind the chat; the host answers after other work was queued: the
  // chat still lands first, because the leave is held.
  int leave = a.request("leave_lobby");
  rec.decisions[0].allow();
  h.run_posted();
  CHECK(a.reply(id).type() == "result");
  CHECK(a.reply(leave).type() == "result");
}

TEST_CASE("hooks: without hooks nothing waits") {
  HookHarness h;
  Client a = h.connect();
  int id = a.request("auth");
  CHECK(a.has_reply(id));
  CHECK(h.posted.empty());
}


// ---------------------------------------------------------------------------------------
// app_message

// Ann and Bob in one lobby, nothing pending.
struct AppRoom {
  explicit AppRoom(HookHarness& h) : a(h.user("Ann")), b(h.user("Bob")) {
    lobby = a.create_lobby("Room");
    a.join(lobby);
    b.join(lobby);
    a.clear();
    b.clear();
  }
  Client a, b;
  std::string lobby;
};

Hooks app_hooks(AppMessageHook hook, std::function<bool(const std::string&)> wants = {}) {
  Hooks hooks;
  hooks.app_message = std::move(hook);
  hooks.app_message_wants = std::move(wants);
  return hooks;
}

TEST_CASE("hooks: app_message is asked with the sender and the message, allow delivers") {
  HookHarness h;
  AppRoom room(h);
  Recorder<AppMessageRequest, AppMessageDecision> rec;
  h.set_hooks(app_hooks(rec.hook()));
  int id = room.a.request("app_message", R"({"name":"move","to":")" + room.b.peer +
                                             R"(","payload":{"x":1}})");
  CHECK_FALSE(room.a.has_reply(id));
  CHECK(room.b.pending() == 0);  // nothing before the host decides
  REQUIRE(rec.requests.size() == 1);
  const AppMessageRequest& q = rec.requests[0];
  CHECK(q.peer_id == room.a.peer);
  CHECK(q.name == "Ann");
  CHECK(q.lobby_id == room.lobby);
  CHECK(q.to == room.b.peer);
  CHECK(q.type == "move");
  CHECK(q.payload_json == R"({"x":1})");
  rec.decisions[0].allow();
  h.run_posted();
  Msg r = room.a.reply(id);
  CHECK(r.num("data.delivered") == 1);
  CHECK_FALSE(r.has("data.reply"));
  CHECK(room.b.next("app_message").num("data.payload.x") == 1);
}

TEST_CASE("hooks: app_message denied, handled with a reply, delivered with a reply") {
  HookHarness h;
  AppRoom room(h);
  Recorder<AppMessageRequest, AppMessageDecision> rec;
  h.set_hooks(app_hooks(rec.hook()));

  int denied = room.a.request("app_message", R"({"name":"cheat"})");
  rec.decisions[0].deny("not_your_turn", "Wait for your turn.");
  h.run_posted();
  Msg e = room.a.reply(denied);
  CHECK(e.code() == "denied");
  CHECK(e.str("data.reason") == "not_your_turn");
  CHECK(room.b.pending() == 0);

  int handled = room.a.request("app_message", R"({"name":"roll"})");
  rec.decisions[1].resolve(AppMessageDecision::handled(R"({"dice": [3, 5]})"));
  h.run_posted();
  Msg r = room.a.reply(handled);
  CHECK(r.num("data.delivered") == 0);
  CHECK(r.num("data.reply.dice.1") == 5);
  CHECK(room.b.pending() == 0);

  // deliver false without a reply: handled, nothing to say.
  int quiet = room.a.request("app_message", R"({"name":"log"})");
  AppMessageDecision d;
  d.deliver = false;
  rec.decisions[2].resolve(d);
  h.run_posted();
  Msg q = room.a.reply(quiet);
  CHECK(q.num("data.delivered") == 0);
  CHECK_FALSE(q.has("data.reply"));
  CHECK(room.b.pending() == 0);

  // Delivered and answered.
  int both = room.a.request("app_message", R"({"name":"chat:typing"})");
  AppMessageDecision both_d;
  both_d.reply_json = R"("ok")";
  rec.decisions[3].resolve(both_d);
  h.run_posted();
  Msg br = room.a.reply(both);
  CHECK(br.num("data.delivered") == 1);
  CHECK(br.str("data.reply") == "ok");
  CHECK(room.b.next("app_message").str("data.name") == "chat:typing");

  // An answer that is not JSON is the host's mistake: hook_failed, nothing delivered.
  int broken = room.a.request("app_message", R"({"name":"x"})");
  rec.decisions[4].resolve(AppMessageDecision::handled("{oops"));
  h.run_posted();
  CHECK(room.a.reply(broken).code() == "hook_failed");
  CHECK(room.b.pending() == 0);
}

TEST_CASE("hooks: app_message hook times out or throws: refused, nothing delivered") {
  HookHarness h;  // hook_timeout_ms = 2000
  AppRoom room(h);
  Recorder<AppMessageRequest, AppMessageDecision> rec;
  h.set_hooks(app_hooks(rec.hook()));
  int id = room.a.request("app_message", R"({"name":"slow"})");
  h.clock.advance(2'000);
  h.hub->tick();
  CHECK(room.a.reply(id).code() == "hook_timeout");
  rec.decisions[0].allow();  // too late
  h.run_posted();
  CHECK(room.b.pending() == 0);
  CHECK(room.a.pending() == 0);

  h.set_hooks(app_hooks([](const AppMessageRequest&, Decision<AppMessageDecision>) {
    throw std::runtime_error("boom");
  }));
  CHECK(room.a.call("app_message", R"({"name":"x"})").code() == "hook_failed");
  CHECK(room.b.pending() == 0);
}

TEST_CASE("hooks: app_message names without a handler are delivered without asking") {
  HookHarness h;
  AppRoom room(h);
  Recorder<AppMessageRequest, AppMessageDecision> rec;
  h.set_hooks(app_hooks(rec.hook(), [](const std::string& name) { return name == "game:move"; }));
  // Not wanted: delivered at once, no hook call, nothing posted.
  CHECK(room.a.ok("app_message", R"({"name":"emoji"})").num("data.delivered") == 1);
  CHECK(rec.requests.empty());
  CHECK(h.posted.empty());
  room.a.request("app_message", R"({"name":"game:move"})");
  CHECK(rec.requests.size() == 1);
}

TEST_CASE("hooks: an app_message whose sender or target left meanwhile is not delivered") {
  HookHarness h;
  AppRoom room(h);
  Recorder<AppMessageRequest, AppMessageDecision> rec;
  h.set_hooks(app_hooks(rec.hook()));
  int id = room.a.request("app_message", R"({"name":"m","to":")" + room.b.peer + R"("})");
  room.b.ok("leave_lobby");
  rec.decisions[0].allow();
  h.run_posted();
  CHECK(room.a.reply(id).code() == "unknown_peer");

  // Handled by the host: the target's absence does not matter.
  room.b.join(room.lobby);
  int id2 = room.a.request("app_message", R"({"name":"m","to":")" + room.b.peer + R"("})");
  room.b.ok("leave_lobby");
  rec.decisions[1].resolve(AppMessageDecision::handled());
  h.run_posted();
  CHECK(room.a.reply(id2).is_null("data.reply"));

  int id3 = room.a.request("app_message", R"({"name":"m"})");
  // The sender leaves: its leave waits behind the hook, so make it leave by a kick.
  kick_session(h.hub->state(), room.a.peer);
  rec.decisions[2].allow();
  h.run_posted();
  CHECK_FALSE(room.a.has_reply(id3));
  room.b.clear();
  CHECK(room.b.take("app_message").empty());
}

}  // namespace
}  // namespace lobbykit::router
