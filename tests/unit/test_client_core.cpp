// Tests for ClientCore: the client's protocol state machine against an in-memory link and a
// manual clock. The test plays the server: it reads the frames the core sends and answers
// with frames of its own. No sockets, no threads, no sleeps.
#include "client/client_core.hpp"
#include "client/ws_url.hpp"
#include "support/fake_link.hpp"

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lobbykit::client {
namespace {

using Sent = testing::SentFrame;
using testing::FakeLink;

std::string participant(const std::string& peer, const std::string& name, bool media = false) {
  return R"({"peer_id":")" + peer + R"(","name":")" + name + R"(","has_media":)" +
         (media ? "true" : "false") +
         R"(,"audio_muted":false,"video_muted":false,"is_bot":false,"connected":true})";
}

std::string message(std::uint64_t offset, const std::string& text = "") {
  return R"({"offset":)" + std::to_string(offset) +
         R"(,"sender":"p2","sender_name":"Bo","text":")" +
         (text.empty() ? "m" + std::to_string(offset) : text) + R"(","time_ms":1})";
}

std::string messages(std::uint64_t from, std::uint64_t to) {
  std::string out = "[";
  for (std::uint64_t o = from; o <= to; ++o) {
    if (o != from) out += ",";
    out += message(o);
  }
  return out + "]";
}

// {"lobby": ..., "participants": [...], "history": [...], ...}
std::string snapshot(const std::string& lobby, const std::string& participants,
                     const std::string& history, std::uint64_t last_offset,
                     bool complete = true) {
  return R"({"lobby":{"id":")" + lobby + R"(","name":"Room","private":false,"persistent":false,)"
         R"("max_participants":64,"participants":1,"created_ms":5},"participants":)" +
         participants + R"(,"history":)" + history + R"(,"history_complete":)" +
         (complete ? "true" : "false") + R"(,"last_offset":)" + std::to_string(last_offset) + "}";
}

struct Harness {
  FakeLink link;
  std::vector<ClientEvent> events;
  double random = 0.5;
  SteadyMs now = 1'000'000;
  std::unique_ptr<ClientCore> core;

  explicit Harness(ClientOptions options = {}) {
    core = std::make_unique<ClientCore>(
        std::move(options), link, [this](const ClientEvent& e) { events.push_back(e); },
        [this] { return random; });
  }

  // The next frame the core sent; it must be of `type`.
  Sent take(const std::string& type) {
    INFO("expected a ", type, " frame");
    REQUIRE_FALSE(link.sent.empty());
    Sent s = std::move(link.sent.front());
    link.sent.pop_front();
    INFO("frame: ", s.text);
    REQUIRE(s.type() == type);
    return s;
  }
  bool nothing_sent() const { return link.sent.empty(); }

  void frame(const std::string& text) { core->on_text(text, now); }
  void reply(const Sent& req, const std::string& data, const std::string& type = "result") {
    frame(R"({"type":")" + type + R"(","id":)" + std::to_string(req.id()) + R"(,"data":)" +
          data + "}");
  }
  void error(const Sent& req, const std::string& code, const std::string& extra = "") {
    reply(req, R"({"code":")" + code + R"(","error":"no")" + extra + "}", "error");
  }
  void push(const std::string& type, const std::string& data) {
    frame(R"({"type":")" + type + R"(","data":)" + data + "}");
  }

  std::string welcome_data(const std::string& peer, const std::string& token,
                           const std::string& name, bool resumed,
                           const std::string& lobby = "null") {
    return R"({"peer_id":")" + peer + R"(","token":")" + token + R"(","name":")" + name +
           R"(","is_bot":false,"resumed":)" + (resumed ? "true" : "false") +
           R"(,"name_protected":false,"protocol_version":1,"lobby":)" + lobby +
           R"(,"limits":{"chat_history":500}})";
  }

  // start() (or a retry) has opened the link: open it, answer the auth with a welcome.
  Sent connect(const std::string& welcome) {
    REQUIRE(link.busy);
    core->on_open(now);
    Sent auth = take("auth");
    reply(auth, welcome, "welcome");
    return auth;
  }

  void drop(std::uint16_t code = kCloseAbnormal) {
    link.busy = false;
    core->on_closed(code, "", now);
  }

  void advance_to(SteadyMs t) {
    now = t;
    core->tick(now);
  }

  template <class T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& e : events)
      if (const T* t = std::get_if<T>(&e)) out.push_back(*t);
    return out;
  }
  template <class T>
  int count() const {
    return static_cast<int>(all<T>().size());
  }
  std::vector<ConnectionState> states() const {
    std::vector<ConnectionState> out;
    for (const auto& e : all<client_event::StateChanged>()) out.push_back(e.state);
    return out;
  }
  std::vector<std::uint64_t> chat_offsets() const {
    std::vector<std::uint64_t> out;
    for (const auto& m : core->snapshot().chat) out.push_back(m.offset);
    return out;
  }
};

std::vector<std::uint64_t> range(std::uint64_t from, std::uint64_t to) {
  std::vector<std::uint64_t> out;
  for (std::uint64_t o = from; o <= to; ++o) out.push_back(o);
  return out;
}

// A recorded reply callback.
struct Answer {
  std::shared_ptr<std::optional<Reply>> got = std::make_shared<std::optional<Reply>>();
  int calls = 0;
  ReplyCallback cb() {
    return [got = got](const Reply& r) {
      REQUIRE_FALSE(got->has_value());  // exactly once
      *got = r;
    };
  }
  const Reply& reply() const {
    REQUIRE(got->has_value());
    return **got;
  }
};

}  // namespace

TEST_CASE("client core: connects, authenticates, and takes the configured name") {
  ClientOptions o;
  o.name = "Ada";
  Harness h(o);
  h.core->start(h.now);
  CHECK(h.link.opens == 1);
  CHECK(h.core->state() == ConnectionState::connecting);

  h.core->on_open(h.now);
  Sent auth = h.take("auth");
  CHECK(auth.data().ObjectEmpty());  // a new session, no token, not a bot
  CHECK(h.core->state() == ConnectionState::connecting);

  h.reply(auth, h.welcome_data("p1", "tok1", "", false), "welcome");
  CHECK(h.core->state() == ConnectionState::connected);
  auto welcomes = h.all<client_event::Welcome>();
  REQUIRE(welcomes.size() == 1);
  CHECK(welcomes[0].peer_id == "p1");
  CHECK(welcomes[0].token == "tok1");
  CHECK_FALSE(welcomes[0].resumed);
  CHECK(h.core->snapshot().token == "tok1");
  CHECK(h.core->snapshot().peer_id == "p1");
  CHECK(h.states() == std::vector<ConnectionState>{ConnectionState::connecting,
                                                   ConnectionState::connected});

  // A new session without the wanted name: the core takes it.
  Sent set = h.take("set_name");
  CHECK(set.str("name") == "Ada");
  CHECK_FALSE(set.has("password"));
  h.reply(set, R"({"name":"Ada","protected":false})");
  h.push("name_changed", R"({"name":"Ada"})");
  CHECK(h.core->snapshot().name == "Ada");
  CHECK(h.count<client_event::NameChanged>() == 1);
  CHECK(h.nothing_sent());
}

TEST_CASE("client core: a bot says so in its auth") {
  ClientOptions o;
  o.is_bot = true;
  Harness h(o);
  h.core->start(h.now);
  h.core->on_open(h.now);
  CHECK(h.take("auth").flag("bot"));
}

