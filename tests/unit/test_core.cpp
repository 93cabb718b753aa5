// Tests for the core layer: EventBus, crypto and password helpers, SessionManager,
// AuthManager and LobbyManager. Time is a ManualClock, slow work a ManualWorker, the store a
// MemoryStore; a "restart" is a second set of managers loading from the same store.
#include "core/auth_manager.hpp"
#include "core/clock.hpp"
#include "core/crypto.hpp"
#include "core/event_bus.hpp"
#include "core/lobby_manager.hpp"
#include "core/password.hpp"
#include "core/session_manager.hpp"
#include "core/worker.hpp"
#include "protocol/json.hpp"
#include "protocol/messages.hpp"
#include "store/store.hpp"

#include <lobbykit/events.hpp>
#include <lobbykit/options.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace lobbykit::core {
namespace {

using protocol::ErrorCode;

bool is_hex(const std::string& s, std::size_t len) {
  return s.size() == len && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string code_of(const std::optional<protocol::Error>& e) {
  return e ? std::string(protocol::to_string(e->code)) : std::string("ok");
}

// Every event published on a bus, in order.
class Recorder {
 public:
  explicit Recorder(EventBus& bus) {
    bus.subscribe([this](const Event& e) { events_.push_back(e); });
  }
  template <typename T>
  std::vector<T> of() const {
    std::vector<T> out;
    for (const auto& e : events_)
      if (const T* t = std::get_if<T>(&e)) out.push_back(*t);
    return out;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : events_) out.push_back(event_name(e));
    return out;
  }
  void clear() { events_.clear(); }

 private:
  std::vector<Event> events_;
};

Limits test_limits() {
  Limits l;
  l.argon2_memory_kib = 8;  // Argon2's minimum: the tests check behaviour, not cost
  l.argon2_iterations = 1;
  return l;
}

// The core of one server process over a given store.
struct Node {
  Node(const Limits& l, Clock& c, store::Store& s)
      : limits(l), store(s), sessions(l, c, s, bus), auth(l, c, s, worker, sessions, bus),
        lobbies(l, c, s, bus) {}

  // What a server does at start-up.
  void load() {
    store::Snapshot snap = store.load(limits.chat_history);
    sessions.load(snap.sessions);
    auth.load(snap.names);
    lobbies.load(snap);
  }

  const Limits& limits;
  store::Store& store;
  EventBus bus;
  Recorder rec{bus};
  ManualWorker worker;
  SessionManager sessions;
  AuthManager auth;
  LobbyManager lobbies;
};

struct Fixture {
  Limits limits = test_limits();
  ManualClock clock;
  std::unique_ptr<store::Store> store = store::make_memory_store();
  std::unique_ptr<Node> node = std::make_unique<Node>(limits, clock, *store);

  // A new process on the same store; the old one is gone (as after kill -9).
  Node& restart() {
    node = std::make_unique<Node>(limits, clock, *store);
    node->load();
    return *node;
  }
  store::Snapshot snapshot() { return store->load(1000); }
};

// Receives one AuthManager completion. Shared with the completion, which may run later.
struct Capture {
  bool called = false;
  AuthManager::Outcome out;

  std::string code() const {
    REQUIRE(called);
    return code_of(out.error);
  }
  std::int64_t retry_after_ms() const {
    REQUIRE(out.error.has_value());
    return out.error->retry_after_ms;
  }
};
using CaptureP = std::shared_ptr<Capture>;

AuthManager::Done done(const CaptureP& c) {
  return [c](AuthManager::Outcome o) {
    c->called = true;
    c->out = std::move(o);
  };
}

std::vector<PeerId> sorted(std::vector<PeerId> v) {
  std::sort(v.begin(), v.end());
  return v;
}

std::vector<std::uint64_t> offsets(const std::vector<const ChatMessage*>& ms) {
  std::vector<std::uint64_t> out;
  for (const auto* m : ms) out.push_back(m->offset);
  return out;
}
std::vector<std::uint64_t> offsets(const std::deque<ChatMessage>& ms) {
  std::vector<std::uint64_t> out;
  for (const auto& m : ms) out.push_back(m.offset);
  return out;
}
using Offsets = std::vector<std::uint64_t>;

event::SessionDisconnected ev(const char* peer) { return event::SessionDisconnected{peer}; }
std::string peer_of(const Event& e) { return std::get<event::SessionDisconnected>(e).peer_id; }

// EventBus ----------------------------------------------------------------------------------

TEST_CASE("EventBus delivers to every subscriber in subscription order") {
  EventBus bus;
  std::vector<std::string> log;
  bus.subscribe([&](const Event& e) { log.push_back("a:" + peer_of(e)); });
  bus.subscribe([&](const Event& e) { log.push_back("b:" + peer_of(e)); });
  bus.subscribe([&](const Event& e) { log.push_back("c:" + peer_of(e)); });
  CHECK(bus.subscriber_count() == 3);
  bus.publish(ev("1"));
  bus.publish(ev("2"));
  CHECK(log == std::vector<std::string>{"a:1", "b:1", "c:1", "a:2", "b:2", "c:2"});
}

TEST_CASE("EventBus unsubscribe") {
  EventBus bus;
  std::vector<std::string> log;
  auto a = bus.subscribe([&](const Event&) { log.push_back("a"); });
  bus.subscribe([&](const Event&) { log.push_back("b"); });
  CHECK(a != 0);
  bus.unsubscribe(a);
  bus.unsubscribe(a);      // twice: no-op
  bus.unsubscribe(12345);  // unknown: no-op
  CHECK(bus.subscriber_count() == 1);
  bus.publish(ev("1"));
  CHECK(log == std::vector<std::string>{"b"});
}

TEST_CASE("EventBus: a handler unsubscribes itself during delivery") {
  EventBus bus;
  std::vector<std::string> log;
  EventBus::Id self = 0;
  bus.subscribe([&](const Event&) { log.push_back("a"); });
  self = bus.subscribe([&](const Event&) {
    log.push_back("self");
    bus.unsubscribe(self);
  });
  bus.subscribe([&](const Event&) { log.push_back("c"); });
  bus.publish(ev("1"));
  CHECK(bus.subscriber_count() == 2);
  bus.publish(ev("2"));
  CHECK(log == std::vector<std::string>{"a", "self", "c", "a", "c"});
}

TEST_CASE("EventBus: a handler unsubscribes others during delivery") {
  EventBus bus;
  std::vector<std::string> log;
  EventBus::Id first = 0, last = 0;
  first = bus.subscribe([&](const Event&) { log.push_back("first"); });
  bus.subscribe([&](const Event&) {
    log.push_back("middle");
    bus.unsubscribe(first);
    bus.unsubscribe(last);
  });
  last = bus.subscribe([&](const Event&) { log.push_back("last"); });
  bus.publish(ev("1"));
  // Once unsubscribe returns, the handler is never called again, not even for the event
  // being delivered.
  CHECK(log == std::vector<std::string>{"first", "middle"});
  bus.publish(ev("2"));
  CHECK(log == std::vector<std::string>{"first", "middle", "middle"});
  CHECK(bus.subscriber_count() == 1);
}

TEST_CASE("EventBus: a handler subscribed during delivery gets only the next event") {
  EventBus bus;
  std::vector<std::string> log;
  bool added = false;
  bus.subscribe([&](const Event& e) {
    log.push_back("outer:" + peer_of(e));
    if (!added) {
      added = true;
      bus.subscribe([&](const Event& e2) { log.push_back("new:" + peer_of(e2)); });
    }
  });
  bus.publish(ev("1"));
  CHECK(log == std::vector<std::string>{"outer:1"});
  bus.publish(ev("2"));
  CHECK(log == std::vector<std::string>{"outer:1", "outer:2", "new:2"});
}

TEST_CASE("EventBus: a throwing handler does not stop the others") {
  EventBus bus;
  std::vector<std::string> log;
  bus.subscribe([&](const Event&) { log.push_back("a"); });
  bus.subscribe([&](const Event&) -> void { throw std::runtime_error("boom"); });
  bus.subscribe([&](const Event&) -> void { throw 42; });
  bus.subscribe([&](const Event&) { log.push_back("d"); });
  CHECK_NOTHROW(bus.publish(ev("1")));
  CHECK_NOTHROW(bus.publish(ev("2")));
  CHECK(log == std::vector<std::string>{"a", "d", "a", "d"});
  CHECK(bus.subscriber_count() == 4);
}

TEST_CASE("EventBus: nested publish and unsubscribe inside it") {
  EventBus bus;
  std::vector<std::string> log;
  EventBus::Id inner_victim = 0;
  bus.subscribe([&](const Event& e) {
    log.push_back("a:" + peer_of(e));
    if (peer_of(e) == "outer") bus.publish(ev("inner"));
  });
  bus.subscribe([&](const Event& e) {
    log.push_back("b:" + peer_of(e));
    if (peer_of(e) == "inner") bus.unsubscribe(inner_victim);
  });
  inner_victim = bus.subscribe([&](const Event& e) { log.push_back("c:" + peer_of(e)); });
  bus.publish(ev("outer"));
  CHECK(log == std::vector<std::string>{"a:outer", "a:inner", "b:inner", "b:outer"});
  CHECK(bus.subscriber_count() == 2);
  log.clear();
  bus.publish(ev("again"));
  CHECK(log == std::vector<std::string>{"a:again", "b:again"});
}

// crypto and password ---------------------------------------------------------------------

TEST_CASE("random_hex, sha256_hex and constant_time_equal") {
  CHECK(random_hex(0).empty());
  std::string a = random_hex(16), b = random_hex(16);
  CHECK(is_hex(a, 32));
  CHECK(is_hex(b, 32));
  CHECK(a != b);
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(constant_time_equal("abc", "abc"));
  CHECK(constant_time_equal("", ""));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "ab"));
}

