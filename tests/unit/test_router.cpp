// Tests for the router: a real Hub driven through an in-memory Outbox with a manual clock,
// a manual worker and a MemoryStore; and the HttpRouter over the same Hub. Every frame the
// hub sends is parsed back with RapidJSON and checked field by field.
#include "router/address.hpp"
#include "router/http_router.hpp"
#include "router/hub.hpp"
#include "router/operations.hpp"

#include <lobbykit/version.hpp>

#include "core/access_token.hpp"
#include "core/clock.hpp"
#include "core/worker.hpp"
#include "store/store.hpp"
#include "support/hub_rig.hpp"
#include "support/router_harness.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace lobbykit::router {
namespace {

namespace fs = std::filesystem;
using protocol::CloseCode;

using testing::test_limits;

bool is_hex(const std::string& s, std::size_t len) {
  return s.size() == len && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string token_data(const std::string& token) { return R"({"token":")" + token + R"("})"; }

// The peer ids a client was introduced to, with should_offer, taken from its queue.
std::map<PeerId, std::vector<bool>> take_peer_added(const Client& c) {
  std::map<PeerId, std::vector<bool>> out;
  for (const Msg& m : c.take("peer_added")) out[m.str("data.peer_id")].push_back(m.flag("data.should_offer"));
  return out;
}

std::vector<PeerId> take_peer_removed(const Client& c) {
  std::vector<PeerId> out;
  for (const Msg& m : c.take("peer_removed")) out.push_back(m.str("data.peer_id"));
  return out;
}

// ---------------------------------------------------------------------------------------
// Sessions and auth

TEST_CASE("router: auth starts a new session and welcome describes it") {
  Limits l = test_limits();
  l.chat_history = 123;
  l.resume_grace_ms = 4567;
  l.max_chat_bytes = 999;
  Harness h(l);
  Client a = h.connect();
  Msg w = a.call("auth");
  CHECK(w.type() == "welcome");
  CHECK(is_hex(w.str("data.peer_id"), 16));
  CHECK(is_hex(w.str("data.token"), 32));
  CHECK(w.str("data.name") == "");
  CHECK_FALSE(w.flag("data.is_bot"));
  CHECK_FALSE(w.flag("data.resumed"));
  CHECK_FALSE(w.flag("data.name_protected"));
  CHECK(w.num("data.protocol_version") == 1);
  CHECK(w.is_null("data.lobby"));
  CHECK(w.num("data.limits.max_message_bytes") == 65536);
  CHECK(w.num("data.limits.max_chat_bytes") == 999);
  CHECK(w.num("data.limits.max_name_chars") == 32);
  CHECK(w.num("data.limits.max_lobby_name_chars") == 64);
  CHECK(w.num("data.limits.chat_history") == 123);
  CHECK(w.num("data.limits.resume_grace_ms") == 4567);
  CHECK(a.pending() == 0);

  Client b = h.connect();
  Msg wb = b.call("auth", R"({"bot":true})");
  CHECK(wb.flag("data.is_bot"));
  CHECK(wb.str("data.peer_id") != w.str("data.peer_id"));
  CHECK(wb.str("data.token") != w.str("data.token"));
  CHECK(wb.str("data.token") != wb.str("data.peer_id"));
  CHECK(h.hub->gauges().sessions == 2);
  CHECK(h.hub->gauges().sessions_connected == 2);
}

TEST_CASE("router: only auth is accepted before authenticating, and only once") {
  Harness h;
  Client c = h.connect();
  for (const char* type : {"ping", "set_name", "list_lobbies", "watch_lobbies", "create_lobby", "join_lobby",
                           "leave_lobby", "chat", "chat_history", "update_media",
                           "relay_description", "relay_candidate"}) {
    Msg e = c.call(type, R"({"name":"x","text":"x","to":"x"})");
    INFO(type);
    CHECK(e.code() == "not_authenticated");
  }
  CHECK(h.hub->gauges().sessions == 0);

  Msg w = c.auth();
  Msg again = c.call("auth");
  CHECK(again.code() == "already_authenticated");
  Msg again_token = c.call("auth", token_data(c.token));
  CHECK(again_token.code() == "already_authenticated");
  CHECK(h.hub->gauges().sessions == 1);
  Msg pong = c.ok("ping");
  CHECK(pong.num("data.time_ms") == h.clock.now_ms());
}

TEST_CASE("router: a garbage token is refused and the connection can still authenticate") {
  Harness h;
  Client c = h.connect();
  CHECK(c.call("auth", token_data("00112233445566778899aabbccddeeff")).code() == "invalid_token");
  CHECK(c.call("auth", token_data("not even hex")).code() == "invalid_token");
  Msg bad = c.call("auth", R"({"token":42})");
  CHECK(bad.code() == "bad_field");
  CHECK(bad.str("data.field") == "data.token");
  CHECK(c.call("auth", token_data(std::string(129, 'a'))).code() == "bad_field");
  CHECK(c.call("ping").code() == "not_authenticated");
  CHECK(h.hub->gauges().sessions == 0);
  Msg w = c.auth();
  CHECK_FALSE(w.flag("data.resumed"));
}

TEST_CASE("router: resuming by token returns the same session") {
  Harness h;
  Client a = h.user("Ann");
  a.disconnect();
  CHECK(h.hub->gauges().sessions == 1);
  CHECK(h.hub->gauges().sessions_connected == 0);

  Client a2 = h.connect();
  Msg w = a2.resume(a.token);
  CHECK(w.flag("data.resumed"));
  CHECK(w.str("data.peer_id") == a.peer);
  CHECK(w.str("data.token") == a.token);
  CHECK(w.str("data.name") == "Ann");
  CHECK(w.is_null("data.lobby"));
  CHECK(h.hub->gauges().sessions == 1);
  CHECK(h.hub->gauges().sessions_connected == 1);
}

TEST_CASE("router: a second connection on the same token replaces the first") {
  Harness h;
  Client a = h.user("Ann");
  Client m = h.user("Max");
  std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  m.join(lobby);
  a.clear();
  m.clear();

  Client a2 = h.connect();
  Msg w = a2.resume(a.token);
  CHECK(w.flag("data.resumed"));
  CHECK(w.str("data.peer_id") == a.peer);
  CHECK(w.str("data.lobby.lobby.id") == lobby);
  CHECK(a.close_code() == 4001);
  CHECK(a.record().close_calls == 1);
  CHECK(a2.close_code() == 0);

  // The old connection is closing: what it still sends is ignored.
  a.send("chat", R"({"text":"ghost"})");
  CHECK(m.pending() == 0);

  // Its close arrives later and must not disconnect the session now on a2.
  a.disconnect();
  CHECK(m.pending() == 0);
  CHECK(h.hub->gauges().sessions_connected == 2);
  Msg r = a2.chat("hi");
  CHECK(r.num("data.offset") == 1);
  Msg chat = m.next("chat");
  CHECK(chat.str("data.message.sender") == a.peer);
  CHECK(chat.str("data.message.text") == "hi");
}

TEST_CASE("router: a connection that does not authenticate in time is closed with 4000") {
  Harness h;
  Client early = h.connect();
  Client authed = h.user("Ann");
  h.clock.advance(h.limits.auth_timeout_ms - 1);
  h.hub->tick();
  CHECK(early.close_code() == 0);
  Client later = h.connect();

  h.clock.advance(1);
  h.hub->tick();
  CHECK(early.close_code() == 4000);
  CHECK(later.close_code() == 0);
  CHECK(authed.close_code() == 0);

  h.clock.advance(h.limits.auth_timeout_ms);
  h.hub->tick();
  CHECK(later.close_code() == 4000);
  CHECK(authed.close_code() == 0);
  CHECK(early.record().close_calls == 1);

  // An auth that failed does not stop the clock either.
  Client failed = h.connect();
  CHECK(failed.call("auth", token_data("ffff")).code() == "invalid_token");
  h.clock.advance(h.limits.auth_timeout_ms);
  h.hub->tick();
  CHECK(failed.close_code() == 4000);
}

TEST_CASE("router: sessions abandoned for session_ttl_ms are deleted") {
  Limits l = test_limits();
  l.session_ttl_ms = 1000;
  Harness h(l);
  Client a = h.user("Ann");
  a.disconnect();
  h.clock.advance(60'000);
  h.hub->tick();
  CHECK(h.hub->gauges().sessions == 0);
  Client again = h.connect();
  CHECK(again.call("auth", token_data(a.token)).code() == "invalid_token");
  Client b = h.user("");
  CHECK(b.ok("set_name", R"({"name":"ann"})").str("data.name") == "ann");
}

TEST_CASE("router: a session without name and lobby expires idle_session_ttl_ms after it went") {
  Limits l = test_limits();
  l.idle_session_ttl_ms = 5'000;
  Harness h(l);
  std::vector<std::string> closed;
  h.hub->events().subscribe([&](const Event& e) {
    if (auto* c = std::get_if<event::SessionClosed>(&e)) closed.push_back(c->reason);
  });
  Client anon = h.user("");
  Client named = h.user("Ann");
  Client member = h.user("Bob");
  member.join(member.create_lobby("Room"));
  for (Client* c : {&anon, &named, &member}) c->disconnect();
  h.clock.advance(4'000);
  h.hub->tick();
  CHECK(h.hub->gauges().sessions == 3);
  h.clock.advance(1'000);
  h.hub->tick();
  CHECK(h.hub->gauges().sessions == 2);
  CHECK(closed == std::vector<std::string>{"expired"});
  Client again = h.connect();
  CHECK(again.call("auth", token_data(anon.token)).code() == "invalid_token");
  CHECK(again.resume(named.token).str("data.name") == "Ann");
  // The member's grace (60 s) ends; without a name it would now be idle, with one it is not.
  h.clock.advance(60'000);
  h.hub->tick();
  CHECK(h.hub->gauges().sessions == 2);
}

TEST_CASE("router: idle sessions restored from the store expire idle_session_ttl_ms after the restart") {
  Limits l = test_limits();
  l.idle_session_ttl_ms = 5'000;
  Harness h(l);
  Client anon = h.user("");
  Client named = h.user("Ann");
  anon.disconnect();
  named.disconnect();
  h.clock.advance(3'000);
  h.restart();
  h.clock.advance(4'999);
  h.hub->tick();
  CHECK(h.hub->gauges().sessions == 2);
  h.clock.advance(1'001);
  h.hub->tick();
  CHECK(h.hub->gauges().sessions == 1);
  Client again = h.connect();
  CHECK(again.call("auth", token_data(anon.token)).code() == "invalid_token");
  CHECK(again.resume(named.token).str("data.name") == "Ann");
}

TEST_CASE("router: sessions per address are capped with too_many_sessions and close 4005") {
  Limits l = test_limits();
  l.max_sessions_per_address = 3;
  Harness h(l);
  std::vector<Client> from_a;
  for (int i = 0; i < 3; ++i) {
    from_a.push_back(h.connect("198.51.100.7"));
    from_a.back().auth();
  }
  Client fourth = h.connect("198.51.100.7");
  Msg e = fourth.call("auth");
  CHECK(e.code() == "too_many_sessions");
  CHECK(e.str("data.error").find("address") != std::string::npos);
  CHECK(fourth.close_code() == static_cast<int>(CloseCode::too_many_sessions));
  CHECK(h.hub->gauges().sessions == 3);

  // Another address, IPv4 on a dual-stack socket included, and in-process clients are not
  // held back by it.
  Client other = h.connect("198.51.100.8");
  other.auth();
  for (int i = 0; i < 5; ++i) h.connect(kInProcessAddress).auth();
  // A resume creates no session: always allowed.
  Client back = h.connect("198.51.100.7");
  from_a[0].disconnect();
  back.resume(from_a[0].token);
  // The same address through an IPv4-mapped IPv6 peer is the same address.
  CHECK(h.connect("::ffff:198.51.100.7").call("auth").code() == "too_many_sessions");

  // An idle session of the address (gone, no name, no lobby) makes room for a new one.
  from_a[1].disconnect();
  Client fresh = h.connect("198.51.100.7");
  fresh.auth();
  CHECK(fresh.close_code() == 0);
  CHECK(h.connect("198.51.100.9").call("auth", token_data(from_a[1].token)).code() ==
        "invalid_token");
  // A named one does not.
  CHECK(from_a[2].ok("set_name", R"({"name":"Kept"})").str("data.name") == "Kept");
  from_a[2].disconnect();
  CHECK(h.connect("198.51.100.7").call("auth").code() == "too_many_sessions");
}

TEST_CASE("router: sessions per server are capped") {
  Limits l = test_limits();
  l.max_sessions = 2;
  Harness h(l);
  Client a = h.user("Ann");
  Client b = h.user("");
  Client c = h.connect("203.0.113.50");
  CHECK(c.call("auth").code() == "too_many_sessions");
  CHECK(c.close_code() == static_cast<int>(CloseCode::too_many_sessions));
  CHECK(h.connect(kInProcessAddress).call("auth").code() == "too_many_sessions");
  b.disconnect();  // idle: it makes room, whoever asks
  Client d = h.connect("203.0.113.50");
  d.auth();
  CHECK(h.hub->gauges().sessions == 2);
}

// ---------------------------------------------------------------------------------------
// Envelopes and errors

TEST_CASE("router: malformed input gets bad_json, bad_message or unknown_type") {
  Harness h;
  Client c = h.user("");

  c.send_raw("{not json");
  Msg e = c.next();
  CHECK(e.code() == "bad_json");
  CHECK_FALSE(e.has("id"));

  std::string deep = R"({"type":"ping","data":{"x":)" + std::string(10000, '[') +
                     std::string(10000, ']') + "}}";
  c.send_raw(deep);
  CHECK(c.next().code() == "bad_json");

  c.send_raw("[1,2]");
  CHECK(c.next().code() == "bad_message");
  c.send_raw(R"({"data":{}})");
  CHECK(c.next().code() == "bad_message");
  c.send_raw(R"({"type":"ping","data":[]})");
  CHECK(c.next().code() == "bad_message");
  c.send_raw(R"({"type":"ping","id":1.5})");
  CHECK(c.next().code() == "bad_message");

  c.send_raw(R"({"type":"frobnicate","id":"q1"})");
  Msg u = c.next();
  CHECK(u.code() == "unknown_type");
  CHECK(u.str("id") == "q1");
  CHECK(c.pending() == 0);
  CHECK(c.close_code() == 0);
}

TEST_CASE("router: invalid UTF-8 closes the connection with 1007") {
  Harness h;
  Client c = h.user("");
  c.send_raw("{\"type\":\"ping\",\"id\":1,\"data\":{\"x\":\"\xC3\x28\"}}");
  CHECK(c.close_code() == 1007);
  CHECK(c.pending() == 0);
  c.send_raw(R"({"type":"ping","id":2})");
  CHECK(c.pending() == 0);
  CHECK(c.record().dropped == 0);
}

TEST_CASE("router: the request id is echoed in results and errors") {
  Harness h;
  Client c = h.user("Ann");

  c.send_raw(R"({"type":"ping","id":"abc"})");
  Msg r1 = c.next();
  CHECK(r1.type() == "result");
  CHECK(r1.str("id") == "abc");
  c.send_raw(R"({"type":"ping","id":-42})");
  Msg r2 = c.next();
  CHECK(r2.type() == "result");
  CHECK(r2.num("id") == -42);

  c.send_raw(R"({"type":"chat","id":"x-1","data":{"text":"hi"}})");
  Msg e1 = c.next();
  CHECK(e1.code() == "not_in_lobby");
  CHECK(e1.str("id") == "x-1");
  c.send_raw(R"({"type":"chat","id":7,"data":{"text":"hi"}})");
  Msg e2 = c.next();
  CHECK(e2.code() == "not_in_lobby");
  CHECK(e2.num("id") == 7);

  // No id: no result, and an error without id.
  c.send_raw(R"({"type":"ping"})");
  CHECK(c.pending() == 0);
  c.send_raw(R"({"type":"chat","data":{"text":"hi"}})");
  Msg e3 = c.next();
  CHECK(e3.code() == "not_in_lobby");
  CHECK_FALSE(e3.has("id"));
}

TEST_CASE("router: bad_field names the offending field") {
  Harness h;
  Client c = h.user("Ann");
  auto field_of = [&](const std::string& type, const std::string& data) {
    Msg e = c.call(type, data);
    INFO(type, " ", data, " -> ", e.text());
    REQUIRE(e.code() == "bad_field");
    return e.str("data.field");
  };
  CHECK(field_of("set_name", R"({"name":5})") == "data.name");
  CHECK(field_of("set_name", R"({})") == "data.name");
  CHECK(field_of("set_name", R"({"name":"Ann","password":""})") == "data.password");
  CHECK(field_of("create_lobby", R"({"name":"Room","max_participants":0})") == "data.max_participants");
  CHECK(field_of("create_lobby", R"({"name":"Room","private":"yes"})") == "data.private");
  CHECK(field_of("join_lobby", R"({})") == "data.lobby_id");
  std::string lobby = c.create_lobby("Room");
  c.join(lobby);
  CHECK(field_of("chat", R"({"text":""})") == "data.text");
  CHECK(field_of("chat", R"({"text":")" + std::string(4097, 'x') + "\"}") == "data.text");
  CHECK(field_of("chat_history", R"({"limit":0})") == "data.limit");
  CHECK(field_of("update_media", R"({"has_media":1})") == "data.has_media");
  CHECK(field_of("relay_description", R"({"to":"ab","description":{"type":"bogus","sdp":""}})") ==
        "data.description.type");
  CHECK(field_of("relay_candidate", R"({"to":"ab","candidate":7})") == "data.candidate");
}

// ---------------------------------------------------------------------------------------
// Names

TEST_CASE("router: set_name gives a unique name, compared case-insensitively") {
  Harness h;
  Client a = h.user("");
  Msg r = a.ok("set_name", R"({"name":"  Alice  "})");
  CHECK(r.str("data.name") == "Alice");
  CHECK_FALSE(r.flag("data.protected"));
  CHECK(a.next("name_changed").str("data.name") == "Alice");

  Client b = h.user("");
  CHECK(b.call("set_name", R"({"name":"ALICE"})").code() == "name_taken");
  CHECK(b.call("set_name", R"({"name":"alice"})").code() == "name_taken");
  CHECK(b.ok("set_name", R"({"name":"Bob"})").str("data.name") == "Bob");

  // Renaming lets the old name go.
  a.ok("set_name", R"({"name":"Alicia"})");
  CHECK(b.ok("set_name", R"({"name":"alice"})").str("data.name") == "alice");
  CHECK(a.call("set_name", R"({"name":"ALICE"})").code() == "name_taken");

  CHECK(a.call("set_name", R"({"name":"   "})").code() == "bad_field");
  CHECK(a.call("set_name", R"({"name":"a\u0001b"})").code() == "bad_field");
  CHECK(a.call("set_name", R"({"name":")" + std::string(33, 'n') + "\"}").code() == "bad_field");
  CHECK(a.ok("set_name", R"({"name":")" + std::string(32, 'n') + "\"}").str("data.name") ==
        std::string(32, 'n'));
}

TEST_CASE("router: a protected name needs its password, the right one takes it over") {
  Harness h;
  Client a = h.user("");
  int id = a.request("set_name", R"({"name":"Ann","password":"s3cret"})");
  CHECK_FALSE(a.has_reply(id));
  CHECK(a.pending() == 0);
  CHECK(h.worker.run_all() == 1);
  Msg r = a.reply(id);
  CHECK(r.type() == "result");
  CHECK(r.str("data.name") == "Ann");
  CHECK(r.flag("data.protected"));
  CHECK(a.next("name_changed").str("data.name") == "Ann");

  Client m = h.user("Max");
  std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  m.join(lobby);
  a.clear();
  m.clear();

  Client b = h.user("");
  CHECK(b.call("set_name", R"({"name":"ann"})").code() == "password_required");
  int wrong = b.request("set_name", R"({"name":"ann","password":"guess"})");
  CHECK_FALSE(b.has_reply(wrong));
  h.worker.run_all();
  CHECK(b.reply(wrong).code() == "wrong_password");
  CHECK(a.pending() == 0);

  int right = b.request("set_name", R"({"name":"ANN","password":"s3cret"})");
  CHECK_FALSE(b.has_reply(right));
  h.worker.run_all();
  Msg taken = b.reply(right);
  CHECK(taken.type() == "result");
  CHECK(taken.str("data.name") == "ANN");
  CHECK(taken.flag("data.protected"));
  CHECK(b.next("name_changed").str("data.name") == "ANN");
  CHECK(a.next("name_changed").str("data.name") == "");
  Msg upd = m.next("participant_updated");
  CHECK(upd.str("data.participant.peer_id") == a.peer);
  CHECK(upd.str("data.participant.name") == "");

  // The loser cannot take it back without the password.
  CHECK(a.call("set_name", R"({"name":"Ann"})").code() == "password_required");
}

// ---------------------------------------------------------------------------------------
// Lobbies

TEST_CASE("router: joining a lobby needs a display name") {
  Harness h;
  Client a = h.user("");
  std::string lobby = a.create_lobby("Room");
  Msg e = a.call("join_lobby", R"({"lobby_id":")" + lobby + R"("})");
  CHECK(e.code() == "name_required");
  a.ok("set_name", R"({"name":"Ann"})");
  Msg j = a.join(lobby);
  CHECK(j.str("data.lobby.id") == lobby);
}

TEST_CASE("router: lobbies are created, listed and joined by id or by public name") {
  Harness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");

  const TimeMs t0 = h.clock.now_ms();
  Msg c1 = a.ok("create_lobby", R"({"name":"Standup"})");
  CHECK(is_hex(c1.str("data.lobby.id"), 16));
  CHECK(c1.str("data.lobby.name") == "Standup");
  CHECK_FALSE(c1.flag("data.lobby.private"));
  CHECK_FALSE(c1.flag("data.lobby.persistent"));
  CHECK(c1.num("data.lobby.max_participants") == 64);
  CHECK(c1.num("data.lobby.participants") == 0);
  CHECK(c1.num("data.lobby.created_ms") == t0);
  const std::string standup = c1.str("data.lobby.id");

  h.clock.advance(10);
  Msg c2 = a.ok("create_lobby", R"({"name":"Secret","private":true})");
  CHECK(c2.flag("data.lobby.private"));
  const std::string secret = c2.str("data.lobby.id");

  h.clock.advance(10);
  Msg c3 = a.ok("create_lobby", R"({"name":"Zeta","persistent":true,"max_participants":5})");
  CHECK(c3.flag("data.lobby.persistent"));
  CHECK(c3.num("data.lobby.max_participants") == 5);
  const std::string zeta = c3.str("data.lobby.id");

  CHECK(b.call("create_lobby", R"({"name":"standUP"})").code() == "lobby_exists");
  CHECK(b.call("create_lobby", R"({"name":"secret"})").code() == "lobby_exists");
  // Creating does not join.
  CHECK(a.call("chat", R"({"text":"x"})").code() == "not_in_lobby");

  Msg list = b.ok("list_lobbies");
  REQUIRE(list.size("data.lobbies") == 2);
  CHECK(list.str("data.lobbies.0.id") == standup);
  CHECK(list.str("data.lobbies.1.id") == zeta);

  Msg j = a.ok("join_lobby", R"({"name":"standup"})");
  CHECK(j.str("data.lobby.id") == standup);
  CHECK(j.num("data.lobby.participants") == 1);
  REQUIRE(j.size("data.participants") == 1);
  CHECK(j.str("data.participants.0.peer_id") == a.peer);
  CHECK(j.str("data.participants.0.name") == "Ann");
  CHECK(j.flag("data.participants.0.connected"));
  CHECK_FALSE(j.flag("data.participants.0.has_media"));
  CHECK(j.size("data.history") == 0);
  CHECK(j.flag("data.history_complete"));
  CHECK(j.num("data.last_offset") == 0);

  CHECK(b.call("join_lobby", R"({"name":"Secret"})").code() == "lobby_not_found");
  CHECK(b.call("join_lobby", R"({"name":"Nowhere"})").code() == "lobby_not_found");
  CHECK(b.call("join_lobby", R"({"lobby_id":"0000000000000000"})").code() == "lobby_not_found");
  CHECK(b.call("join_lobby", R"({"lobby_id":"x","name":"Standup"})").code() == "bad_field");
  Msg js = b.join(secret);
  CHECK(js.str("data.lobby.id") == secret);
  CHECK(js.flag("data.lobby.private"));

  Msg list2 = b.ok("list_lobbies");
  REQUIRE(list2.size("data.lobbies") == 2);
  CHECK(list2.num("data.lobbies.0.participants") == 1);
  CHECK(list2.num("data.lobbies.1.participants") == 0);
}

TEST_CASE("router: participant_joined reaches the other members, not the joiner") {
  Harness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  Client x = h.user("Xen");
  std::string lobby = a.create_lobby("Room");
  std::string other = x.create_lobby("Other");
  a.join(lobby);
  x.join(other);
  a.clear();
  x.clear();

  Msg j = b.ok("join_lobby", R"({"lobby_id":")" + lobby + R"(","has_media":true,"audio_muted":true})");
  REQUIRE(j.size("data.participants") == 2);
  CHECK(j.str("data.participants.0.peer_id") == a.peer);
  CHECK(j.str("data.participants.1.peer_id") == b.peer);
  CHECK(b.take("participant_joined").empty());

  Msg pj = a.next();
  CHECK(pj.type() == "participant_joined");
  CHECK(pj.str("data.lobby_id") == lobby);
  CHECK(pj.str("data.participant.peer_id") == b.peer);
  CHECK(pj.str("data.participant.name") == "Bob");
  CHECK(pj.flag("data.participant.has_media"));
  CHECK(pj.flag("data.participant.audio_muted"));
  CHECK_FALSE(pj.flag("data.participant.video_muted"));
  CHECK(pj.flag("data.participant.connected"));
  CHECK(a.pending() == 0);
  CHECK(x.pending() == 0);
}

TEST_CASE("router: a full lobby refuses and the refused session stays where it was") {
  Harness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  Client c = h.user("Cy");
  Client d = h.user("Di");
  std::string small = a.create_lobby("Small", R"(,"max_participants":2)");
  std::string home = c.create_lobby("Home");
  c.join(home);
  d.join(home);
  a.join(small);
  b.join(small);
  a.clear();
  b.clear();
  d.clear();

  CHECK(c.call("join_lobby", R"({"lobby_id":")" + small + R"("})").code() == "lobby_full");
  CHECK(d.pending() == 0);
  CHECK(a.pending() == 0);
  c.chat("still home");
  CHECK(d.next("chat").str("data.message.text") == "still home");
}

TEST_CASE("router: a session is in at most one lobby") {
  Harness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  Client c = h.user("Cy");
  std::string first = a.create_lobby("First");
  std::string second = a.create_lobby("Second");
  a.join(first);
  b.join(first);
  c.join(second);
  a.clear();
  b.clear();
  c.clear();

  a.join(second);
  Msg left = b.next("participant_left");
  CHECK(left.str("data.lobby_id") == first);
  CHECK(left.str("data.peer_id") == a.peer);
  CHECK(left.str("data.reason") == "left");
  CHECK(a.take("lobby_left").empty());
  CHECK(c.next("participant_joined").str("data.participant.peer_id") == a.peer);

  Msg list = a.ok("list_lobbies");
  REQUIRE(list.size("data.lobbies") == 2);
  std::map<std::string, std::int64_t> counts;
  for (std::size_t i = 0; i < 2; ++i)
    counts[list.str("data.lobbies." + std::to_string(i) + ".id")] =
        list.num("data.lobbies." + std::to_string(i) + ".participants");
  CHECK(counts[first] == 1);
  CHECK(counts[second] == 2);

  a.chat("in second");
  CHECK(c.next("chat").str("data.message.text") == "in second");
  CHECK(b.take("chat").empty());

  // Joining the lobby one is in again changes nothing but returns the snapshot.
  Msg again = a.join(second);
  CHECK(again.size("data.participants") == 2);
  CHECK(c.take("participant_joined").empty());
  CHECK(h.hub->gauges().participants == 3);

  Msg bye = a.ok("leave_lobby");
  CHECK(bye.members("data") == 0);
  Msg l2 = c.next("participant_left");
  CHECK(l2.str("data.peer_id") == a.peer);
  CHECK(l2.str("data.reason") == "left");
  CHECK(a.call("leave_lobby").code() == "not_in_lobby");
  CHECK(a.call("chat", R"({"text":"x"})").code() == "not_in_lobby");
}

TEST_CASE("router: leaving a lobby with media tells the media members to drop the peer") {
  Harness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  Client n = h.user("Nomedia");
  std::string lobby = a.create_lobby("Room");
  std::string elsewhere = a.create_lobby("Elsewhere");
  a.join(lobby, true);
  b.join(lobby, true);
  n.join(lobby);
  for (const Client* cl : {&a, &b, &n}) cl->clear();

  a.ok("leave_lobby");
  CHECK(take_peer_removed(b) == std::vector<PeerId>{a.peer});
  CHECK(take_peer_removed(n).empty());
  CHECK(take_peer_removed(a).empty());
  CHECK(n.next("participant_left").str("data.reason") == "left");

  a.join(lobby, true);
  b.clear();
  a.join(elsewhere);
  CHECK(take_peer_removed(b) == std::vector<PeerId>{a.peer});
  CHECK(b.next("participant_left").str("data.lobby_id") == lobby);
}

TEST_CASE("router: an empty lobby expires unless it is persistent") {
  Harness h;
  Client a = h.user("Ann");
  std::string temp = a.create_lobby("Temp");
  std::string kept = a.create_lobby("Kept", R"(,"persistent":true)");
  std::string used = a.create_lobby("Used");
  a.join(used);
  h.clock.advance(h.limits.lobby_expiry_ms - 1);
  h.hub->tick();
  CHECK(a.ok("list_lobbies").size("data.lobbies") == 3);
  h.clock.advance(1000);
  h.hub->tick();
  Msg list = a.ok("list_lobbies");
  REQUIRE(list.size("data.lobbies") == 2);
  std::set<std::string> ids{list.str("data.lobbies.0.id"), list.str("data.lobbies.1.id")};
  CHECK(ids == std::set<std::string>{kept, used});
  CHECK(a.call("join_lobby", R"({"lobby_id":")" + temp + R"("})").code() == "lobby_not_found");
}

// ---------------------------------------------------------------------------------------
// Chat

TEST_CASE("router: chat reaches every member, the sender included, serialized once") {
  Harness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  Client c = h.user("Cy");
  Client x = h.user("Xen");
  CHECK(a.call("chat", R"({"text":"too early"})").code() == "not_in_lobby");
  std::string lobby = a.create_lobby("Room");
  std::string other = x.create_lobby("Other");
  a.join(lobby);
  b.join(lobby);
  c.join(lobby);
  x.join(other);
  a.clear();
  b.clear();
  c.clear();
  x.clear();

  h.clock.advance(5);
  Msg r = a.chat("hello");
  CHECK(r.num("data.offset") == 1);
  Msg ma = a.next("chat");
  Msg mb = b.next("chat");
  Msg mc = c.next("chat");
  CHECK(ma.frame().get() == mb.frame().get());
  CHECK(mb.frame().get() == mc.frame().get());
  CHECK(ma.str("data.lobby_id") == lobby);
  CHECK(ma.num("data.message.offset") == 1);
  CHECK(ma.str("data.message.sender") == a.peer);
  CHECK(ma.str("data.message.sender_name") == "Ann");
  CHECK(ma.str("data.message.text") == "hello");
  CHECK(ma.num("data.message.time_ms") == h.clock.now_ms());
  CHECK(x.pending() == 0);

  // A forged sender in the request is ignored.
  CHECK(b.ok("chat", R"({"text":"two","sender":"forged","sender_name":"Evil"})").num("data.offset") == 2);
  CHECK(c.chat("three").num("data.offset") == 3);
  Msg two = c.next("chat");
  CHECK(two.num("data.message.offset") == 2);
  CHECK(two.str("data.message.sender") == b.peer);
  CHECK(two.str("data.message.sender_name") == "Bob");
  CHECK(c.next("chat").num("data.message.offset") == 3);
  CHECK(a.take("chat").size() == 2);

  Msg hist = b.ok("chat_history", R"({"after":1})");
  REQUIRE(hist.size("data.messages") == 2);
  CHECK(hist.num("data.messages.0.offset") == 2);
  CHECK(hist.str("data.messages.0.text") == "two");
  CHECK(hist.num("data.messages.1.offset") == 3);
  CHECK(hist.flag("data.complete"));
  CHECK_FALSE(hist.flag("data.has_more"));
  CHECK(hist.num("data.last_offset") == 3);

  Msg page = b.ok("chat_history", R"({"after":0,"limit":1})");
  REQUIRE(page.size("data.messages") == 1);
  CHECK(page.num("data.messages.0.offset") == 1);
  CHECK(page.flag("data.has_more"));
  CHECK(page.flag("data.complete"));

  Msg none = b.ok("chat_history", R"({"after":3})");
  CHECK(none.size("data.messages") == 0);
  CHECK_FALSE(none.flag("data.has_more"));

  // A newcomer's join snapshot carries the history.
  Client d = h.user("Di");
  Msg snap = d.join(lobby);
  CHECK(snap.size("data.history") == 3);
  CHECK(snap.num("data.last_offset") == 3);
  CHECK(snap.flag("data.history_complete"));
}

TEST_CASE("router: chat text with control characters reaches members as valid JSON") {
  // Found by fuzzing: RapidJSON 1.1.0's SSE2 writer (RAPIDJSON_SSE2) sent U+001A..U+001F
  // unescaped, and every browser in the lobby failed to parse the push and the snapshots.
  Harness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  const std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  b.join(lobby);
  a.clear();
  b.clear();

  std::string escaped, text;
  for (int i = 0; i < 8; ++i) {
    escaped += "x\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f";
    text += "x\x1a\x1b\x1c\x1d\x1e\x1f";
  }
  CHECK(a.chat(escaped).num("data.offset") == 1);
  // Msg parses each frame with RapidJSON's strict scalar parser: a raw control character
  // fails it.
  CHECK(b.next("chat").str("data.message.text") == text);
  CHECK(a.next("chat").str("data.message.text") == text);
  Client c = h.user("Cy");
  Msg snapshot = c.join(lobby);
  CHECK(snapshot.str("data.history.0.text") == text);
}

TEST_CASE("router: chat history beyond retention reports complete=false") {
  Limits l = test_limits();
  l.chat_history = 3;
  Harness h(l);
  Client a = h.user("Ann");
  std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  for (int i = 1; i <= 5; ++i) CHECK(a.chat("m" + std::to_string(i)).num("data.offset") == i);

  Msg all = a.ok("chat_history");
  REQUIRE(all.size("data.messages") == 3);
  CHECK(all.num("data.messages.0.offset") == 3);
  CHECK(all.num("data.messages.2.offset") == 5);
  CHECK_FALSE(all.flag("data.complete"));
  Msg tail = a.ok("chat_history", R"({"after":2})");
  CHECK(tail.size("data.messages") == 3);
  CHECK(tail.flag("data.complete"));

  Client b = h.user("Bob");
  Msg snap = b.join(lobby);
  REQUIRE(snap.size("data.history") == 3);
  CHECK(snap.num("data.history.0.offset") == 3);
  CHECK_FALSE(snap.flag("data.history_complete"));
  CHECK(snap.num("data.last_offset") == 5);
}

// ---------------------------------------------------------------------------------------
// Signaling

TEST_CASE("router: the managed mesh introduces every media pair once, with one offerer") {
  Harness h;
  Client a = h.user("Ann");
  Client n = h.user("Nomedia");
  Client b = h.user("Bob");
  Client c = h.user("Cy");
  std::string lobby = a.create_lobby("Room");
  a.join(lobby, true);
  n.join(lobby, false);
  b.join(lobby, true);
  c.join(lobby, true);

  std::map<PeerId, std::map<PeerId, std::vector<bool>>> intro;
  for (const Client* cl : {&a, &b, &c, &n}) intro[cl->peer] = take_peer_added(*cl);
  CHECK(intro[n.peer].empty());

  std::vector<const Client*> media{&a, &b, &c};
  for (const Client* x : media) {
    CHECK(intro[x->peer].size() == 2);
    CHECK(intro[x->peer].count(n.peer) == 0);
    CHECK(intro[x->peer].count(x->peer) == 0);
    for (const Client* y : media) {
      if (x == y) continue;
      INFO("pair ", x->peer, " ", y->peer);
      REQUIRE(intro[x->peer][y->peer].size() == 1);
      REQUIRE(intro[y->peer][x->peer].size() == 1);
      CHECK(intro[x->peer][y->peer][0] != intro[y->peer][x->peer][0]);
    }
  }
  // The newcomer is the one that offers.
  CHECK(intro[b.peer][a.peer][0]);
  CHECK(intro[c.peer][a.peer][0]);
  CHECK(intro[c.peer][b.peer][0]);
}

TEST_CASE("router: peer_added names the peer") {
  Harness h;
  Client a = h.user("Ann");
  Client bot = h.connect();
  bot.auth(R"({"bot":true})");
  bot.ok("set_name", R"({"name":"Botty"})");
  std::string lobby = a.create_lobby("Room");
  a.join(lobby, true);
  bot.join(lobby, true);
  Msg pa = a.next("peer_added");
  CHECK(pa.str("data.peer_id") == bot.peer);
  CHECK(pa.str("data.name") == "Botty");
  CHECK(pa.flag("data.is_bot"));
  CHECK_FALSE(pa.flag("data.should_offer"));
  Msg pb = bot.next("peer_added");
  CHECK(pb.str("data.peer_id") == a.peer);
  CHECK(pb.str("data.name") == "Ann");
  CHECK_FALSE(pb.flag("data.is_bot"));
  CHECK(pb.flag("data.should_offer"));
}

TEST_CASE("router: descriptions and candidates reach only their target, stamped by the server") {
  Harness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  Client c = h.user("Cy");
  Client x = h.user("Xen");
  std::string lobby = a.create_lobby("Room");
  std::string other = x.create_lobby("Other");
  CHECK(a.call("relay_candidate", R"({"to":")" + b.peer + R"(","candidate":null})").code() ==
        "not_in_lobby");
  a.join(lobby, true);
  b.join(lobby, true);
  c.join(lobby, false);
  x.join(other, true);
  for (const Client* cl : {&a, &b, &c, &x}) cl->clear();

  Msg r = a.ok("relay_description",
               R"({"to":")" + b.peer +
                   R"(","from":"forged","description":{"type":"offer","sdp":"v=0\r\n","evil":1}})");
  CHECK(r.members("data") == 0);
  Msg d = b.next();
  CHECK(d.type() == "description");
  CHECK(d.str("data.from") == a.peer);
  CHECK(d.str("data.description.type") == "offer");
  CHECK(d.str("data.description.sdp") == "v=0\r\n");
  CHECK_FALSE(d.has("data.description.evil"));
  CHECK(b.pending() == 0);
  CHECK(a.pending() == 0);
  CHECK(c.pending() == 0);
  CHECK(x.pending() == 0);

  b.ok("relay_description",
       R"({"to":")" + a.peer + R"(","description":{"type":"answer","sdp":"v=0 answer"}})");
  Msg ans = a.next("description");
  CHECK(ans.str("data.from") == b.peer);
  CHECK(ans.str("data.description.type") == "answer");

  a.ok("relay_candidate", R"({"to":")" + b.peer +
                              R"(","from":"forged","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0}})");
  Msg cand = b.next("candidate");
  CHECK(cand.str("data.from") == a.peer);
  CHECK(cand.str("data.candidate.candidate") == "candidate:1 1 udp 1 1.2.3.4 5 typ host");
  CHECK(cand.str("data.candidate.sdpMid") == "0");
  CHECK(cand.num("data.candidate.sdpMLineIndex") == 0);

  a.ok("relay_candidate", R"({"to":")" + b.peer + R"(","candidate":null})");
  Msg end = b.next("candidate");
  CHECK(end.str("data.from") == a.peer);
  CHECK(end.is_null("data.candidate"));
  CHECK(c.pending() == 0);
  CHECK(x.pending() == 0);

  CHECK(a.call("relay_description", R"({"to":")" + a.peer +
                                        R"(","description":{"type":"offer","sdp":""}})")
            .code() == "bad_target");
  CHECK(a.call("relay_candidate", R"({"to":")" + x.peer + R"(","candidate":null})").code() ==
        "unknown_peer");
  CHECK(a.call("relay_candidate", R"({"to":"0123456789abcdef","candidate":null})").code() ==
        "unknown_peer");
  CHECK(x.call("relay_candidate", R"({"to":")" + a.peer + R"(","candidate":null})").code() ==
        "unknown_peer");
  CHECK(x.pending() == 0);
  CHECK(b.pending() == 0);

  // A member in its resume grace is not a target.
  b.disconnect();
  CHECK(a.call("relay_candidate", R"({"to":")" + b.peer + R"(","candidate":null})").code() ==
        "unknown_peer");
}

TEST_CASE("router: update_media turns a member's part in the mesh on and off") {
  Harness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  b.join(lobby);
  a.clear();
  b.clear();
  CHECK(h.user("Zed").call("update_media", R"({"has_media":true})").code() == "not_in_lobby");

  Msg r = a.ok("update_media", R"({"has_media":true})");
  CHECK(r.str("data.participant.peer_id") == a.peer);
  CHECK(r.flag("data.participant.has_media"));
  Msg upd = b.next("participant_updated");
  CHECK(upd.str("data.participant.peer_id") == a.peer);
  CHECK(upd.flag("data.participant.has_media"));
  CHECK(b.take("peer_added").empty());  // b has no media
  CHECK(a.take("peer_added").empty());

  b.ok("update_media", R"({"has_media":true})");
  auto to_b = take_peer_added(b);
  auto to_a = take_peer_added(a);
  REQUIRE(to_b.size() == 1);
  REQUIRE(to_a.size() == 1);
  CHECK(to_b[a.peer] == std::vector<bool>{true});
  CHECK(to_a[b.peer] == std::vector<bool>{false});
  a.clear();
  b.clear();

  // has_media already true: nothing changes.
  a.ok("update_media", R"({"has_media":true})");
  CHECK(b.take("peer_added").empty());
  CHECK(b.take("participant_updated").empty());

  Msg mute = a.ok("update_media", R"({"audio_muted":true})");
  CHECK(mute.flag("data.participant.audio_muted"));
  CHECK(mute.flag("data.participant.has_media"));
  CHECK(b.next("participant_updated").flag("data.participant.audio_muted"));
  CHECK(b.take("peer_removed").empty());

  a.ok("update_media", R"({"has_media":false})");
  CHECK(take_peer_removed(b) == std::vector<PeerId>{a.peer});
  CHECK(take_peer_removed(a).empty());
  CHECK_FALSE(b.next("participant_updated").flag("data.participant.has_media"));
}

// ---------------------------------------------------------------------------------------
// Disconnect, grace, resume

TEST_CASE("router: a dropped member stays until its grace ends, then leaves") {
  Harness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  Client c = h.user("Cy");
  Client n = h.user("Nomedia");
  std::string lobby = a.create_lobby("Room");
  a.join(lobby, true);
  b.join(lobby, true);
  c.join(lobby, true);
  n.join(lobby, false);
  for (const Client* cl : {&a, &b, &c, &n}) cl->clear();

  a.disconnect();
  for (const Client* cl : {&b, &c, &n}) {
    Msg upd = cl->next();
    CHECK(upd.type() == "participant_updated");
    CHECK(upd.str("data.participant.peer_id") == a.peer);
    CHECK_FALSE(upd.flag("data.participant.connected"));
    CHECK(cl->pending() == 0);
  }
  CHECK(h.hub->gauges().participants == 4);

  h.clock.advance(h.limits.resume_grace_ms - 1);
  h.hub->tick();
  CHECK(b.pending() == 0);
  CHECK(h.hub->gauges().participants == 4);

  h.clock.advance(1000);  // past the grace and the hub's one-second timer resolution
  h.hub->tick();
  for (const Client* cl : {&b, &c, &n}) {
    Msg left = cl->next("participant_left");
    CHECK(left.str("data.peer_id") == a.peer);
    CHECK(left.str("data.reason") == "grace_expired");
  }
  CHECK(take_peer_removed(b) == std::vector<PeerId>{a.peer});
  CHECK(take_peer_removed(c) == std::vector<PeerId>{a.peer});
  CHECK(take_peer_removed(n).empty());
  CHECK(h.hub->gauges().participants == 3);

  // The session itself survives, outside the lobby.
  Client a2 = h.connect();
  Msg w = a2.resume(a.token);
  CHECK(w.str("data.peer_id") == a.peer);
  CHECK(w.is_null("data.lobby"));
}

TEST_CASE("router: resuming within the grace reconnects and restarts the mesh") {
  Harness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  Client c = h.user("Cy");
  std::string lobby = a.create_lobby("Room");
  a.join(lobby, true);
  b.join(lobby, true);
  c.join(lobby, true);
  a.chat("before");
  for (const Client* cl : {&a, &b, &c}) cl->clear();

  a.disconnect();
  b.clear();
  c.clear();
  h.clock.advance(h.limits.resume_grace_ms / 2);
  h.hub->tick();

  Client a2 = h.connect();
  Msg w = a2.resume(a.token);
  CHECK(w.flag("data.resumed"));
  REQUIRE_FALSE(w.is_null("data.lobby"));
  CHECK(w.str("data.lobby.lobby.id") == lobby);
  CHECK(w.size("data.lobby.participants") == 3);
  CHECK(w.str("data.lobby.participants.0.peer_id") == a.peer);
  CHECK(w.flag("data.lobby.participants.0.connected"));
  CHECK(w.flag("data.lobby.participants.0.has_media"));
  CHECK(w.size("data.lobby.history") == 1);
  CHECK(w.num("data.lobby.last_offset") == 1);

  auto to_a = take_peer_added(a2);
  CHECK(to_a.size() == 2);
  CHECK(to_a[b.peer] == std::vector<bool>{true});
  CHECK(to_a[c.peer] == std::vector<bool>{true});

  for (const Client* cl : {&b, &c}) {
    Msg upd = cl->next();
    CHECK(upd.type() == "participant_updated");
    CHECK(upd.str("data.participant.peer_id") == a.peer);
    CHECK(upd.flag("data.participant.connected"));
    Msg removed = cl->next();
    CHECK(removed.type() == "peer_removed");
    CHECK(removed.str("data.peer_id") == a.peer);
    Msg added = cl->next();
    CHECK(added.type() == "peer_added");
    CHECK(added.str("data.peer_id") == a.peer);
    CHECK_FALSE(added.flag("data.should_offer"));
    CHECK(cl->pending() == 0);
  }

  // Resumed in time: the grace timer no longer applies.
  h.clock.advance(h.limits.resume_grace_ms * 2);
  h.hub->tick();
  CHECK(b.take("participant_left").empty());
  CHECK(h.hub->gauges().participants == 3);
}

TEST_CASE("router: on resume, welcome is the first frame the new connection gets") {
  Harness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  b.join(lobby);
  a.disconnect();

  Client a2 = h.connect();
  a2.send_raw(R"({"type":"auth","id":"r","data":{"token":")" + a.token + R"("}})");
  Msg first = a2.next();
  CHECK(first.type() == "welcome");
  CHECK(first.str("id") == "r");
  CHECK(first.flag("data.lobby.participants.0.connected"));
}

// ---------------------------------------------------------------------------------------
// Rate limit, restart, shutdown, metrics, events

// Limits whose rate bucket holds `burst` messages and refills at 10 a second (a token every
// 100 ms).
Limits tight_rate(double burst) {
  Limits l = test_limits();
  l.rate_burst = burst;
  l.rate_per_second = 10;
  return l;
}

TEST_CASE("router: a request over the rate gets one rate_limited reply with its id") {
  Harness h(tight_rate(5));
  Client c = h.connect();
  c.auth();  // one token
  std::vector<int> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(c.request("ping"));
  for (int i = 0; i < 4; ++i) CHECK(c.reply(ids[i]).type() == "result");
  for (int i = 4; i < 8; ++i) {
    Msg e = c.reply(ids[i]);
    CHECK(e.code() == "rate_limited");
    CHECK(e.num("data.retry_after_ms") == 100);  // one token at 10/s
    CHECK_FALSE(e.str("data.error").empty());
  }
  CHECK(c.pending() == 0);

  // The hint is the time until the bucket holds a message again.
  h.clock.advance(30);
  CHECK(c.call("ping").num("data.retry_after_ms") == 70);
  h.clock.advance(70);
  CHECK(c.call("ping").type() == "result");
  CHECK(c.call("ping").code() == "rate_limited");
  CHECK(c.close_code() == 0);

  // An id of any kind comes back, also on a message the server could not have handled.
  h.clock.advance(0);
  c.send_raw(R"({"type":"ping","id":"s-1"})");
  CHECK(c.next().str("id") == "s-1");
  c.send_raw(R"({"type":"no_such_type","id":77})");
  Msg unknown = c.next();
  CHECK(unknown.code() == "rate_limited");
  CHECK(unknown.num("id") == 77);
}

TEST_CASE("router: messages without an id over the rate are dropped, one notice per second") {
  Harness h(tight_rate(2));
  Client c = h.connect();
  c.auth();
  c.send("ping");  // the last token: no reply, no error
  CHECK(c.pending() == 0);
  for (int i = 0; i < 5; ++i) c.send("ping");
  Msg notice = c.next();
  CHECK(notice.code() == "rate_limited");
  CHECK_FALSE(notice.has("id"));
  CHECK(notice.num("data.retry_after_ms") == 100);
  CHECK(c.pending() == 0);  // once, not five times
  h.clock.advance(999);
  c.send("ping");  // a token came back: handled, silently
  c.send("ping");
  CHECK(c.pending() == 0);  // still within the second
  h.clock.advance(1);
  c.send("ping");
  CHECK(c.next().code() == "rate_limited");
  CHECK(c.close_code() == 0);
}

TEST_CASE("router: a connection that keeps flooding past rate_flood_burst is closed with 4006") {
  Limits l = tight_rate(2);
  l.rate_flood_burst = 3;
  Harness h(l);
  Client c = h.connect();
  c.auth();
  CHECK(c.call("ping").type() == "result");
  for (int i = 0; i < 3; ++i) CHECK(c.call("ping").code() == "rate_limited");
  CHECK(c.close_code() == 0);
  // Waiting refills both buckets at the rate: 100 ms is one more message, one more refusal.
  h.clock.advance(100);
  CHECK(c.call("ping").type() == "result");
  CHECK(c.call("ping").code() == "rate_limited");
  CHECK(c.close_code() == 0);
  int last = c.request("ping");
  CHECK_FALSE(c.has_reply(last));
  CHECK(c.close_code() == static_cast<int>(CloseCode::flooding));
  CHECK(c.record().close_reason.find("rate") != std::string::npos);
  // A sender that respects the rate is never closed.
  Client calm = h.connect();
  calm.auth();
  for (int i = 0; i < 100; ++i) {
    h.clock.advance(100);
    CHECK(calm.call("ping").type() == "result");
  }
  CHECK(calm.close_code() == 0);
}

// The hub's timers and rate buckets run on the monotonic clock: a step of the wall clock
// (docs/deployment.md, "Time") must neither hold them up nor make them due at once.
// Connected and authenticated, with its burst of two spent.
Client spent_rate(Harness& h) {
  Client c = h.connect();
  c.auth();
  CHECK(c.call("ping").type() == "result");
  CHECK(c.call("ping").code() == "rate_limited");
  return c;
}

TEST_CASE("router: a step of the wall clock back holds up neither the rate buckets nor the auth deadline") {
  Harness h(tight_rate(2));
  Client early = h.connect();
  Client c = spent_rate(h);

  h.clock.step_wall(-3'600'000);
  h.clock.advance(100);
  CHECK(c.call("ping").type() == "result");  // 100 ms refilled one token
  CHECK(c.call("ping").code() == "rate_limited");
  h.clock.advance(h.limits.auth_timeout_ms);
  h.hub->tick();
  CHECK(early.close_code() == static_cast<int>(CloseCode::auth_timeout));
}

TEST_CASE("router: a step of the wall clock back holds up neither resume graces nor lobby expiry") {
  Harness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  std::string before = a.create_lobby("Before");  // empty since before the step
  std::string room = a.create_lobby("Room");
  a.join(room);
  b.join(room);
  b.disconnect();  // its resume grace runs from before the step

  h.clock.step_wall(-3'600'000);
  std::string after = a.create_lobby("After");  // empty since after it
  h.clock.advance(h.limits.resume_grace_ms);
  h.hub->tick();
  CHECK(h.hub->gauges().participants == 1);  // Bob's grace is over
  h.clock.advance(h.limits.lobby_expiry_ms);
  h.hub->tick();
  for (const std::string& id : {before, after})
    CHECK(a.call("join_lobby", R"({"lobby_id":")" + id + R"("})").code() == "lobby_not_found");
}

TEST_CASE("router: a step of the wall clock forward refills no rate bucket and ends no auth wait") {
  Harness h(tight_rate(2));
  Client c = spent_rate(h);
  Client late = h.connect();

  h.clock.step_wall(3'600'000);
  h.hub->tick();
  CHECK(c.call("ping").code() == "rate_limited");
  CHECK(late.close_code() == 0);
  h.clock.advance(h.limits.auth_timeout_ms);
  h.hub->tick();
  CHECK(late.close_code() == static_cast<int>(CloseCode::auth_timeout));
}

TEST_CASE("router: after a restart a client resumes into its lobby and chat continues") {
  Harness h;
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  b.join(lobby);
  a.chat("one");
  b.chat("two");

  h.restart();
  CHECK(h.hub->gauges().sessions == 2);
  CHECK(h.hub->gauges().sessions_connected == 0);
  CHECK(h.hub->gauges().participants == 2);

  Client a2 = h.connect();
  Msg w = a2.resume(a.token);
  CHECK(w.flag("data.resumed"));
  CHECK(w.str("data.peer_id") == a.peer);
  CHECK(w.str("data.name") == "Ann");
  REQUIRE_FALSE(w.is_null("data.lobby"));
  CHECK(w.str("data.lobby.lobby.id") == lobby);
  REQUIRE(w.size("data.lobby.participants") == 2);
  std::map<PeerId, bool> connected;
  for (std::size_t i = 0; i < 2; ++i)
    connected[w.str("data.lobby.participants." + std::to_string(i) + ".peer_id")] =
        w.flag("data.lobby.participants." + std::to_string(i) + ".connected");
  CHECK(connected[a.peer]);
  CHECK_FALSE(connected[b.peer]);
  REQUIRE(w.size("data.lobby.history") == 2);
  CHECK(w.str("data.lobby.history.0.text") == "one");
  CHECK(w.str("data.lobby.history.1.text") == "two");
  CHECK(w.num("data.lobby.last_offset") == 2);

  CHECK(a2.chat("three").num("data.offset") == 3);
  Client b2 = h.connect();
  Msg wb = b2.resume(b.token);
  CHECK(wb.str("data.lobby.lobby.id") == lobby);
  Msg hist = b2.ok("chat_history");
  REQUIRE(hist.size("data.messages") == 3);
  CHECK(hist.num("data.messages.2.offset") == 3);
  CHECK(hist.str("data.messages.2.sender") == a.peer);

  // Names survive too.
  Client n = h.user("");
  CHECK(n.call("set_name", R"({"name":"ann"})").code() == "name_taken");
}

TEST_CASE("router: a password still hashing when the hub goes away is dropped safely") {
  Harness h;
  Client a = h.user("");
  int id = a.request("set_name", R"({"name":"Ann","password":"pw"})");
  REQUIRE(h.worker.pending() == 1);
  h.hub.reset();
  CHECK(h.worker.run_all() == 1);
  CHECK_FALSE(a.has_reply(id));
  h.start();
  Client b = h.user("");
  CHECK(b.ok("set_name", R"({"name":"ann"})").str("data.name") == "ann");
}

TEST_CASE("router: shutdown closes every connection with 1001") {
  Harness h;
  Client a = h.user("Ann");
  Client unauthed = h.connect();
  Client b = h.user("Bob");
  b.disconnect();
  h.hub->shutdown();
  CHECK(a.close_code() == 1001);
  CHECK(unauthed.close_code() == 1001);
  CHECK(b.record().close_calls == 0);
  CHECK_FALSE(h.store->dirty());
}

TEST_CASE("router: metrics count messages by type and errors by code") {
  Harness h;
  Client a = h.user("Ann");
  a.ok("ping");
  a.ok("ping");
  a.call("frobnicate");
  a.send_raw("nope");
  a.call("chat", R"({"text":"x"})");
  std::string text = h.hub->metrics().render(h.hub->gauges());
  CHECK(text.find("lobbykit_messages_received_total{type=\"ping\"} 2\n") != std::string::npos);
  CHECK(text.find("lobbykit_messages_received_total{type=\"auth\"} 1\n") != std::string::npos);
  CHECK(text.find("lobbykit_messages_received_total{type=\"unknown\"} 1\n") != std::string::npos);
  CHECK(text.find("lobbykit_messages_received_total{type=\"invalid\"} 1\n") != std::string::npos);
  CHECK(text.find("lobbykit_messages_sent_total{type=\"welcome\"} 1\n") != std::string::npos);
  CHECK(text.find("lobbykit_errors_total{code=\"unknown_type\"} 1\n") != std::string::npos);
  CHECK(text.find("lobbykit_errors_total{code=\"bad_json\"} 1\n") != std::string::npos);
  CHECK(text.find("lobbykit_errors_total{code=\"not_in_lobby\"} 1\n") != std::string::npos);
  CHECK(text.find("lobbykit_sessions 1\n") != std::string::npos);
  CHECK(text.find("lobbykit_sessions_connected 1\n") != std::string::npos);
  CHECK(text.find("# TYPE lobbykit_errors_total counter\n") != std::string::npos);
}

TEST_CASE("router: a host subscriber sees events in order, after the router reacted") {
  Harness h;
  std::string seen;
  std::size_t chat_frames_when_posted = 0;
  Client a = h.connect();
  h.hub->events().subscribe([&](const Event& e) {
    seen += std::string(event_name(e)) + " ";
    if (std::holds_alternative<event::ChatPosted>(e)) chat_frames_when_posted = a.take("chat").size();
  });
  a.auth();
  a.ok("set_name", R"({"name":"Ann"})");
  std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  a.chat("hi");
  a.ok("set_name", R"({"name":"Anna"})");
  a.disconnect();
  CHECK(seen == "session_created name_changed lobby_created participant_joined chat_posted "
                 "name_changed participant_updated session_disconnected participant_updated ");
  CHECK(chat_frames_when_posted == 1);
}

// ---------------------------------------------------------------------------------------
// HTTP

struct HttpCall {
  std::optional<HttpResponse> response;
  int calls = 0;
};

HttpRequest http(std::string method, std::string path, std::string body = "",
                 std::string authorization = "") {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.body = std::move(body);
  r.authorization = std::move(authorization);
  return r;
}

std::shared_ptr<HttpCall> start(HttpRouter& router, const HttpRequest& req) {
  auto call = std::make_shared<HttpCall>();
  router.handle(req, [call](HttpResponse r) {
    ++call->calls;
    call->response = std::move(r);
  });
  return call;
}

HttpResponse serve(HttpRouter& router, const HttpRequest& req) {
  auto call = start(router, req);
  INFO(req.method, " ", req.path);
  REQUIRE(call->calls == 1);
  return *call->response;
}

Msg body_of(const HttpResponse& r) {
  INFO(r.body);
  REQUIRE(r.content_type == "application/json");
  return Msg(std::make_shared<const std::string>(r.body));
}

const std::string kAdmin = "Bearer admin-secret";

TEST_CASE("http: health and metrics") {
  Harness h;
  HttpRouter router(*h.hub, "", "");
  HttpResponse health = serve(router, http("GET", "/api/health"));
  CHECK(health.status == 200);
  Msg hb = body_of(health);
  CHECK(hb.str("status") == "ok");
  CHECK(hb.str("version") == LOBBYKIT_VERSION_STRING);
  CHECK(hb.num("protocol_version") == 1);
  CHECK(serve(router, http("POST", "/api/health")).status == 405);

  Client a = h.user("Ann");
  a.ok("ping");
  HttpResponse m = serve(router, http("GET", "/api/metrics"));
  CHECK(m.status == 200);
  CHECK(m.content_type.rfind("text/plain; version=0.0.4", 0) == 0);
  CHECK(m.body.find("lobbykit_sessions 1\n") != std::string::npos);
  CHECK(m.body.find("lobbykit_messages_received_total{type=\"ping\"} 1\n") != std::string::npos);
  CHECK(serve(router, http("GET", "/api/nothing")).status == 404);
  CHECK(body_of(serve(router, http("GET", "/api/nothing"))).str("code") == "not_found");
}

TEST_CASE("http: lobbies are listed and created") {
  Harness h;
  HttpRouter router(*h.hub, "", "");
  HttpResponse created = serve(router, http("POST", "/api/lobbies", R"({"name":"Standup"})"));
  CHECK(created.status == 201);
  Msg cb = body_of(created);
  CHECK(cb.str("lobby.name") == "Standup");
  CHECK(cb.num("lobby.participants") == 0);
  const std::string id = cb.str("lobby.id");
  h.clock.advance(1);
  CHECK(serve(router, http("POST", "/api/lobbies", R"({"name":"Hidden","private":true})")).status ==
        201);

  HttpResponse list = serve(router, http("GET", "/api/lobbies"));
  CHECK(list.status == 200);
  Msg lb = body_of(list);
  REQUIRE(lb.size("lobbies") == 1);
  CHECK(lb.str("lobbies.0.id") == id);

  HttpResponse bad = serve(router, http("POST", "/api/lobbies", R"({"name":""})"));
  CHECK(bad.status == 400);
  CHECK(body_of(bad).str("code") == "bad_field");
  CHECK(body_of(bad).str("field") == "data.name");
  HttpResponse junk = serve(router, http("POST", "/api/lobbies", "{oops"));
  CHECK(junk.status == 400);
  CHECK(body_of(junk).str("code") == "bad_json");
  HttpResponse dup = serve(router, http("POST", "/api/lobbies", R"({"name":"STANDUP"})"));
  CHECK(dup.status == 409);
  CHECK(body_of(dup).str("code") == "lobby_exists");
  CHECK(serve(router, http("DELETE", "/api/lobbies")).status == 405);

  // A WebSocket client sees the lobby the HTTP API made.
  Client a = h.user("Ann");
  CHECK(a.join(id).str("data.lobby.name") == "Standup");
}

TEST_CASE("router: lobby quotas per session and per address, over WebSocket and HTTP") {
  Limits l = test_limits();
  l.max_lobbies_per_session = 2;
  l.max_lobbies_per_address = 3;
  Harness h(l);
  HttpRouter router(*h.hub, "admin-secret", "");
  Client a = h.user("Ann");
  const std::string a1 = a.create_lobby("A1");
  a.create_lobby("A2");
  int over = a.request("create_lobby", R"({"name":"A3"})");
  Msg e = a.reply(over);
  CHECK(e.code() == "lobby_quota");
  CHECK(e.str("data.error").find("session") != std::string::npos);

  // HTTP from the same address counts with its sessions.
  HttpRequest post = http("POST", "/api/lobbies", R"({"name":"H1"})");
  post.address = "192.0.2.1";
  CHECK(serve(router, post).status == 201);
  post.body = R"({"name":"H2"})";
  HttpResponse refused = serve(router, post);
  CHECK(refused.status == 429);
  CHECK(body_of(refused).str("code") == "lobby_quota");
  CHECK(body_of(refused).str("error").find("address") != std::string::npos);
  Client b = h.user("Bob");
  CHECK(b.call("create_lobby", R"({"name":"B1"})").code() == "lobby_quota");
  post.address = "::ffff:192.0.2.1";  // the same address on a dual-stack socket
  CHECK(serve(router, post).status == 429);
  // The admin is exempt; a wrong token is not the admin.
  post.authorization = "Bearer wrong";
  CHECK(serve(router, post).status == 429);
  post.authorization = kAdmin;
  CHECK(serve(router, post).status == 201);
  // Other addresses are not held back; in-process clients only by the per-session quota.
  Client c = h.user("Cy", "198.51.100.20");
  c.create_lobby("C1");
  Client local = h.user("Local", kInProcessAddress);
  local.create_lobby("L1");
  local.create_lobby("L2");
  CHECK(local.call("create_lobby", R"({"name":"L3"})").code() == "lobby_quota");
  // A lobby that goes gives its place back, to the session and to the address.
  CHECK(serve(router, http("DELETE", "/api/admin/lobbies/" + a1, "", kAdmin)).status == 200);
  a.create_lobby("A3");
  CHECK(a.call("create_lobby", R"({"name":"A4"})").code() == "lobby_quota");
}

TEST_CASE("http: the admin API is off without a token and needs the bearer token") {
  Harness h;
  HttpRouter off(*h.hub, "", "");
  HttpResponse r = serve(off, http("GET", "/api/admin/sessions", "", kAdmin));
  CHECK(r.status == 404);
  CHECK(body_of(r).str("code") == "not_found");

  HttpRouter on(*h.hub, "admin-secret", "");
  CHECK(serve(on, http("GET", "/api/admin/sessions")).status == 401);
  CHECK(body_of(serve(on, http("GET", "/api/admin/sessions"))).str("code") == "unauthorized");
  CHECK(serve(on, http("GET", "/api/admin/sessions", "", "Bearer wrong")).status == 401);
  CHECK(serve(on, http("GET", "/api/admin/sessions", "", "Bearer admin-secretX")).status == 401);
  CHECK(serve(on, http("GET", "/api/admin/sessions", "", "admin-secret")).status == 401);
  CHECK(serve(on, http("POST", "/api/admin/sessions/x/kick", "", "Bearer wrong")).status == 401);
  CHECK(serve(on, http("GET", "/api/admin/sessions", "", "Basic admin-secret")).status == 401);
  CHECK(serve(on, http("GET", "/api/admin/sessions", "", "Bearer ")).status == 401);
  CHECK(serve(on, http("GET", "/api/admin/sessions", "", kAdmin)).status == 200);
  // The scheme is case-insensitive (RFC 9110); the token is not.
  CHECK(serve(on, http("GET", "/api/admin/sessions", "", "bearer admin-secret")).status == 200);
  CHECK(serve(on, http("GET", "/api/admin/sessions", "", "BEARER admin-secret")).status == 200);
  CHECK(serve(on, http("GET", "/api/admin/sessions", "", "Bearer ADMIN-SECRET")).status == 401);
  CHECK(serve(on, http("GET", "/api/admin/nothing", "", kAdmin)).status == 404);
}

TEST_CASE("http: admin lists sessions and lobbies, private ones included") {
  Harness h;
  HttpRouter router(*h.hub, "admin-secret", "");
  Client a = h.user("Ann");
  Client b = h.user("");
  std::string lobby = a.create_lobby("Hidden", R"(,"private":true)");
  a.join(lobby);
  b.disconnect();

  Msg s = body_of(serve(router, http("GET", "/api/admin/sessions", "", kAdmin)));
  REQUIRE(s.size("sessions") == 2);
  std::map<PeerId, std::size_t> index;
  for (std::size_t i = 0; i < 2; ++i) index[s.str("sessions." + std::to_string(i) + ".peer_id")] = i;
  REQUIRE(index.count(a.peer) == 1);
  REQUIRE(index.count(b.peer) == 1);
  const std::string pa = "sessions." + std::to_string(index[a.peer]) + ".";
  const std::string pb = "sessions." + std::to_string(index[b.peer]) + ".";
  CHECK(s.str(pa + "name") == "Ann");
  CHECK(s.flag(pa + "connected"));
  CHECK(s.str(pa + "lobby_id") == lobby);
  CHECK_FALSE(s.flag(pa + "name_protected"));
  CHECK(s.num(pa + "created_ms") == h.clock.now_ms());
  CHECK_FALSE(s.has(pa + "token"));
  CHECK_FALSE(s.has(pa + "token_hash"));
  CHECK_FALSE(s.flag(pb + "connected"));
  CHECK(s.str(pb + "lobby_id") == "");

  Msg l = body_of(serve(router, http("GET", "/api/admin/lobbies", "", kAdmin)));
  REQUIRE(l.size("lobbies") == 1);
  CHECK(l.str("lobbies.0.id") == lobby);
  CHECK(l.num("lobbies.0.participants") == 1);
  CHECK(serve(router, http("PUT", "/api/admin/lobbies", "", kAdmin)).status == 405);
}

TEST_CASE("http: admin rename") {
  Harness h;
  HttpRouter router(*h.hub, "admin-secret", "");
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  b.join(lobby);
  a.clear();
  b.clear();

  HttpResponse r = serve(router, http("POST", "/api/admin/sessions/" + a.peer + "/rename",
                                      R"({"name":"Zed"})", kAdmin));
  CHECK(r.status == 200);
  CHECK(body_of(r).str("peer_id") == a.peer);
  CHECK(body_of(r).str("name") == "Zed");
  CHECK(a.next("name_changed").str("data.name") == "Zed");
  Msg upd = b.next("participant_updated");
  CHECK(upd.str("data.participant.peer_id") == a.peer);
  CHECK(upd.str("data.participant.name") == "Zed");
  // The old name is free again.
  Client c = h.user("");
  c.ok("set_name", R"({"name":"ann"})");

  HttpResponse taken = serve(router, http("POST", "/api/admin/sessions/" + b.peer + "/rename",
                                          R"({"name":"zed"})", kAdmin));
  CHECK(taken.status == 409);
  CHECK(body_of(taken).str("code") == "name_taken");
  HttpResponse bad = serve(router, http("POST", "/api/admin/sessions/" + b.peer + "/rename",
                                        R"({"name":""})", kAdmin));
  CHECK(bad.status == 400);
  CHECK(body_of(bad).str("code") == "bad_field");
  HttpResponse missing = serve(router, http("POST", "/api/admin/sessions/0000000000000000/rename",
                                            R"({"name":"Q"})", kAdmin));
  CHECK(missing.status == 404);
  CHECK(body_of(missing).str("code") == "session_not_found");
}

TEST_CASE("http: admin kick closes the client with 4002 and deletes the session") {
  Harness h;
  HttpRouter router(*h.hub, "admin-secret", "");
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  std::string lobby = a.create_lobby("Room");
  a.join(lobby, true);
  b.join(lobby, true);
  a.clear();
  b.clear();

  HttpResponse r = serve(router, http("POST", "/api/admin/sessions/" + a.peer + "/kick", "", kAdmin));
  CHECK(r.status == 200);
  CHECK(body_of(r).flag("ok"));
  Msg left = a.next();
  CHECK(left.type() == "lobby_left");
  CHECK(left.str("data.lobby_id") == lobby);
  CHECK(left.str("data.reason") == "kicked");
  CHECK(a.close_code() == 4002);
  Msg pl = b.next("participant_left");
  CHECK(pl.str("data.peer_id") == a.peer);
  CHECK(pl.str("data.reason") == "kicked");
  CHECK(take_peer_removed(b) == std::vector<PeerId>{a.peer});

  a.disconnect();
  CHECK(b.pending() == 0);
  CHECK(h.hub->gauges().sessions == 1);
  Client again = h.connect();
  CHECK(again.call("auth", token_data(a.token)).code() == "invalid_token");
  Client c = h.user("");
  c.ok("set_name", R"({"name":"Ann"})");

  CHECK(serve(router, http("POST", "/api/admin/sessions/" + a.peer + "/kick", "", kAdmin)).status ==
        404);
  CHECK(serve(router, http("GET", "/api/admin/sessions/" + b.peer + "/kick", "", kAdmin)).status ==
        405);
}

TEST_CASE("http: admin sets and clears a name's password on the worker") {
  Harness h;
  HttpRouter router(*h.hub, "admin-secret", "");
  Client a = h.user("Ann Lee");

  auto put = start(router, http("PUT", "/api/admin/names/ann%20lee/password",
                                R"({"password":"pw1"})", kAdmin));
  CHECK(put->calls == 0);
  CHECK(h.worker.run_all() == 1);
  REQUIRE(put->calls == 1);
  CHECK(put->response->status == 200);
  CHECK(body_of(*put->response).flag("ok"));

  Msg s = body_of(serve(router, http("GET", "/api/admin/sessions", "", kAdmin)));
  CHECK(s.flag("sessions.0.name_protected"));

  Client b = h.user("");
  CHECK(b.call("set_name", R"({"name":"Ann Lee"})").code() == "password_required");
  int id = b.request("set_name", R"({"name":"Ann Lee","password":"pw1"})");
  h.worker.run_all();
  CHECK(b.reply(id).type() == "result");
  CHECK(a.next("name_changed").str("data.name") == "");

  auto del = start(router, http("DELETE", "/api/admin/names/Ann%20Lee/password", "", kAdmin));
  h.worker.run_all();
  REQUIRE(del->calls == 1);
  CHECK(del->response->status == 200);
  // No longer protected, but still held by b.
  CHECK(a.call("set_name", R"({"name":"ann lee"})").code() == "name_taken");
  CHECK_FALSE(b.ok("set_name", R"({"name":"Ann Lee"})").flag("data.protected"));

  auto unknown = start(router, http("PUT", "/api/admin/names/nobody/password",
                                    R"({"password":"pw"})", kAdmin));
  h.worker.run_all();
  REQUIRE(unknown->calls == 1);
  CHECK(unknown->response->status == 404);
  CHECK(body_of(*unknown->response).str("code") == "name_not_found");

  auto nopw = start(router, http("PUT", "/api/admin/names/Ann%20Lee/password", "{}", kAdmin));
  REQUIRE(nopw->calls == 1);
  CHECK(nopw->response->status == 400);
  CHECK(body_of(*nopw->response).str("field") == "password");
  CHECK(h.worker.pending() == 0);
}

TEST_CASE("http: admin removes a lobby and its members are told") {
  Harness h;
  HttpRouter router(*h.hub, "admin-secret", "");
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  b.join(lobby);
  a.clear();
  b.clear();

  HttpResponse r = serve(router, http("DELETE", "/api/admin/lobbies/" + lobby, "", kAdmin));
  CHECK(r.status == 200);
  for (const Client* cl : {&a, &b}) {
    Msg left = cl->next("lobby_left");
    CHECK(left.str("data.lobby_id") == lobby);
    CHECK(left.str("data.reason") == "lobby_removed");
  }
  CHECK(a.call("chat", R"({"text":"x"})").code() == "not_in_lobby");
  CHECK(body_of(serve(router, http("GET", "/api/lobbies"))).size("lobbies") == 0);
  HttpResponse again = serve(router, http("DELETE", "/api/admin/lobbies/" + lobby, "", kAdmin));
  CHECK(again.status == 404);
  CHECK(body_of(again).str("code") == "lobby_not_found");
}

// ---------------------------------------------------------------------------------------
// Operations (router/operations.hpp): the host's and the admin's typed calls

template <class T>
T value_of(const std::variant<T, Error>& v) {
  const auto* e = std::get_if<Error>(&v);
  INFO("error: ", e ? std::string(protocol::to_string(e->code)) + " " + e->message : "");
  REQUIRE(e == nullptr);
  return std::get<T>(v);
}

template <class T>
std::string code_of(const std::variant<T, Error>& v) {
  const auto* e = std::get_if<Error>(&v);
  return e ? std::string(protocol::to_string(e->code)) : "ok";
}

std::string code_of(const std::optional<Error>& e) {
  return e ? std::string(protocol::to_string(e->code)) : "ok";
}

std::string field_of(const std::variant<LobbyInfo, Error>& v) {
  const auto* e = std::get_if<Error>(&v);
  return e ? e->field : "";
}

TEST_CASE("operations: list_sessions, list_lobbies and get_lobby show everything") {
  Harness h;
  Hub::State& s = h.hub->state();
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  const std::string open = a.create_lobby("Open");
  h.clock.advance(1);
  const std::string hidden = b.create_lobby("Hidden", R"(,"private":true)");
  a.join(open, true);
  b.join(hidden);
  b.disconnect();

  auto sessions = list_sessions(s);
  REQUIRE(sessions.size() == 2);
  std::sort(sessions.begin(), sessions.end(),
            [&](const SessionInfo& x, const SessionInfo&) { return x.peer_id == a.peer; });
  CHECK(sessions[0].peer_id == a.peer);
  CHECK(sessions[0].name == "Ann");
  CHECK(sessions[0].connected);
  CHECK(sessions[0].lobby_id == open);
  CHECK_FALSE(sessions[0].is_bot);
  CHECK(sessions[0].created_ms == h.clock.now_ms() - 1);
  CHECK(sessions[1].peer_id == b.peer);
  CHECK_FALSE(sessions[1].connected);  // in its resume grace
  CHECK(sessions[1].lobby_id == hidden);

  auto lobbies = list_lobbies(s);
  REQUIRE(lobbies.size() == 2);
  CHECK(lobbies[0].lobby.id == open);  // creation order
  CHECK(lobbies[1].lobby.id == hidden);
  CHECK(lobbies[1].lobby.is_private);
  REQUIRE(lobbies[0].participants.size() == 1);
  CHECK(lobbies[0].participants[0].peer_id == a.peer);
  CHECK(lobbies[0].participants[0].has_media);
  REQUIRE(lobbies[1].participants.size() == 1);
  CHECK_FALSE(lobbies[1].participants[0].connected);

  const LobbyDetail d = value_of(get_lobby(s, hidden));
  CHECK(d.lobby.name == "Hidden");
  CHECK(d.lobby.participant_count == 1);
  CHECK(d.participants.at(0).name == "Bob");
  CHECK(code_of(get_lobby(s, "nope")) == "lobby_not_found");
}

TEST_CASE("operations: create_lobby checks its settings and counts under no quota") {
  Limits l = test_limits();
  l.max_lobbies_per_session = 1;
  l.max_lobbies_per_address = 1;
  l.max_participants = 50;
  l.max_lobbies = 4;
  Harness h(l);
  Hub::State& s = h.hub->state();
  std::vector<LobbyInfo> created;
  h.hub->events().subscribe([&](const Event& e) {
    if (auto* c = std::get_if<event::LobbyCreated>(&e)) created.push_back(c->lobby);
  });
  Client a = h.user("Ann");
  a.create_lobby("Mine");  // the address's and the session's one lobby

  const LobbyInfo hall = value_of(create_lobby(s, LobbySettings{"  Hall   of  fame ", true, true, 0}));
  CHECK(hall.name == "Hall of fame");
  CHECK(hall.is_private);
  CHECK(hall.persistent);
  CHECK(hall.max_participants == 50);
  CHECK(value_of(create_lobby(s, LobbySettings{"Small", false, false, 2})).max_participants == 2);
  REQUIRE(created.size() == 3);
  CHECK(created[1].id == hall.id);

  CHECK(code_of(create_lobby(s, LobbySettings{"hall OF fame", false, false, 0})) == "lobby_exists");
  auto bad_name = create_lobby(s, LobbySettings{" \u200b ", false, false, 0});
  CHECK(code_of(bad_name) == "bad_field");
  CHECK(field_of(bad_name) == "name");
  auto too_many = create_lobby(s, LobbySettings{"Big", false, false, 51});
  CHECK(code_of(too_many) == "bad_field");
  CHECK(field_of(too_many) == "max_participants");
  CHECK(value_of(create_lobby(s, LobbySettings{"Last", false, false, 0})).name == "Last");
  CHECK(code_of(create_lobby(s, LobbySettings{"Over", false, false, 0})) == "too_many_lobbies");
  CHECK(created.size() == 4);
  // The host's lobbies did not use up the session's or the address's quota.
  CHECK(s.lobbies.created_by(a.peer) == 1);
  CHECK(s.lobbies.created_from("192.0.2.1") == 1);
}

TEST_CASE("operations: update_lobby changes settings, tells members, keeps everyone on a lower cap") {
  Harness h;
  Hub::State& s = h.hub->state();
  std::vector<LobbyInfo> updated;
  h.hub->events().subscribe([&](const Event& e) {
    if (auto* u = std::get_if<event::LobbyUpdated>(&e)) updated.push_back(u->lobby);
  });
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  Client c = h.user("Cy");
  const std::string room = a.create_lobby("Room");
  a.create_lobby("Other");
  a.join(room);
  b.join(room);
  a.clear();
  b.clear();

  LobbyUpdate u;
  u.name = " Big  room ";
  u.is_private = true;
  u.max_participants = 1;
  const LobbyInfo info = value_of(update_lobby(s, room, u));
  CHECK(info.name == "Big room");
  CHECK(info.is_private);
  CHECK_FALSE(info.persistent);
  CHECK(info.max_participants == 1);
  CHECK(info.participant_count == 2);
  REQUIRE(updated.size() == 1);
  CHECK(updated[0].name == "Big room");
  for (const Client* cl : {&a, &b}) {
    Msg m = cl->next("lobby_updated");
    CHECK(m.str("data.lobby_id") == room);
    CHECK(m.str("data.lobby.name") == "Big room");
    CHECK(m.flag("data.lobby.private"));
    CHECK(m.num("data.lobby.max_participants") == 1);
    CHECK(m.num("data.lobby.participants") == 2);
  }
  // Nobody was removed; a new member is refused until the lobby fits.
  CHECK(a.pending() == 0);
  CHECK(s.lobbies.find(room)->members.size() == 2);
  CHECK(c.call("join_lobby", R"({"lobby_id":")" + room + R"("})").code() == "lobby_full");
  // The name moved: the old one is free, the new one taken (private lobbies are not found
  // by name, but their names are still unique).
  CHECK(code_of(update_lobby(s, room, LobbyUpdate{std::string("other"), {}, {}, {}})) ==
        "lobby_exists");
  CHECK(c.create_lobby("Room") != room);
  CHECK(c.call("create_lobby", R"({"name":"BIG ROOM"})").code() == "lobby_exists");
  // Nothing changed: no event, no push.
  CHECK(value_of(update_lobby(s, room, LobbyUpdate{std::string("Big room"), true, {}, {}})).name ==
        "Big room");
  CHECK(updated.size() == 1);
  CHECK(a.pending() == 0);

  LobbyUpdate bad;
  bad.max_participants = 0;
  CHECK(code_of(update_lobby(s, room, bad)) == "bad_field");
  bad.max_participants.reset();
  bad.name = "";
  CHECK(field_of(update_lobby(s, room, bad)) == "name");
  CHECK(code_of(update_lobby(s, "nope", LobbyUpdate{})) == "lobby_not_found");

  // Settings are durable.
  h.restart();
  const LobbyDetail after = value_of(get_lobby(h.hub->state(), room));
  CHECK(after.lobby.name == "Big room");
  CHECK(after.lobby.is_private);
  CHECK(after.lobby.max_participants == 1);
}

TEST_CASE("operations: a persistent lobby made non-persistent gets a whole expiry period") {
  Limits l = test_limits();
  l.lobby_expiry_ms = 10'000;
  Harness h(l);
  Hub::State& s = h.hub->state();
  const LobbyInfo info = value_of(create_lobby(s, LobbySettings{"Keep", false, true, 0}));
  const LobbyId id = info.id;
  h.clock.advance(60'000);
  h.hub->tick();
  REQUIRE(s.lobbies.find(id));
  value_of(update_lobby(s, id, LobbyUpdate{{}, {}, false, {}}));
  h.clock.advance(9'000);
  h.hub->tick();
  CHECK(s.lobbies.find(id));
  h.clock.advance(1'000);
  h.hub->tick();
  CHECK_FALSE(s.lobbies.find(id));
}

TEST_CASE("operations: remove_lobby tells the members and publishes LobbyRemoved") {
  Harness h;
  Hub::State& s = h.hub->state();
  std::vector<std::string> removed;
  h.hub->events().subscribe([&](const Event& e) {
    if (auto* r = std::get_if<event::LobbyRemoved>(&e)) removed.push_back(r->lobby_id + ":" + r->reason);
  });
  Client a = h.user("Ann");
  const std::string room = a.create_lobby("Room");
  a.join(room);
  a.clear();
  CHECK(code_of(remove_lobby(s, room)) == "ok");
  Msg left = a.next("lobby_left");
  CHECK(left.str("data.reason") == "lobby_removed");
  CHECK(removed == std::vector<std::string>{room + ":removed"});
  CHECK(s.sessions.find(a.peer)->lobby_id.empty());
  CHECK(code_of(remove_lobby(s, room)) == "lobby_not_found");
}

TEST_CASE("operations: kick_session ends the session with 4002") {
  Harness h;
  Hub::State& s = h.hub->state();
  std::vector<std::string> closed;
  h.hub->events().subscribe([&](const Event& e) {
    if (auto* c = std::get_if<event::SessionClosed>(&e)) closed.push_back(c->peer_id + ":" + c->reason);
  });
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  const std::string room = a.create_lobby("Room");
  a.join(room);
  b.join(room);
  b.clear();
  CHECK(code_of(kick_session(s, a.peer)) == "ok");
  CHECK(a.close_code() == 4002);
  CHECK(b.next("participant_left").str("data.reason") == "kicked");
  CHECK(closed == std::vector<std::string>{a.peer + ":kicked"});
  CHECK(s.sessions.find(a.peer) == nullptr);
  CHECK(code_of(kick_session(s, a.peer)) == "session_not_found");
}

TEST_CASE("operations: rename_session checks the name and tells the lobby") {
  Harness h;
  Hub::State& s = h.hub->state();
  Client a = h.user("Ann");
  Client b = h.user("Bob");
  const std::string room = a.create_lobby("Room");
  a.join(room);
  b.join(room);
  a.clear();
  b.clear();
  const SessionInfo info = value_of(rename_session(s, a.peer, "  Zed   Zee "));
  CHECK(info.peer_id == a.peer);
  CHECK(info.name == "Zed Zee");
  CHECK(info.lobby_id == room);
  CHECK(a.next("name_changed").str("data.name") == "Zed Zee");
  CHECK(b.next("participant_updated").str("data.participant.name") == "Zed Zee");
  CHECK(code_of(rename_session(s, b.peer, "zed zee")) == "name_taken");
  auto bad = rename_session(s, b.peer, std::string(40, 'x'));
  REQUIRE(code_of(bad) == "bad_field");
  CHECK(std::get<Error>(bad).field == "name");
  CHECK(code_of(rename_session(s, "nobody", "Q")) == "session_not_found");
  CHECK(s.sessions.find(b.peer)->name == "Bob");
}

TEST_CASE("operations: reset_password completes when the worker's hash comes back") {
  Harness h;
  Hub::State& s = h.hub->state();
  Client a = h.user("Ann");
  std::vector<std::string> outcomes;
  auto record = [&](std::optional<Error> e) { outcomes.push_back(code_of(e)); };

  reset_password(s, "ANN", std::string("pw1"), record);
  CHECK(outcomes.empty());  // hashing on the worker
  CHECK(h.worker.run_all() == 1);
  CHECK(outcomes == std::vector<std::string>{"ok"});
  CHECK(s.auth.is_protected("Ann"));

  reset_password(s, "Ann", std::string(""), record);
  reset_password(s, "Ann", std::string(s.limits.max_password_bytes + 1, 'p'), record);
  reset_password(s, "Nobody", std::string("pw"), record);
  CHECK(h.worker.pending() == 0);
  CHECK(outcomes == std::vector<std::string>{"ok", "bad_field", "bad_field", "name_not_found"});

  reset_password(s, "ann", std::nullopt, record);  // clearing needs no hash
  CHECK(outcomes.back() == "ok");
  CHECK_FALSE(s.auth.is_protected("Ann"));
}

TEST_CASE("operations: post_notice is chat from nobody, marked system, kept in history") {
  Limits l = test_limits();
  l.max_chat_bytes = 16;
  Harness h(l);
  Hub::State& s = h.hub->state();
  std::vector<ChatMessage> posted;
  h.hub->events().subscribe([&](const Event& e) {
    if (auto* c = std::get_if<event::ChatPosted>(&e)) posted.push_back(c->message);
  });
  Client a = h.user("Ann");
  const std::string room = a.create_lobby("Room");
  a.join(room);
  a.chat("hi");
  a.clear();

  const ChatMessage m = value_of(post_notice(s, room, "Welcome!"));
  CHECK(m.offset == 2);
  CHECK(m.system);
  CHECK(m.sender.empty());
  CHECK(m.sender_name.empty());
  Msg push = a.next("chat");
  CHECK(push.str("data.lobby_id") == room);
  CHECK(push.num("data.message.offset") == 2);
  CHECK(push.str("data.message.sender") == "");
  CHECK(push.str("data.message.sender_name") == "");
  CHECK(push.str("data.message.text") == "Welcome!");
  CHECK(push.flag("data.message.system"));
  REQUIRE(posted.size() == 2);
  CHECK_FALSE(posted[0].system);
  CHECK(posted[1].system);

  Msg page = a.ok("chat_history", R"({"after":0})");
  REQUIRE(page.size("data.messages") == 2);
  CHECK_FALSE(page.flag("data.messages.0.system"));
  CHECK(page.flag("data.messages.1.system"));

  CHECK(code_of(post_notice(s, "nope", "x")) == "lobby_not_found");
  CHECK(code_of(post_notice(s, room, "")) == "bad_field");
  CHECK(code_of(post_notice(s, room, std::string(17, 'x'))) == "bad_field");
  CHECK(code_of(post_notice(s, room, "\xff\xfe")) == "bad_field");
  CHECK(a.pending() == 0);

  // After a restart the notice is still the server's.
  h.restart();
  Client again = h.connect();
  Msg w = again.resume(a.token);
  CHECK(w.flag("data.lobby.history.1.system"));
  CHECK(w.str("data.lobby.history.1.sender") == "");
}

TEST_CASE("http: admin lobby endpoints over the operations") {
  Limits l = test_limits();
  l.max_lobbies_per_address = 1;
  Harness h(l);
  HttpRouter router(*h.hub, "admin-secret", "");
  Client a = h.user("Ann");
  const std::string room = a.create_lobby("Room");
  a.join(room);
  a.clear();

  HttpRequest post = http("POST", "/api/admin/lobbies", R"({"name":"Hall","private":true})", kAdmin);
  post.address = "192.0.2.1";  // whose quota is used up: the admin's lobbies are exempt
  HttpResponse created = serve(router, post);
  CHECK(created.status == 201);
  const std::string hall = body_of(created).str("lobby.id");
  CHECK(body_of(created).flag("lobby.private"));
  HttpResponse dup = serve(router, post);
  CHECK(dup.status == 409);
  CHECK(body_of(dup).str("code") == "lobby_exists");
  HttpResponse nameless = serve(router, http("POST", "/api/admin/lobbies", "{}", kAdmin));
  CHECK(nameless.status == 400);
  CHECK(body_of(nameless).str("field") == "data.name");

  Msg got = body_of(serve(router, http("GET", "/api/admin/lobbies/" + room, "", kAdmin)));
  CHECK(got.str("lobby.id") == room);
  REQUIRE(got.size("participants") == 1);
  CHECK(got.str("participants.0.peer_id") == a.peer);
  HttpResponse missing = serve(router, http("GET", "/api/admin/lobbies/nope", "", kAdmin));
  CHECK(missing.status == 404);
  CHECK(body_of(missing).str("code") == "lobby_not_found");

  HttpResponse patched = serve(router, http("PATCH", "/api/admin/lobbies/" + room,
                                            R"({"name":"Renamed","max_participants":5})", kAdmin));
  CHECK(patched.status == 200);
  CHECK(body_of(patched).str("lobby.name") == "Renamed");
  CHECK(body_of(patched).num("lobby.max_participants") == 5);
  CHECK(a.next("lobby_updated").str("data.lobby.name") == "Renamed");
  HttpResponse bad = serve(router, http("PATCH", "/api/admin/lobbies/" + room,
                                        R"({"private":"yes"})", kAdmin));
  CHECK(bad.status == 400);
  CHECK(body_of(bad).str("field") == "data.private");
  CHECK(serve(router, http("PATCH", "/api/admin/lobbies/" + room, R"({"max_participants":0})",
                           kAdmin)).status == 400);
  CHECK(serve(router, http("PATCH", "/api/admin/lobbies/" + room, R"({"name":"hall"})",
                           kAdmin)).status == 409);
  CHECK(serve(router, http("PATCH", "/api/admin/lobbies/nope", "{}", kAdmin)).status == 404);
  CHECK(serve(router, http("PUT", "/api/admin/lobbies/" + room, "{}", kAdmin)).status == 405);
  CHECK(serve(router, http("PUT", "/api/admin/lobbies", "{}", kAdmin)).status == 405);

  HttpResponse notice = serve(router, http("POST", "/api/admin/lobbies/" + room + "/notice",
                                           R"({"text":"Closing soon"})", kAdmin));
  CHECK(notice.status == 201);
  CHECK(body_of(notice).flag("message.system"));
  CHECK(body_of(notice).num("message.offset") == 1);
  Msg chat = a.next("chat");
  CHECK(chat.str("data.message.text") == "Closing soon");
  CHECK(chat.flag("data.message.system"));
  CHECK(serve(router, http("POST", "/api/admin/lobbies/" + room + "/notice", R"({"text":""})",
                           kAdmin)).status == 400);
  CHECK(serve(router, http("POST", "/api/admin/lobbies/nope/notice", R"({"text":"x"})",
                           kAdmin)).status == 404);
  CHECK(serve(router, http("GET", "/api/admin/lobbies/" + room + "/notice", "", kAdmin)).status ==
        405);
}

// A web root with a file outside it and symlinks pointing out.
class StaticTree {
 public:
  StaticTree() {
    std::string pattern = (fs::temp_directory_path() / "lobbykit-static-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    base_ = pattern;
    fs::create_directories(base_ / "www" / "sub");
    fs::create_directories(base_ / "outside");
    write(base_ / "www" / "index.html", "<h1>hi</h1>");
    write(base_ / "www" / "sub" / "app.js", "1");
    write(base_ / "secret", "top secret");
    write(base_ / "outside" / "file.txt", "out");
    fs::create_symlink(base_ / "secret", base_ / "www" / "link");
    fs::create_symlink(base_ / "outside", base_ / "www" / "outdir");
  }
  ~StaticTree() {
    std::error_code ignored;
    fs::remove_all(base_, ignored);
  }
  StaticTree(const StaticTree&) = delete;
  StaticTree& operator=(const StaticTree&) = delete;

  std::string root() const { return (base_ / "www").string(); }
  std::string canonical(const std::string& rel) const { return fs::canonical(base_ / rel).string(); }

 private:
  static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
  fs::path base_;
};

TEST_CASE("http: static files are served from the folder and nothing outside it") {
  Harness h;
  StaticTree tree;
  HttpRouter router(*h.hub, "", tree.root());

  HttpResponse index = serve(router, http("GET", "/"));
  CHECK(index.status == 200);
  CHECK(index.file_path == tree.canonical("www/index.html"));
  CHECK(index.content_type == "text/html; charset=utf-8");
  HttpResponse named = serve(router, http("GET", "/index.html"));
  CHECK(named.file_path == tree.canonical("www/index.html"));
  HttpResponse js = serve(router, http("GET", "/sub/app.js"));
  CHECK(js.status == 200);
  CHECK(js.file_path == tree.canonical("www/sub/app.js"));
  CHECK(js.content_type == "text/javascript; charset=utf-8");
  HttpResponse encoded = serve(router, http("GET", "/sub/%61pp.js"));
  CHECK(encoded.file_path == tree.canonical("www/sub/app.js"));

  for (const char* path :
       {"/../secret", "/../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/%2E%2E/secret",
        "/sub/..%2f..%2fsecret", "/sub/%2e%2e%2f%2e%2e%2fsecret", "/index.html%00",
        "/%00", "/sub\\..\\..\\secret", "/sub%5c..%5c..%5csecret", "/link", "/outdir/file.txt",
        "/missing.html", "/sub", "/sub/", "%2fsecret", "/%", "/%zz"}) {
    HttpResponse r = serve(router, http("GET", path));
    INFO(path);
    CHECK(r.status == 404);
    CHECK(r.file_path.empty());
  }
  for (const char* method : {"POST", "PUT", "DELETE"}) {
    HttpResponse r = serve(router, http(method, "/index.html"));
    INFO(method);
    CHECK(r.status == 404);
    CHECK(r.file_path.empty());
  }

  HttpRouter none(*h.hub, "", "");
  CHECK(serve(none, http("GET", "/")).status == 404);
}

// ---------------------------------------------------------------------------------------
// Access tokens and roles

const std::string kTokenSecret = "router-test-secret-0123456789abcdef";

// A token for user_id with the rig's clock (minted the way hosts mint them).
std::string access_token(const Harness& h, const std::string& user_id,
                         std::vector<std::string> roles = {}, const std::string& name = "",
                         const std::string& lobby = "", std::int64_t ttl_s = 3600) {
  AccessClaims c;
  c.user_id = user_id;
  c.roles = std::move(roles);
  c.name = name;
  c.lobby_id = lobby;
  c.metadata_json = R"({"plan":"pro"})";
  return core::sign_access_token(kTokenSecret, c, ttl_s, h.clock.now_ms() / 1000);
}

std::string access_data(const std::string& token) {
  return R"({"access_token":")" + token + R"("})";
}

// A Harness with access tokens on (and required when asked).
std::unique_ptr<Harness> token_harness(bool require = false) {
  auto h = std::make_unique<Harness>();
  h->token_secret = kTokenSecret;
  h->require_token = require;
  h->restart();
  return h;
}

// A named member of `lobby` holding a token with `roles`.
Client token_member(Harness& h, const std::string& user, std::vector<std::string> roles,
                    const std::string& name, const std::string& lobby, bool media = true) {
  Client c = h.connect();
  c.auth(access_data(access_token(h, user, std::move(roles), name)));
  c.join(lobby, media);
  c.clear();
  return c;
}

TEST_CASE("router: a valid access token starts a session with its user, roles and name") {
  auto h = token_harness();
  Client a = h->connect();
  Msg w = a.auth(access_data(access_token(*h, "user-42", {"moderator", "team-7"}, "Ada")));
  CHECK(w.str("data.user_id") == "user-42");
  REQUIRE(w.size("data.roles") == 2);
  CHECK(w.str("data.roles.0") == "moderator");
  CHECK(w.str("data.roles.1") == "team-7");
  CHECK(w.str("data.name") == "Ada");
  CHECK(a.pending() == 0);  // no name_changed before or after the welcome

  // Others see the user id and roles on the participant.
  Client b = h->user("Bob");
  const std::string lobby = b.create_lobby("Room");
  b.join(lobby);
  b.clear();
  Msg snap = a.join(lobby);
  CHECK(snap.str("data.participants.1.user_id") == "user-42");
  CHECK(snap.str("data.participants.1.roles.0") == "moderator");
  CHECK(snap.str("data.participants.0.user_id") == "");
  CHECK(snap.size("data.participants.0.roles") == 0);
  Msg joined = b.next("participant_joined");
  CHECK(joined.str("data.participant.user_id") == "user-42");
  CHECK(joined.size("data.participant.roles") == 2);

  // The identity survives a restart and a resume.
  const std::string token = a.token;
  a.disconnect();
  h->restart();
  Client again = h->connect();
  Msg r = again.resume(token);
  CHECK(r.flag("data.resumed"));
  CHECK(r.str("data.user_id") == "user-42");
  CHECK(r.size("data.roles") == 2);
  // Which index: members come back from the store in peer-id order (issue 12 asks for join
  // order); the user is whichever one is not Bob.
  const int mine = r.str("data.lobby.participants.0.name") == "Bob" ? 1 : 0;
  CHECK(r.str("data.lobby.participants." + std::to_string(mine) + ".user_id") == "user-42");
}

TEST_CASE("router: a token's name that is taken is numbered, a protected one too") {
  auto h = token_harness();
  Client ada = h->user("Ada");
  Client b = h->connect();
  CHECK(b.auth(access_data(access_token(*h, "u2", {}, "Ada"))).str("data.name") == "Ada 2");
  Client c = h->connect();
  CHECK(c.auth(access_data(access_token(*h, "u3", {}, "ada"))).str("data.name") == "ada 3");
  // A name of the longest length is shortened to fit its number.
  const std::string longest(32, 'x');
  Client d = h->connect();
  CHECK(d.auth(access_data(access_token(*h, "u4", {}, longest))).str("data.name") == longest);
  Client e = h->connect();
  CHECK(e.auth(access_data(access_token(*h, "u5", {}, longest))).str("data.name") ==
        std::string(30, 'x') + " 2");
}

TEST_CASE("router: access tokens that are refused leave the connection unauthenticated") {
  auto h = token_harness();
  Client a = h->connect();
  SUBCASE("another secret") {
    AccessClaims c;
    c.user_id = "u1";
    const std::string forged = core::sign_access_token("another-secret-of-32-bytes-or-more!", c,
                                                       3600, h->clock.now_ms() / 1000);
    Msg e = a.call("auth", access_data(forged));
    CHECK(e.code() == "invalid_access_token");
  }
  SUBCASE("expired, beyond the skew") {
    const std::string token = access_token(*h, "u1", {}, "", "", 60);
    h->clock.advance(60'000 + 30'000);
    CHECK(a.call("auth", access_data(token)).code() == "access_token_expired");
  }
  SUBCASE("not a JWT") {
    CHECK(a.call("auth", access_data("abc")).code() == "invalid_access_token");
  }
  // Still unauthenticated: anything but auth is refused, and auth may be tried again.
  CHECK(a.call("ping").code() == "not_authenticated");
  CHECK(a.close_code() == 0);
  CHECK(a.auth(access_data(access_token(*h, "u1"))).str("data.user_id") == "u1");
}

TEST_CASE("router: without a token secret an access token is refused") {
  Harness h;
  Client a = h.connect();
  Msg e = a.call("auth", access_data(access_token(h, "u1")));
  CHECK(e.code() == "invalid_access_token");
  CHECK(e.str("data.error").find("does not accept access tokens") != std::string::npos);
  // Without one, auth works as before.
  CHECK(a.auth().str("data.user_id") == "");
}

TEST_CASE("router: require_token refuses an auth without a token, not a resume") {
  auto h = token_harness(true);
  Client a = h->connect();
  CHECK(a.call("auth").code() == "access_token_required");
  CHECK(a.call("auth", R"({"bot":true})").code() == "access_token_required");
  a.auth(access_data(access_token(*h, "u1")));
  const std::string token = a.token;
  a.disconnect();
  Client again = h->connect();
  CHECK(again.resume(token).str("data.user_id") == "u1");
}

TEST_CASE("router: a resume with an access token of another user is refused") {
  auto h = token_harness();
  Client a = h->connect();
  a.auth(access_data(access_token(*h, "u1")));
  const std::string token = a.token;
  a.disconnect();
  Client b = h->connect();
  Msg e = b.call("auth", R"({"token":")" + token + R"(","access_token":")" +
                             access_token(*h, "u2") + R"("})");
  CHECK(e.code() == "invalid_access_token");
  // The same user's token, or an expired one, is no obstacle to the resume.
  Msg w = b.call("auth", R"({"token":")" + token + R"(","access_token":")" +
                             access_token(*h, "u1") + R"("})");
  CHECK(w.type() == "welcome");
  CHECK(w.flag("data.resumed"));
}

TEST_CASE("router: a token's lobby is the only one its session may join or make") {
  auto h = token_harness();
  Client owner = h->user("Owner");
  const std::string allowed = owner.create_lobby("Allowed");
  const std::string other = owner.create_lobby("Other");
  Client a = h->connect();
  a.auth(access_data(access_token(*h, "u1", {}, "Guest", allowed)));
  Msg e = a.call("join_lobby", R"({"lobby_id":")" + other + R"("})");
  CHECK(e.code() == "forbidden");
  CHECK(a.call("join_lobby", R"({"name":"Other"})").code() == "forbidden");
  CHECK(a.call("create_lobby", R"({"name":"Mine"})").code() == "forbidden");
  CHECK(a.join(allowed).str("data.lobby.id") == allowed);
}

TEST_CASE("router: a moderator kicks a member of its lobby") {
  auto h = token_harness();
  Client owner = h->user("Owner");
  const std::string lobby = owner.create_lobby("Room");
  owner.join(lobby);
  owner.clear();
  Client mod = token_member(*h, "m1", {"moderator"}, "Mod", lobby);
  Client target = token_member(*h, "u2", {}, "Target", lobby);
  owner.clear();
  mod.clear();

  Msg r = mod.call("kick_member", R"({"peer_id":")" + target.peer + R"(","reason":"spam"})");
  CHECK(r.type() == "result");
  Msg kicked = target.next();
  CHECK(kicked.type() == "kicked");
  CHECK(kicked.str("data.lobby_id") == lobby);
  CHECK(kicked.str("data.by") == mod.peer);
  CHECK(kicked.str("data.by_name") == "Mod");
  CHECK(kicked.str("data.reason") == "spam");
  Msg left = target.next("lobby_left");
  CHECK(left.str("data.reason") == "kicked");
  CHECK(target.close_code() == 0);  // out of the lobby, the session goes on
  Msg seen = owner.next("participant_left");
  CHECK(seen.str("data.peer_id") == target.peer);
  CHECK(seen.str("data.reason") == "kicked");
  CHECK(target.call("chat", R"({"text":"hi"})").code() == "not_in_lobby");
}

TEST_CASE("router: kick_member and mute_member are refused to non-moderators and misuse") {
  auto h = token_harness();
  Client owner = h->user("Owner");
  const std::string lobby = owner.create_lobby("Room");
  const std::string elsewhere = owner.create_lobby("Elsewhere");
  owner.join(lobby);
  Client plain = token_member(*h, "u1", {"team-7"}, "Plain", lobby);
  Client mod = token_member(*h, "m1", {"moderator"}, "Mod", lobby);
  Client away = token_member(*h, "u3", {}, "Away", elsewhere);
  const std::string kick = R"({"peer_id":")" + owner.peer + R"("})";
  CHECK(plain.call("kick_member", kick).code() == "forbidden");
  CHECK(plain.call("mute_member", R"({"peer_id":")" + owner.peer + R"(","audio":true})").code() ==
        "forbidden");
  Msg self = mod.call("kick_member", R"({"peer_id":")" + mod.peer + R"("})");
  CHECK(self.code() == "bad_field");
  CHECK(self.str("data.field") == "data.peer_id");
  CHECK(mod.call("kick_member", R"({"peer_id":")" + away.peer + R"("})").code() == "unknown_peer");
  CHECK(mod.call("kick_member", R"({})").code() == "bad_field");
  CHECK(mod.call("mute_member", R"({"peer_id":")" + owner.peer + R"("})").code() == "bad_field");
  mod.ok("leave_lobby");
  CHECK(mod.call("kick_member", kick).code() == "not_in_lobby");
  CHECK(owner.call("ping").type() == "result");
}

TEST_CASE("router: a moderator mutes a member, who may unmute itself") {
  auto h = token_harness();
  Client owner = h->user("Owner");
  const std::string lobby = owner.create_lobby("Room");
  Client mod = token_member(*h, "m1", {"moderator"}, "Mod", lobby);
  Client target = token_member(*h, "u2", {}, "Target", lobby);
  mod.clear();

  Msg r = mod.ok("mute_member", R"({"peer_id":")" + target.peer + R"(","audio":true})");
  CHECK(r.flag("data.participant.audio_muted"));
  CHECK_FALSE(r.flag("data.participant.video_muted"));
  Msg updated = target.next("participant_updated");
  CHECK(updated.str("data.participant.peer_id") == target.peer);
  CHECK(updated.flag("data.participant.audio_muted"));
  Msg muted = target.next("muted");
  CHECK(muted.str("data.by") == mod.peer);
  CHECK(muted.flag("data.audio"));
  CHECK_FALSE(muted.flag("data.video"));
  CHECK(mod.next("participant_updated").flag("data.participant.audio_muted"));

  CHECK_FALSE(target.ok("update_media", R"({"audio_muted":false})")
                  .flag("data.participant.audio_muted"));
}

TEST_CASE("router: screen_sharing is told to the lobby, needs has_media, and a video mute ends it") {
  auto h = token_harness();
  Client owner = h->user("Owner");
  const std::string lobby = owner.create_lobby("Room");
  Client mod = token_member(*h, "m1", {"moderator"}, "Mod", lobby);
  Client a = token_member(*h, "u2", {}, "Ann", lobby, false);
  // Without media the flag stays off.
  CHECK_FALSE(a.ok("update_media", R"({"screen_sharing":true})").flag("data.participant.screen_sharing"));
  a.ok("update_media", R"({"has_media":true})");
  mod.clear();

  Msg on = a.ok("update_media", R"({"screen_sharing":true})");
  CHECK(on.flag("data.participant.screen_sharing"));
  CHECK(mod.next("participant_updated").flag("data.participant.screen_sharing"));
  // In the snapshot a newcomer gets too (members in join order: Mod, Ann).
  Client late = h->connect();
  late.auth(access_data(access_token(*h, "u3", {}, "Late")));
  Msg snap = late.ok("join_lobby", R"({"lobby_id":")" + lobby + R"("})");
  CHECK(snap.str("data.participants.1.peer_id") == a.peer);
  CHECK(snap.flag("data.participants.1.screen_sharing"));
  CHECK_FALSE(snap.flag("data.participants.0.screen_sharing"));

  // A moderator's video mute ends the screen as well.
  mod.clear();
  Msg muted = mod.ok("mute_member", R"({"peer_id":")" + a.peer + R"(","video":true})");
  CHECK_FALSE(muted.flag("data.participant.screen_sharing"));
  a.ok("update_media", R"({"screen_sharing":true})");
  // Media off: the screen is off with it.
  Msg off = a.ok("update_media", R"({"has_media":false})");
  CHECK_FALSE(off.flag("data.participant.screen_sharing"));
  CHECK_FALSE(a.ok("update_media", R"({"has_media":true})").flag("data.participant.screen_sharing"));
}

TEST_CASE("router: a listener joins muted and may not unmute") {
  auto h = token_harness();
  Client owner = h->user("Owner");
  const std::string lobby = owner.create_lobby("Room");
  Client listener = h->connect();
  listener.auth(access_data(access_token(*h, "l1", {"listener"}, "Ear")));
  Msg snap = listener.ok("join_lobby", R"({"lobby_id":")" + lobby +
                                           R"(","has_media":true,"audio_muted":false})");
  CHECK(snap.str("data.participants.0.peer_id") == listener.peer);
  CHECK(snap.flag("data.participants.0.has_media"));
  CHECK(snap.flag("data.participants.0.audio_muted"));
  CHECK(snap.flag("data.participants.0.video_muted"));
  CHECK(listener.call("update_media", R"({"audio_muted":false})").code() == "forbidden");
  CHECK(listener.call("update_media", R"({"video_muted":false})").code() == "forbidden");
  CHECK(listener.call("update_media", R"({"screen_sharing":true})").code() == "forbidden");
  CHECK_FALSE(listener.ok("update_media", R"({"screen_sharing":false})")
                  .flag("data.participant.screen_sharing"));
  // Muting, and media on or off, stay allowed.
  CHECK_FALSE(listener.ok("update_media", R"({"has_media":false,"audio_muted":true})")
                  .flag("data.participant.has_media"));
}