TEST_CASE("client core: replies are matched to requests by id, results and errors") {
  Harness h;
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "t", "Ada", false));

  Answer a, b, c;
  h.core->request("list_lobbies", "", a.cb(), h.now);
  h.core->request("create_lobby", R"({"name":"x"})", b.cb(), h.now);
  h.core->request("join_lobby", R"({"lobby_id":"nope"})", c.cb(), h.now);
  Sent ra = h.take("list_lobbies");
  Sent rb = h.take("create_lobby");
  Sent rc = h.take("join_lobby");
  CHECK(ra.data().ObjectEmpty());  // "" means {}
  CHECK(rb.str("name") == "x");
  CHECK(ra.id() != rb.id());
  CHECK(rb.id() != rc.id());

  // Out of order, and a reply for no request in between.
  h.reply(rb, R"({"lobby":{"id":"L1","name":"x"}})");
  h.frame(R"({"type":"result","id":9999,"data":{}})");
  h.error(rc, "bad_field", R"(,"field":"data.lobby_id","retry_after_ms":250)");
  h.reply(ra, R"({"lobbies":[]})");

  CHECK(b.reply().ok());
  rapidjson::Document doc;
  doc.Parse(b.reply().data_json.c_str());
  CHECK(std::string(doc["lobby"]["id"].GetString()) == "L1");
  CHECK(a.reply().ok());
  CHECK(a.reply().data_json == R"({"lobbies":[]})");
  REQUIRE_FALSE(c.reply().ok());
  CHECK(c.reply().error->code == "bad_field");
  CHECK(c.reply().error->message == "no");
  CHECK(c.reply().error->field == "data.lobby_id");
  CHECK(c.reply().error->retry_after_ms == 250);
  // A request error is not a pushed error.
  CHECK(h.count<client_event::Error>() == 0);
}

TEST_CASE("client core: requests fail fast when not connected, not JSON, or stopped") {
  Harness h;
  Answer before;
  h.core->request("ping", "{}", before.cb(), h.now);
  CHECK(before.reply().error->code == "not_connected");

  h.core->start(h.now);
  h.core->on_open(h.now);
  Answer during;  // open but no welcome yet
  h.core->request("ping", "{}", during.cb(), h.now);
  CHECK(during.reply().error->code == "not_connected");
  Sent auth = h.take("auth");
  h.reply(auth, h.welcome_data("p1", "t", "", false), "welcome");

  for (const char* bad : {"[1]", "{", "nope", R"({"a":1} x)"}) {
    Answer a;
    h.core->request("ping", bad, a.cb(), h.now);
    CAPTURE(bad);
    CHECK(a.reply().error->code == "bad_json");
  }
  CHECK(h.nothing_sent());

  Answer open;
  h.core->request("ping", "{}", open.cb(), h.now);
  h.take("ping");
  h.core->stop(h.now);
  CHECK(open.reply().error->code == "stopped");
  CHECK(h.link.closes.back().first == 1000);
  CHECK(h.core->state() == ConnectionState::disconnected);
  Answer after;
  h.core->request("ping", "{}", after.cb(), h.now);
  CHECK(after.reply().error->code == "stopped");
  CHECK_FALSE(h.core->next_deadline().has_value());
}

TEST_CASE("client core: a request without reply times out, a late reply is dropped") {
  ClientOptions o;
  o.request_timeout_ms = 2000;
  Harness h(o);
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "t", "", false));
  CHECK_FALSE(h.core->next_deadline().has_value());

  Answer a;
  h.core->request("ping", "{}", a.cb(), h.now);
  Sent ping = h.take("ping");
  REQUIRE(h.core->next_deadline().has_value());
  CHECK(*h.core->next_deadline() == h.now + 2000);

  h.advance_to(h.now + 1999);
  CHECK_FALSE(a.got->has_value());
  h.advance_to(h.now + 1);
  REQUIRE(a.got->has_value());
  CHECK(a.reply().error->code == "timeout");
  CHECK_FALSE(h.core->next_deadline().has_value());
  h.reply(ping, R"({"time_ms":1})");  // too late: ignored, the callback ran once
  CHECK(h.core->state() == ConnectionState::connected);  // a timeout is not a drop
}

TEST_CASE("client core: a drop fails open requests and schedules a retry") {
  Harness h;
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "t", "", false));
  Answer a;
  h.core->request("ping", "{}", a.cb(), h.now);
  h.drop();
  CHECK(a.reply().error->code == "connection_lost");
  CHECK(h.core->state() == ConnectionState::reconnecting);
  REQUIRE(h.core->retry_at().has_value());
}

TEST_CASE("client core: a draining server's reconnect hint says where and when, not a failure") {
  ClientOptions o;
  o.reconnect.initial_delay_ms = 5000;  // far from the hint's delay
  Harness h(o);
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "tok", "", false));
  // Two failed attempts first: the hint starts afresh.
  h.drop();
  h.advance_to(*h.core->retry_at());
  h.drop();
  h.advance_to(*h.core->retry_at());
  h.connect(h.welcome_data("p1", "tok", "", true));
  h.push("reconnect", R"({"reason":"draining","after_ms":250,"url":"ws://10.0.0.2:9000/ws"})");
  CHECK(h.link.targets.empty());  // nothing until the connection ends
  h.drop(1001);
  CHECK(h.link.targets == std::vector<std::string>{"ws://10.0.0.2:9000/ws"});
  REQUIRE(h.core->retry_at().has_value());
  CHECK(*h.core->retry_at() == h.now + 250);
  CHECK(h.core->attempt() == 0);
  CHECK(h.core->state() == ConnectionState::reconnecting);
  const int opens = h.link.opens;
  h.advance_to(h.now + 249);
  CHECK(h.link.opens == opens);
  h.advance_to(h.now + 1);
  CHECK(h.link.opens == opens + 1);
  // The session resumes there with its token.
  h.core->on_open(h.now);
  CHECK(h.take("auth").str("token") == "tok");

  // The hint is used once: a later drop without one backs off as usual, at the same target.
  h.drop();
  CHECK(h.link.targets.size() == 1);
  REQUIRE(h.core->retry_at().has_value());
  CHECK(h.core->attempt() == 1);
}

TEST_CASE("client core: a hint without url keeps the URL, its delay is capped, off stays off") {
  Harness h;
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "tok", "", false));
  h.push("reconnect", R"({"reason":"draining","after_ms":99999999999})");
  h.drop(1001);
  CHECK(h.link.targets.empty());
  REQUIRE(h.core->retry_at().has_value());
  CHECK(*h.core->retry_at() == h.now + 60'000);

  ClientOptions off;
  off.reconnect.enabled = false;
  Harness h2(off);
  h2.core->start(h2.now);
  h2.connect(h2.welcome_data("p1", "tok", "", false));
  h2.push("reconnect", R"({"reason":"draining","after_ms":10})");
  h2.drop(1001);
  CHECK_FALSE(h2.core->retry_at().has_value());
  CHECK(h2.core->state() == ConnectionState::disconnected);
}

