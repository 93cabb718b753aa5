// lobbykit::BotProvider and ClientOptions::bot_credential against a real lobbykit::Server in
// this process, through the public API only: over a WebSocket on 127.0.0.1 and in-process.
// Every wait has a deadline; nothing sleeps to wait for something.
#include <lobbykit/lobbykit.hpp>

#include <doctest/doctest.h>
#include <rapidjson/document.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace {

using namespace lobbykit;
using Clock = std::chrono::steady_clock;

constexpr auto kWait = std::chrono::seconds(15);
const char* const kKey = "provider-test-key";

enum class Via { socket, in_process };

ServerOptions server_options() {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.store_path = "";
  o.worker_threads = 1;
  o.provider_keys = {kKey};
  return o;
}

std::string url_of(Server& server) {
  return "ws://127.0.0.1:" + std::to_string(server.port()) + "/ws";
}

ProviderOptions provider_options(const std::string& key = kKey) {
  ProviderOptions o;
  o.key = key;
  o.name = "cpp-host";
  o.version = "1";
  o.kinds = {{"echo", "Repeats"}};
  o.max_jobs = 2;
  o.reconnect.initial_delay_ms = 50;
  o.reconnect.max_delay_ms = 400;
  return o;
}

std::unique_ptr<BotProvider> make_provider(Via via, Server& server, ProviderOptions o) {
  if (via == Via::in_process) return std::make_unique<BotProvider>(server, std::move(o));
  o.url = url_of(server);
  return std::make_unique<BotProvider>(std::move(o));
}

std::unique_ptr<Client> make_client(Via via, Server& server, ClientOptions o) {
  if (via == Via::in_process) return std::make_unique<Client>(server, std::move(o));
  o.url = url_of(server);
  return std::make_unique<Client>(std::move(o));
}

// Every event of one kind of source (ClientEvent, ProviderEvent), kept for the test thread.
template <class Event>
class Recorder {
 public:
  std::function<void(const Event&)> sink() {
    return [this](const Event& e) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        events_.push_back(e);
      }
      cv_.notify_all();
    };
  }

  // The first event of type T that matches, waiting for it.
  template <class T, class Match>
  T wait_for(Match match) {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<T> found;
    const bool ok = cv_.wait_until(lock, Clock::now() + kWait, [&] {
      for (const Event& e : events_)
        if (const T* t = std::get_if<T>(&e); t && match(*t)) {
          found = *t;
          return true;
        }
      return false;
    });
    INFO("no matching event in time");
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
  std::vector<Event> events_;
};

template <class R>
R get(std::future<R> f) {
  REQUIRE(f.wait_for(kWait) == std::future_status::ready);
  return f.get();
}

std::string dispatch_id_of(const Reply& r) {
  rapidjson::Document d;
  d.Parse(r.data_json.c_str());
  REQUIRE(d.IsObject());
  REQUIRE(d.HasMember("dispatch"));
  return d["dispatch"]["dispatch_id"].GetString();
}