// ---------------------------------------------------------------------------------------
// Application messages and metadata

TEST_CASE("router: app_message goes to every other connected member, stamped, never echoed") {
  Harness h;
  Client a = h.user("Ann");
  const std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  Client b = h.user("Bob");
  b.join(lobby);
  Client c = h.user("Cy");
  c.join(lobby);
  Client outside = h.user("Out");
  a.clear();
  b.clear();
  c.clear();
  Msg r = a.ok("app_message", R"({"name":"game:move","payload":{"x":3,"y":[1,2]}})");
  CHECK(r.num("data.delivered") == 2);
  CHECK_FALSE(r.has("data.reply"));
  for (Client* to : {&b, &c}) {
    Msg m = to->next("app_message");
    CHECK(m.str("data.lobby_id") == lobby);
    CHECK(m.str("data.name") == "game:move");
    CHECK(m.str("data.from") == a.peer);
    CHECK(m.str("data.from_name") == "Ann");
    CHECK_FALSE(m.has("data.to"));
    CHECK(m.num("data.payload.x") == 3);
    CHECK(m.num("data.payload.y.1") == 2);
  }
  CHECK(a.pending() == 0);
  CHECK(outside.pending() == 0);

  // A payload may be any JSON value; without one it is null.
  a.ok("app_message", R"({"name":"ping"})");
  CHECK(b.next("app_message").is_null("data.payload"));
  a.ok("app_message", R"({"name":"n","payload":"text"})");
  CHECK(b.next("app_message").str("data.payload") == "text");

  // A member in its resume grace does not count and gets nothing.
  c.clear();
  c.disconnect();
  CHECK(a.ok("app_message", R"({"name":"x"})").num("data.delivered") == 1);
}