TEST_CASE("client core: reconnect backoff is exponential with full jitter, capped") {
  ClientOptions o;
  o.reconnect.initial_delay_ms = 100;
  o.reconnect.max_delay_ms = 1000;
  Harness h(o);

  SUBCASE("the pure function") {
    CHECK(backoff_delay_ms(o.reconnect, 0, 0.0) == 0);
    CHECK(backoff_delay_ms(o.reconnect, 0, 0.5) == 50);
    CHECK(backoff_delay_ms(o.reconnect, 0, 0.999999) == 99);
    CHECK(backoff_delay_ms(o.reconnect, 3, 0.999999) == 799);
    CHECK(backoff_delay_ms(o.reconnect, 4, 0.999999) == 999);   // capped
    CHECK(backoff_delay_ms(o.reconnect, 200, 0.999999) == 999);  // no overflow
    CHECK(backoff_delay_ms(o.reconnect, 2, 1.0) < 400);          // r is clamped below 1
    CHECK(backoff_delay_ms(o.reconnect, 2, -3.0) == 0);
  }

  SUBCASE("as the core schedules it, failure after failure") {
    h.core->start(h.now);
    const double rs[] = {0.999999, 0.5, 0.0, 0.999999, 0.25, 0.999999, 0.999999};
    const std::uint32_t cap[] = {100, 200, 400, 800, 1000, 1000, 1000};
    for (int i = 0; i < 7; ++i) {
      h.random = rs[i];
      h.drop();  // the attempt fails: refused before it ever opened
      REQUIRE(h.core->retry_at().has_value());
      const SteadyMs delay = *h.core->retry_at() - h.now;
      CAPTURE(i);
      CHECK(delay >= 0);
      CHECK(delay < cap[i]);
      CHECK(delay == static_cast<SteadyMs>(rs[i] * cap[i]));
      CHECK(h.core->state() == ConnectionState::reconnecting);
      CHECK(h.core->next_deadline() == h.core->retry_at());
      const int opens = h.link.opens;
      h.advance_to(*h.core->retry_at() - 1);
      if (delay > 0) CHECK(h.link.opens == opens);
      h.advance_to(*h.core->retry_at());
      CHECK(h.link.opens == opens + 1);
    }
    // A welcome starts the count again.
    h.connect(h.welcome_data("p1", "t", "", false));
    CHECK(h.core->attempt() == 0);
    h.random = 0.999999;
    h.drop();
    CHECK(*h.core->retry_at() - h.now == 99);
  }

  SUBCASE("max_attempts gives up with an error") {
    ClientOptions limited = o;
    limited.reconnect.max_attempts = 2;
    Harness g(limited);
    g.core->start(g.now);
    for (int i = 0; i < 2; ++i) {
      g.drop();
      REQUIRE(g.core->retry_at().has_value());
      g.advance_to(*g.core->retry_at());
    }
    g.drop();
    CHECK_FALSE(g.core->retry_at().has_value());
    CHECK(g.core->state() == ConnectionState::disconnected);
    REQUIRE(g.count<client_event::Error>() == 1);
    CHECK(g.all<client_event::Error>()[0].error.code == "gave_up");
    CHECK(g.core->snapshot().last_error->code == "gave_up");
    g.core->reconnect(g.now);  // the user asks again
    CHECK(g.link.busy);
    CHECK(g.core->state() == ConnectionState::connecting);
  }

  SUBCASE("reconnecting off") {
    ClientOptions off = o;
    off.reconnect.enabled = false;
    Harness g(off);
    g.core->start(g.now);
    g.connect(g.welcome_data("p1", "t", "", false));
    g.drop();
    CHECK(g.core->state() == ConnectionState::disconnected);
    CHECK_FALSE(g.core->next_deadline().has_value());
    CHECK(g.all<client_event::Error>().at(0).error.code == "gave_up");
  }
}

TEST_CASE("redial: backoff, the attempt limit, a server's hint, and reconnecting off") {
  ReconnectPolicy policy;
  policy.initial_delay_ms = 100;
  policy.max_delay_ms = 1000;
  policy.max_attempts = 3;
  double r = 0.5;
  Redial redial(policy, [&r] { return r; });
  FakeLink link;

  CHECK_FALSE(redial.pending());
  CHECK_FALSE(redial.schedule(1000, link));  // retry 0: 0.5 * 100
  CHECK(redial.at() == std::optional<SteadyMs>(1050));
  CHECK_FALSE(redial.due(1049));
  CHECK(redial.due(1050));
  CHECK(redial.attempt() == 1);

  SUBCASE("the limit: three retries, then gave_up with the count") {
    redial.opening();
    CHECK_FALSE(redial.pending());
    CHECK_FALSE(redial.schedule(2000, link));  // retry 1: 0.5 * 200
    CHECK(redial.at() == std::optional<SteadyMs>(2100));
    CHECK_FALSE(redial.schedule(3000, link));  // retry 2
    const std::optional<ClientError> why = redial.schedule(4000, link);
    REQUIRE(why);
    CHECK(why->code == "gave_up");
    CHECK(why->message == "No connection after 3 attempts.");
    CHECK_FALSE(redial.pending());
    redial.reset_attempts();  // a welcome: the backoff starts over
    CHECK_FALSE(redial.schedule(5000, link));
    CHECK(redial.at() == std::optional<SteadyMs>(5050));
  }

  SUBCASE("a hint: the server's time and address, a fresh start, spent once") {
    redial.opening();
    redial.set_hint(protocol::ReconnectHint{40, "ws://127.0.0.1:9/ws"});
    CHECK_FALSE(redial.schedule(2000, link));
    CHECK(redial.at() == std::optional<SteadyMs>(2040));  // not the backoff's
    CHECK(redial.attempt() == 0);
    REQUIRE(link.targets.size() == 1);
    CHECK(link.targets[0] == "ws://127.0.0.1:9/ws");
    redial.opening();
    CHECK_FALSE(redial.schedule(3000, link));  // the hint is spent: backoff again
    CHECK(redial.at() == std::optional<SteadyMs>(3050));
    CHECK(link.targets.size() == 1);
  }

  SUBCASE("a hint counts even when the attempts are used up, and starts them over") {
    CHECK_FALSE(redial.schedule(2000, link));
    CHECK_FALSE(redial.schedule(3000, link));
    CHECK(redial.attempt() == 3);  // the next schedule without a hint gives up
    redial.set_hint(protocol::ReconnectHint{40, ""});
    CHECK_FALSE(redial.schedule(4000, link));
    CHECK(redial.at() == std::optional<SteadyMs>(4040));
    CHECK(redial.attempt() == 0);
    CHECK(link.targets.empty());  // no address: the URL in use
  }

  SUBCASE("a hint that comes before opening() is dropped by it") {
    redial.set_hint(protocol::ReconnectHint{40, "ws://elsewhere/ws"});
    redial.opening();
    CHECK_FALSE(redial.schedule(2000, link));
    CHECK(redial.at() == std::optional<SteadyMs>(2100));
    CHECK(link.targets.empty());
  }

  SUBCASE("reconnecting off: gave_up, even with a hint, which moves nothing") {
    policy.enabled = false;
    redial.set_hint(protocol::ReconnectHint{40, "ws://elsewhere/ws"});
    const std::optional<ClientError> why = redial.schedule(2000, link);
    REQUIRE(why);
    CHECK(why->code == "gave_up");
    CHECK(why->message == "The connection closed and reconnecting is off.");
    CHECK_FALSE(redial.pending());
    CHECK(link.targets.empty());
  }

  SUBCASE("cancel") {
    redial.cancel();
    CHECK_FALSE(redial.pending());
    CHECK_FALSE(redial.due(1'000'000));
  }
}

TEST_CASE("client core: no welcome within connect_timeout_ms abandons the attempt") {
  ClientOptions o;
  o.connect_timeout_ms = 3000;
  Harness h(o);
  h.core->start(h.now);
  CHECK(*h.core->next_deadline() == h.now + 3000);
  h.core->on_open(h.now);
  h.take("auth");  // never answered
  h.advance_to(h.now + 3000);
  REQUIRE(h.link.closes.size() == 1);
  CHECK_FALSE(h.link.busy);
  CHECK(h.core->state() == ConnectionState::reconnecting);
  CHECK(h.core->retry_at().has_value());
  // A stale frame from the abandoned connection changes nothing.
  h.frame(R"({"type":"welcome","id":1,"data":{"peer_id":"p"}})");
  CHECK(h.core->state() == ConnectionState::reconnecting);
}

