// lobbykit::Server: the signaling server, embeddable in any program.
//
// Threading: a Server owns one loop thread that owns all its state. run() makes the calling
// thread that loop; start() spawns one. stop(), post(), port() and subscribe()/unsubscribe()
// are safe from any thread. Event handlers run on the loop thread and must not block.
#pragma once

#include <lobbykit/events.hpp>
#include <lobbykit/export.hpp>
#include <lobbykit/hooks.hpp>
#include <lobbykit/options.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace lobbykit {

// Thrown by the Server constructor when it cannot listen or open its store.
class LOBBYKIT_API StartError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using SubscriptionId = std::uint64_t;

// The outcome of a host's bot operation: ok(), or an error code of docs/protocol.md
// ("lobby_not_found", "unknown_kind", "bot_quota", "bad_field", "dispatch_not_found", ...)
// with a sentence.
struct BotOutcome {
  std::string code;     // "" on success
  std::string message;
  BotDispatch dispatch;  // add_bot: the dispatch (new, or the one with that key)
  bool created = false;  // add_bot: false when the lobby already had that key
  bool ok() const { return code.empty(); }
};

// JSON forms for the C ABI and Python: an outcome is {"dispatch", "created"} when ok (add_bot;
// {} for remove_bot), else {"code", "message"}; the overview is {"dispatches", "kinds",
// "providers"}.
LOBBYKIT_API std::string bot_outcome_to_json(const BotOutcome& o, bool with_dispatch);
LOBBYKIT_API std::string bot_overview_to_json(const std::vector<BotDispatch>& dispatches,
                                              const std::vector<BotKindInfo>& kinds,
                                              const std::vector<BotProviderInfo>& providers);

namespace detail {
struct ServerAccess;  // lets a Client in the same process attach (src/server_access.hpp)
}

class LOBBYKIT_API Server {
 public:
  // Opens the store and binds the listening socket (so port() is known on return).
  explicit Server(ServerOptions options);
  ~Server();  // stops the loop if running, flushes the store
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void run();    // serves on the calling thread until stop(); returns after a clean shutdown
  void start();  // serves on a thread of its own
  // Closes every client with 1001, flushes the store, ends run() / joins the thread.
  // Idempotent; safe from any thread, including from an event handler.
  void stop();

  std::uint16_t port() const;  // the bound port (useful with options.port = 0)

  // Runs fn on the loop thread soon. Safe from any thread; after stop() fn is dropped.
  void post(std::function<void()> fn);

  // Handlers run on the loop thread, in subscription order, for every event.
  SubscriptionId subscribe(std::function<void(const Event&)> handler);
  void unsubscribe(SubscriptionId id);

  // Decision hooks (lobbykit/hooks.hpp; docs/embedding.md "Hooks"): the host allows, denies
  // or adjusts. Safe from any thread, at any time; an empty function removes the hook. Hooks
  // run on the loop thread and answer through their Decision, now or later, from any thread.
  void on_authenticate(AuthHook hook);
  void on_join(JoinHook hook);
  void on_create_lobby(CreateLobbyHook hook);
  void on_chat(ChatHook hook);
  // The same in JSON (for bindings): name is "authenticate", "join", "create_lobby" or
  // "chat" (std::invalid_argument otherwise); an empty hook removes it.
  void on_hook_json(const std::string& name, JsonHook hook);

  // Bots (docs/bots.md): the same operations as the admin HTTP API. Safe from any thread,
  // event handlers included; each runs on the loop thread, is durable when it returns, and
  // works before start() and after stop() too.
  // Puts a bot of `kind` into the lobby under `key` ("" means the kind); idempotent per key.
  // metadata_json: "" or a JSON object handed to the provider.
  BotOutcome add_bot(const LobbyId& lobby_id, const std::string& kind,
                     const std::string& key = {}, const std::string& metadata_json = {});
  BotOutcome remove_bot(const LobbyId& lobby_id, const std::string& key);
  std::vector<BotDispatch> bot_dispatches();
  std::vector<BotKindInfo> bot_kinds();
  std::vector<BotProviderInfo> bot_providers();
  // No more offers to that provider; it is told to drain. False: no such provider.
  bool drain_bot_provider(const std::string& provider_id);

 private:
  friend struct detail::ServerAccess;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lobbykit