TEST_CASE("router: app_message to one member, the target's errors are the relay's") {
  Harness h;
  Client a = h.user("Ann");
  const std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  Client b = h.user("Bob");
  b.join(lobby);
  Client c = h.user("Cy");
  c.join(lobby);
  Client other = h.user("Other");
  other.join(other.create_lobby("Elsewhere"));
  a.clear();
  b.clear();
  c.clear();
  Msg r = a.ok("app_message", R"({"name":"whisper","to":")" + b.peer + R"(","payload":1})");
  CHECK(r.num("data.delivered") == 1);
  Msg m = b.next("app_message");
  CHECK(m.str("data.to") == b.peer);
  CHECK(m.str("data.from") == a.peer);
  CHECK(c.pending() == 0);

  CHECK(a.call("app_message", R"({"name":"w","to":")" + a.peer + R"("})").code() == "bad_target");
  CHECK(a.call("app_message", R"({"name":"w","to":")" + other.peer + R"("})").code() ==
        "unknown_peer");
  CHECK(a.call("app_message", R"({"name":"w","to":"nobody"})").code() == "unknown_peer");
  Msg empty = a.call("app_message", R"({"name":"w","to":""})");
  CHECK(empty.code() == "bad_field");
  CHECK(empty.str("data.field") == "data.to");
  b.disconnect();  // in its grace: not connected
  CHECK(a.call("app_message", R"({"name":"w","to":")" + b.peer + R"("})").code() == "unknown_peer");
  CHECK(c.take("app_message").empty());
}