TEST_CASE("client core: resume after a drop recovers the chat by offset, page by page") {
  Harness h;
  h.core->start(h.now);
  const std::string me = participant("p1", "Ada");
  h.connect(h.welcome_data("p1", "tok", "Ada", false));
  Answer join;
  h.core->request("join_lobby", R"({"lobby_id":"L"})", join.cb(), h.now);
  h.reply(h.take("join_lobby"), snapshot("L", "[" + me + "]", messages(1, 3), 3));
  CHECK(join.reply().ok());
  CHECK(h.count<client_event::LobbyJoined>() == 1);
  CHECK(h.chat_offsets() == range(1, 3));
  CHECK(h.core->snapshot().last_offset == 3);

  h.drop();
  h.advance_to(*h.core->retry_at());
  h.core->on_open(h.now);
  Sent auth = h.take("auth");
  CHECK(auth.str("token") == "tok");
  const int chats_before = h.count<client_event::Chat>();

  SUBCASE("the welcome's history leaves a gap: chat_history fills it") {
    // While away, 4..9 were posted; this welcome's history holds only 8..9.
    h.reply(auth, h.welcome_data("p1", "tok", "Ada", true,
                                 snapshot("L", "[" + me + "]", messages(8, 9), 9)),
            "welcome");
    CHECK(h.count<client_event::LobbyJoined>() == 1);  // still the same membership
    Sent page1 = h.take("chat_history");
    CHECK(page1.num("after") == 3);
    h.reply(page1, R"({"messages":)" + messages(4, 5) +
                       R"(,"complete":true,"has_more":true,"last_offset":9})");
    Sent page2 = h.take("chat_history");
    CHECK(page2.num("after") == 5);
    h.reply(page2, R"({"messages":)" + messages(6, 9) +
                       R"(,"complete":true,"has_more":false,"last_offset":9})");
    CHECK(h.nothing_sent());
    CHECK(h.chat_offsets() == range(1, 9));
    CHECK(h.core->snapshot().history_complete);
    CHECK(h.core->snapshot().last_offset == 9);
    // Each message new to us came once as a Chat event, in order.
    std::vector<std::uint64_t> seen;
    auto chats = h.all<client_event::Chat>();
    for (std::size_t i = static_cast<std::size_t>(chats_before); i < chats.size(); ++i)
      seen.push_back(chats[i].message.offset);
    CHECK(seen == std::vector<std::uint64_t>{8, 9, 4, 5, 6, 7});
    for (const auto& c : chats) CHECK(c.message.lobby_id == "L");
  }

  SUBCASE("messages dropped by retention make the history incomplete") {
    h.reply(auth, h.welcome_data("p1", "tok", "Ada", true,
                                 snapshot("L", "[" + me + "]", messages(7, 9), 9, false)),
            "welcome");
    Sent page = h.take("chat_history");
    CHECK(page.num("after") == 3);
    h.reply(page, R"({"messages":)" + messages(7, 9) +
                      R"(,"complete":false,"has_more":false,"last_offset":9})");
    CHECK_FALSE(h.core->snapshot().history_complete);
    CHECK(h.chat_offsets() == std::vector<std::uint64_t>{1, 2, 3, 7, 8, 9});
    // Settled at 9: the next push needs no fetch.
    h.push("chat", R"({"lobby_id":"L","message":)" + message(10) + "}");
    CHECK(h.nothing_sent());
  }

  SUBCASE("nothing missed: one empty page") {
    h.reply(auth, h.welcome_data("p1", "tok", "Ada", true,
                                 snapshot("L", "[" + me + "]", messages(1, 3), 3)),
            "welcome");
    Sent page = h.take("chat_history");
    CHECK(page.num("after") == 3);
    h.reply(page, R"({"messages":[],"complete":true,"has_more":false,"last_offset":3})");
    CHECK(h.nothing_sent());
    CHECK(h.count<client_event::Chat>() == chats_before);
  }
}

TEST_CASE("client core: a gap in chat pushes is fetched, duplicates are dropped") {
  Harness h;
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "t", "Ada", false,
                           snapshot("L", "[" + participant("p1", "Ada") + "]", messages(1, 2), 2)));
  Sent first = h.take("chat_history");  // the first welcome catches up too
  h.reply(first, R"({"messages":[],"complete":true,"has_more":false,"last_offset":2})");

  h.push("chat", R"({"lobby_id":"L","message":)" + message(3) + "}");
  CHECK(h.nothing_sent());
  h.push("chat", R"({"lobby_id":"L","message":)" + message(3) + "}");  // again
  h.push("chat", R"({"lobby_id":"OTHER","message":)" + message(9) + "}");  // not ours
  h.push("chat", R"({"lobby_id":"L","message":)" + message(6) + "}");     // 4, 5 missing
  Sent fetch = h.take("chat_history");
  CHECK(fetch.num("after") == 3);
  h.push("chat", R"({"lobby_id":"L","message":)" + message(7) + "}");  // no second fetch
  CHECK(h.nothing_sent());
  h.reply(fetch, R"({"messages":)" + messages(4, 7) +
                     R"(,"complete":true,"has_more":false,"last_offset":7})");
  CHECK(h.chat_offsets() == range(1, 7));
  CHECK(h.count<client_event::Chat>() == 5);  // 3, 6, 7, 4, 5
  // 7 came during the fetch, ahead of what was settled then: one more pass, from 7.
  Sent again = h.take("chat_history");
  CHECK(again.num("after") == 7);
  h.reply(again, R"({"messages":[],"complete":true,"has_more":false,"last_offset":7})");
  CHECK(h.nothing_sent());
}

TEST_CASE("client core: after a server restart the session comes back and is restored") {
  ClientOptions o;
  o.name = "Ada";
  o.password = "pw";
  Harness h(o);
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "tok", "", false));
  h.reply(h.take("set_name"), R"({"name":"Ada","protected":true})");
  h.core->request("join_lobby", R"({"lobby_id":"L","has_media":true})", nullptr, h.now);
  h.reply(h.take("join_lobby"),
          snapshot("L", "[" + participant("p1", "Ada", true) + "]", "[]", 0));
  h.drop(1001);
  h.advance_to(*h.core->retry_at());
  h.core->on_open(h.now);

  SUBCASE("same session, without media: update_media puts it back") {
    h.reply(h.take("auth"),
            h.welcome_data("p1", "tok", "Ada", true,
                           snapshot("L", "[" + participant("p1", "Ada", false) + "]", "[]", 0)),
            "welcome");
    Sent media = h.take("update_media");
    CHECK(media.flag("has_media"));
    h.take("chat_history");
    h.reply(media, R"({"participant":)" + participant("p1", "Ada", true) + "}");
    CHECK(h.core->snapshot().participants.at(0).has_media);
  }

  SUBCASE("the token is unknown: a new session takes the name and rejoins") {
    Sent auth = h.take("auth");
    CHECK(auth.str("token") == "tok");
    h.error(auth, "invalid_token");
    Sent fresh = h.take("auth");  // same connection, no token
    CHECK_FALSE(fresh.has("token"));
    CHECK(h.core->snapshot().token.empty());
    h.reply(fresh, h.welcome_data("p9", "tok9", "", false), "welcome");
    CHECK(h.core->snapshot().token == "tok9");
    // Still shown until the rejoin answers.
    CHECK(h.core->snapshot().lobby.has_value());
    Sent name = h.take("set_name");
    CHECK(name.str("name") == "Ada");
    CHECK(name.str("password") == "pw");
    CHECK(h.nothing_sent());  // the lobby waits for the name
    h.reply(name, R"({"name":"Ada","protected":true})");
    Sent join = h.take("join_lobby");
    CHECK(join.str("lobby_id") == "L");
    CHECK(join.flag("has_media"));
    h.reply(join, snapshot("L", "[" + participant("p9", "Ada", true) + "]", "[]", 0));
    CHECK(h.count<client_event::LobbyJoined>() == 2);
    CHECK(h.core->snapshot().participants.at(0).peer_id == "p9");
    h.take("chat_history");
  }

  SUBCASE("the lobby is gone: the rejoin fails and says so") {
    h.reply(h.take("auth"), h.welcome_data("p1", "tok", "Ada", true), "welcome");
    Sent join = h.take("join_lobby");
    h.error(join, "lobby_not_found");
    CHECK_FALSE(h.core->snapshot().lobby.has_value());
    auto left = h.all<client_event::LobbyLeft>();
    REQUIRE(left.size() == 1);
    CHECK(left[0].reason == "rejoin_failed");
    CHECK(h.core->snapshot().last_error->code == "lobby_not_found");
  }
}

TEST_CASE("client core: a resumed session whose name changed keeps the server's name") {
  ClientOptions o;
  o.name = "Ada";
  Harness h(o);
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "tok", "", false));
  h.reply(h.take("set_name"), R"({"name":"Ada","protected":false})");
  h.drop();
  h.advance_to(*h.core->retry_at());
  h.connect(h.welcome_data("p1", "tok", "Renamed", true));
  CHECK(h.nothing_sent());  // no set_name fight
  CHECK(h.core->snapshot().name == "Renamed");
  CHECK(h.all<client_event::NameChanged>().back().name == "Renamed");
}

