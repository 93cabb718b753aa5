// lobbykit::Client against a real lobbykit::Server in this process, through the installed
// API only (lobbykit::lobbykit): over a WebSocket on 127.0.0.1 and in-process. Every wait
// has a deadline; nothing sleeps to wait for something.
#include <lobbykit/lobbykit.hpp>

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <typeinfo>
#include <variant>
#include <vector>

namespace {

using namespace lobbykit;
using Clock = std::chrono::steady_clock;

constexpr auto kWait = std::chrono::seconds(15);  // generous: sanitizer builds are slow

enum class Via { socket, in_process };

const char* name_of(Via v) { return v == Via::socket ? "socket" : "in-process"; }

ServerOptions server_options(const std::string& store_path = "", std::uint16_t port = 0) {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.store_path = store_path;
  o.worker_threads = 1;
  o.limits.argon2_memory_kib = 64;  // cheap hashing under the sanitizers
  o.limits.argon2_iterations = 1;
  return o;
}

// A server on the port a stopped one had, with its store. Tests run in parallel and take
// free ports of their own: another may hold this one for a moment; then it tries again.
std::unique_ptr<Server> restart_on(const std::string& store_path, std::uint16_t port) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  for (;;) {
    try {
      auto server = std::make_unique<Server>(server_options(store_path, port));
      server->start();
      return server;
    } catch (const StartError&) {
      if (std::chrono::steady_clock::now() > deadline) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

ClientOptions client_options(const std::string& name = "") {
  ClientOptions o;
  o.name = name;
  o.reconnect.initial_delay_ms = 50;
  o.reconnect.max_delay_ms = 400;
  return o;
}

std::unique_ptr<Client> make_client(Via via, Server& server, ClientOptions o) {
  if (via == Via::in_process) return std::make_unique<Client>(server, std::move(o));
  o.url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/ws";
  return std::make_unique<Client>(std::move(o));
}

// Every event a client delivers, kept for the test thread.
class Recorder {
 public:
  void attach(Client& c) {
    c.subscribe([this](const ClientEvent& e) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        events_.push_back(e);
      }
      cv_.notify_all();
    });
  }

  // Waits until pred() holds, re-checking after each event; pred runs without the lock (it
  // may call into a client).
  template <class Pred>
  bool wait(Pred pred) {
    const auto deadline = Clock::now() + kWait;
    for (;;) {
      std::size_t seen;
      {
        std::lock_guard<std::mutex> lock(mu_);
        seen = events_.size();
      }
      if (pred()) return true;
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait_until(lock, deadline, [&] { return events_.size() != seen; })) {
        lock.unlock();
        return pred();
      }
    }
  }