TEST_CASE("router: app_message checks its name, its payload's size, and the lobby") {
  Limits l = test_limits();
  l.max_app_message_bytes = 32;
  Harness h(l);
  Client a = h.user("Ann");
  CHECK(a.call("app_message", R"({"name":"x"})").code() == "not_in_lobby");
  a.join(a.create_lobby("Room"));
  Client b = h.user("Bob");
  b.join(a.ok("list_lobbies").str("data.lobbies.0.id"));
  b.clear();
  for (const char* bad : {R"({})", R"({"name":""})", R"({"name":"has space"})",
                          R"({"name":"ünï"})", R"({"name":7})",
                          R"({"name":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})"}) {
    Msg e = a.call("app_message", bad);
    INFO(bad);
    CHECK(e.code() == "bad_field");
    CHECK(e.str("data.field") == "data.name");
  }
  // 64 characters of every allowed kind pass.
  CHECK(a.ok("app_message", R"({"name":"Aa0_.:-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"})")
            .num("data.delivered") == 1);
  // {"k":"...."} of exactly 32 bytes passes; one more byte does not.
  const std::string fits = std::string(R"({"k":")") + std::string(32 - 8, 'x') + R"("})";
  REQUIRE(fits.size() == 32);
  a.ok("app_message", R"({"name":"n","payload":)" + fits + "}");
  Msg over = a.call("app_message", R"({"name":"n","payload":{"k":")" + std::string(25, 'x') + R"("}})");
  CHECK(over.code() == "bad_field");
  CHECK(over.str("data.field") == "data.payload");
  // Text that is not Unicode (a lone surrogate) is not forwarded.
  Msg bad_text = a.call("app_message", R"({"name":"n","payload":"\udc00"})");
  CHECK(bad_text.code() == "bad_field");
  CHECK(b.take("app_message").size() == 2);
}

TEST_CASE("router: a flood of app messages is rate limited, then closed with 4006") {
  Limits l = test_limits();
  l.rate_burst = 4;
  l.rate_per_second = 10;
  l.rate_flood_burst = 3;
  Harness h(l);
  Client a = h.connect();
  a.auth();
  a.ok("set_name", R"({"name":"Ann"})");
  const std::string lobby = a.create_lobby("Room");
  a.join(lobby);  // auth, set_name, create, join: the burst is spent
  for (int i = 0; i < 3; ++i)
    CHECK(a.call("app_message", R"({"name":"spam"})").code() == "rate_limited");
  CHECK(a.close_code() == 0);
  a.request("app_message", R"({"name":"spam"})");
  CHECK(a.close_code() == static_cast<int>(CloseCode::flooding));
}

TEST_CASE("router: the host's send_app_message comes from the server, to all or one") {
  Harness h;
  Client a = h.user("Ann");
  const std::string lobby = a.create_lobby("Room");
  a.join(lobby);
  Client b = h.user("Bob");
  b.join(lobby);
  a.clear();
  b.clear();
  std::vector<event::AppMessage> seen;
  h.hub->events().subscribe([&](const Event& e) {
    if (auto* m = std::get_if<event::AppMessage>(&e)) seen.push_back(*m);
  });
  auto sent = send_app_message(h.hub->state(), lobby, "notice", R"({ "a" : 1 })", "");
  REQUIRE(std::holds_alternative<std::uint32_t>(sent));
  CHECK(std::get<std::uint32_t>(sent) == 2);
  for (Client* c : {&a, &b}) {
    Msg m = c->next("app_message");
    CHECK(m.str("data.from") == "");
    CHECK(m.str("data.from_name") == "");
    CHECK(m.num("data.payload.a") == 1);
  }
  CHECK(std::get<std::uint32_t>(send_app_message(h.hub->state(), lobby, "n", "", b.peer)) == 1);
  CHECK(b.next("app_message").is_null("data.payload"));
  CHECK(a.pending() == 0);
  CHECK(seen.empty());  // the host's own messages are not events

  auto code = [&](const LobbyId& l, const std::string& name, const std::string& payload,
                  const PeerId& to) {
    auto r = send_app_message(h.hub->state(), l, name, payload, to);
    return std::holds_alternative<Error>(r) ? std::string(protocol::to_string(std::get<Error>(r).code))
                                            : std::string();
  };
  CHECK(code("nope", "n", "1", "") == "lobby_not_found");
  CHECK(code(lobby, "bad name", "1", "") == "bad_field");
  CHECK(code(lobby, "n", "{not json", "") == "bad_field");
  CHECK(code(lobby, "n", std::string(h.limits.max_app_message_bytes + 1, '1'), "") == "bad_field");
  CHECK(code(lobby, "n", "1", "stranger") == "unknown_peer");
  CHECK(a.pending() == 0);

  // A member's delivered message is an event.
  a.ok("app_message", R"({"name":"hi","payload":[1]})");
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].from == a.peer);
  CHECK(seen[0].from_name == "Ann");
  CHECK(seen[0].lobby_id == lobby);
  CHECK(seen[0].payload_json == "[1]");
  CHECK(seen[0].delivered == 1);
}