TEST_CASE("client core: ready settles once the welcome and the configured name are") {
  ClientOptions o;
  o.name = "Ada";
  o.password = "pw";
  Harness h(o);
  Answer ready;
  h.core->when_ready(ready.cb());
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "tok", "", false));
  CHECK(h.core->state() == ConnectionState::connected);
  Sent set = h.take("set_name");
  CHECK_FALSE(ready.got->has_value());  // connected, but the name is not settled yet

  SUBCASE("the name is taken: ok, with the session and the name") {
    h.reply(set, R"({"name":"Ada","protected":true})");
    REQUIRE(ready.reply().ok());
    rapidjson::Document d;
    d.Parse(ready.reply().data_json.c_str());
    REQUIRE(d.IsObject());
    CHECK(std::string(d["peer_id"].GetString()) == "p1");
    CHECK(std::string(d["token"].GetString()) == "tok");
    CHECK(std::string(d["name"].GetString()) == "Ada");
    CHECK_FALSE(d["resumed"].GetBool());
  }
  SUBCASE("the name is refused: the name's error, and the Error event as before") {
    h.error(set, "wrong_password");
    REQUIRE_FALSE(ready.reply().ok());
    CHECK(ready.reply().error->code == "wrong_password");
    CHECK(h.all<client_event::Error>().at(0).error.code == "wrong_password");
    CHECK(h.core->state() == ConnectionState::connected);
    CHECK(h.core->snapshot().name.empty());
  }
  SUBCASE("the connection drops before the answer: the next welcome asks again") {
    h.drop();
    CHECK_FALSE(ready.got->has_value());
    h.advance_to(*h.core->retry_at());
    h.connect(h.welcome_data("p1", "tok", "", true));  // resumed, the name never arrived
    Sent again = h.take("set_name");
    CHECK(again.str("name") == "Ada");
    CHECK(again.str("password") == "pw");
    CHECK(h.count<client_event::NameChanged>() == 0);  // not taken as the server's ""
    CHECK_FALSE(ready.got->has_value());
    h.error(again, "name_taken");
    CHECK(ready.reply().error->code == "name_taken");
  }
  // Settled once: later callers get the same outcome at once; later welcomes change nothing.
  Answer later;
  h.core->when_ready(later.cb());
  CHECK(later.reply().ok() == ready.reply().ok());
  CHECK(later.reply().data_json == ready.reply().data_json);
}

TEST_CASE("client core: ready without a name, and when the client stops or gives up first") {
  SUBCASE("no name: the first welcome") {
    Harness h;
    Answer ready;
    h.core->when_ready(ready.cb());
    h.core->start(h.now);
    h.core->on_open(h.now);
    CHECK_FALSE(ready.got->has_value());
    h.reply(h.take("auth"), h.welcome_data("p1", "tok", "Old", true), "welcome");
    REQUIRE(ready.reply().ok());
    CHECK(ready.reply().data_json ==
          R"({"peer_id":"p1","token":"tok","name":"Old","resumed":true})");
  }
  SUBCASE("stopped first") {
    Harness h;
    Answer ready;
    h.core->when_ready(ready.cb());
    h.core->start(h.now);
    h.core->stop(h.now);
    CHECK(ready.reply().error->code == "stopped");
  }
  SUBCASE("gave up first") {
    ClientOptions o;
    o.name = "Ada";
    o.reconnect.enabled = false;
    Harness h(o);
    Answer ready;
    h.core->when_ready(ready.cb());
    h.core->start(h.now);
    h.drop();
    CHECK(ready.reply().error->code == "gave_up");
  }
}

TEST_CASE("client core: the welcome shows the lobby, and a resume announces what changed") {
  Harness h;
  h.core->start(h.now);
  h.connect(h.welcome_data(
      "p1", "tok", "Ada", true,
      snapshot("L", "[" + participant("p1", "Ada") + "," + participant("p2", "Bo") + "]", "[]",
               0)));
  h.take("chat_history");
  auto welcomes = h.all<client_event::Welcome>();
  REQUIRE(welcomes.size() == 1);
  REQUIRE(welcomes[0].lobby.has_value());
  CHECK(welcomes[0].lobby->id == "L");
  CHECK(welcomes[0].lobby->participant_count == 2);
  REQUIRE(welcomes[0].participants.size() == 2);
  CHECK(welcomes[0].participants[1].name == "Bo");
  CHECK(client_event_to_json(welcomes[0]).find(R"("participants":[{"peer_id":"p1")") !=
        std::string::npos);
  CHECK(h.count<client_event::LobbyJoined>() == 1);
  CHECK(h.count<client_event::ParticipantJoined>() == 0);  // the snapshot is the start

  // Away: Bo left, Cy joined, our media changed on the server.
  h.drop();
  h.advance_to(*h.core->retry_at());
  h.events.clear();
  h.connect(h.welcome_data(
      "p1", "tok", "Ada", true,
      snapshot("L", "[" + participant("p1", "Ada", true) + "," + participant("p3", "Cy") + "]",
               "[]", 0)));
  auto w = h.all<client_event::Welcome>();
  REQUIRE(w.size() == 1);
  CHECK(w[0].participants.size() == 2);
  auto left = h.all<client_event::ParticipantLeft>();
  REQUIRE(left.size() == 1);
  CHECK(left[0].peer_id == "p2");
  CHECK(left[0].reason == "missed");
  auto joined = h.all<client_event::ParticipantJoined>();
  REQUIRE(joined.size() == 1);
  CHECK(joined[0].participant.peer_id == "p3");
  auto updated = h.all<client_event::ParticipantUpdated>();
  REQUIRE(updated.size() == 1);
  CHECK(updated[0].participant.peer_id == "p1");
  CHECK(updated[0].participant.has_media);
  CHECK(h.count<client_event::LobbyJoined>() == 0);  // the same lobby: no new join
  CHECK(h.core->snapshot().participants.size() == 2);

  // A welcome without a lobby says so.
  Harness bare;
  bare.core->start(bare.now);
  bare.connect(bare.welcome_data("p1", "tok", "", false));
  CHECK_FALSE(bare.all<client_event::Welcome>().at(0).lobby.has_value());
  CHECK(client_event_to_json(bare.all<client_event::Welcome>().at(0)).find(
            R"("lobby":null,"participants":[])") != std::string::npos);
}

TEST_CASE("client core: close codes") {
  Harness h;
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "tok", "Ada", false,
                           snapshot("L", "[" + participant("p1", "Ada") + "]", "[]", 0)));
  h.take("chat_history");

  SUBCASE("4001 replaced: stop reconnecting and report; reconnect() takes it back") {
    h.drop(4001);
    CHECK(h.core->state() == ConnectionState::disconnected);
    CHECK_FALSE(h.core->next_deadline().has_value());
    CHECK(h.all<client_event::Error>().at(0).error.code == "replaced");
    CHECK(h.core->snapshot().token == "tok");
    h.core->reconnect(h.now);
    CHECK(h.link.busy);
    h.core->on_open(h.now);
    CHECK(h.take("auth").str("token") == "tok");
  }

  SUBCASE("4002 kicked: the token is dropped, the lobby left, and reconnecting stops") {
    h.push("lobby_left", R"({"lobby_id":"L","reason":"kicked"})");
    h.drop(4002);
    CHECK(h.core->state() == ConnectionState::disconnected);
    CHECK_FALSE(h.core->next_deadline().has_value());
    CHECK(h.core->snapshot().token.empty());
    CHECK(h.core->snapshot().peer_id.empty());
    CHECK_FALSE(h.core->snapshot().lobby.has_value());
    CHECK(h.all<client_event::LobbyLeft>().at(0).reason == "kicked");
    CHECK(h.all<client_event::Error>().at(0).error.code == "kicked");
  }

  SUBCASE("4004 session closed: a new session at once") {
    h.random = 0.0;
    h.drop(4004);
    CHECK(h.core->state() == ConnectionState::reconnecting);
    h.advance_to(*h.core->retry_at());
    h.core->on_open(h.now);
    CHECK_FALSE(h.take("auth").has("token"));
  }

  SUBCASE("1001 going away: retry with the token") {
    h.drop(1001);
    CHECK(h.core->state() == ConnectionState::reconnecting);
    h.advance_to(*h.core->retry_at());
    CHECK(h.core->state() == ConnectionState::reconnecting);
    h.core->on_open(h.now);
    CHECK(h.take("auth").str("token") == "tok");
  }
}