TEST_CASE("hash_password and verify_password") {
  const PasswordCost cost{8, 1};
  std::string h1 = hash_password("correct horse", cost);
  std::string h2 = hash_password("correct horse", cost);
  CHECK(h1.rfind("$argon2id$v=19$m=8,t=1,p=1$", 0) == 0);
  CHECK(h1 != h2);  // a fresh salt each time
  CHECK(verify_password("correct horse", h1));
  CHECK(verify_password("correct horse", h2));
  CHECK_FALSE(verify_password("correct horsE", h1));
  CHECK_FALSE(verify_password("", h1));
  CHECK_FALSE(verify_password("correct horse", "not a hash"));
  CHECK_FALSE(verify_password("correct horse", ""));
}

// SessionManager ------------------------------------------------------------------------

TEST_CASE("SessionManager::create") {
  Fixture f;
  Node& n = *f.node;
  auto c = n.sessions.create(false);
  REQUIRE(c.session != nullptr);
  Session& s = *c.session;
  CHECK(is_hex(c.token, 32));
  CHECK(is_hex(s.peer_id, 16));
  CHECK(s.token_hash == sha256_hex(c.token));
  CHECK(s.name.empty());
  CHECK(s.lobby_id.empty());
  CHECK_FALSE(s.is_bot);
  CHECK(s.connected);
  CHECK(s.created_ms == f.clock.now_ms());
  CHECK(s.last_seen_ms == f.clock.now_ms());
  CHECK(n.sessions.count() == 1);
  CHECK(n.sessions.connected_count() == 1);
  CHECK(n.sessions.find(s.peer_id) == &s);

  auto bot = n.sessions.create(true);
  CHECK(bot.session->is_bot);
  CHECK(bot.token != c.token);
  CHECK(bot.session->peer_id != s.peer_id);
  CHECK(n.sessions.count() == 2);
  CHECK(n.sessions.connected_count() == 2);

  auto created = n.rec.of<event::SessionCreated>();
  REQUIRE(created.size() == 2);
  CHECK(created[0].peer_id == s.peer_id);
  CHECK(created[0].name.empty());
  CHECK_FALSE(created[0].is_bot);
  CHECK(created[1].peer_id == bot.session->peer_id);
  CHECK(created[1].is_bot);
}

TEST_CASE("SessionManager stores the token only hashed") {
  Fixture f;
  Node& n = *f.node;
  auto a = n.sessions.create(false);
  auto b = n.sessions.create(true);
  auto snap = f.snapshot();
  REQUIRE(snap.sessions.size() == 2);
  for (const auto& r : snap.sessions) {
    const std::string& token = r.peer_id == a.session->peer_id ? a.token : b.token;
    CHECK(r.token_hash == sha256_hex(token));
    for (const std::string* field : {&r.peer_id, &r.token_hash, &r.name, &r.lobby_id})
      CHECK(field->find(token) == std::string::npos);
  }
}

TEST_CASE("SessionManager resume, disconnect and connection counts") {
  Fixture f;
  Node& n = *f.node;
  auto c = n.sessions.create(false);
  Session* s = c.session;
  n.sessions.set_name(*s, "Ada");
  n.rec.clear();

  f.clock.advance(1000);
  n.sessions.disconnected(*s);
  CHECK_FALSE(s->connected);
  CHECK(s->last_seen_ms == f.clock.now_ms());
  CHECK(n.sessions.connected_count() == 0);
  CHECK(n.sessions.count() == 1);
  n.sessions.disconnected(*s);  // already disconnected: nothing happens
  CHECK(n.sessions.connected_count() == 0);
  REQUIRE(n.rec.of<event::SessionDisconnected>().size() == 1);
  CHECK(n.rec.of<event::SessionDisconnected>()[0].peer_id == s->peer_id);

  f.clock.advance(5000);
  Session* r = n.sessions.resume(c.token);
  CHECK(r == s);
  CHECK(s->connected);
  CHECK(s->last_seen_ms == f.clock.now_ms());
  CHECK(n.sessions.connected_count() == 1);
  auto resumed = n.rec.of<event::SessionResumed>();
  REQUIRE(resumed.size() == 1);
  CHECK(resumed[0].peer_id == s->peer_id);
  CHECK(resumed[0].name == "Ada");

  CHECK(n.sessions.resume(c.token) == s);  // a second connection takes over
  CHECK(n.sessions.connected_count() == 1);

  CHECK(n.sessions.resume("0123456789abcdef0123456789abcdef") == nullptr);
  CHECK(n.sessions.resume("") == nullptr);
  CHECK(n.sessions.resume(s->token_hash) == nullptr);  // the hash is not the token
  CHECK(n.rec.of<event::SessionResumed>().size() == 2);
}

TEST_CASE("SessionManager set_name, set_lobby and find_by_name_key") {
  Fixture f;
  Node& n = *f.node;
  Session* s = n.sessions.create(false).session;
  n.sessions.set_name(*s, "Ada");
  n.sessions.set_lobby(*s, "lobby1");
  CHECK(n.sessions.find_by_name_key("ada") == s);
  CHECK(n.sessions.find_by_name_key("bob") == nullptr);
  CHECK(n.sessions.find_by_name_key("") == nullptr);
  CHECK(n.sessions.find("nope") == nullptr);
  auto snap = f.snapshot();
  REQUIRE(snap.sessions.size() == 1);
  CHECK(snap.sessions[0].name == "Ada");
  CHECK(snap.sessions[0].lobby_id == "lobby1");
}