TEST_CASE("router: participant metadata comes from the session and set_metadata self") {
  auto h = token_harness();
  Client owner = h->user("Owner");
  const std::string lobby = owner.create_lobby("Room");
  owner.join(lobby);
  // The token's metadata is the participant's.
  Client t = h->connect();
  t.auth(access_data(access_token(*h, "u1", {}, "Tess")));
  Msg snap = t.join(lobby);
  CHECK(snap.str("data.participants.1.metadata.plan") == "pro");
  CHECK(snap.members("data.participants.0.metadata") == 0);
  CHECK(owner.next("participant_joined").str("data.participant.metadata.plan") == "pro");
  owner.clear();
  t.clear();

  Msg r = t.ok("set_metadata", R"({"target":"self","metadata":{"hand":true}})");
  CHECK(r.flag("data.metadata.hand"));
  for (Client* c : {&owner, &t}) {
    Msg u = c->next("participant_updated");
    CHECK(u.str("data.participant.peer_id") == t.peer);
    CHECK(u.flag("data.participant.metadata.hand"));
    CHECK_FALSE(u.has("data.participant.metadata.plan"));  // replaced, not merged
  }
  // The host and admins see it too.
  for (const SessionInfo& s : list_sessions(h->hub->state()))
    if (s.peer_id == t.peer) CHECK(s.metadata_json == R"({"hand":true})");

  // Out of any lobby it is kept, and a join shows it.
  Client solo = h->user("Solo");
  solo.ok("set_metadata", R"({"target":"self","metadata":{"k":"v"}})");
  CHECK(solo.join(lobby).str("data.participants.2.metadata.k") == "v");

  // Bad requests.
  for (const char* bad : {R"({"metadata":{}})", R"({"target":"other","metadata":{}})",
                          R"({"target":"self"})", R"({"target":"self","metadata":[1]})",
                          R"({"target":"self","metadata":"x"})"}) {
    INFO(bad);
    CHECK(t.call("set_metadata", bad).code() == "bad_field");
  }
  Msg over = t.call("set_metadata", R"({"target":"self","metadata":{"k":")" +
                                         std::string(h->limits.max_metadata_bytes, 'x') + R"("}})");
  CHECK(over.code() == "bad_field");
  CHECK(over.str("data.field") == "data.metadata");
}