TEST_CASE("client core: an auth refused for the session caps is reported and retried later") {
  Harness h;
  h.random = 0.5;
  h.core->start(h.now);
  REQUIRE(h.link.busy);
  h.core->on_open(h.now);
  h.error(h.take("auth"), "too_many_sessions");
  CHECK(h.all<client_event::Error>().at(0).error.code == "too_many_sessions");
  h.drop(4005);  // the server's close that follows the error
  CHECK(h.core->state() == ConnectionState::reconnecting);
  REQUIRE(h.core->retry_at().has_value());
  CHECK(*h.core->retry_at() > h.now);  // with backoff, not at once
  h.advance_to(*h.core->retry_at());
  REQUIRE(h.link.busy);
  h.core->on_open(h.now);
  Sent again = h.take("auth");
  CHECK_FALSE(again.has("token"));
  h.reply(again, h.welcome_data("p1", "t", "", false), "welcome");
  CHECK(h.core->state() == ConnectionState::connected);
}

TEST_CASE("client core: lobby pushes keep the store and become events") {
  Harness h;
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "t", "Ada", false,
                           snapshot("L", "[" + participant("p1", "Ada") + "]", "[]", 0)));
  h.take("chat_history");
  CHECK(h.core->snapshot().lobby->participant_count == 1);

  h.push("participant_joined", R"({"lobby_id":"L","participant":)" + participant("p2", "Bo") + "}");
  CHECK(h.core->snapshot().participants.size() == 2);
  CHECK(h.core->snapshot().lobby->participant_count == 2);
  h.push("participant_updated",
         R"({"lobby_id":"L","participant":)" + participant("p2", "Bob", true) + "}");
  CHECK(h.core->snapshot().participants.at(1).name == "Bob");
  h.push("participant_joined", R"({"lobby_id":"X","participant":)" + participant("p3", "C") + "}");
  CHECK(h.core->snapshot().participants.size() == 2);
  h.push("participant_left", R"({"lobby_id":"L","peer_id":"p2","reason":"left"})");
  CHECK(h.core->snapshot().participants.size() == 1);
  CHECK(h.all<client_event::ParticipantLeft>().at(0).peer_id == "p2");
  CHECK(h.count<client_event::ParticipantJoined>() == 1);
  CHECK(h.count<client_event::ParticipantUpdated>() == 1);

  h.push("error", R"({"code":"rate_limited","error":"slow down","retry_after_ms":11})");
  CHECK(h.core->snapshot().last_error->code == "rate_limited");
  CHECK(h.core->snapshot().last_error->retry_after_ms == 11);

  SUBCASE("grace_expired rejoins the lobby still wanted") {
    h.push("lobby_left", R"({"lobby_id":"L","reason":"grace_expired"})");
    Sent join = h.take("join_lobby");
    CHECK(join.str("lobby_id") == "L");
  }
  SUBCASE("lobby_removed leaves it") {
    h.push("lobby_left", R"({"lobby_id":"L","reason":"lobby_removed"})");
    CHECK_FALSE(h.core->snapshot().lobby.has_value());
    CHECK(h.all<client_event::LobbyLeft>().at(0).reason == "lobby_removed");
    CHECK(h.nothing_sent());
  }
  SUBCASE("our own leave_lobby result leaves it") {
    h.core->request("leave_lobby", "{}", nullptr, h.now);
    h.reply(h.take("leave_lobby"), "{}");
    CHECK_FALSE(h.core->snapshot().lobby.has_value());
    CHECK(h.all<client_event::LobbyLeft>().at(0).reason == "left");
    // After a drop, nothing is rejoined.
    h.drop();
    h.advance_to(*h.core->retry_at());
    h.connect(h.welcome_data("p1", "t", "Ada", true));
    CHECK(h.nothing_sent());
  }
  SUBCASE("joining another lobby leaves this one") {
    h.core->request("join_lobby", R"({"lobby_id":"M"})", nullptr, h.now);
    h.reply(h.take("join_lobby"), snapshot("M", "[" + participant("p1", "Ada") + "]", "[]", 0));
    CHECK(h.core->snapshot().lobby->id == "M");
    CHECK(h.all<client_event::LobbyLeft>().at(0).lobby_id == "L");
    CHECK(h.all<client_event::LobbyJoined>().back().lobby.id == "M");
  }
}

TEST_CASE("client core: lobby_updated changes the lobby shown, a notice is a system message") {
  Harness h;
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "t", "Ada", false,
                           snapshot("L", "[" + participant("p1", "Ada") + "]", "[]", 0)));
  h.take("chat_history");
  h.push("lobby_updated", R"({"lobby_id":"L","lobby":{"id":"L","name":"Hall","private":true,)"
                          R"("persistent":true,"max_participants":1,"participants":1,"created_ms":5}})");
  const LobbyInfo& l = *h.core->snapshot().lobby;
  CHECK(l.name == "Hall");
  CHECK(l.is_private);
  CHECK(l.persistent);
  CHECK(l.max_participants == 1);
  REQUIRE(h.count<client_event::LobbyUpdated>() == 1);
  CHECK(h.all<client_event::LobbyUpdated>().at(0).lobby.name == "Hall");
  // Another lobby's update changes nothing.
  h.push("lobby_updated", R"({"lobby_id":"X","lobby":{"id":"X","name":"Other"}})");
  CHECK(h.core->snapshot().lobby->name == "Hall");
  CHECK(h.count<client_event::LobbyUpdated>() == 1);

  h.push("chat", R"({"lobby_id":"L","message":{"offset":1,"sender":"","sender_name":"",)"
                 R"("text":"Welcome","time_ms":9,"system":true}})");
  h.push("chat", R"({"lobby_id":"L","message":)" + message(2) + "}");
  const auto& chat = h.core->snapshot().chat;
  REQUIRE(chat.size() == 2);
  CHECK(chat[0].system);
  CHECK(chat[0].sender.empty());
  CHECK_FALSE(chat[1].system);  // absent means false
}

TEST_CASE("client core: signaling pushes become typed events") {
  Harness h;
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "t", "Ada", false));

  h.push("peer_added", R"({"peer_id":"p2","name":"Bo","is_bot":true,"should_offer":true})");
  h.push("peer_added", R"({"peer_id":"p3","name":"Cy","is_bot":false,"should_offer":false})");
  h.push("description", R"({"from":"p2","description":{"type":"offer","sdp":"v=0\r\n"}})");
  h.push("candidate", R"({"from":"p2","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"u"}})");
  h.push("candidate", R"({"from":"p2","candidate":{"candidate":"c2"}})");
  h.push("candidate", R"({"from":"p2","candidate":null})");
  h.push("peer_removed", R"({"peer_id":"p2"})");

  auto added = h.all<client_event::PeerAdded>();
  REQUIRE(added.size() == 2);
  CHECK(added[0].peer_id == "p2");
  CHECK(added[0].name == "Bo");
  CHECK(added[0].is_bot);
  CHECK(added[0].should_offer);
  CHECK_FALSE(added[1].should_offer);

  auto desc = h.all<client_event::Description>();
  REQUIRE(desc.size() == 1);
  CHECK(desc[0].from == "p2");
  CHECK(desc[0].type == "offer");
  CHECK(desc[0].sdp == "v=0\r\n");

  auto cands = h.all<client_event::Candidate>();
  REQUIRE(cands.size() == 3);
  CHECK(cands[0].candidate == "candidate:1 1 udp 1 1.2.3.4 5 typ host");
  CHECK(cands[0].sdp_mid == std::optional<std::string>("0"));
  CHECK(cands[0].sdp_mline_index == std::optional<int>(0));
  CHECK(cands[0].username_fragment == std::optional<std::string>("u"));
  CHECK_FALSE(cands[1].username_fragment.has_value());
  CHECK_FALSE(cands[1].sdp_mid.has_value());
  CHECK_FALSE(cands[1].sdp_mline_index.has_value());
  CHECK(cands[2].candidate.empty());  // end of candidates

  CHECK(h.all<client_event::PeerRemoved>().at(0).peer_id == "p2");

  // Their JSON forms, for the C ABI and Python.
  CHECK(client_event_to_json(ClientEvent{added[0]}) ==
        R"({"type":"peer_added","peer_id":"p2","name":"Bo","is_bot":true,"should_offer":true})");
  CHECK(client_event_to_json(ClientEvent{desc[0]}) ==
        R"({"type":"description","from":"p2","description":{"type":"offer","sdp":"v=0\r\n"}})");
  CHECK(client_event_to_json(ClientEvent{cands[0]}) ==
        R"({"type":"candidate","from":"p2","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"u"}})");
  CHECK(client_event_to_json(ClientEvent{cands[2]}) ==
        R"({"type":"candidate","from":"p2","candidate":null})");
  CHECK(std::string(client_event_name(ClientEvent{client_event::PeerRemoved{"x"}})) ==
        "peer_removed");
  CHECK(client_event_to_json(ClientEvent{client_event::StateChanged{ConnectionState::reconnecting}}) ==
        R"({"type":"state_changed","state":"reconnecting"})");
}

