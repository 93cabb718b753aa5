// A C++ program that embeds a lobbykit server and a client: the client connects over a
// real WebSocket on 127.0.0.1 (or in-process with --in-process), takes a name, creates and
// joins a lobby and chats. The host adds an application message of its own
// (docs/embedding.md, "Application messages and metadata"): "dice.roll" is handled by the
// host, which answers the sender with a roll, and the host announces the roll to the lobby
// with a server-sent app message. Exit status 0 when the client saw its chat, the reply and
// the announcement.
#include <lobbykit/lobbykit.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <variant>

using namespace lobbykit;

int main(int argc, char** argv) {
  const bool in_process = argc > 1 && std::strcmp(argv[1], "--in-process") == 0;
  std::printf("lobbykit %s\n", LOBBYKIT_VERSION_STRING);

  ServerOptions so;
  so.host = "127.0.0.1";
  so.port = 0;        // any free port
  so.store_path = ""; // in memory
  Server server(so);
  server.subscribe([](const Event& e) { std::printf("server event: %s\n", event_to_json(e).c_str()); });

  // The host's own message: a die roll, decided by the host (not by any client), answered to
  // the sender and announced to everyone in the lobby. The hook runs on the server's loop
  // thread; a host operation from there runs at once.
  int next_roll = 0;
  server.on_app_message("dice.roll", [&server, &next_roll](const AppMessageRequest& m,
                                                           Decision<AppMessageDecision> d) {
    const int roll = 1 + (next_roll++ % 6);  // a real game would use a proper random source
    server.send_app_message(m.lobby_id, "dice.rolled",
                            "{\"by\":\"" + m.peer_id + "\",\"value\":" + std::to_string(roll) + "}");
    d.resolve(AppMessageDecision::handled("{\"value\":" + std::to_string(roll) + "}"));
  });
  server.start();

  // Events arrive on the client's loop thread; main waits on a condition. Declared before
  // the client, which still delivers events (disconnected) while it is destroyed.
  std::mutex mu;
  std::condition_variable cv;
  bool named = false, chat_seen = false, roll_announced = false;

  ClientOptions co;
  co.url = "ws://127.0.0.1:" + std::to_string(server.port()) + "/ws";
  co.name = "C++ host";
  std::unique_ptr<Client> client =
      in_process ? std::make_unique<Client>(server, co) : std::make_unique<Client>(co);

  client->subscribe([&](const ClientEvent& e) {
    std::printf("client event: %s\n", client_event_to_json(e).c_str());
    std::lock_guard<std::mutex> lock(mu);
    if (std::holds_alternative<client_event::NameChanged>(e)) named = true;
    if (const auto* chat = std::get_if<client_event::Chat>(&e))
      chat_seen = chat_seen || chat->message.text == "Hello from C++";
    if (const auto* app = std::get_if<client_event::AppMessage>(&e))
      roll_announced = roll_announced || (app->name == "dice.rolled" && app->from.empty() &&
                                          app->payload_json.find("\"value\":1") != std::string::npos);
    cv.notify_all();
  });
  client->start();

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto wait_for = [&](const bool& flag) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_until(lock, deadline, [&] { return flag; });
  };
  auto ok = [](std::future<Reply> f, const char* what, std::string* data = nullptr) {
    Reply r = f.get();
    if (!r.ok()) std::fprintf(stderr, "cpp-host: %s failed: %s\n", what, r.error->message.c_str());
    if (data) *data = r.data_json;
    return r.ok();
  };

  if (!wait_for(named)) {
    std::fprintf(stderr, "cpp-host: no welcome in time\n");
    return 1;
  }
  CreateLobbyOptions lobby;
  lobby.name = "C++ lobby";
  if (!ok(client->create_lobby(lobby), "create_lobby") ||
      !ok(client->join_lobby_by_name("C++ lobby"), "join_lobby") ||
      !ok(client->chat("Hello from C++"), "chat"))
    return 1;
  std::string rolled;
  if (!ok(client->send_app_message("dice.roll"), "send_app_message", &rolled)) return 1;
  std::printf("dice.roll answered: %s\n", rolled.c_str());
  if (rolled.find("\"reply\":{\"value\":1}") == std::string::npos) {
    std::fprintf(stderr, "cpp-host: the host's reply is missing\n");
    return 1;
  }
  if (!wait_for(chat_seen) || !wait_for(roll_announced)) {
    std::fprintf(stderr, "cpp-host: the chat or the roll did not come back in time\n");
    return 1;
  }
  std::printf("cpp-host: ok\n");
  return 0;  // the client, then the server, stop as they go out of scope
}