TEST_CASE("router: set_metadata self can be turned off, lobby metadata needs a moderator") {
  Limits l = test_limits();
  l.allow_participant_metadata = false;
  Harness plain(l);
  Client x = plain.user("X");
  CHECK(x.call("set_metadata", R"({"target":"self","metadata":{}})").code() == "forbidden");

  auto h = token_harness();
  Client owner = h->user("Owner");
  const std::string lobby = owner.create_lobby("Room");
  owner.join(lobby);
  owner.clear();
  CHECK(owner.call("set_metadata", R"({"target":"lobby","metadata":{"topic":"x"}})").code() ==
        "forbidden");
  Client mod = h->connect();
  mod.auth(access_data(access_token(*h, "m1", {"moderator"}, "Mod")));
  CHECK(mod.call("set_metadata", R"({"target":"lobby","metadata":{}})").code() == "not_in_lobby");
  mod.join(lobby);
  owner.clear();
  mod.clear();
  Msg r = mod.ok("set_metadata", R"({"target":"lobby","metadata":{"topic":"Rust"}})");
  CHECK(r.str("data.metadata.topic") == "Rust");
  for (Client* c : {&owner, &mod}) {
    Msg u = c->next("lobby_updated");
    CHECK(u.str("data.lobby.metadata.topic") == "Rust");
    CHECK(u.str("data.lobby.name") == "Room");
  }
  // The same metadata again changes nothing: no push.
  mod.ok("set_metadata", R"({"target":"lobby","metadata":{"topic":"Rust"}})");
  CHECK(owner.pending() == 0);
  CHECK(owner.ok("list_lobbies").str("data.lobbies.0.metadata.topic") == "Rust");
}