  template <class T>
  std::vector<T> all() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<T> out;
    for (const auto& e : events_)
      if (const T* t = std::get_if<T>(&e)) out.push_back(*t);
    return out;
  }

  // Waits for an event of type T that matches; returns it.
  template <class T, class Match>
  T wait_for(Match match) {
    std::optional<T> found;
    bool ok = wait([&] {
      for (const T& t : all<T>()) {
        if (match(t)) {
          found = t;
          return true;
        }
      }
      return false;
    });
    INFO("no matching ", typeid(T).name(), " event in time");
    REQUIRE(ok);
    return *found;
  }

  template <class T>
  T wait_for() {
    return wait_for<T>([](const T&) { return true; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ClientEvent> events_;
};

Reply get(std::future<Reply> f) {
  REQUIRE(f.wait_for(kWait) == std::future_status::ready);
  return f.get();
}

rapidjson::Document ok(std::future<Reply> f) {
  Reply r = get(std::move(f));
  INFO("error: ", r.error ? r.error->code + " " + r.error->message : std::string());
  REQUIRE(r.ok());
  rapidjson::Document d;
  d.Parse(r.data_json.c_str());
  REQUIRE_FALSE(d.HasParseError());
  return d;
}

// One participant: a client and what it heard. The recorder outlives the client, which
// still delivers events (disconnected) while it is destroyed.
struct Peer {
  Recorder events;
  std::unique_ptr<Client> client;

  Peer(Via via, Server& server, ClientOptions o) : client(make_client(via, server, std::move(o))) {
    events.attach(*client);
  }
  explicit Peer(ClientOptions o) : client(std::make_unique<Client>(std::move(o))) {
    events.attach(*client);
  }

  void wait_state(ConnectionState s) {
    INFO("waiting for ", to_string(s));
    REQUIRE(events.wait([&] { return client->state() == s; }));
  }
  // Started and welcomed (with its name, when it asked for one).
  void connect(const std::string& name = "") {
    client->start();
    wait_state(ConnectionState::connected);
    if (!name.empty()) REQUIRE(events.wait([&] { return client->snapshot().name == name; }));
  }
  ClientSnapshot snap() const { return client->snapshot(); }
};

std::vector<std::string> chat_texts(const ClientSnapshot& s) {
  std::vector<std::string> out;
  for (const auto& m : s.chat) out.push_back(m.text);
  return out;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "lobbykit-client-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("client: name, lobby, chat and signaling between two clients") {
  const std::pair<Via, Via> pairs[] = {{Via::socket, Via::socket},
                                       {Via::in_process, Via::in_process},
                                       {Via::socket, Via::in_process}};
  for (const auto& pair : pairs) {
    // Named copies, not a structured binding: CAPTURE's lambda cannot capture a binding
    // before C++20 (clang refuses it).
    const Via via_a = pair.first, via_b = pair.second;
    CAPTURE(name_of(via_a));
    CAPTURE(name_of(via_b));
    Server server(server_options());
    server.start();
    Peer a(via_a, server, client_options());
    Peer b(via_b, server, client_options("Bo"));  // takes its name by itself
    a.connect();
    b.connect("Bo");

    // Requests before a name: the server's typed error comes back.
    Reply refused = get(a.client->join_lobby("nope"));
    REQUIRE(refused.error);
    CHECK(refused.error->code == "name_required");

    rapidjson::Document named = ok(a.client->set_name("Ada"));
    CHECK(std::string(named["name"].GetString()) == "Ada");
    REQUIRE(a.events.wait([&] { return a.snap().name == "Ada"; }));
    CHECK(a.events.wait_for<client_event::NameChanged>().name == "Ada");

    CreateLobbyOptions create;
    create.name = "Room";
    rapidjson::Document created = ok(a.client->create_lobby(create));
    const std::string lobby = created["lobby"]["id"].GetString();
    rapidjson::Document listed = ok(b.client->list_lobbies());
    REQUIRE(listed["lobbies"].Size() == 1);
    CHECK(std::string(listed["lobbies"][0]["id"].GetString()) == lobby);

    JoinOptions media;
    media.has_media = true;
    ok(a.client->join_lobby(lobby, media));
    CHECK(a.events.wait_for<client_event::LobbyJoined>().lobby.id == lobby);
    ok(b.client->join_lobby_by_name("Room", media));
    REQUIRE(a.events.wait([&] { return a.snap().participants.size() == 2; }));
    CHECK(a.events.wait_for<client_event::ParticipantJoined>().participant.name == "Bo");
    CHECK(b.snap().lobby->id == lobby);
    CHECK(b.snap().participants.size() == 2);

    // The managed mesh: one peer_added each, exactly one of them offers (the newcomer).
    const PeerId id_a = a.snap().peer_id;
    const PeerId id_b = b.snap().peer_id;
    auto added_a = a.events.wait_for<client_event::PeerAdded>();
    auto added_b = b.events.wait_for<client_event::PeerAdded>();
    CHECK(added_a.peer_id == id_b);
    CHECK(added_b.peer_id == id_a);
    CHECK(added_a.name == "Bo");
    CHECK(added_a.should_offer != added_b.should_offer);
    CHECK(added_b.should_offer);
    CHECK(a.events.all<client_event::PeerAdded>().size() == 1);

    // Signaling relay: offer, answer, a candidate and the end of candidates.
    ok(b.client->send_description(id_a, "offer", "v=0\r\no=offer\r\n"));
    auto offer = a.events.wait_for<client_event::Description>();
    CHECK(offer.from == id_b);
    CHECK(offer.type == "offer");
    CHECK(offer.sdp == "v=0\r\no=offer\r\n");
    ok(a.client->send_description(id_b, "answer", "v=0\r\no=answer\r\n"));
    CHECK(b.events.wait_for<client_event::Description>().type == "answer");
    const std::string cand = "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host";
    ok(a.client->send_candidate(id_b, cand, std::string("0"), 0, std::string("uf1")));
    ok(a.client->send_candidate(id_b, "", std::nullopt, std::nullopt));
    auto got = b.events.wait_for<client_event::Candidate>();
    CHECK(got.from == id_a);
    CHECK(got.candidate == cand);
    CHECK(got.sdp_mid == std::optional<std::string>("0"));
    CHECK(got.sdp_mline_index == std::optional<int>(0));
    CHECK(got.username_fragment == std::optional<std::string>("uf1"));
    auto end = b.events.wait_for<client_event::Candidate>(
        [](const client_event::Candidate& c) { return c.candidate.empty(); });
    CHECK(end.from == id_a);
    Reply to_self = get(a.client->send_description(id_a, "offer", "x"));
    CHECK(to_self.error->code == "bad_target");

    // Chat both ways; each sees both messages once, in offset order.
    CHECK(ok(a.client->chat("hello"))["offset"].GetUint64() == 1);
    CHECK(ok(b.client->chat("hi Ada"))["offset"].GetUint64() == 2);
    for (Peer* p : {&a, &b}) {
      REQUIRE(p->events.wait([&] { return p->snap().chat.size() == 2; }));
      ClientSnapshot s = p->snap();
      CHECK(chat_texts(s) == std::vector<std::string>{"hello", "hi Ada"});
      CHECK(s.chat[0].sender == id_a);
      CHECK(s.chat[1].sender_name == "Bo");
      CHECK(s.chat[0].lobby_id == lobby);
      CHECK(s.last_offset == 2);
      CHECK(s.history_complete);
      CHECK(p->events.all<client_event::Chat>().size() == 2);
    }

    // Media flags, then leaving.
    ok(a.client->update_media(std::nullopt, true, std::nullopt));
    REQUIRE(b.events.wait([&] {
      auto s = b.snap();
      auto it = std::find_if(s.participants.begin(), s.participants.end(),
                             [&](const Participant& p) { return p.peer_id == id_a; });
      return it != s.participants.end() && it->audio_muted;
    }));
    ok(a.client->update_media(std::nullopt, std::nullopt, std::nullopt, true));
    REQUIRE(b.events.wait([&] {
      auto s = b.snap();
      auto it = std::find_if(s.participants.begin(), s.participants.end(),
                             [&](const Participant& p) { return p.peer_id == id_a; });
      return it != s.participants.end() && it->screen_sharing;
    }));
    CHECK(b.events.all<client_event::ParticipantUpdated>().back().participant.screen_sharing);
    ok(a.client->leave_lobby());
    CHECK(a.events.wait_for<client_event::LobbyLeft>().reason == "left");
    CHECK_FALSE(a.snap().lobby.has_value());
    CHECK(b.events.wait_for<client_event::ParticipantLeft>().peer_id == id_a);
    CHECK(b.events.wait_for<client_event::PeerRemoved>().peer_id == id_a);
  }
}

TEST_CASE("client: the server restarts on the same port, the client resumes and recovers chat") {
  TempDir dir;
  const std::string db = (dir.path / "lobbykit.db").string();
  // A gate for A's loop (below); declared first, so it outlives the clients.
  std::promise<void> held;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> gated{false};
  auto server = std::make_unique<Server>(server_options(db));
  const std::uint16_t port = server->port();
  server->start();

  ClientOptions oa = client_options("Ada");
  oa.url = "ws://127.0.0.1:" + std::to_string(port) + "/ws";
  ClientOptions ob = client_options("Bo");
  ob.url = oa.url;
  Peer a(oa);
  Peer b(ob);
  a.connect("Ada");
  b.connect("Bo");
  CreateLobbyOptions create;
  create.name = "Room";
  const std::string lobby = ok(a.client->create_lobby(create))["lobby"]["id"].GetString();
  JoinOptions media;
  media.has_media = true;
  ok(a.client->join_lobby(lobby, media));
  ok(b.client->join_lobby(lobby));
  ok(a.client->chat("one"));
  ok(b.client->chat("two"));
  ok(a.client->chat("three"));
  REQUIRE(a.events.wait([&] { return a.snap().chat.size() == 3; }));
  const PeerId peer_a = a.snap().peer_id;
  const std::string token_a = a.snap().token;

  // Hold A's loop once it starts reconnecting, so that it misses what B says meanwhile.
  a.client->subscribe([&](const ClientEvent& e) {
    auto* s = std::get_if<client_event::StateChanged>(&e);
    if (s && s->state == ConnectionState::reconnecting && !gated.exchange(true)) {
      held.set_value();
      released.wait_for(kWait);  // a gate, opened by the test below
    }
  });

  server->stop();
  server.reset();
  REQUIRE(held.get_future().wait_for(kWait) == std::future_status::ready);
  b.wait_state(ConnectionState::reconnecting);

  server = restart_on(db, port);
  b.wait_state(ConnectionState::connected);
  auto b_welcome = b.events.wait_for<client_event::Welcome>(
      [](const client_event::Welcome& w) { return w.resumed; });
  CHECK(b_welcome.peer_id == b.snap().peer_id);
  ok(b.client->chat("four"));
  ok(b.client->chat("five"));

  release.set_value();
  a.wait_state(ConnectionState::connected);
  auto a_welcome = a.events.wait_for<client_event::Welcome>(
      [](const client_event::Welcome& w) { return w.resumed; });
  CHECK(a_welcome.peer_id == peer_a);
  CHECK(a_welcome.token == token_a);
  // The welcome shows the lobby it resumed into, with its members.
  REQUIRE(a_welcome.lobby.has_value());
  CHECK(a_welcome.lobby->id == lobby);
  CHECK(a_welcome.participants.size() == 2);
  CHECK(a_welcome.lobby->participant_count == 2);
  REQUIRE(a.events.wait([&] { return a.snap().chat.size() == 5; }));
  ClientSnapshot s = a.snap();
  CHECK(s.peer_id == peer_a);
  CHECK(s.lobby->id == lobby);
  CHECK(chat_texts(s) == std::vector<std::string>{"one", "two", "three", "four", "five"});
  CHECK(s.chat.back().offset == 5);
  CHECK(s.history_complete);
  // A had media; the restarted server brought it back without: the client put it back.
  REQUIRE(a.events.wait([&] {
    auto snap = a.snap();
    auto it = std::find_if(snap.participants.begin(), snap.participants.end(),
                           [&](const Participant& p) { return p.peer_id == peer_a; });
    return it != snap.participants.end() && it->has_media && it->connected;
  }));
  // The chat it missed came as events too.
  a.events.wait_for<client_event::Chat>(
      [](const client_event::Chat& c) { return c.message.text == "five"; });
  a.client.reset();
  b.client.reset();
  server.reset();
}

TEST_CASE("client: start() settles once the name is taken, or fails with the error of the name") {
  Server server(server_options());
  server.start();
  for (Via via : {Via::socket, Via::in_process}) {
    CAPTURE(name_of(via));
    const std::string name = via == Via::socket ? "Ada" : "Ida";
    ClientOptions oa = client_options(name);
    oa.password = "secret";
    Peer a(via, server, oa);
    rapidjson::Document ready = ok(a.client->start());
    CHECK(std::string(ready["name"].GetString()) == name);
    CHECK(std::string(ready["peer_id"].GetString()) == a.snap().peer_id);
    // At once, what needs the name works (with a password, it used to fail name_required).
    CreateLobbyOptions create;
    create.name = "Ready " + name;
    const std::string lobby = ok(a.client->create_lobby(create))["lobby"]["id"].GetString();
    ok(a.client->join_lobby(lobby));

    ClientOptions ob = client_options(name);
    ob.password = "guess";
    Peer b(via, server, ob);
    Reply refused = get(b.client->start());
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error->code == "wrong_password");
    CHECK(get(b.client->ready()).error->code == "wrong_password");  // settled once
    CHECK(b.events.wait_for<client_event::Error>().error.code == "wrong_password");
    CHECK(b.client->state() == ConnectionState::connected);  // still there, without a name
    CHECK(b.snap().name.empty());

    Peer c(via, server, client_options(name + "x"));
    ok(c.client->start());
    Peer d(via, server, client_options(name + "x"));
    CHECK(get(d.client->start()).error->code == "name_taken");
  }
  // Stopped before it ever ran: "stopped".
  Client idle(server, client_options("Zed"));
  idle.stop();
  CHECK(get(idle.ready()).error->code == "stopped");
}

TEST_CASE("client: a request the server does not answer in time fails with timeout") {
  for (Via via : {Via::socket, Via::in_process}) {
    CAPTURE(name_of(via));
    Server server(server_options());
    server.start();
    ClientOptions o = client_options();
    // Short enough to wait out, long enough that the connect's auth and the last ping (the
    // server answers them at once) never reach it on a loaded machine or under TSan.
    o.request_timeout_ms = 2'000;
    Peer p(via, server, o);
    p.connect();

    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    server.post([released] { released.wait_for(kWait); });  // the server's loop stalls
    Reply r = get(p.client->request("ping", "{}"));
    release.set_value();
    REQUIRE(r.error);
    CHECK(r.error->code == "timeout");
    CHECK(p.client->state() == ConnectionState::connected);
    ok(p.client->request("ping", "{}"));  // and it still works afterwards
  }
}

TEST_CASE("client: requests when not connected, and after stop") {
  Server server(server_options());
  server.start();
  Peer p(Via::socket, server, client_options());
  Reply before = get(p.client->request("ping", "{}"));
  CHECK(before.error->code == "not_connected");
  Reply bad = get(p.client->request("ping", "[]"));  // not started: refused at once anyway
  CHECK(bad.error);
  p.connect();
  CHECK(get(p.client->request("ping", "{not json")).error->code == "bad_json");
  p.client->stop();
  CHECK(p.client->state() == ConnectionState::disconnected);
  CHECK(get(p.client->request("ping", "{}")).error->code == "stopped");
  p.client->stop();  // idempotent
}

TEST_CASE("client: watch_lobbies before start() subscribes once connected, pushes follow") {
  Server server(server_options());
  server.start();
  for (Via via : {Via::socket, Via::in_process}) {
    INFO(std::string(name_of(via)));
    Peer w(via, server, client_options());
    CHECK(get(w.client->watch_lobbies()).error->code == "not_connected");
    CHECK(w.snap().watching_lobbies);  // the wish holds
    w.connect();
    w.events.wait_for<client_event::LobbyList>();

    const std::string host_name = std::string("Host ") + name_of(via);
    Peer host(via, server, client_options(host_name));
    host.connect(host_name);
    CreateLobbyOptions create;
    create.name = std::string("Listed ") + name_of(via);
    const std::string id = ok(host.client->create_lobby(create))["lobby"]["id"].GetString();
    w.events.wait_for<client_event::LobbyListed>(
        [&](const client_event::LobbyListed& e) { return e.lobby.id == id; });
    const auto lobbies = w.snap().lobbies;
    CHECK(std::any_of(lobbies.begin(), lobbies.end(),
                      [&](const LobbyInfo& l) { return l.id == id && l.name == create.name; }));
    CHECK(server.remove_lobby(id).ok());
    w.events.wait_for<client_event::LobbyUnlisted>(
        [&](const client_event::LobbyUnlisted& e) { return e.lobby_id == id; });
  }
}

TEST_CASE("client: a stopped server closes in-process clients, they keep trying") {
  auto server = std::make_unique<Server>(server_options());
  server->start();
  Peer p(Via::in_process, *server, client_options());
  p.connect();
  server->stop();
  p.wait_state(ConnectionState::reconnecting);
  server.reset();  // the client outlives it and still only retries
  p.wait_state(ConnectionState::reconnecting);
  p.client->stop();
  CHECK(p.client->state() == ConnectionState::disconnected);
}

TEST_CASE("client: stop() from inside a handler") {
  for (Via via : {Via::socket, Via::in_process}) {
    CAPTURE(name_of(via));
    std::atomic<int> stops{0};
    Server server(server_options());
    server.start();
    auto client = make_client(via, server, client_options());
    Client* c = client.get();
    c->subscribe([c, &stops](const ClientEvent& e) {
      if (std::holds_alternative<client_event::Welcome>(e)) {
        c->stop();  // returns at once; the loop ends after this handler
        ++stops;
        // The client is still usable from here: a request fails cleanly.
        c->request("ping", "{}", [](const Reply& r) { CHECK(r.error->code == "stopped"); });
      }
    });
    // run() on a thread of ours: it returns once the handler has stopped the loop.
    std::promise<void> returned;
    std::thread loop([&] {
      c->run();
      returned.set_value();
    });
    REQUIRE(returned.get_future().wait_for(kWait) == std::future_status::ready);
    loop.join();
    CHECK(stops == 1);
    CHECK(c->state() == ConnectionState::disconnected);
    c->stop();
    c->run();  // after stop: returns at once
  }
}

TEST_CASE("client: destroyed while connected, and from its own handler") {
  for (Via via : {Via::socket, Via::in_process}) {
    CAPTURE(name_of(via));
    std::mutex mu;  // declared before the server: its handler runs until the server stops
    std::condition_variable cv;
    int disconnected = 0;
    Server server(server_options());
    server.subscribe([&](const Event& e) {
      if (std::holds_alternative<event::SessionDisconnected>(e)) {
        std::lock_guard<std::mutex> lock(mu);
        ++disconnected;
        cv.notify_all();
      }
    });
    server.start();
    auto wait_disconnects = [&](int n) {
      std::unique_lock<std::mutex> lock(mu);
      return cv.wait_for(lock, kWait, [&] { return disconnected >= n; });
    };

    {
      Peer p(via, server, client_options("Ada"));
      p.connect("Ada");
      ok(p.client->request("ping", "{}"));
      // Leaves scope connected: the destructor closes and joins.
    }
    CHECK(wait_disconnects(1));

    // Destroyed by its own handler on its own loop thread: it stops, frees itself later.
    auto* raw = make_client(via, server, client_options()).release();
    raw->subscribe([raw](const ClientEvent& e) {
      if (std::holds_alternative<client_event::Welcome>(e)) delete raw;
    });
    raw->start();
    CHECK(wait_disconnects(2));
  }
}

TEST_CASE("server: destroyed from its own event handler, with start() and with run()") {
  for (bool own_thread : {true, false}) {
    CAPTURE(own_thread);
    auto* server = new Server(server_options());
    const std::uint16_t port = server->port();
    server->subscribe([server](const Event& e) {
      // The loop is on the stack below this handler: the server stops and frees itself
      // once the loop has ended (ASan reports any use after that).
      if (std::holds_alternative<event::LobbyCreated>(e)) delete server;
    });
    std::thread runner;
    if (own_thread)
      server->start();
    else
      runner = std::thread([server] { server->run(); });  // returns after the delete

    ClientOptions o = client_options("Ada");
    o.url = "ws://127.0.0.1:" + std::to_string(port) + "/ws";
    o.reconnect.enabled = false;
    Peer p(o);
    p.connect("Ada");
    CreateLobbyOptions create;
    create.name = "Doomed";
    p.client->create_lobby(create);  // its reply may or may not arrive before the close
    p.wait_state(ConnectionState::disconnected);
    if (runner.joinable()) runner.join();
  }
}

// A TCP connection to 127.0.0.1:port that has sent one HTTP request and part of the next.
struct HalfOpenHttp {
  int fd = -1;
  explicit HalfOpenHttp(std::uint16_t port) {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    const char head[] = "GET /api/health HTTP/1.1\r\nHost: x\r\n\r\nGET /api/health HTTP/1.1\r\n";
    REQUIRE(::send(fd, head, sizeof head - 1, MSG_NOSIGNAL) ==
            static_cast<ssize_t>(sizeof head - 1));
  }
  ~HalfOpenHttp() { ::close(fd); }
};

// libwebsockets on a loop the transport owns (libuv) has known teardown pitfalls: a context
// destroyed while sockets or their close callbacks are pending closes a handle twice (an
// abort in libuv). Each round stops with WebSocket clients (coming straight back) and an HTTP
// request in flight; the sanitizer builds run this too (TSan on poll only, see below). It exercises the path rather than
// reproducing the abort every time: the first teardown aborted about once in 300 rounds of
// a similar Python loop (see the commit that added this).
TEST_CASE("server: started and stopped again and again with connections open, on each loop") {
#if defined(__SANITIZE_THREAD__)
  // TSan reports lws' double close of its wake-up pipe on libuv (a true positive, and the
  // reason poll is the library's default: docs/architecture.md, "Transport").
  const std::vector<EventLoop> loops{EventLoop::poll};
#else
  const std::vector<EventLoop> loops{EventLoop::libuv, EventLoop::poll};
#endif
  for (EventLoop loop : loops) {
    CAPTURE(static_cast<int>(loop));
    for (int round = 0; round < 15; ++round) {
      CAPTURE(round);
      ServerOptions so = server_options();
      so.event_loop = loop;
      Server server(so);
      server.start();
      ClientOptions o = client_options("Ada");
      o.url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/ws";
      o.reconnect.initial_delay_ms = 1;  // they come straight back while the server stops
      o.reconnect.max_delay_ms = 1;
      Peer a(o);
      a.connect("Ada");
      o.name = "Bob";
      Peer b(o);
      b.connect("Bob");
      HalfOpenHttp http(server.port());
      server.stop();
    }
    // Made and destroyed without ever running.
    for (int round = 0; round < 3; ++round) {
      ServerOptions so = server_options();
      so.event_loop = loop;
      Server server(so);
      CHECK(server.port() != 0);
    }
  }
}

TEST_CASE("client: an in-process client that does not keep up is closed 4003, then catches up") {
  ServerOptions so = server_options();
  so.limits.max_outbound_bytes = 16 * 1024;
  std::mutex mu;  // declared before the server: its handler runs until the server stops
  std::condition_variable cv;
  std::vector<std::string> disconnected;
  Server server(so);
  server.subscribe([&](const Event& e) {
    if (const auto* d = std::get_if<event::SessionDisconnected>(&e)) {
      std::lock_guard<std::mutex> lock(mu);
      disconnected.push_back(d->peer_id);
      cv.notify_all();
    }
  });
  server.start();

  // The slow client's loop blocks in its first chat event until the gate opens. Declared
  // before the clients, whose handlers use them until they are destroyed.
  std::promise<void> gate;
  std::shared_future<void> opened = gate.get_future().share();
  std::atomic<bool> blocked{false};
  Peer slow(Via::in_process, server, client_options("Slow"));
  Peer fast(Via::socket, server, client_options("Fast"));
  slow.client->subscribe([&](const ClientEvent& e) {
    if (std::holds_alternative<client_event::Chat>(e) && !blocked.exchange(true))
      opened.wait_for(kWait);
  });
  slow.connect("Slow");
  fast.connect("Fast");
  CreateLobbyOptions create;
  create.name = "Flood";
  const std::string lobby = ok(fast.client->create_lobby(create))["lobby"]["id"].GetString();
  ok(fast.client->join_lobby(lobby));
  ok(slow.client->join_lobby(lobby));
  const std::string slow_id = slow.snap().peer_id;

  // 120 chats of 1000 bytes: far more than 16 KiB waits for the blocked client.
  const std::string text(1000, 'x');
  std::vector<std::future<Reply>> sent;
  for (int i = 0; i < 120; ++i) sent.push_back(fast.client->chat(text));
  for (auto& f : sent) ok(std::move(f));
  {
    std::unique_lock<std::mutex> lock(mu);
    INFO("the server did not close the slow in-process client");
    CHECK(cv.wait_for(lock, kWait, [&] {
      return std::find(disconnected.begin(), disconnected.end(), slow_id) != disconnected.end();
    }));
  }
  gate.set_value();
  // It reconnects, resumes its session and fetches what it missed by offset.
  const bool caught_up = slow.events.wait([&] {
    ClientSnapshot s = slow.snap();
    return s.state == ConnectionState::connected && s.chat.size() == 120;
  });
  INFO(client_snapshot_to_json(slow.snap()).substr(0, 400));
  REQUIRE(caught_up);
  INFO(client_snapshot_to_json(slow.snap()).substr(0, 300));
  CHECK(slow.snap().peer_id == slow_id);
  CHECK(slow.snap().last_offset == 120);
  CHECK_FALSE(slow.events.all<client_event::StateChanged>().empty());
}

TEST_CASE("client: snapshot and state from other threads while events flow") {
  Server server(server_options());
  server.start();
  Peer a(Via::socket, server, client_options("Ada"));
  Peer b(Via::in_process, server, client_options("Bo"));
  a.connect("Ada");
  b.connect("Bo");
  CreateLobbyOptions create;
  create.name = "Busy";
  const std::string lobby = ok(a.client->create_lobby(create))["lobby"]["id"].GetString();
  ok(a.client->join_lobby(lobby));
  ok(b.client->join_lobby(lobby));
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      ClientSnapshot s = a.client->snapshot();
      CHECK(s.chat.size() <= 50);
      (void)a.client->state();
    }
  });
  std::vector<std::future<Reply>> sent;
  for (int i = 0; i < 50; ++i) sent.push_back(b.client->chat("m" + std::to_string(i)));
  for (auto& f : sent) ok(std::move(f));
  REQUIRE(a.events.wait([&] { return a.snap().chat.size() == 50; }));
  done = true;
  reader.join();
  ClientSnapshot s = a.snap();
  for (std::size_t i = 0; i < s.chat.size(); ++i) CHECK(s.chat[i].offset == i + 1);
}