void provider_serves_a_member_dispatch(Via via) {
  Server server(server_options());
  server.start();

  // A person in a lobby.
  Recorder<ClientEvent> ada_events;
  ClientOptions ada_options;
  ada_options.name = "Ada";
  auto ada = make_client(via, server, ada_options);
  ada->subscribe(ada_events.sink());
  ada->start();
  ada_events.wait_for<client_event::NameChanged>();
  Reply created = get(ada->create_lobby(CreateLobbyOptions{"Room"}));
  REQUIRE(created.ok());
  rapidjson::Document lobby;
  lobby.Parse(created.data_json.c_str());
  const std::string lobby_id = lobby["lobby"]["id"].GetString();
  REQUIRE(get(ada->join_lobby(lobby_id)).ok());

  // The provider registers.
  Recorder<ProviderEvent> events;
  auto provider = make_provider(via, server, provider_options());
  provider->subscribe(events.sink());
  provider->start();
  auto reg = events.wait_for<provider_event::Registered>();
  CHECK_FALSE(reg.resumed);
  CHECK(provider->state() == ConnectionState::connected);
  CHECK(provider->snapshot().provider_id == reg.provider_id);

  // A member asks for a bot; the provider is offered the job and accepts.
  Reply added = get(ada->request("add_bot", R"({"kind":"echo","metadata":{"x":1}})"));
  REQUIRE(added.ok());
  const std::string dispatch_id = dispatch_id_of(added);
  auto offer = events.wait_for<provider_event::Offer>().offer;
  CHECK(offer.dispatch_id == dispatch_id);
  CHECK(offer.kind == "echo");
  CHECK(offer.lobby_id == lobby_id);
  CHECK(offer.metadata_json == R"({"x":1})");
  AcceptReply accepted = get(provider->accept(offer.job_id));
  REQUIRE(accepted.ok());
  CHECK(accepted.job.lobby_id == lobby_id);
  CHECK_FALSE(accepted.job.credential.empty());
  CHECK(provider->snapshot().jobs == std::vector<std::string>{offer.job_id});

  // The bot joins with the credential: a bot session with the server's name for it.
  Recorder<ClientEvent> bot_events;
  ClientOptions bot_options;
  bot_options.bot_credential = accepted.job.credential;
  auto bot = make_client(via, server, bot_options);
  bot->subscribe(bot_events.sink());
  bot->start();
  auto welcome = bot_events.wait_for<client_event::Welcome>();
  CHECK(welcome.name == accepted.job.bot_name);
  CHECK(bot->snapshot().is_bot);
  REQUIRE(get(bot->join_lobby(lobby_id)).ok());
  auto joined = ada_events.wait_for<client_event::ParticipantJoined>(
      [&](const auto& e) { return e.participant.peer_id == welcome.peer_id; });
  CHECK(joined.participant.is_bot);

  // The bot is done: job_end removes it from the lobby and the dispatch.
  Reply ended = get(provider->end_job(offer.job_id, "done", false));
  CHECK(ended.ok());
  ada_events.wait_for<client_event::ParticipantLeft>(
      [&](const auto& e) { return e.peer_id == welcome.peer_id; });
  CHECK(provider->snapshot().jobs.empty());

  // Draining: no more offers; the snapshot says so.
  CHECK(get(provider->drain()).ok());
  CHECK_FALSE(provider->snapshot().accepting);

  bot->stop();
  provider->stop();
  ada->stop();
  server.stop();
}

}  // namespace

TEST_CASE("bot provider: serves a member's dispatch over a socket") {
  provider_serves_a_member_dispatch(Via::socket);
}

TEST_CASE("bot provider: serves a member's dispatch in-process") {
  provider_serves_a_member_dispatch(Via::in_process);
}

TEST_CASE("bot provider: a wrong key stops it with unauthorized") {
  Server server(server_options());
  server.start();
  Recorder<ProviderEvent> events;
  auto provider = make_provider(Via::socket, server, provider_options("not-the-key"));
  provider->subscribe(events.sink());
  provider->start();
  auto error = events.wait_for<provider_event::Error>().error;
  CHECK(error.code == "unauthorized");
  events.wait_for<provider_event::StateChanged>(
      [](const auto& e) { return e.state == ConnectionState::disconnected; });
  CHECK(provider->snapshot().last_error->code == "unauthorized");
  provider->stop();
  server.stop();
}

TEST_CASE("bot provider: a declined offer goes back to waiting, reconnect() comes back") {
  Server server(server_options());
  server.start();
  Recorder<ClientEvent> ada_events;
  ClientOptions ada_options;
  ada_options.name = "Ada";
  auto ada = make_client(Via::in_process, server, ada_options);
  ada->subscribe(ada_events.sink());
  ada->start();
  ada_events.wait_for<client_event::NameChanged>();
  Reply created = get(ada->create_lobby(CreateLobbyOptions{"Room"}));
  rapidjson::Document lobby;
  lobby.Parse(created.data_json.c_str());
  REQUIRE(get(ada->join_lobby(lobby["lobby"]["id"].GetString())).ok());

  Recorder<ProviderEvent> events;
  auto provider = make_provider(Via::socket, server, provider_options());
  provider->subscribe(events.sink());
  provider->start();
  events.wait_for<provider_event::Registered>();
  REQUIRE(get(ada->request("add_bot", R"({"kind":"echo"})")).ok());
  auto offer = events.wait_for<provider_event::Offer>().offer;
  CHECK(get(provider->decline(offer.job_id, "busy")).ok());
  CHECK(provider->snapshot().jobs.empty());
  provider->reconnect();  // connected: nothing to do
  CHECK(provider->state() == ConnectionState::connected);
  provider->stop();
  CHECK(provider->state() == ConnectionState::disconnected);
  AcceptReply late = get(provider->accept(offer.job_id));
  REQUIRE(late.error);
  CHECK(late.error->code == "stopped");
  ada->stop();
  server.stop();
}