TEST_CASE("router: the host sets lobby and session metadata, lobby metadata is stored") {
  Harness h;
  Client a = h.user("Ann");
  const std::string lobby = a.create_lobby("Room", R"(,"persistent":true)");
  a.join(lobby);
  a.clear();
  std::vector<std::string> events;
  h.hub->events().subscribe([&](const Event& e) {
    if (auto* u = std::get_if<event::LobbyUpdated>(&e)) events.push_back("lobby " + u->lobby.metadata_json);
    if (auto* p = std::get_if<event::ParticipantUpdated>(&e))
      events.push_back("participant " + p->participant.metadata_json);
  });
  auto set = set_lobby_metadata(h.hub->state(), lobby, R"({"round": 2})");
  REQUIRE(std::holds_alternative<LobbyInfo>(set));
  CHECK(std::get<LobbyInfo>(set).metadata_json == R"({"round":2})");
  CHECK(a.next("lobby_updated").num("data.lobby.metadata.round") == 2);
  auto who = set_session_metadata(h.hub->state(), a.peer, R"({"team":"red"})");
  REQUIRE(std::holds_alternative<SessionInfo>(who));
  CHECK(std::get<SessionInfo>(who).metadata_json == R"({"team":"red"})");
  CHECK(a.next("participant_updated").str("data.participant.metadata.team") == "red");
  CHECK(events == std::vector<std::string>{"lobby {\"round\":2}", "participant {\"team\":\"red\"}"});

  auto code = [](const auto& r) {
    return std::holds_alternative<Error>(r) ? std::string(protocol::to_string(std::get<Error>(r).code))
                                            : std::string("ok");
  };
  CHECK(code(set_lobby_metadata(h.hub->state(), "nope", "{}")) == "lobby_not_found");
  CHECK(code(set_lobby_metadata(h.hub->state(), lobby, "[]")) == "bad_field");
  CHECK(code(set_lobby_metadata(h.hub->state(), lobby, "{")) == "bad_field");
  CHECK(code(set_lobby_metadata(h.hub->state(), lobby,
                                R"({"k":")" + std::string(h.limits.max_metadata_bytes, 'x') + R"("})")) ==
        "bad_field");
  CHECK(code(set_session_metadata(h.hub->state(), "nope", "{}")) == "session_not_found");
  CHECK(code(set_session_metadata(h.hub->state(), a.peer, "1")) == "bad_field");
  LobbyUpdate u;
  u.metadata_json = "[1]";
  CHECK(code(update_lobby(h.hub->state(), lobby, u)) == "bad_field");

  // After a restart the lobby has its metadata, and its member the session's.
  h.restart();
  auto detail = get_lobby(h.hub->state(), lobby);
  REQUIRE(std::holds_alternative<LobbyDetail>(detail));
  CHECK(std::get<LobbyDetail>(detail).lobby.metadata_json == R"({"round":2})");
  REQUIRE(std::get<LobbyDetail>(detail).participants.size() == 1);
  CHECK(std::get<LobbyDetail>(detail).participants[0].metadata_json == R"({"team":"red"})");
}


