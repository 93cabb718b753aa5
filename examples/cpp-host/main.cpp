// A C++ program that embeds a lobbykit server and a client: the client connects over a
// real WebSocket on 127.0.0.1 (or in-process with --in-process), takes a name, creates and
// joins a lobby, chats, and waits until its own message comes back as an event.
// Exit status 0 on success.
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
  server.start();

  // Events arrive on the client's loop thread; main waits on a condition. Declared before
  // the client, which still delivers events (disconnected) while it is destroyed.
  std::mutex mu;
  std::condition_variable cv;
  bool named = false, chat_seen = false;

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
    cv.notify_all();
  });
  client->start();

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  auto wait_for = [&](const bool& flag) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_until(lock, deadline, [&] { return flag; });
  };
  auto ok = [](std::future<Reply> f, const char* what) {
    Reply r = f.get();
    if (!r.ok()) std::fprintf(stderr, "cpp-host: %s failed: %s\n", what, r.error->message.c_str());
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
  if (!wait_for(chat_seen)) {
    std::fprintf(stderr, "cpp-host: the chat did not come back in time\n");
    return 1;
  }
  std::printf("cpp-host: ok\n");
  return 0;  // the client, then the server, stop as they go out of scope
}