TEST_CASE("client: a second client on the same token replaces the first (4001)") {
  for (Via via : {Via::socket, Via::in_process}) {
    CAPTURE(name_of(via));
    Server server(server_options());
    server.start();
    Peer first(via, server, client_options("Ada"));
    first.connect("Ada");
    ClientOptions same = client_options();
    same.token = first.snap().token;
    Peer second(via, server, same);
    second.connect();
    CHECK(second.snap().peer_id == first.snap().peer_id);
    CHECK(second.snap().name == "Ada");
    CHECK(second.events.wait_for<client_event::Welcome>().resumed);

    // The first stops trying, says why, and keeps its token.
    auto replaced = first.events.wait_for<client_event::Error>();
    CHECK(replaced.error.code == "replaced");
    first.wait_state(ConnectionState::disconnected);
    CHECK(first.snap().last_error->code == "replaced");
    CHECK_FALSE(first.snap().token.empty());

    // reconnect() takes the session back; now the second one is replaced.
    first.client->reconnect();
    first.wait_state(ConnectionState::connected);
    CHECK(second.events.wait_for<client_event::Error>().error.code == "replaced");
    second.wait_state(ConnectionState::disconnected);
  }
}

TEST_CASE("client: application messages through a host handler, and metadata, end to end") {
  Server server(server_options());
  std::mutex mu;
  std::vector<std::string> asked;  // names the host's handlers saw
  server.on_app_message("dice:roll", [&](const AppMessageRequest& q, Decision<AppMessageDecision> d) {
    {
      std::lock_guard<std::mutex> lock(mu);
      asked.push_back(q.type);
    }
    d.resolve(AppMessageDecision::handled(R"({"rolled":4})"));
  });
  server.on_app_message("", [&](const AppMessageRequest& q, Decision<AppMessageDecision> d) {
    {
      std::lock_guard<std::mutex> lock(mu);
      asked.push_back(q.type);
    }
    if (q.type == "forbidden") d.deny("no_such_thing", "Not here.");
    else d.allow();
  });
  server.start();
  Peer a(Via::socket, server, client_options("Ada"));
  Peer b(Via::in_process, server, client_options("Bo"));
  a.connect("Ada");
  b.connect("Bo");
  CreateLobbyOptions create;
  create.name = "Room";
  const std::string lobby = ok(a.client->create_lobby(create))["lobby"]["id"].GetString();
  ok(a.client->join_lobby(lobby));
  ok(b.client->join_lobby(lobby));

  rapidjson::Document sent = ok(a.client->send_app_message("move", R"({"x":1})"));
  CHECK(sent["delivered"].GetUint() == 1);
  auto got = b.events.wait_for<client_event::AppMessage>();
  CHECK(got.name == "move");
  CHECK(got.from == a.snap().peer_id);
  CHECK(got.from_name == "Ada");
  CHECK(got.to.empty());
  CHECK(got.payload_json == R"({"x":1})");

  rapidjson::Document rolled = ok(a.client->send_app_message("dice:roll"));
  CHECK(rolled["delivered"].GetUint() == 0);
  CHECK(rolled["reply"]["rolled"].GetInt() == 4);

  Reply denied = get(a.client->send_app_message("forbidden", "", b.snap().peer_id));
  REQUIRE(denied.error);
  CHECK(denied.error->code == "denied");
  CHECK(denied.error->reason == "no_such_thing");
  CHECK(get(a.client->send_app_message("x", "{not json")).error->code == "bad_json");

  // Without handlers nothing is asked.
  server.on_app_message("dice:roll", {});
  server.on_app_message("", {});
  ok(a.client->send_app_message("dice:roll", "", b.snap().peer_id));
  auto direct = b.events.wait_for<client_event::AppMessage>(
      [](const client_event::AppMessage& m) { return m.name == "dice:roll"; });
  CHECK(direct.to == b.snap().peer_id);
  {
    std::lock_guard<std::mutex> lock(mu);
    CHECK(asked == std::vector<std::string>{"move", "dice:roll", "forbidden"});
  }

  // The host's own message, and metadata: the snapshots follow.
  CHECK(server.send_app_message(lobby, "notice", R"("hello")").ok());
  auto from_server = a.events.wait_for<client_event::AppMessage>(
      [](const client_event::AppMessage& m) { return m.name == "notice"; });
  CHECK(from_server.from.empty());
  CHECK(from_server.payload_json == R"("hello")");
  CHECK(server.send_app_message(lobby, "notice", "1", "nobody").code == "unknown_peer");

  ok(b.client->set_metadata("self", R"({"hand":true})"));
  REQUIRE(a.events.wait([&] {
    for (const auto& p : a.snap().participants)
      if (p.peer_id == b.snap().peer_id) return p.metadata_json == R"({"hand":true})";
    return false;
  }));
  auto lobby_meta = server.set_lobby_metadata(lobby, R"({"round":1})");
  REQUIRE(lobby_meta.ok());
  REQUIRE(b.events.wait([&] {
    auto s = b.snap();
    return s.lobby && s.lobby->metadata_json == R"({"round":1})";
  }));
  CHECK(get(b.client->set_metadata("lobby", "{}")).error->code == "forbidden");
  CHECK(server.set_session_metadata(a.snap().peer_id, R"({"team":"red"})").ok());
  REQUIRE(b.events.wait([&] {
    for (const auto& p : b.snap().participants)
      if (p.peer_id == a.snap().peer_id) return p.metadata_json == R"({"team":"red"})";
    return false;
  }));
}