// --- watch_lobbies (docs/protocol.md, "Lobby list pushes") ----------------------------------

std::vector<std::string> listed_ids(const std::vector<Msg>& pushes) {
  std::vector<std::string> out;
  for (const auto& m : pushes) out.push_back(m.str("data.lobby.id"));
  return out;
}

TEST_CASE("router: watch_lobbies answers the list and pushes creates, changes and removals") {
  Harness h;
  Client host = h.user("Host");
  const std::string before = host.create_lobby("Before");
  Client watcher = h.user("Watcher");
  Client other = h.user("Other");  // never subscribes

  Msg r = watcher.ok("watch_lobbies");
  REQUIRE(r.size("data.lobbies") == 1);
  CHECK(r.str("data.lobbies.0.id") == before);
  CHECK(watcher.ok("watch_lobbies", R"({"watch":true})").size("data.lobbies") == 1);  // idempotent

  const std::string room = host.create_lobby("Room");
  auto listed = watcher.take("lobby_listed");
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].str("data.lobby.id") == room);
  CHECK(listed[0].str("data.lobby.name") == "Room");
  CHECK(listed[0].num("data.lobby.participants") == 0);

  // A private lobby is never listed.
  const std::string hidden = host.create_lobby("Hidden", R"(,"private":true)");
  CHECK(watcher.take("lobby_listed").empty());

  Hub::State& s = h.hub->state();
  // Made private: unlisted; public again: listed.
  value_of(update_lobby(s, room, LobbyUpdate{{}, true, {}, {}}));
  auto gone = watcher.take("lobby_unlisted");
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].str("data.lobby_id") == room);
  value_of(update_lobby(s, room, LobbyUpdate{{}, false, {}, {}}));
  CHECK(listed_ids(watcher.take("lobby_listed")) == std::vector<std::string>{room});
  // A private lobby's change or removal says nothing.
  value_of(update_lobby(s, hidden, LobbyUpdate{std::string("Still hidden"), {}, {}, {}}));
  CHECK(!remove_lobby(s, hidden).has_value());
  CHECK(watcher.take("lobby_unlisted").empty());
  CHECK(watcher.take("lobby_listed").empty());
  // Removed: unlisted.
  CHECK(!remove_lobby(s, room).has_value());
  gone = watcher.take("lobby_unlisted");
  REQUIRE(gone.size() == 1);
  CHECK(gone[0].str("data.lobby_id") == room);

  CHECK(other.take("lobby_listed").empty());
  CHECK(other.take("lobby_unlisted").empty());

  // Unsubscribed: nothing more.
  Msg off = watcher.ok("watch_lobbies", R"({"watch":false})");
  CHECK(off.members("data") == 0);
  host.create_lobby("After");
  CHECK(watcher.take("lobby_listed").empty());

  CHECK(watcher.call("watch_lobbies", R"({"watch":"yes"})").code() == "bad_field");
}

TEST_CASE("router: watch_lobbies coalesces participant-count changes per lobby_list_push_ms") {
  Harness h;
  Client host = h.user("Host");
  const std::string room = host.create_lobby("Room");
  Client watcher = h.user("Watcher");
  watcher.ok("watch_lobbies");
  h.clock.advance(h.limits.lobby_list_push_ms);
  h.hub->tick();

  std::vector<Client> joiners;
  for (int i = 0; i < 5; ++i) {
    joiners.push_back(h.user("J" + std::to_string(i)));
    joiners.back().join(room);
  }
  CHECK(watcher.take("lobby_listed").empty());  // nothing until the tick
  h.hub->tick();
  auto listed = watcher.take("lobby_listed");
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].num("data.lobby.participants") == 5);

  // Within the interval: held back, then one push with the newest count.
  joiners[0].ok("leave_lobby");
  joiners[1].ok("leave_lobby");
  h.clock.advance(h.limits.lobby_list_push_ms - 1);
  h.hub->tick();
  CHECK(watcher.take("lobby_listed").empty());
  h.clock.advance(1);
  h.hub->tick();
  listed = watcher.take("lobby_listed");
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].num("data.lobby.participants") == 3);

  // A closed watcher's subscription ends with it.
  watcher.disconnect();
  joiners[2].ok("leave_lobby");
  h.clock.advance(h.limits.lobby_list_push_ms);
  h.hub->tick();
  CHECK(h.hub->state().lobby_watchers.empty());
}

}  // namespace
}  // namespace lobbykit::router