TEST_CASE("client core: handlers may call back into the core") {
  FakeLink link;
  std::unique_ptr<ClientCore> core;
  SteadyMs now = 0;
  std::vector<std::string> log;
  core = std::make_unique<ClientCore>(
      ClientOptions{}, link,
      [&](const ClientEvent& e) {
        log.push_back(client_event_name(e));
        if (std::holds_alternative<client_event::Welcome>(e)) {
          // From inside an event: a request whose answer (not_connected never) comes later.
          core->request("ping", "{}", [&](const Reply& r) {
            log.push_back(r.ok() ? "pong" : r.error->code);
          }, now);
        }
      },
      [] { return 0.0; });
  core->start(now);
  core->on_open(now);
  Sent auth(link.sent.front().text);
  link.sent.pop_front();
  core->on_text(R"({"type":"welcome","id":)" + std::to_string(auth.id()) +
                    R"(,"data":{"peer_id":"p","token":"t","name":"","resumed":false,"lobby":null}})",
                now);
  REQUIRE(link.sent.size() == 1);
  Sent ping(link.sent.front().text);
  CHECK(ping.type() == "ping");
  core->on_text(R"({"type":"result","id":)" + std::to_string(ping.id()) + R"(,"data":{}})", now);
  CHECK(log == std::vector<std::string>{"state_changed", "state_changed", "welcome", "pong"});
}

TEST_CASE("ws urls") {
  auto u = parse_ws_url("ws://127.0.0.1:8080/ws");
  REQUIRE(u);
  CHECK_FALSE(u->tls);
  CHECK(u->host == "127.0.0.1");
  CHECK(u->port == 8080);
  CHECK(u->path == "/ws");
  CHECK(u->host_header == "127.0.0.1:8080");

  u = parse_ws_url("WSS://example.org");
  REQUIRE(u);
  CHECK(u->tls);
  CHECK(u->port == 443);
  CHECK(u->path == "/");
  CHECK(u->host_header == "example.org");

  u = parse_ws_url("ws://[::1]:9/a/b?x=1#frag");
  REQUIRE(u);
  CHECK(u->host == "::1");
  CHECK(u->path == "/a/b?x=1");
  CHECK(u->host_header == "[::1]:9");

  for (const char* bad : {"http://x/ws", "ws://", "ws://:80/", "ws://h:0/", "ws://h:99999/",
                          "ws://u@h/", "ws://h:/", "ws://[::1/", "ws://h/a b", "ws://h:8x/"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_ws_url(bad).has_value());
  }
}
TEST_CASE("client snapshot JSON form") {
  ClientSnapshot s;
  CHECK(client_snapshot_to_json(s) ==
        R"({"state":"disconnected","peer_id":"","token":"","name":"","is_bot":false,)"
        R"("lobby":null,"participants":[],"chat":[],"last_offset":0,"history_complete":true,)"
        R"("last_error":null,"lobbies":[],"watching_lobbies":false})");
  s.state = ConnectionState::connected;
  s.peer_id = "p1";
  s.token = "t";
  s.name = "Ada";
  s.lobby = LobbyInfo{"L1", "Standup", false, true, 8, 1, 42};
  s.participants.push_back(Participant{"p1", "Ada", true, false, true, false, true, "", {}});
  s.chat.push_back(ChatMessage{"L1", 3, "p1", "Ada", "hi", 7});
  s.last_offset = 3;
  s.history_complete = false;
  s.last_error = ClientError{"rate_limited", "slow down", "", 11, ""};
  s.lobbies.push_back(LobbyInfo{"L2", "Hall", false, false, 4, 2, 40});
  s.watching_lobbies = true;
  CHECK(client_snapshot_to_json(s) ==
        R"({"state":"connected","peer_id":"p1","token":"t","name":"Ada","is_bot":false,)"
        R"("lobby":{"id":"L1","name":"Standup","private":false,"persistent":true,)"
        R"("max_participants":8,"participants":1,"created_ms":42,"metadata":{}},)"
        R"("participants":[{"peer_id":"p1","name":"Ada","has_media":true,"audio_muted":false,)"
        R"("video_muted":true,"screen_sharing":false,"is_bot":false,"connected":true,"user_id":"","roles":[],)"
        R"("metadata":{}}],)"
        R"("chat":[{"offset":3,"sender":"p1","sender_name":"Ada","text":"hi","time_ms":7,"system":false}],)"
        R"("last_offset":3,"history_complete":false,)"
        R"("last_error":{"code":"rate_limited","message":"slow down","retry_after_ms":11},)"
        R"("lobbies":[{"id":"L2","name":"Hall","private":false,"persistent":false,)"
        R"("max_participants":4,"participants":2,"created_ms":40,"metadata":{}}],)"
        R"("watching_lobbies":true})");
}

TEST_CASE("client core: bot_credential makes the first session, later connections resume") {
  ClientOptions o;
  o.bot_credential = "cred-1";
  Harness h(o);
  h.core->start(h.now);
  Sent auth = h.connect(h.welcome_data("b1", "tok-b", "assistant", false));
  CHECK(auth.str("credential") == "cred-1");
  CHECK_FALSE(auth.has("token"));
  CHECK_FALSE(auth.has("bot"));
  h.drop();
  h.advance_to(*h.core->retry_at());
  Sent again = h.connect(h.welcome_data("b1", "tok-b", "assistant", true));
  CHECK(again.str("token") == "tok-b");
  CHECK_FALSE(again.has("credential"));
}

TEST_CASE("client core: a refused bot credential is not tried again") {
  ClientOptions o;
  o.bot_credential = "used";
  Harness h(o);
  Answer ready;
  h.core->when_ready(ready.cb());
  h.core->start(h.now);
  h.core->on_open(h.now);
  Sent auth = h.take("auth");
  CHECK(auth.str("credential") == "used");
  h.error(auth, "invalid_token");
  CHECK(ready.reply().error->code == "invalid_token");  // starting failed with it
  CHECK(h.core->state() == ConnectionState::disconnected);
  CHECK_FALSE(h.core->retry_at());
  CHECK_FALSE(h.core->next_deadline());
  REQUIRE(h.count<client_event::Error>() == 1);
  CHECK(h.all<client_event::Error>()[0].error.code == "invalid_token");
}