TEST_CASE("SessionManager::abandoned") {
  Fixture f;
  f.limits.session_ttl_ms = 10'000;
  Node& n = *f.node;
  Session* gone = n.sessions.create(false).session;
  Session* in_lobby = n.sessions.create(false).session;
  Session* online = n.sessions.create(false).session;
  n.sessions.set_lobby(*in_lobby, "lobby1");
  n.sessions.disconnected(*gone);
  n.sessions.disconnected(*in_lobby);

  f.clock.advance(10'000 - 1);
  CHECK(n.sessions.abandoned().empty());
  f.clock.advance(2);
  CHECK(n.sessions.abandoned() == std::vector<PeerId>{gone->peer_id});

  f.clock.advance(100'000);
  CHECK(n.sessions.abandoned() == std::vector<PeerId>{gone->peer_id});
  CHECK(online->connected);

  n.sessions.set_lobby(*in_lobby, "");
  CHECK(sorted(n.sessions.abandoned()) == sorted({gone->peer_id, in_lobby->peer_id}));
}

TEST_CASE("SessionManager::remove") {
  Fixture f;
  Node& n = *f.node;
  auto c = n.sessions.create(false);
  auto other = n.sessions.create(false);
  const PeerId peer = c.session->peer_id;
  n.rec.clear();

  n.sessions.remove(c.session->peer_id, "kicked");  // the id lives in the removed session
  CHECK(n.sessions.find(peer) == nullptr);
  CHECK(n.sessions.count() == 1);
  CHECK(n.sessions.connected_count() == 1);
  CHECK(n.sessions.resume(c.token) == nullptr);
  auto closed = n.rec.of<event::SessionClosed>();
  REQUIRE(closed.size() == 1);
  CHECK(closed[0].peer_id == peer);
  CHECK(closed[0].reason == "kicked");
  auto snap = f.snapshot();
  REQUIRE(snap.sessions.size() == 1);
  CHECK(snap.sessions[0].peer_id == other.session->peer_id);

  n.sessions.disconnected(*other.session);
  n.sessions.remove(other.session->peer_id, "expired");
  CHECK(n.sessions.connected_count() == 0);
  n.sessions.remove("unknown", "expired");
  CHECK(n.rec.of<event::SessionClosed>().size() == 2);
}

TEST_CASE("SessionManager after a restart: sessions resume by token") {
  Fixture f;
  auto a = f.node->sessions.create(false);
  auto b = f.node->sessions.create(true);
  f.node->sessions.set_name(*a.session, "Ada");
  f.node->sessions.set_lobby(*a.session, "lobby1");
  f.node->sessions.disconnected(*b.session);
  const PeerId pa = a.session->peer_id, pb = b.session->peer_id;
  const TimeMs created = a.session->created_ms;

  f.clock.advance(3000);
  Node& n = f.restart();
  CHECK(n.sessions.count() == 2);
  CHECK(n.sessions.connected_count() == 0);
  Session* ra = n.sessions.find(pa);
  REQUIRE(ra != nullptr);
  CHECK_FALSE(ra->connected);

  CHECK(n.sessions.resume(a.token) == ra);
  CHECK(ra->connected);
  CHECK(ra->name == "Ada");
  CHECK(ra->lobby_id == "lobby1");
  CHECK(ra->created_ms == created);
  CHECK(ra->last_seen_ms == f.clock.now_ms());
  Session* rb = n.sessions.resume(b.token);
  REQUIRE(rb != nullptr);
  CHECK(rb->peer_id == pb);
  CHECK(rb->is_bot);
  CHECK(n.sessions.connected_count() == 2);
  CHECK(n.sessions.resume("ffffffffffffffffffffffffffffffff") == nullptr);
}

TEST_CASE("SessionManager after a restart: a session in use survives, an abandoned one expires") {
  Fixture f;
  f.limits.session_ttl_ms = 10'000;
  auto a = f.node->sessions.create(false);  // still connected when the process dies
  auto b = f.node->sessions.create(false);
  f.node->sessions.disconnected(*b.session);
  const PeerId pa = a.session->peer_id, pb = b.session->peer_id;
  // a stays connected for five lifetimes; the hub refreshes connected sessions now and then.
  for (int i = 0; i < 50; ++i) {
    f.clock.advance(1'000);
    f.node->sessions.refresh_connected();
  }

  Node& n = f.restart();
  CHECK(n.sessions.abandoned() == std::vector<PeerId>{pb});
  f.clock.advance(7'000);  // a was last stamped at most a quarter lifetime (+1 step) ago
  CHECK(n.sessions.abandoned() == std::vector<PeerId>{pb});
  f.clock.advance(3'001);
  CHECK(sorted(n.sessions.abandoned()) == sorted({pa, pb}));
  CHECK(n.sessions.resume(a.token) != nullptr);
  CHECK(n.sessions.abandoned() == std::vector<PeerId>{pb});
}

TEST_CASE("SessionManager::refresh_connected stamps only stale connected sessions") {
  Fixture f;
  f.limits.session_ttl_ms = 8'000;
  auto a = f.node->sessions.create(false);
  auto b = f.node->sessions.create(false);
  f.node->sessions.disconnected(*b.session);
  const TimeMs b_seen = b.session->last_seen_ms;
  const TimeMs a_seen = a.session->last_seen_ms;
  f.clock.advance(1'999);
  f.node->sessions.refresh_connected();
  CHECK(a.session->last_seen_ms == a_seen);  // not stale yet (quarter lifetime is 2 s)
  f.clock.advance(1);
  f.node->sessions.refresh_connected();
  CHECK(a.session->last_seen_ms == f.clock.now_ms());
  CHECK(b.session->last_seen_ms == b_seen);  // disconnected sessions keep their stamp
}

TEST_CASE("SessionManager::idle_expired: disconnected, no name, no lobby, for idle_session_ttl_ms") {
  Fixture f;
  f.limits.idle_session_ttl_ms = 5'000;
  Node& n = *f.node;
  auto anon_created = n.sessions.create(false);
  Session* anon = anon_created.session;
  Session* named = n.sessions.create(false).session;
  Session* member = n.sessions.create(false).session;
  Session* online = n.sessions.create(false).session;
  n.sessions.set_name(*named, "Ada");
  n.sessions.set_name(*member, "Bob");
  n.sessions.set_lobby(*member, "lobby1");
  n.sessions.set_name(*member, "");  // lost its name to a password takeover, still a member
  for (Session* s : {anon, named, member}) n.sessions.disconnected(*s);
  CHECK(n.sessions.idle_count() == 1);

  f.clock.advance(4'999);
  CHECK(n.sessions.idle_expired().empty());
  f.clock.advance(1);
  CHECK(n.sessions.idle_expired() == std::vector<PeerId>{anon->peer_id});
  CHECK(online->connected);

  // Leaving the lobby makes the nameless member idle from then on.
  n.sessions.set_lobby(*member, "");
  f.clock.advance(4'999);
  CHECK(n.sessions.idle_expired() == std::vector<PeerId>{anon->peer_id});
  f.clock.advance(1);
  CHECK(n.sessions.idle_expired() == std::vector<PeerId>{anon->peer_id, member->peer_id});

  // Taking a name, or coming back, ends idleness; removal forgets it.
  n.sessions.set_name(*member, "Bob");
  CHECK(n.sessions.idle_expired() == std::vector<PeerId>{anon->peer_id});
  REQUIRE(n.sessions.resume(anon_created.token) == anon);
  CHECK(n.sessions.idle_expired().empty());
  CHECK(n.sessions.idle_count() == 0);
  n.sessions.disconnected(*anon);
  CHECK(n.sessions.idle_count() == 1);
  n.sessions.remove(anon->peer_id, "expired");
  CHECK(n.sessions.idle_count() == 0);
  // The 24 h rule still applies to the named ones.
  CHECK(n.sessions.abandoned().empty());
}

TEST_CASE("SessionManager::idle_expired: a resumed session is not idle, a ttl of 'forever' never ends") {
  Fixture f;
  f.limits.idle_session_ttl_ms = 1'000;
  Node& n = *f.node;
  auto a = n.sessions.create(false);
  n.sessions.disconnected(*a.session);
  f.clock.advance(999);
  REQUIRE(n.sessions.resume(a.token) == a.session);
  f.clock.advance(10'000);
  CHECK(n.sessions.idle_expired().empty());
  n.sessions.disconnected(*a.session);
  f.clock.advance(1'000);
  CHECK(n.sessions.idle_expired() == std::vector<PeerId>{a.session->peer_id});

  f.limits.idle_session_ttl_ms = UINT64_MAX;
  f.limits.session_ttl_ms = UINT64_MAX;
  f.clock.advance(1'000'000);
  CHECK(n.sessions.idle_expired().empty());
  CHECK(n.sessions.abandoned().empty());
}

TEST_CASE("SessionManager::idle_expired: a step of the wall clock moves no idle session's end") {
  Fixture f;
  f.limits.idle_session_ttl_ms = 5'000;
  Node& n = *f.node;
  Session* gone = n.sessions.create(false).session;
  n.sessions.disconnected(*gone);
  f.clock.step_wall(3'600'000);  // forward: not idle for an hour
  CHECK(n.sessions.idle_expired().empty());
  f.clock.step_wall(-7'200'000);  // back: still ends on time
  f.clock.advance(5'000);
  CHECK(n.sessions.idle_expired() == std::vector<PeerId>{gone->peer_id});
}

TEST_CASE("SessionManager::idle_expired after a restart: restored idle sessions start anew") {
  Fixture f;
  f.limits.idle_session_ttl_ms = 5'000;
  auto anon = f.node->sessions.create(false);
  auto named = f.node->sessions.create(false);
  f.node->sessions.set_name(*named.session, "Ada");
  f.node->sessions.disconnected(*anon.session);
  f.node->sessions.disconnected(*named.session);
  const PeerId pa = anon.session->peer_id;
  f.clock.advance(3'000);

  Node& n = f.restart();
  CHECK(n.sessions.idle_count() == 1);
  f.clock.advance(4'999);
  CHECK(n.sessions.idle_expired().empty());  // a restart counts as a disconnect
  f.clock.advance(1);
  CHECK(n.sessions.idle_expired() == std::vector<PeerId>{pa});
  CHECK(n.sessions.count_from("") == 0);  // addresses are not kept
}

TEST_CASE("SessionManager::admit: per-address and server caps, idle sessions make room") {
  Fixture f;
  f.limits.max_sessions_per_address = 2;
  f.limits.max_sessions = 4;
  Node& n = *f.node;
  auto a1 = n.sessions.create(false, "198.51.100.1");
  auto a2 = n.sessions.create(false, "198.51.100.1");
  CHECK(n.sessions.count_from("198.51.100.1") == 2);

  auto full = n.sessions.admit("198.51.100.1");
  REQUIRE(full.refusal.has_value());
  CHECK(full.refusal->code == ErrorCode::too_many_sessions);
  CHECK(full.refusal->message.find("address") != std::string::npos);
  CHECK(full.evict.empty());
  CHECK_FALSE(n.sessions.admit("198.51.100.2").refusal.has_value());
  CHECK_FALSE(n.sessions.admit("").refusal.has_value());  // exempt from the address cap

  // A named one does not make room; an idle one does, the oldest first.
  n.sessions.set_name(*a1.session, "Ada");
  n.sessions.disconnected(*a1.session);
  CHECK(n.sessions.admit("198.51.100.1").refusal.has_value());
  n.sessions.disconnected(*a2.session);
  auto room = n.sessions.admit("198.51.100.1");
  CHECK_FALSE(room.refusal.has_value());
  CHECK(room.evict == a2.session->peer_id);
  n.sessions.remove(room.evict, "evicted");
  CHECK(n.sessions.count_from("198.51.100.1") == 1);
  auto a3 = n.sessions.create(false, "198.51.100.1");
  CHECK(n.sessions.admit("198.51.100.1").refusal.has_value());

  // The server cap: 2 sessions now, two more fit, then only an idle one makes room.
  auto b = n.sessions.create(false, "");
  auto c = n.sessions.create(false, "203.0.113.1");
  CHECK(n.sessions.count() == 4);
  auto server_full = n.sessions.admit("203.0.113.9");
  REQUIRE(server_full.refusal.has_value());
  CHECK(server_full.refusal->message.find("server") != std::string::npos);
  n.sessions.disconnected(*b.session);
  auto global = n.sessions.admit("203.0.113.9");
  CHECK_FALSE(global.refusal.has_value());
  CHECK(global.evict == b.session->peer_id);
  // Both caps at once: the address's own idle session goes first.
  n.sessions.disconnected(*a3.session);
  CHECK(n.sessions.admit("198.51.100.1").evict == a3.session->peer_id);
}

// AuthManager ---------------------------------------------------------------------------

struct AuthFixture : Fixture {
  AuthFixture() {
    limits.password_attempts = 3;
    limits.password_lockout_ms = 1000;
  }
  Session& session() { return *node->sessions.create(false).session; }
  // set_name; with a password the completion waits for the worker.
  CaptureP set(const Session& s, const std::string& name,
               std::optional<std::string> password = std::nullopt) {
    auto c = std::make_shared<Capture>();
    node->auth.set_name(s.peer_id, name, std::move(password), done(c));
    return c;
  }
  // set_name, then lets the worker finish.
  CaptureP set_now(const Session& s, const std::string& name,
                   std::optional<std::string> password = std::nullopt) {
    auto c = set(s, name, std::move(password));
    node->worker.run_all();
    return c;
  }
  std::optional<store::NameRecord> name_record(const std::string& key) {
    for (const auto& r : snapshot().names)
      if (r.key == key) return r;
    return std::nullopt;
  }
};

TEST_CASE("AuthManager: a free name is taken at once") {
  AuthFixture f;
  Session& a = f.session();
  f.node->rec.clear();
  auto c = f.set(a, "Ada");
  CHECK(c->code() == "ok");
  CHECK(f.node->worker.pending() == 0);
  CHECK(c->out.renamed == std::vector<PeerId>{a.peer_id});
  CHECK_FALSE(c->out.is_protected);
  CHECK(a.name == "Ada");
  auto changed = f.node->rec.of<event::NameChanged>();
  REQUIRE(changed.size() == 1);
  CHECK(changed[0].peer_id == a.peer_id);
  CHECK(changed[0].old_name == "");
  CHECK(changed[0].new_name == "Ada");
  auto rec = f.name_record("ada");
  REQUIRE(rec.has_value());
  CHECK(rec->name == "Ada");
  CHECK(rec->owner == a.peer_id);
  CHECK(rec->password_hash.empty());
  CHECK_FALSE(f.node->auth.is_protected("Ada"));
}

TEST_CASE("AuthManager: names are unique case-insensitively") {
  AuthFixture f;
  Session& a = f.session();
  Session& b = f.session();
  auto ca = f.set(a, "Ada");
  REQUIRE(ca->code() == "ok");
  f.node->rec.clear();
  for (const char* name : {"Ada", "ada", "ADA", "aDa"}) {
    auto cb = f.set(b, name);
    CHECK(cb->code() == "name_taken");
    CHECK(cb->out.renamed.empty());
  }
  CHECK(b.name.empty());
  CHECK(a.name == "Ada");
  CHECK(f.node->rec.of<event::NameChanged>().empty());
  CHECK(f.name_record("ada")->owner == a.peer_id);
}

TEST_CASE("AuthManager: re-casing and changing one's own name") {
  AuthFixture f;
  Session& a = f.session();
  Session& b = f.session();
  auto c1 = f.set(a, "Ada");
  f.node->rec.clear();
  auto c2 = f.set(a, "ADA");
  CHECK(c2->code() == "ok");
  CHECK(a.name == "ADA");
  CHECK(f.name_record("ada")->name == "ADA");
  auto changed = f.node->rec.of<event::NameChanged>();
  REQUIRE(changed.size() == 1);
  CHECK(changed[0].old_name == "Ada");
  CHECK(changed[0].new_name == "ADA");

  auto c3 = f.set(a, "ADA");  // the same spelling: no event
  CHECK(c3->code() == "ok");
  CHECK(f.node->rec.of<event::NameChanged>().size() == 1);

  auto c4 = f.set(a, "Bob");  // a new name releases the old one
  CHECK(c4->code() == "ok");
  CHECK(a.name == "Bob");
  CHECK_FALSE(f.name_record("ada").has_value());
  auto c5 = f.set(b, "ada");
  CHECK(c5->code() == "ok");
  CHECK(b.name == "ada");
}

TEST_CASE("AuthManager: claiming with a password hashes on the worker") {
  AuthFixture f;
  Session& a = f.session();
  auto c = f.set(a, "Ada", "secret");
  CHECK_FALSE(c->called);
  CHECK(f.node->worker.pending() == 1);
  CHECK(a.name.empty());
  CHECK_FALSE(f.name_record("ada").has_value());

  CHECK(f.node->worker.run_all() == 1);
  CHECK(c->code() == "ok");
  CHECK(c->out.is_protected);
  CHECK(c->out.renamed == std::vector<PeerId>{a.peer_id});
  CHECK(a.name == "Ada");
  CHECK(f.node->auth.is_protected("ada"));
  auto rec = f.name_record("ada");
  REQUIRE(rec.has_value());
  CHECK(rec->owner == a.peer_id);
  CHECK(rec->password_hash.rfind("$argon2id$", 0) == 0);
  CHECK(verify_password("secret", rec->password_hash));
}

TEST_CASE("AuthManager: a protected name needs its password") {
  AuthFixture f;
  Session& a = f.session();
  Session& b = f.session();
  REQUIRE(f.set_now(a, "Ada", "secret")->code() == "ok");
  f.node->rec.clear();

  auto none = f.set(b, "ada");
  CHECK(none->code() == "password_required");
  CHECK(f.node->worker.pending() == 0);

  auto wrong = f.set(b, "ada", "guess");
  CHECK_FALSE(wrong->called);
  CHECK(f.node->worker.pending() == 1);
  f.node->worker.run_all();
  CHECK(wrong->code() == "wrong_password");
  CHECK(a.name == "Ada");
  CHECK(b.name.empty());
  CHECK(f.node->rec.of<event::NameChanged>().empty());

  auto right = f.set(b, "ada", "secret");
  CHECK(f.node->worker.pending() == 1);
  f.node->worker.run_all();
  CHECK(right->code() == "ok");
  CHECK(right->out.is_protected);
  CHECK(sorted(right->out.renamed) == sorted({a.peer_id, b.peer_id}));
  CHECK(a.name == "");
  CHECK(b.name == "ada");
  auto changed = f.node->rec.of<event::NameChanged>();
  REQUIRE(changed.size() == 2);
  CHECK(changed[0].peer_id == a.peer_id);
  CHECK(changed[0].old_name == "Ada");
  CHECK(changed[0].new_name == "");
  CHECK(changed[1].peer_id == b.peer_id);
  CHECK(changed[1].old_name == "");
  CHECK(changed[1].new_name == "ada");
  auto rec = f.name_record("ada");
  REQUIRE(rec.has_value());
  CHECK(rec->owner == b.peer_id);
  CHECK(verify_password("secret", rec->password_hash));
  auto snap = f.snapshot();
  for (const auto& s : snap.sessions)
    CHECK(s.name == (s.peer_id == b.peer_id ? "ada" : ""));
}

TEST_CASE("AuthManager: the holder changes its password") {
  AuthFixture f;
  Session& a = f.session();
  Session& b = f.session();
  REQUIRE(f.set_now(a, "Ada", "one")->code() == "ok");
  auto c = f.set_now(a, "Ada", "two");
  CHECK(c->code() == "ok");
  CHECK(c->out.is_protected);
  CHECK(f.set_now(b, "Ada", "one")->code() == "wrong_password");
  CHECK(f.set_now(b, "Ada", "two")->code() == "ok");
  CHECK(b.name == "Ada");
}

TEST_CASE("AuthManager: wrong passwords are throttled per name") {
  AuthFixture f;  // 3 attempts, then 1000 ms, doubling
  Session& a = f.session();
  Session& b = f.session();
  Session& c = f.session();
  REQUIRE(f.set_now(a, "Ada", "secret")->code() == "ok");

  for (int i = 0; i < 3; ++i) CHECK(f.set_now(b, "Ada", "guess")->code() == "wrong_password");

  auto locked = f.set(b, "Ada", "secret");
  CHECK(locked->code() == "too_many_attempts");
  CHECK(locked->retry_after_ms() == 1000);
  CHECK(f.node->worker.pending() == 0);
  auto other = f.set(c, "ada", "secret");  // the name is locked, for everyone
  CHECK(other->code() == "too_many_attempts");

  f.clock.advance(400);
  auto later = f.set(b, "Ada", "secret");
  CHECK(later->code() == "too_many_attempts");
  CHECK(later->retry_after_ms() == 600);

  f.clock.advance(600);  // the lockout has passed
  CHECK(f.set_now(b, "Ada", "guess")->code() == "wrong_password");
  auto doubled = f.set(b, "Ada", "secret");
  CHECK(doubled->code() == "too_many_attempts");
  CHECK(doubled->retry_after_ms() == 2000);

  f.clock.advance(2000);
  CHECK(f.set_now(b, "Ada", "secret")->code() == "ok");
  CHECK(b.name == "Ada");
  CHECK(a.name == "");

  // Success resets the count: one more failure does not lock the name.
  CHECK(f.set_now(c, "Ada", "guess")->code() == "wrong_password");
  CHECK(f.set_now(c, "Ada", "guess")->code() == "wrong_password");
  CHECK(f.set_now(c, "Ada", "secret")->code() == "ok");
}

TEST_CASE("AuthManager: a lockout lasts its time whatever the wall clock does") {
  AuthFixture f;  // 3 attempts, then 1000 ms
  Session& a = f.session();
  Session& b = f.session();
  REQUIRE(f.set_now(a, "Ada", "secret")->code() == "ok");
  for (int i = 0; i < 3; ++i) CHECK(f.set_now(b, "Ada", "guess")->code() == "wrong_password");

  f.clock.step_wall(3'600'000);  // forward: the lockout is not over
  auto forward = f.set(b, "Ada", "secret");
  CHECK(forward->code() == "too_many_attempts");
  CHECK(forward->retry_after_ms() == 1000);

  f.clock.step_wall(-7'200'000);  // back: it does not last an hour longer
  f.clock.advance(1000);
  CHECK(f.set_now(b, "Ada", "secret")->code() == "ok");
}

TEST_CASE("AuthManager: one verification in flight per name, one name change per session") {
  AuthFixture f;
  Session& a = f.session();
  Session& b = f.session();
  Session& c = f.session();
  REQUIRE(f.set_now(a, "Ada", "secret")->code() == "ok");

  auto first = f.set(b, "Ada", "guess");
  CHECK(f.node->worker.pending() == 1);
  auto second = f.set(c, "Ada", "secret");
  CHECK(second->code() == "too_many_attempts");
  CHECK(second->retry_after_ms() == 1000);
  auto busy = f.set(b, "Bob");
  CHECK(busy->code() == "too_many_attempts");
  CHECK(b.name.empty());
  CHECK(f.node->worker.pending() == 1);

  f.node->worker.run_all();
  CHECK(first->code() == "wrong_password");
  CHECK(f.set_now(c, "Ada", "secret")->code() == "ok");
  CHECK(f.set_now(b, "Bob")->code() == "ok");
}

TEST_CASE("AuthManager: two sessions race for a free name with passwords") {
  AuthFixture f;
  Session& a = f.session();
  Session& b = f.session();
  auto ca = f.set(a, "Ada", "one");
  auto cb = f.set(b, "ada", "two");
  CHECK(f.node->worker.pending() == 2);
  f.node->worker.run_all();
  CHECK(ca->code() == "ok");
  CHECK(cb->code() == "name_taken");
  CHECK(a.name == "Ada");
  CHECK(b.name.empty());
  CHECK(verify_password("one", f.name_record("ada")->password_hash));
}

TEST_CASE("AuthManager: the session goes away while its password is hashed") {
  AuthFixture f;
  Session& a = f.session();
  const PeerId peer = a.peer_id;
  auto c = f.set(a, "Ada", "secret");
  f.node->sessions.remove(peer, "kicked");
  f.node->worker.run_all();
  CHECK(c->code() == "session_not_found");
  CHECK_FALSE(f.name_record("ada").has_value());

  auto gone = std::make_shared<Capture>();
  f.node->auth.set_name(peer, "Bob", std::nullopt, done(gone));
  CHECK(gone->code() == "session_not_found");
}

TEST_CASE("AuthManager: completions after the manager is gone do nothing") {
  AuthFixture f;
  Session& a = f.session();
  ManualWorker worker;
  auto auth = std::make_unique<AuthManager>(f.limits, f.clock, *f.store, worker,
                                            f.node->sessions, f.node->bus);
  auto c = std::make_shared<Capture>();
  auth->set_name(a.peer_id, "Ada", std::string("secret"), done(c));
  CHECK(worker.pending() == 1);
  auth.reset();
  CHECK(worker.run_all() == 1);
  CHECK_FALSE(c->called);
  CHECK(a.name.empty());
}

TEST_CASE("AuthManager::release") {
  AuthFixture f;
  Session& a = f.session();
  Session& b = f.session();
  Session& c = f.session();
  Session& d = f.session();
  auto ca = f.set(a, "Ada");
  REQUIRE(f.set_now(c, "Cy", "secret")->code() == "ok");

  f.node->auth.release(a.peer_id);  // unprotected: the name is free again
  CHECK_FALSE(f.name_record("ada").has_value());
  auto cb = f.set(b, "ADA");
  CHECK(cb->code() == "ok");

  f.node->auth.release(c.peer_id);  // protected: stays claimed by nobody
  auto rec = f.name_record("cy");
  REQUIRE(rec.has_value());
  CHECK(rec->owner.empty());
  CHECK_FALSE(rec->password_hash.empty());
  CHECK(f.node->auth.is_protected("cy"));
  auto cd = f.set(d, "Cy");
  CHECK(cd->code() == "password_required");
  f.node->rec.clear();
  auto taken = f.set_now(d, "cy", "secret");
  CHECK(taken->code() == "ok");
  CHECK(taken->out.renamed == std::vector<PeerId>{d.peer_id});
  CHECK(d.name == "cy");
  CHECK(f.node->rec.of<event::NameChanged>().size() == 1);
  CHECK(f.name_record("cy")->owner == d.peer_id);

  f.node->auth.release("nobody");  // no-op
  CHECK(f.snapshot().names.size() == 2);
}

TEST_CASE("AuthManager: giving up a protected name keeps it protected") {
  AuthFixture f;
  Session& a = f.session();
  Session& b = f.session();
  REQUIRE(f.set_now(a, "Ada", "secret")->code() == "ok");
  CHECK(f.set_now(a, "Alice")->code() == "ok");
  CHECK(f.name_record("ada")->owner.empty());
  CHECK(f.node->auth.is_protected("Ada"));
  CHECK(f.set_now(a, "Ada")->code() == "password_required");
  CHECK(f.set_now(b, "Ada")->code() == "password_required");
  CHECK(f.set_now(b, "Ada", "secret")->code() == "ok");
}

TEST_CASE("AuthManager::admin_rename") {
  AuthFixture f;
  Session& a = f.session();
  Session& b = f.session();
  Session& c = f.session();
  auto ca = f.set(a, "Ada");
  auto cb = f.set(b, "Bob");
  f.node->rec.clear();

  auto o = f.node->auth.admin_rename(a.peer_id, "Zed");
  CHECK(code_of(o.error) == "ok");
  CHECK(o.renamed == std::vector<PeerId>{a.peer_id});
  CHECK(a.name == "Zed");
  CHECK_FALSE(f.name_record("ada").has_value());
  CHECK(f.name_record("zed")->owner == a.peer_id);
  auto changed = f.node->rec.of<event::NameChanged>();
  REQUIRE(changed.size() == 1);
  CHECK(changed[0].old_name == "Ada");
  CHECK(changed[0].new_name == "Zed");

  CHECK(code_of(f.node->auth.admin_rename(b.peer_id, "zed").error) == "name_taken");
  CHECK(b.name == "Bob");
  CHECK(code_of(f.node->auth.admin_rename("nobody", "Xy").error) == "session_not_found");
  CHECK_FALSE(f.name_record("xy").has_value());
  CHECK(code_of(f.node->auth.admin_rename(a.peer_id, "ZED").error) == "ok");
  CHECK(a.name == "ZED");

  REQUIRE(f.set_now(c, "Cy", "secret")->code() == "ok");
  f.node->auth.release(c.peer_id);
  CHECK(code_of(f.node->auth.admin_rename(b.peer_id, "cy").error) == "name_taken");
}

TEST_CASE("AuthManager::admin_set_password") {
  AuthFixture f;
  Session& a = f.session();
  Session& b = f.session();
  Session& c = f.session();
  Session& d = f.session();

  auto unknown = std::make_shared<Capture>();
  f.node->auth.admin_set_password("Nobody", std::string("pw"), done(unknown));
  CHECK(unknown->code() == "name_not_found");
  CHECK(f.node->worker.pending() == 0);

  auto ca = f.set(a, "Ada");
  auto set = std::make_shared<Capture>();
  f.node->auth.admin_set_password("ADA", std::string("pw"), done(set));
  CHECK_FALSE(set->called);
  CHECK(f.node->worker.pending() == 1);
  CHECK_FALSE(f.node->auth.is_protected("Ada"));
  f.node->worker.run_all();
  CHECK(set->code() == "ok");
  CHECK(set->out.is_protected);
  CHECK(f.node->auth.is_protected("Ada"));
  CHECK(f.name_record("ada")->owner == a.peer_id);
  CHECK(verify_password("pw", f.name_record("ada")->password_hash));
  CHECK(f.set_now(b, "Ada")->code() == "password_required");

  auto cleared = std::make_shared<Capture>();
  f.node->auth.admin_set_password("ada", std::nullopt, done(cleared));
  CHECK(cleared->code() == "ok");
  CHECK_FALSE(cleared->out.is_protected);
  CHECK_FALSE(f.node->auth.is_protected("Ada"));
  CHECK(f.name_record("ada")->password_hash.empty());
  CHECK(f.set_now(b, "Ada")->code() == "name_taken");

  REQUIRE(f.set_now(c, "Cy", "secret")->code() == "ok");
  f.node->auth.release(c.peer_id);
  auto freed = std::make_shared<Capture>();
  f.node->auth.admin_set_password("cy", std::nullopt, done(freed));
  CHECK(freed->code() == "ok");
  CHECK_FALSE(f.name_record("cy").has_value());
  CHECK(f.set_now(d, "Cy")->code() == "ok");
}

TEST_CASE("AuthManager: admin clearing a password resets its throttle") {
  AuthFixture f;
  Session& a = f.session();
  Session& b = f.session();
  REQUIRE(f.set_now(a, "Ada", "secret")->code() == "ok");
  for (int i = 0; i < 3; ++i) CHECK(f.set_now(b, "Ada", "guess")->code() == "wrong_password");
  CHECK(f.set_now(b, "Ada", "secret")->code() == "too_many_attempts");
  auto set = std::make_shared<Capture>();
  f.node->auth.admin_set_password("Ada", std::string("new"), done(set));
  f.node->worker.run_all();
  CHECK(set->code() == "ok");
  CHECK(f.set_now(b, "Ada", "new")->code() == "ok");
}

TEST_CASE("AuthManager after a restart keeps names and passwords") {
  AuthFixture f;
  auto a = f.node->sessions.create(false);
  auto b = f.node->sessions.create(false);
  REQUIRE(f.set_now(*a.session, "Ada", "secret")->code() == "ok");
  REQUIRE(f.set_now(*b.session, "Bob")->code() == "ok");

  Node& n = f.restart();
  Session* ra = n.sessions.resume(a.token);
  Session* rb = n.sessions.resume(b.token);
  REQUIRE(ra != nullptr);
  REQUIRE(rb != nullptr);
  CHECK(n.auth.is_protected("Ada"));
  CHECK_FALSE(n.auth.is_protected("Bob"));
  CHECK(f.set_now(*rb, "ada")->code() == "password_required");
  CHECK(f.set_now(*ra, "bob")->code() == "name_taken");
  CHECK(f.set_now(*ra, "ADA")->code() == "ok");  // still its own
  CHECK(ra->name == "ADA");
  CHECK(f.set_now(*rb, "ada", "secret")->code() == "ok");
  CHECK(rb->name == "ada");
  CHECK(ra->name == "");
}

// LobbyManager --------------------------------------------------------------------------

Lobby& create(Node& n, const std::string& name, bool is_private = false,
              bool persistent = false, std::uint32_t max = 0) {
  auto r = n.lobbies.create({name, is_private, persistent, max, "", ""});
  REQUIRE(std::holds_alternative<Lobby*>(r));
  return *std::get<Lobby*>(r);
}

std::string create_error(Node& n, const std::string& name, const PeerId& creator = "",
                         const std::string& address = "") {
  auto r = n.lobbies.create({name, false, false, 0, creator, address});
  if (auto* e = std::get_if<protocol::Error>(&r)) return std::string(protocol::to_string(e->code));
  return "ok";
}

Participant member(const std::string& peer, const std::string& name, bool media = false) {
  Participant p;
  p.peer_id = peer;
  p.name = name;
  p.has_media = media;
  return p;
}

TEST_CASE("LobbyManager::create") {
  Fixture f;
  Node& n = *f.node;
  Lobby& l = create(n, "Standup");
  CHECK(is_hex(l.info.id, 16));
  CHECK(l.info.name == "Standup");
  CHECK_FALSE(l.info.is_private);
  CHECK_FALSE(l.info.persistent);
  CHECK(l.info.max_participants == f.limits.max_participants);
  CHECK(l.info.participant_count == 0);
  CHECK(l.info.created_ms == f.clock.now_ms());
  CHECK(l.last_offset == 0);
  CHECK(n.lobbies.find(l.info.id) == &l);
  CHECK(n.lobbies.find("nope") == nullptr);
  CHECK(n.lobbies.count() == 1);

  auto created = n.rec.of<event::LobbyCreated>();
  REQUIRE(created.size() == 1);
  CHECK(created[0].lobby.id == l.info.id);
  CHECK(created[0].lobby.name == "Standup");

  auto snap = f.snapshot();
  REQUIRE(snap.lobbies.size() == 1);
  CHECK(snap.lobbies[0].id == l.info.id);
  CHECK(snap.lobbies[0].name == "Standup");

  CHECK(create_error(n, "STANDUP") == "lobby_exists");
  CHECK(create_error(n, "standup") == "lobby_exists");
  CHECK(n.lobbies.count() == 1);
  CHECK(n.rec.of<event::LobbyCreated>().size() == 1);

  CHECK(create(n, "Big", false, false, 1000).info.max_participants ==
        f.limits.max_participants);
  CHECK(create(n, "Small", true, true, 2).info.max_participants == 2);
  Lobby& other = create(n, "Other");
  CHECK(other.info.id != l.info.id);
}

TEST_CASE("LobbyManager: a private lobby's name is taken too") {
  Fixture f;
  Node& n = *f.node;
  create(n, "Secret", true);
  CHECK(create_error(n, "secret") == "lobby_exists");
}

TEST_CASE("LobbyManager: too_many_lobbies") {
  Fixture f;
  f.limits.max_lobbies = 2;
  Node& n = *f.node;
  create(n, "One");
  Lobby& two = create(n, "Two");
  CHECK(create_error(n, "Three") == "too_many_lobbies");
  n.lobbies.remove(LobbyId(two.info.id), "removed");
  CHECK(create_error(n, "Three") == "ok");
}

TEST_CASE("LobbyManager: lobby quotas per creating session and per address") {
  Fixture f;
  f.limits.max_lobbies_per_session = 2;
  f.limits.max_lobbies_per_address = 3;
  Node& n = *f.node;
  CHECK(create_error(n, "A1", "p1", "198.51.100.1") == "ok");
  CHECK(create_error(n, "A2", "p1", "198.51.100.1") == "ok");
  CHECK(create_error(n, "A3", "p1", "198.51.100.1") == "lobby_quota");
  CHECK(create_error(n, "A1", "p1", "198.51.100.1") == "lobby_exists");  // the name first
  CHECK(n.lobbies.created_by("p1") == 2);
  // Another session of the same address, then the address is full (HTTP has no session).
  CHECK(create_error(n, "B1", "p2", "198.51.100.1") == "ok");
  CHECK(create_error(n, "B2", "p2", "198.51.100.1") == "lobby_quota");
  CHECK(create_error(n, "H1", "", "198.51.100.1") == "lobby_quota");
  CHECK(n.lobbies.created_from("198.51.100.1") == 3);
  // Other addresses, and exempt creators, are not held back.
  CHECK(create_error(n, "C1", "p3", "198.51.100.2") == "ok");
  CHECK(create_error(n, "D1", "p4", "") == "ok");
  CHECK(create_error(n, "D2", "", "") == "ok");
  // The sentence says which quota.
  auto r = n.lobbies.create({"A3", false, false, 0, "p1", "198.51.100.9"});
  REQUIRE(std::holds_alternative<protocol::Error>(r));
  CHECK(std::get<protocol::Error>(r).message.find("session") != std::string::npos);
  r = n.lobbies.create({"B9", false, false, 0, "p9", "198.51.100.1"});
  CHECK(std::get<protocol::Error>(r).message.find("address") != std::string::npos);

  // A lobby that goes (removed, or expired empty) gives its place back.
  n.lobbies.remove(n.lobbies.find_public_by_name("A1")->info.id, "removed");
  CHECK(n.lobbies.created_by("p1") == 1);
  CHECK(create_error(n, "A3", "p1", "198.51.100.1") == "ok");
  f.clock.advance(f.limits.lobby_expiry_ms);
  n.lobbies.tick();
  CHECK(n.lobbies.count() == 0);
  CHECK(n.lobbies.created_by("p1") == 0);
  CHECK(n.lobbies.created_from("198.51.100.1") == 0);
}

TEST_CASE("LobbyManager: after a restart lobbies count toward no quota") {
  Fixture f;
  f.limits.max_lobbies_per_session = 1;
  CHECK(create_error(*f.node, "Kept", "p1", "198.51.100.1") == "ok");
  Node& n = f.restart();
  CHECK(n.lobbies.count() == 1);
  CHECK(n.lobbies.created_by("p1") == 0);
  CHECK(create_error(n, "New", "p1", "198.51.100.1") == "ok");
  CHECK(create_error(n, "Newer", "p1", "198.51.100.1") == "lobby_quota");
}

TEST_CASE("LobbyManager lists lobbies created in the same millisecond in creation order") {
  Fixture f;
  Node& n = *f.node;
  std::vector<LobbyId> created;
  for (int i = 0; i < 20; ++i) created.push_back(create(n, "Lobby " + std::to_string(i)).info.id);
  std::vector<LobbyId> listed;
  for (const auto& l : n.lobbies.list(false)) listed.push_back(l.id);
  CHECK(listed == created);
}

TEST_CASE("LobbyManager list and find_public_by_name") {
  Fixture f;
  Node& n = *f.node;
  Lobby& a = create(n, "Alpha");
  f.clock.advance(1);
  Lobby& b = create(n, "Bravo", true);
  f.clock.advance(1);
  Lobby& c = create(n, "Charlie");
  REQUIRE(!n.lobbies.join(c, member("p1", "Ada")));

  auto pub = n.lobbies.list(false);
  REQUIRE(pub.size() == 2);
  CHECK(pub[0].id == a.info.id);
  CHECK(pub[1].id == c.info.id);
  CHECK(pub[1].participant_count == 1);
  auto all = n.lobbies.list(true);
  REQUIRE(all.size() == 3);
  CHECK(all[0].id == a.info.id);
  CHECK(all[1].id == b.info.id);
  CHECK(all[2].id == c.info.id);

  CHECK(n.lobbies.find_public_by_name("alpha") == &a);
  CHECK(n.lobbies.find_public_by_name("CHARLIE") == &c);
  CHECK(n.lobbies.find_public_by_name("Bravo") == nullptr);
  CHECK(n.lobbies.find_public_by_name("Delta") == nullptr);
}

TEST_CASE("LobbyManager join and lobby_full") {
  Fixture f;
  Node& n = *f.node;
  Lobby& l = create(n, "Pair", false, false, 2);
  n.rec.clear();
  CHECK(code_of(n.lobbies.join(l, member("p1", "Ada", true))) == "ok");
  CHECK(code_of(n.lobbies.join(l, member("p2", "Bob"))) == "ok");
  CHECK(code_of(n.lobbies.join(l, member("p3", "Cy"))) == "lobby_full");
  CHECK(l.members.size() == 2);
  CHECK(l.info.participant_count == 2);
  CHECK(l.member("p1") != nullptr);
  CHECK(l.member("p3") == nullptr);
  CHECK(n.lobbies.participant_count() == 2);
  auto joined = n.rec.of<event::ParticipantJoined>();
  REQUIRE(joined.size() == 2);
  CHECK(joined[0].lobby_id == l.info.id);
  CHECK(joined[0].participant.peer_id == "p1");
  CHECK(joined[0].participant.name == "Ada");
  CHECK(joined[0].participant.has_media);
  CHECK(joined[1].participant.peer_id == "p2");
}

TEST_CASE("LobbyManager leave") {
  Fixture f;
  Node& n = *f.node;
  Lobby& l = create(n, "Room");
  n.lobbies.join(l, member("p1", "Ada", true));
  n.lobbies.join(l, member("p2", "Bob"));
  n.rec.clear();

  n.lobbies.leave(l.info.id, l.members.front().p.peer_id, "left");  // id lives in the member
  CHECK(l.members.size() == 1);
  CHECK(l.info.participant_count == 1);
  CHECK(l.member("p1") == nullptr);
  n.lobbies.leave(l.info.id, "p1", "left");     // not a member: nothing
  n.lobbies.leave("no-such-lobby", "p2", "left");
  n.lobbies.leave(l.info.id, "p2", "kicked");
  CHECK(l.members.empty());
  auto left = n.rec.of<event::ParticipantLeft>();
  REQUIRE(left.size() == 2);
  CHECK(left[0].lobby_id == l.info.id);
  CHECK(left[0].peer_id == "p1");
  CHECK(left[0].reason == "left");
  CHECK(left[0].had_media);
  CHECK(left[1].peer_id == "p2");
  CHECK(left[1].reason == "kicked");
  CHECK_FALSE(left[1].had_media);
}

TEST_CASE("LobbyManager: an empty lobby expires unless persistent") {
  Fixture f;
  f.limits.lobby_expiry_ms = 5000;
  Node& n = *f.node;
  const LobbyId temp = create(n, "Temp").info.id;
  const LobbyId perm = create(n, "Perm", false, true).info.id;
  const LobbyId used = create(n, "Used").info.id;
  n.rec.clear();

  f.clock.advance(4000);
  n.lobbies.join(*n.lobbies.find(used), member("p1", "Ada"));
  f.clock.advance(999);
  n.lobbies.tick();
  CHECK(n.lobbies.count() == 3);
  f.clock.advance(1);
  n.lobbies.tick();
  CHECK(n.lobbies.find(temp) == nullptr);
  CHECK(n.lobbies.find(perm) != nullptr);
  CHECK(n.lobbies.find(used) != nullptr);
  auto removed = n.rec.of<event::LobbyRemoved>();
  REQUIRE(removed.size() == 1);
  CHECK(removed[0].lobby_id == temp);
  CHECK(removed[0].reason == "expired");
  for (const auto& r : f.snapshot().lobbies) CHECK(r.id != temp);
  CHECK(create_error(n, "temp") == "ok");  // the name is free again

  n.lobbies.leave(used, "p1", "left");  // empty from now on
  f.clock.advance(4999);
  n.lobbies.tick();
  CHECK(n.lobbies.find(used) != nullptr);
  f.clock.advance(1);
  n.lobbies.tick();
  CHECK(n.lobbies.find(used) == nullptr);

  f.clock.advance(1'000'000);
  n.lobbies.tick();
  CHECK(n.lobbies.find(perm) != nullptr);
}

TEST_CASE("LobbyManager: a disconnected member leaves when its grace ends") {
  Fixture f;
  f.limits.resume_grace_ms = 1000;
  Node& n = *f.node;
  Lobby& l = create(n, "Room");
  n.lobbies.join(l, member("p1", "Ada", true));
  n.lobbies.join(l, member("p2", "Bob"));
  n.rec.clear();

  n.lobbies.set_connected(l.info.id, "p1", false);
  CHECK_FALSE(l.member("p1")->p.connected);
  auto updated = n.rec.of<event::ParticipantUpdated>();
  REQUIRE(updated.size() == 1);
  CHECK(updated[0].participant.peer_id == "p1");
  CHECK_FALSE(updated[0].participant.connected);
  CHECK(updated[0].participant.has_media);

  f.clock.advance(999);
  n.lobbies.tick();
  CHECK(l.member("p1") != nullptr);
  CHECK(n.rec.of<event::ParticipantLeft>().empty());
  f.clock.advance(1);
  n.lobbies.tick();
  CHECK(l.member("p1") == nullptr);
  auto left = n.rec.of<event::ParticipantLeft>();
  REQUIRE(left.size() == 1);
  CHECK(left[0].peer_id == "p1");
  CHECK(left[0].reason == "grace_expired");
  CHECK(left[0].had_media);

  n.lobbies.set_connected(l.info.id, "p2", false);
  f.clock.advance(500);
  n.lobbies.set_connected(l.info.id, "p2", true);
  CHECK(l.member("p2")->p.connected);
  CHECK(n.rec.of<event::ParticipantUpdated>().size() == 3);
  f.clock.advance(5000);
  n.lobbies.tick();
  CHECK(l.member("p2") != nullptr);
  CHECK(n.rec.of<event::ParticipantLeft>().size() == 1);
}

TEST_CASE("LobbyManager::update publishes only changes") {
  Fixture f;
  Node& n = *f.node;
  Lobby& l = create(n, "Room");
  n.lobbies.join(l, member("p1", "Ada"));
  n.rec.clear();
  Participant p = l.member("p1")->p;
  n.lobbies.update(l.info.id, p);
  CHECK(n.rec.of<event::ParticipantUpdated>().empty());
  p.audio_muted = true;
  p.name = "Ada L";
  n.lobbies.update(l.info.id, p);
  CHECK(l.member("p1")->p.audio_muted);
  CHECK(l.member("p1")->p.name == "Ada L");
  auto updated = n.rec.of<event::ParticipantUpdated>();
  REQUIRE(updated.size() == 1);
  CHECK(updated[0].participant.audio_muted);
  n.lobbies.update(l.info.id, member("p9", "Nobody"));
  n.lobbies.update("no-such-lobby", p);
  CHECK(n.rec.of<event::ParticipantUpdated>().size() == 1);
}

TEST_CASE("LobbyManager::remove") {
  Fixture f;
  Node& n = *f.node;
  Lobby& l = create(n, "Room", false, true);
  const LobbyId id = l.info.id;
  n.lobbies.join(l, member("p1", "Ada"));
  n.lobbies.join(l, member("p2", "Bob"));
  n.lobbies.post_chat(l, "p1", "Ada", "hi");
  n.rec.clear();

  n.lobbies.remove(l.info.id, "removed");  // the id lives in the removed lobby
  CHECK(n.lobbies.find(id) == nullptr);
  CHECK(n.lobbies.count() == 0);
  CHECK(n.rec.names() == std::vector<std::string>{"participant_left", "participant_left",
                                                  "lobby_removed"});
  auto left = n.rec.of<event::ParticipantLeft>();
  REQUIRE(left.size() == 2);
  CHECK(left[0].reason == "lobby_removed");
  CHECK(left[0].lobby_id == id);
  auto removed = n.rec.of<event::LobbyRemoved>();
  REQUIRE(removed.size() == 1);
  CHECK(removed[0].lobby_id == id);
  CHECK(removed[0].reason == "removed");
  auto snap = f.snapshot();
  CHECK(snap.lobbies.empty());
  CHECK(snap.chat.empty());
  CHECK(create_error(n, "room") == "ok");
  n.lobbies.remove("no-such-lobby", "removed");
  CHECK(n.rec.of<event::LobbyRemoved>().size() == 1);
}

TEST_CASE("LobbyManager chat offsets and retention") {
  Fixture f;
  f.limits.chat_history = 3;
  Node& n = *f.node;
  Lobby& l = create(n, "Room");
  n.lobbies.join(l, member("p1", "Ada"));
  n.rec.clear();

  const ChatMessage& m1 = n.lobbies.post_chat(l, "p1", "Ada", "one");
  CHECK(m1.offset == 1);
  CHECK(m1.lobby_id == l.info.id);
  CHECK(m1.sender == "p1");
  CHECK(m1.sender_name == "Ada");
  CHECK(m1.text == "one");
  CHECK(m1.time_ms == f.clock.now_ms());
  f.clock.advance(10);
  CHECK(n.lobbies.post_chat(l, "p1", "Ada", "two").offset == 2);
  CHECK(n.lobbies.post_chat(l, "p1", "Ada", "three").offset == 3);
  CHECK(n.lobbies.post_chat(l, "p1", "Ada", "four").offset == 4);
  const ChatMessage& m5 = n.lobbies.post_chat(l, "p1", "Ada", "five");
  CHECK(m5.offset == 5);
  CHECK(m5.time_ms == f.clock.now_ms());
  CHECK(l.last_offset == 5);
  CHECK(offsets(l.history) == Offsets{3, 4, 5});
  CHECK(l.history.front().text == "three");

  auto posted = n.rec.of<event::ChatPosted>();
  REQUIRE(posted.size() == 5);
  for (std::size_t i = 0; i < posted.size(); ++i) CHECK(posted[i].message.offset == i + 1);
  CHECK(posted[4].message.text == "five");
  CHECK(posted[4].message.lobby_id == l.info.id);

  auto snap = f.snapshot();
  REQUIRE(snap.chat.size() == 3);
  CHECK(snap.chat[0].offset == 3);
  CHECK(snap.chat[2].offset == 5);
  CHECK(snap.chat[2].text == "five");
}

TEST_CASE("LobbyManager with no chat history kept") {
  Fixture f;
  f.limits.chat_history = 0;
  Lobby& l = create(*f.node, "Room");
  const LobbyId id = l.info.id;
  const std::string text(100, 'x');  // not inline in the string object
  for (std::uint64_t i = 1; i <= 3; ++i) {
    const ChatMessage& m = f.node->lobbies.post_chat(l, "p1", "Ada", text);
    CHECK(m.offset == i);
    CHECK(m.text == text);
  }
  CHECK(l.history.empty());
  auto posted = f.node->rec.of<event::ChatPosted>();
  REQUIRE(posted.size() == 3);
  CHECK(posted[2].message.offset == 3);
  CHECK(posted[2].message.text == text);
  auto page = f.node->lobbies.history(l, 0, 10);
  CHECK(page.messages.empty());
  CHECK_FALSE(page.complete);
  CHECK(f.snapshot().chat.empty());

  Node& n = f.restart();  // offsets go on from where they were
  Lobby* r = n.lobbies.find(id);
  REQUIRE(r != nullptr);
  CHECK(r->last_offset == 3);
  CHECK(n.lobbies.post_chat(*r, "p1", "Ada", "next").offset == 4);
}

TEST_CASE("LobbyManager::history and recent keep to a byte budget") {
  Fixture f;
  Node& n = *f.node;
  Lobby& l = create(n, "Room");
  const std::string kb(1000, 'x');
  for (int i = 0; i < 6; ++i) n.lobbies.post_chat(l, "p1", "Ada", kb);
  const std::size_t one = protocol::json_size(l.history.front());
  CHECK(one >= 1000 + 2 + 2);  // the text, the sender's id and name at least

  auto page = n.lobbies.history(l, 0, 100, 2 * one);
  CHECK(offsets(page.messages) == Offsets{1, 2});
  CHECK(page.has_more);
  CHECK(page.complete);
  auto tiny = n.lobbies.history(l, 4, 100, 1);  // one message even over the budget
  CHECK(offsets(tiny.messages) == Offsets{5});
  CHECK(tiny.has_more);

  auto newest = n.lobbies.recent(l, 100, 3 * one);
  CHECK(offsets(newest.messages) == Offsets{4, 5, 6});
  CHECK_FALSE(newest.complete);  // 1..3 left out for size
  auto by_count = n.lobbies.recent(l, 2, SIZE_MAX);
  CHECK(offsets(by_count.messages) == Offsets{5, 6});
  auto whole = n.lobbies.recent(l, 100, SIZE_MAX);
  CHECK(offsets(whole.messages) == Offsets{1, 2, 3, 4, 5, 6});
  CHECK(whole.complete);

  // Escapes count: a text of quotes costs twice its length, control characters six times.
  ChatMessage quotes{"L", 1, "p", "A", std::string(100, '"'), 0};
  ChatMessage plain{"L", 1, "p", "A", std::string(100, 'a'), 0};
  ChatMessage controls{"L", 1, "p", "A", std::string(100, '\x01'), 0};
  CHECK(protocol::json_size(quotes) == protocol::json_size(plain) + 100);
  CHECK(protocol::json_size(controls) == protocol::json_size(plain) + 500);
  protocol::JsonBuilder b;
  protocol::write(b, controls);
  CHECK(b.view().size() <= protocol::json_size(controls));
}

TEST_CASE("LobbyManager::history pages") {
  Fixture f;
  f.limits.chat_history = 3;
  Node& n = *f.node;
  Lobby& l = create(n, "Room");

  auto empty = n.lobbies.history(l, 0, 10);
  CHECK(empty.messages.empty());
  CHECK(empty.complete);
  CHECK_FALSE(empty.has_more);

  for (int i = 1; i <= 5; ++i) n.lobbies.post_chat(l, "p1", "Ada", "m" + std::to_string(i));

  auto all = n.lobbies.history(l, 0, 10);
  CHECK(offsets(all.messages) == Offsets{3, 4, 5});
  CHECK_FALSE(all.complete);  // 1 and 2 are gone
  CHECK_FALSE(all.has_more);
  CHECK_FALSE(n.lobbies.history(l, 1, 10).complete);

  auto from2 = n.lobbies.history(l, 2, 10);
  CHECK(offsets(from2.messages) == Offsets{3, 4, 5});
  CHECK(from2.complete);
  CHECK_FALSE(from2.has_more);

  auto page1 = n.lobbies.history(l, 2, 2);
  CHECK(offsets(page1.messages) == Offsets{3, 4});
  CHECK(page1.complete);
  CHECK(page1.has_more);
  auto page2 = n.lobbies.history(l, 4, 2);
  CHECK(offsets(page2.messages) == Offsets{5});
  CHECK(page2.complete);
  CHECK_FALSE(page2.has_more);

  auto exact = n.lobbies.history(l, 3, 2);  // exactly `limit` left: nothing more
  CHECK(offsets(exact.messages) == Offsets{4, 5});
  CHECK_FALSE(exact.has_more);

  auto cut = n.lobbies.history(l, 0, 1);
  CHECK(offsets(cut.messages) == Offsets{3});
  CHECK_FALSE(cut.complete);
  CHECK(cut.has_more);

  for (std::uint64_t after : {5u, 6u, 1000u}) {
    auto none = n.lobbies.history(l, after, 10);
    CHECK(none.messages.empty());
    CHECK(none.complete);
    CHECK_FALSE(none.has_more);
  }
  CHECK(n.lobbies.history(l, 0, 10).messages.front()->text == "m3");
}

TEST_CASE("LobbyManager after a restart restores lobbies, chat and members") {
  Fixture f;
  f.limits.chat_history = 3;
  f.limits.resume_grace_ms = 1000;
  f.limits.lobby_expiry_ms = 60'000;
  auto a = f.node->sessions.create(false);
  auto b = f.node->sessions.create(false);
  auto c = f.node->sessions.create(false);
  REQUIRE(f.node->auth.admin_rename(a.session->peer_id, "Ada").renamed.size() == 1);
  Lobby& room = create(*f.node, "Standup");
  f.clock.advance(1);
  Lobby& vault = create(*f.node, "Vault", true, true, 5);
  const LobbyId room_id = room.info.id, vault_id = vault.info.id;
  const TimeMs room_created = room.info.created_ms;
  f.node->lobbies.join(room, member(a.session->peer_id, "Ada", true));
  f.node->sessions.set_lobby(*a.session, room_id);
  f.node->lobbies.join(vault, member(b.session->peer_id, ""));
  f.node->sessions.set_lobby(*b.session, vault_id);
  for (int i = 1; i <= 5; ++i)
    f.node->lobbies.post_chat(room, a.session->peer_id, "Ada", "m" + std::to_string(i));
  f.node->lobbies.post_chat(vault, b.session->peer_id, "", "secret");
  const PeerId pa = a.session->peer_id, pb = b.session->peer_id, pc = c.session->peer_id;

  f.clock.advance(10'000);
  Node& n = f.restart();
  CHECK(n.lobbies.count() == 2);

  Lobby* r = n.lobbies.find(room_id);
  REQUIRE(r != nullptr);
  CHECK(r->info.name == "Standup");
  CHECK_FALSE(r->info.is_private);
  CHECK_FALSE(r->info.persistent);
  CHECK(r->info.max_participants == f.limits.max_participants);
  CHECK(r->info.created_ms == room_created);
  CHECK(r->last_offset == 5);
  CHECK(offsets(r->history) == Offsets{3, 4, 5});
  CHECK(r->history.back().text == "m5");
  CHECK(r->history.back().sender == pa);
  CHECK_FALSE(n.lobbies.history(*r, 0, 10).complete);
  CHECK(n.lobbies.history(*r, 2, 10).complete);

  REQUIRE(r->members.size() == 1);
  CHECK(r->info.participant_count == 1);
  const Participant& pm = r->members[0].p;
  CHECK(pm.peer_id == pa);
  CHECK(pm.name == "Ada");
  CHECK_FALSE(pm.connected);
  CHECK_FALSE(pm.has_media);  // media comes back when the client asks for it

  Lobby* v = n.lobbies.find(vault_id);
  REQUIRE(v != nullptr);
  CHECK(v->info.is_private);
  CHECK(v->info.persistent);
  CHECK(v->info.max_participants == 5);
  CHECK(v->last_offset == 1);
  REQUIRE(v->members.size() == 1);
  CHECK(v->members[0].p.peer_id == pb);
  CHECK(n.lobbies.participant_count() == 2);
  CHECK(n.lobbies.list(false).size() == 1);

  CHECK(n.lobbies.find_public_by_name("standup") == r);
  CHECK(n.lobbies.find_public_by_name("vault") == nullptr);
  CHECK(create_error(n, "STANDUP") == "lobby_exists");
  CHECK(create_error(n, "vault") == "lobby_exists");

  // The next message continues the offsets.
  CHECK(n.lobbies.post_chat(*r, pa, "Ada", "m6").offset == 6);

  // The session resumes and reconnects within the restart's fresh grace.
  Session* sa = n.sessions.resume(a.token);
  REQUIRE(sa != nullptr);
  CHECK(sa->lobby_id == room_id);
  n.lobbies.set_connected(room_id, pa, true);
  f.clock.advance(1000);
  n.lobbies.tick();
  CHECK(r->member(pa) != nullptr);
  auto left = n.rec.of<event::ParticipantLeft>();
  REQUIRE(left.size() == 1);  // b never came back
  CHECK(left[0].peer_id == pb);
  CHECK(left[0].reason == "grace_expired");
  CHECK(n.sessions.find(pc) != nullptr);

  Node& again = f.restart();
  Lobby* r2 = again.lobbies.find(room_id);
  REQUIRE(r2 != nullptr);
  CHECK(r2->last_offset == 6);
  CHECK(offsets(r2->history) == Offsets{4, 5, 6});
  CHECK(again.lobbies.post_chat(*r2, pa, "Ada", "m7").offset == 7);
}

TEST_CASE("LobbyManager after a restart lists members in join order, not peer-id order") {
  Fixture f;
  f.limits.resume_grace_ms = 60'000;
  std::vector<SessionManager::Created> created;
  for (int i = 0; i < 4; ++i) created.push_back(f.node->sessions.create(false));
  // Join in descending peer-id order, so that neither peer-id order nor creation order is
  // the join order.
  std::vector<Session*> by_peer;
  for (auto& c : created) by_peer.push_back(c.session);
  std::sort(by_peer.begin(), by_peer.end(),
            [](const Session* a, const Session* b) { return a->peer_id > b->peer_id; });
  Lobby& room = create(*f.node, "Standup");
  const LobbyId room_id = room.info.id;
  std::vector<PeerId> joined;
  for (Session* s : by_peer) {
    f.node->lobbies.join(room, member(s->peer_id, ""));
    f.node->sessions.set_lobby(*s, room_id);
    joined.push_back(s->peer_id);
  }
  auto peers = [](const Lobby& l) {
    std::vector<PeerId> out;
    for (const auto& m : l.members) out.push_back(m.p.peer_id);
    return out;
  };
  REQUIRE(peers(room) == joined);

  Node& n = f.restart();
  Lobby* r = n.lobbies.find(room_id);
  REQUIRE(r != nullptr);
  CHECK(peers(*r) == joined);

  // One leaves and joins again after the restart: it goes last, after every restored member
  // (the sequence continues from the largest stored one), and stays last after another restart.
  Session* first = n.sessions.find(joined[0]);
  REQUIRE(first != nullptr);
  n.lobbies.leave(room_id, joined[0], "left");
  n.sessions.set_lobby(*first, "");
  n.lobbies.join(*r, member(joined[0], ""));
  n.sessions.set_lobby(*first, room_id);
  const std::vector<PeerId> rejoined{joined[1], joined[2], joined[3], joined[0]};
  CHECK(peers(*r) == rejoined);

  Node& again = f.restart();
  Lobby* r2 = again.lobbies.find(room_id);
  REQUIRE(r2 != nullptr);
  CHECK(peers(*r2) == rejoined);
}

TEST_CASE("LobbyManager: a restored lobby that stays empty expires, a used one does not") {
  Fixture f;
  f.limits.lobby_expiry_ms = 5000;
  const LobbyId id = create(*f.node, "Room").info.id;
  f.clock.advance(4000);
  Node& n = f.restart();  // the expiry starts anew at load
  f.clock.advance(4999);
  n.lobbies.tick();
  CHECK(n.lobbies.find(id) != nullptr);
  f.clock.advance(1);
  n.lobbies.tick();
  CHECK(n.lobbies.find(id) == nullptr);
}

}  // namespace
}  // namespace lobbykit::core