TEST_CASE("client core: app_message pushes become events, metadata follows the pushes") {
  Harness h;
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "t", "Ada", false,
                           snapshot("L", "[" + participant("p1", "Ada") + "," + participant("p2", "Bo") + "]",
                                    "[]", 0)));
  h.take("chat_history");
  h.push("app_message", R"({"lobby_id":"L","name":"move","from":"p2","from_name":"Bo",)"
                        R"("to":"p1","payload":{"x":[1,2]}})");
  h.push("app_message", R"({"lobby_id":"L","name":"notice","from":"","from_name":""})");
  h.push("app_message", R"({"lobby_id":"X","name":"elsewhere","from":"p9","payload":1})");
  auto got = h.all<client_event::AppMessage>();
  REQUIRE(got.size() == 2);
  CHECK(got[0].lobby_id == "L");
  CHECK(got[0].name == "move");
  CHECK(got[0].from == "p2");
  CHECK(got[0].from_name == "Bo");
  CHECK(got[0].to == "p1");
  CHECK(got[0].payload_json == R"({"x":[1,2]})");
  CHECK(got[1].from.empty());
  CHECK(got[1].payload_json == "null");  // absent: null
  CHECK(client_event_to_json(ClientEvent{got[0]}) ==
        R"({"type":"app_message","lobby_id":"L","name":"move","from":"p2","from_name":"Bo",)"
        R"("to":"p1","payload":{"x":[1,2]}})");

  h.push("participant_updated", R"({"lobby_id":"L","participant":{"peer_id":"p2","name":"Bo",)"
                                R"("metadata":{"hand":true}}})");
  h.push("lobby_updated", R"({"lobby_id":"L","lobby":{"id":"L","name":"Standup","metadata":{"round":2}}})");
  const ClientSnapshot s = h.core->snapshot();
  CHECK(s.participants.at(1).metadata_json == R"({"hand":true})");
  CHECK(s.participants.at(0).metadata_json == "{}");
  CHECK(s.lobby->metadata_json == R"({"round":2})");
}

}  // namespace lobbykit::client

namespace lobbykit::client {
namespace {

std::string listed(const std::string& id, std::int64_t created, int count = 0) {
  return R"({"id":")" + id + R"(","name":")" + id + R"(","private":false,"persistent":false,)"
         R"("max_participants":8,"participants":)" + std::to_string(count) +
         R"(,"created_ms":)" + std::to_string(created) + "}";
}

std::vector<std::string> listed_ids(const ClientSnapshot& s) {
  std::vector<std::string> out;
  for (const auto& l : s.lobbies) out.push_back(l.id);
  return out;
}

TEST_CASE("client core: watch_lobbies keeps the lobby list and subscribes again after a drop") {
  Harness h;
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "t1", "", false));
  CHECK(h.nothing_sent());  // not asked: no subscription

  Answer watched;
  h.core->request("watch_lobbies", "", watched.cb(), h.now);  // "watch" defaults to true
  CHECK(h.core->snapshot().watching_lobbies);
  Sent w = h.take("watch_lobbies");
  h.reply(w, "{\"lobbies\":[" + listed("B", 20) + "," + listed("A", 10) + "]}");
  CHECK(watched.reply().ok());
  CHECK(listed_ids(h.core->snapshot()) == std::vector<std::string>{"A", "B"});  // oldest first
  REQUIRE(h.count<client_event::LobbyList>() == 1);
  CHECK(h.all<client_event::LobbyList>().at(0).lobbies.size() == 2);

  // Pushes: a new lobby takes its place by age, a change replaces the entry, a removal.
  h.push("lobby_listed", "{\"lobby\":" + listed("C", 15) + "}");
  h.push("lobby_listed", "{\"lobby\":" + listed("A", 10, 3) + "}");
  CHECK(listed_ids(h.core->snapshot()) == std::vector<std::string>{"A", "C", "B"});
  CHECK(h.core->snapshot().lobbies.at(0).participant_count == 3);
  h.push("lobby_unlisted", R"({"lobby_id":"B"})");
  h.push("lobby_unlisted", R"({"lobby_id":"never-listed"})");  // nothing to remove, no event
  CHECK(listed_ids(h.core->snapshot()) == std::vector<std::string>{"A", "C"});
  CHECK(h.count<client_event::LobbyListed>() == 2);
  REQUIRE(h.count<client_event::LobbyUnlisted>() == 1);
  CHECK(h.all<client_event::LobbyUnlisted>().at(0).lobby_id == "B");

  // The subscription belongs to the connection: the next welcome takes it out again, and
  // its list replaces the old one (D came, C went while away).
  h.drop();
  h.advance_to(*h.core->retry_at());
  h.connect(h.welcome_data("p1", "t1", "", true));
  Sent again = h.take("watch_lobbies");
  CHECK(again.flag("watch"));
  h.reply(again, "{\"lobbies\":[" + listed("A", 10) + "," + listed("D", 30) + "]}");
  CHECK(listed_ids(h.core->snapshot()) == std::vector<std::string>{"A", "D"});
  CHECK(h.count<client_event::LobbyList>() == 2);

  // Undone: no more subscriptions, and a push already on its way changes nothing.
  Answer off;
  h.core->request("watch_lobbies", R"({"watch":false})", off.cb(), h.now);
  CHECK_FALSE(h.core->snapshot().watching_lobbies);
  h.reply(h.take("watch_lobbies"), "{}");
  CHECK(off.reply().ok());
  h.push("lobby_listed", "{\"lobby\":" + listed("E", 40) + "}");
  CHECK(listed_ids(h.core->snapshot()) == std::vector<std::string>{"A", "D"});
  h.drop();
  h.advance_to(*h.core->retry_at());
  h.connect(h.welcome_data("p1", "t1", "", true));
  CHECK(h.nothing_sent());
}

TEST_CASE("client core: watch_lobbies asked while offline subscribes at the next welcome") {
  Harness h;
  Answer early;
  h.core->request("watch_lobbies", R"({"watch":true})", early.cb(), h.now);
  CHECK(early.reply().error->code == "not_connected");
  CHECK(h.core->snapshot().watching_lobbies);  // the wish holds
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "t1", "", false));
  h.reply(h.take("watch_lobbies"), "{\"lobbies\":[" + listed("A", 10) + "]}");
  CHECK(listed_ids(h.core->snapshot()) == std::vector<std::string>{"A"});

  // A "watch" that is not a boolean changes no wish; the server refuses it.
  Answer bad;
  h.core->request("watch_lobbies", R"({"watch":"no"})", bad.cb(), h.now);
  CHECK(h.core->snapshot().watching_lobbies);
  h.error(h.take("watch_lobbies"), "bad_field");
  CHECK(bad.reply().error->code == "bad_field");

  // A push of a lobby without an id is not listed.
  h.push("lobby_listed", R"({"lobby":{"name":"NoId","created_ms":1}})");
  CHECK(listed_ids(h.core->snapshot()) == std::vector<std::string>{"A"});

  // A list_lobbies result replaces the list too.
  Answer list;
  h.core->request("list_lobbies", "", list.cb(), h.now);
  h.reply(h.take("list_lobbies"), "{\"lobbies\":[" + listed("F", 50) + "]}");
  CHECK(listed_ids(h.core->snapshot()) == std::vector<std::string>{"F"});
  CHECK(h.count<client_event::LobbyList>() == 2);
}

}  // namespace
}  // namespace lobbykit::client

namespace lobbykit::client {
namespace {

TEST_CASE("client core: an unanswered re-subscription is asked again, a kick ends the wish") {
  ClientOptions o;
  o.request_timeout_ms = 1'000;
  Harness h(o);
  h.core->start(h.now);
  h.connect(h.welcome_data("p1", "t1", "", false));
  Answer on;
  h.core->request("watch_lobbies", R"({"watch":true})", on.cb(), h.now);
  h.reply(h.take("watch_lobbies"), R"({"lobbies":[]})");
  h.drop();
  h.advance_to(*h.core->retry_at());
  h.connect(h.welcome_data("p1", "t1", "", true));
  h.take("watch_lobbies");  // never answered
  h.advance_to(h.now + 1'001);
  CHECK(h.take("watch_lobbies").flag("watch"));  // asked again on the same connection
  CHECK(h.core->snapshot().watching_lobbies);

  h.drop(4002);  // kicked: the session and every wish of it are gone
  CHECK_FALSE(h.core->snapshot().watching_lobbies);
}

}  // namespace
}  // namespace lobbykit::client
